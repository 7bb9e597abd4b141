#include "provisioning/revocation.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace camfleet::provisioning {
namespace {

constexpr std::array<RevocationReason, 7> kAllReasons = {
    RevocationReason::kUnspecified,        RevocationReason::kKeyCompromise,
    RevocationReason::kCaCompromise,       RevocationReason::kAffiliationChanged,
    RevocationReason::kSuperseded,         RevocationReason::kCessationOfOperation,
    RevocationReason::kPrivilegeWithdrawn,
};

}  // namespace

absl::string_view RevocationReasonName(RevocationReason reason) {
  switch (reason) {
    case RevocationReason::kUnspecified:
      return "unspecified";
    case RevocationReason::kKeyCompromise:
      return "keyCompromise";
    case RevocationReason::kCaCompromise:
      return "cACompromise";
    case RevocationReason::kAffiliationChanged:
      return "affiliationChanged";
    case RevocationReason::kSuperseded:
      return "superseded";
    case RevocationReason::kCessationOfOperation:
      return "cessationOfOperation";
    case RevocationReason::kPrivilegeWithdrawn:
      return "privilegeWithdrawn";
  }
  return "unspecified";  // Unreachable for a valid enumerator.
}

absl::StatusOr<RevocationReason> ParseRevocationReason(absl::string_view name) {
  for (RevocationReason reason : kAllReasons) {
    if (RevocationReasonName(reason) == name) return reason;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown revocation reason '", absl::CHexEscape(name.substr(0, 80)), "'"));
}

absl::StatusOr<RevocationReason> RevocationReasonFromCode(int code) {
  for (RevocationReason reason : kAllReasons) {
    if (static_cast<int>(reason) == code) return reason;
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported CRL reason code ", code));
}

}  // namespace camfleet::provisioning
