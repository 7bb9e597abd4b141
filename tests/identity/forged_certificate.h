#pragma once
// What a thief holding a stolen issuing CA key can sign that our CA never would: a copy of a
// certificate camfleetd issued (same serial, same subject, same key) with a longer validity,
// re-signed with the stolen key. Made with OpenSSL directly, since provisioning/ refuses to.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace camfleet::testing {

// `cert_pem` with its notAfter moved to `not_after`, signed (SHA-256) with `issuer_key_pem` (an
// unencrypted PEM private key). INVALID_ARGUMENT if either does not parse; INTERNAL if OpenSSL
// fails.
absl::StatusOr<std::string> ResignWithNotAfter(const std::string& cert_pem,
                                               const std::string& issuer_key_pem,
                                               absl::Time not_after);

}  // namespace camfleet::testing
