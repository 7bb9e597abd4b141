#pragma once
// Hashes, MACs and randomness for the rest of camfleet. provisioning/ is the only part that
// calls OpenSSL, so storage and services come here for SHA-256 rather than linking libcrypto.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::provisioning {

using Sha256Digest = std::array<uint8_t, 32>;

// SHA-256 of `data`. Never fails for in-memory input.
Sha256Digest Sha256(absl::string_view data);

// HMAC-SHA-256 of `data` under `key`.
Sha256Digest HmacSha256(absl::string_view key, absl::string_view data);

// `n` bytes from the OpenSSL CSPRNG. INTERNAL if the generator is not seeded;
// INVALID_ARGUMENT if `n` exceeds INT_MAX.
absl::StatusOr<std::string> RandomBytes(size_t n);

// Lower-case hex of a digest or any byte string.
std::string ToHex(absl::string_view bytes);
inline std::string ToHex(const Sha256Digest& d) {
  return ToHex(absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

// Constant-time comparison, for MACs and token hashes.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace camfleet::provisioning
