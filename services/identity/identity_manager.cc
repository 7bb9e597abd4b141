// What IdentityManager's parts share: request checks, the certificate record, signing.

#include "services/identity/identity_manager.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/csr.h"
#include "provisioning/digest.h"
#include "provisioning/identity.h"
#include "provisioning/revocation.h"
#include "provisioning/supplier_certificate.h"
#include "services/identity/identity_internal.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::identity {

using google::protobuf::util::TimeUtil;
using provisioning::Role;
using storage::WriteTx;
using namespace internal;  // NOLINT(build/namespaces): this folder's shared helpers

namespace internal {

absl::Status ValidateReason(v1::RevocationReason reason) {
  if (reason == v1::REVOCATION_REASON_UNSPECIFIED || !v1::RevocationReason_IsValid(reason)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reason ", static_cast<int>(reason),
        " is not a revocation reason; use KEY_COMPROMISE, AFFILIATION_CHANGED, SUPERSEDED, "
        "CESSATION_OF_OPERATION or PRIVILEGE_WITHDRAWN"));
  }
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  absl::Status s = provisioning::ValidateIdentity(name);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
  return absl::OkStatus();
}

absl::Status ValidateCsrField(absl::string_view csr_pem) {
  if (csr_pem.empty()) {
    return absl::InvalidArgumentError(
        "csr_pem is required: a PEM certificate request made with the subject's own key");
  }
  if (csr_pem.size() > 16 * 1024) {
    return absl::InvalidArgumentError("csr_pem is larger than 16 KiB; it is not a CSR");
  }
  return absl::OkStatus();
}

// Fleet serials are stored as CertificateInfo::serial_hex: lower-case hex without leading
// zeros. Accept one as openssl prints it (upper case, a leading zero); a supplier serial
// ("acme:1092") is kept as given.
std::string StoredSerial(absl::string_view serial) {
  for (char c : serial) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::string(serial);
  }
  std::string lower = absl::AsciiStrToLower(serial);
  const size_t first = lower.find_first_not_of('0');
  return first == std::string::npos ? "0" : lower.substr(first);
}

std::string TokenHash(absl::string_view token) {
  provisioning::Sha256Digest d = provisioning::Sha256(token);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

absl::StatusOr<Paging> StartPaging(const rpc::PageTokens& tokens, const std::string& query,
                                   int32_t page_size, const std::string& token) {
  Paging paging;
  ASSIGN_OR_RETURN(paging.limit, rpc::ResolvePageSize(page_size));
  ASSIGN_OR_RETURN(paging.page.after, tokens.Decode(query, token));
  paging.page.limit = paging.limit + 1;
  return paging;
}

bool CertificateUsable(const v1::Certificate& c, absl::Time now, absl::Duration grace) {
  if (c.has_revoke_time()) return false;
  return now <= absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(c.not_after())) + grace;
}

}  // namespace internal

absl::StatusOr<provisioning::IssuedCertificate> IdentityManager::Sign(
    const std::string& csr_pem, Role role, const std::string& identity) const {
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::FromPem(csr_pem));
  provisioning::IssueRequest request;
  request.role = role;
  request.identity = identity;
  absl::StatusOr<provisioning::IssuedCertificate> issued =
      ca_.Issue(csr, request, store_.clock().Now());
  if (!issued.ok() && absl::IsInvalidArgument(issued.status())) {
    return absl::InvalidArgumentError(absl::StrCat("csr_pem: ", issued.status().message()));
  }
  return issued;
}

}  // namespace camfleet::identity
