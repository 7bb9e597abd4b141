#pragma once
// Facts about a public key that certificates, CSRs and private keys all report the same way.
// Internal to provisioning/.

#include <openssl/evp.h>

#include <string>

#include "absl/status/statusor.h"

namespace camfleet::provisioning {

// Lower-case hex SHA-256 of the key's DER SubjectPublicKeyInfo; what
// `openssl pkey -pubout -outform DER | sha256sum` prints. INTERNAL if OpenSSL cannot encode it.
absl::StatusOr<std::string> PublicKeyFingerprint(const EVP_PKEY* key);

// "EC P-256", "EC P-384", "EC secp256k1", "RSA-3072", "ED25519": type and size, for messages.
std::string DescribeKey(const EVP_PKEY* key);

// The fleet's key policy: EC P-256 or P-384, or RSA of at least 3072 bits.
bool KeyMeetsPolicy(const EVP_PKEY* key);

// How the policy reads in messages.
inline constexpr char kKeyPolicy[] = "use EC P-256, EC P-384 or RSA of at least 3072 bits";

}  // namespace camfleet::provisioning
