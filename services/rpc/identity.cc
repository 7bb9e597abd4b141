#include "services/rpc/identity.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "provisioning/certificate_profile.h"
#include "services/rpc/authorization.h"
#include "services/rpc/validation.h"

namespace camfleet::rpc {
namespace {

constexpr size_t kMaxCachedCertificates = 10000;
constexpr char kPemCertProperty[] = "x509_pem_cert";

absl::StatusOr<const MethodRule*> RuleFor(absl::string_view method) {
  const MethodRule* rule = FindRule(method);
  if (rule == nullptr) {
    return absl::InternalError(absl::StrCat("method ", method, " has no access rule"));
  }
  return rule;
}

}  // namespace

absl::StatusOr<Identity> DevAuthenticator::Authenticate(const grpc::ServerContextBase& context,
                                                        absl::string_view method) const {
  absl::StatusOr<const MethodRule*> rule = RuleFor(method);
  if (!rule.ok()) return rule.status();
  Identity who{default_operator_, provisioning::Role::kAdmin, "", false, ""};
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find(kOperatorMetadata); it != metadata.end()) {
    who.name = std::string(it->second.data(), it->second.size());
    if (absl::Status s = ValidateText("operator name", who.name, 1, 64); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s.message(), " (set it with the CLI's --operator flag)"));
    }
  }
  if (absl::Status s = Authorize(**rule, *who.role, who.name); !s.ok()) return s;
  return who;
}

absl::StatusOr<provisioning::CertificateInfo> TlsAuthenticator::Verify(const std::string& pem,
                                                                       bool renewal,
                                                                       absl::Time now) const {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = verified_.find(pem); it != verified_.end()) {
      const provisioning::CertificateInfo& info = it->second;
      absl::Time end = info.not_after;
      if (renewal) end += provisioning::ProfileFor(info.role).renewal_grace;
      if (now >= info.not_before && now <= end) return info;
      // Outside its window: let the verifier produce the precise message below.
    }
  }
  absl::StatusOr<provisioning::CertificateInfo> info =
      renewal ? verifier_.VerifyForRenewal(pem, now) : verifier_.VerifyChain(pem, now);
  if (!info.ok()) {
    if (absl::IsInvalidArgument(info.status())) {
      return absl::UnauthenticatedError(absl::StrCat(
          "client certificate is not a camfleet certificate: ", info.status().message()));
    }
    return info.status();
  }
  absl::MutexLock lock(&mu_);
  if (verified_.size() >= kMaxCachedCertificates) verified_.clear();
  verified_.emplace(pem, *info);
  return info;
}

absl::StatusOr<Identity> TlsAuthenticator::Authenticate(const grpc::ServerContextBase& context,
                                                        absl::string_view method) const {
  absl::StatusOr<const MethodRule*> rule = RuleFor(method);
  if (!rule.ok()) return rule.status();
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<grpc::string_ref> pems;
  if (auth != nullptr) pems = auth->FindPropertyValues(kPemCertProperty);
  if (pems.empty()) {
    if ((*rule)->without_certificate) return Identity{};
    return absl::UnauthenticatedError(
        "no client certificate; connect with a certificate from the fleet CA (camfleet "
        "--credentials DIR)");
  }
  const std::string pem(pems.front().data(), pems.front().size());
  const absl::Time now = clock_.Now();
  absl::StatusOr<provisioning::CertificateInfo> info = Verify(pem, (*rule)->renewal, now);
  // A certificate from an issuing CA the root revoked: good for its own renewal at most (see
  // identity.h). Not cached: it is checked afresh until it has renewed.
  std::string revoked_issuer;
  if (absl::IsUnauthenticated(info.status())) {
    absl::StatusOr<provisioning::RevokedIssuerCertificate> recovery =
        verifier_.VerifyForRecovery(pem, now);
    if (recovery.ok()) {
      info = std::move(recovery->info);
      revoked_issuer = std::move(recovery->revoked_issuer);
    }
  }
  if (!info.ok()) return info.status();
  // Signed by our CA is not enough: it must be a certificate for TLS client authentication
  // (a server certificate, or one made for another use, is no client's identity).
  if (!info->client_auth || !info->digital_signature) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate ", info->serial_hex, " of '", info->identity,
                     "' is not a TLS client certificate: ",
                     !info->client_auth ? "its extended key usage does not include clientAuth"
                                        : "its key usage does not include digitalSignature",
                     "; use a certificate the fleet CA issued to a client"));
  }
  // A recovering certificate already renewed is revoked (superseded): its renewal checks that
  // itself, to answer a retry whose answer was lost (internal::RenewInTransaction).
  const bool recovering_renewal = !revoked_issuer.empty() && (*rule)->renewal;
  if (!recovering_renewal && revoked_.Contains(info->serial_hex)) {
    return absl::UnauthenticatedError(absl::StrCat("client certificate ", info->serial_hex, " of ",
                                                   provisioning::RoleName(info->role), " '",
                                                   info->identity, "' is revoked"));
  }
  if (revoked_.PrincipalRevoked(info->role, info->identity)) {
    return absl::UnauthenticatedError(
        absl::StrCat(provisioning::RoleName(info->role), " '", info->identity,
                     "' is revoked, and with it every certificate issued to it (this one is ",
                     info->serial_hex, ")"));
  }
  if (!revoked_issuer.empty() && !(*rule)->renewal) {
    return common::WithReason(
        absl::UnauthenticatedError(
            absl::StrCat(revoked_issuer,
                         "; a certificate from it is refused for everything but its own renewal: ",
                         provisioning::kRecoveryRenewalHint,
                         " (a dock renews by itself; an operator runs "
                         "`camfleet operator renew`), once")),
        common::kReasonIssuerRevoked);
  }
  if (absl::Status s = Authorize(**rule, info->role, info->identity); !s.ok()) return s;
  Identity who{info->identity, info->role, info->serial_hex, true, ""};
  if (!revoked_issuer.empty()) who.recovery_pem = pem;
  return who;
}

}  // namespace camfleet::rpc
