#pragma once
// Why a certificate was revoked, as RFC 5280 CRL reason codes, and the entries a CRL lists.
//
// Mapping the fleet's events to reasons:
//   camera or dock lost or stolen, key suspected leaked   kKeyCompromise
//   camera or dock retired, decommissioned                kCessationOfOperation
//   operator left the service or moved unit               kAffiliationChanged
//   certificate replaced by a renewal or a re-enrollment  kSuperseded
//   operator's role taken away                            kPrivilegeWithdrawn
// A lost camera that is found again keeps its revoked certificate and enrolls afresh: its key
// was out of our hands, so it is not trusted again.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace camfleet::provisioning {

// Values are the RFC 5280 CRLReason codes. certificateHold (6) and removeFromCRL (8) are left
// out on purpose: a revocation here is final.
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kPrivilegeWithdrawn = 9,
};

// RFC 5280 names: "unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
// "superseded", "cessationOfOperation", "privilegeWithdrawn".
absl::string_view RevocationReasonName(RevocationReason reason);

// The inverse of RevocationReasonName. INVALID_ARGUMENT naming the text if unknown.
absl::StatusOr<RevocationReason> ParseRevocationReason(absl::string_view name);

// The RFC 5280 code for a reason read from a CRL. INVALID_ARGUMENT for codes not listed above.
absl::StatusOr<RevocationReason> RevocationReasonFromCode(int code);

struct RevokedCertificate {
  // As CertificateInfo::serial_hex; any case, leading zeros allowed.
  std::string serial_hex;
  absl::Time revoked_at;
  RevocationReason reason = RevocationReason::kUnspecified;
};

}  // namespace camfleet::provisioning
