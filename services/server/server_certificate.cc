#include "services/server/server_certificate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "services/server/home.h"
#include "services/storage/audit_log.h"

namespace camfleet::server {
namespace {

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<provisioning::CertificateInfo> ReadServerCertificate(
    const std::string& credentials_dir) {
  ASSIGN_OR_RETURN(provisioning::CredentialBundle bundle,
                   provisioning::LoadCredentialBundle(credentials_dir));
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(bundle.cert_pem);
  if (!info.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        credentials_dir, "/", provisioning::kBundleCertFile, ": ", info.status().message()));
  }
  return info;
}

absl::StatusOr<provisioning::IssuedCertificate> RenewServerCertificate(
    const provisioning::CertificateAuthority& ca, storage::Store& store,
    const std::string& credentials_dir, absl::Time now, absl::string_view actor) {
  ASSIGN_OR_RETURN(provisioning::CredentialBundle current,
                   provisioning::LoadCredentialBundle(credentials_dir));
  ASSIGN_OR_RETURN(provisioning::CertificateInfo old_info,
                   provisioning::ParseCertificate(current.cert_pem));
  ASSIGN_OR_RETURN(provisioning::ServerNames names,
                   provisioning::ReadServerNames(current.cert_pem));

  provisioning::IssueRequest request;
  request.role = provisioning::Role::kServer;
  request.identity = old_info.identity;
  request.dns_names = std::move(names.dns_names);
  request.ip_addresses = std::move(names.ip_addresses);
  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, request.identity));
  ASSIGN_OR_RETURN(provisioning::IssuedCertificate cert, ca.Issue(csr, request, now));

  const absl::Status recorded = store.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    RETURN_IF_ERROR(
        storage::InsertCertificate(tx, storage::CertificateRecordOf(cert, actor)).status());
    return storage::Audit(tx, std::string(actor), "server.renew_certificate", "server",
                          cert.info.identity,
                          {{"certificate", cert.info.serial_hex},
                           {"replaces", old_info.serial_hex},
                           {"not_after", TimeText(cert.info.not_after)}});
  });
  if (!recorded.ok()) return recorded;
  // Followed by the issuing CA, so a client holding only the root can build the chain.
  RETURN_IF_ERROR(provisioning::ReplaceCredentialBundle(
      credentials_dir, key, cert.pem + ca.ChainPem(), ca.CertificatePem()));
  return cert;
}

absl::StatusOr<provisioning::IssuedCertificate> RenewServerCertificateInHome(
    const std::string& home, absl::Time now) {
  const HomePaths paths{home};
  ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca,
                   provisioning::CertificateAuthority::Load(paths.CaDir()));
  common::RealClock clock;
  storage::StoreOptions options;
  options.must_exist = true;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                   storage::Store::Open(paths.Database(), clock, options));
  absl::StatusOr<provisioning::IssuedCertificate> cert = RenewServerCertificate(
      ca, *store, paths.ServerCredentials(), now, "camfleetd renew-server-cert");
  store->Shutdown();
  return cert;
}

ServerCertificateRenewer::ServerCertificateRenewer(const provisioning::CertificateAuthority& ca,
                                                   storage::Store& store,
                                                   std::string credentials_dir,
                                                   const common::Clock& clock,
                                                   ServerCertificateOptions options,
                                                   std::function<void(bool healthy)> on_health)
    : ca_(ca),
      store_(store),
      credentials_dir_(std::move(credentials_dir)),
      clock_(clock),
      options_(options),
      on_health_(std::move(on_health)) {}

ServerCertificateRenewer::~ServerCertificateRenewer() { Stop(); }

absl::StatusOr<provisioning::CertificateInfo> ServerCertificateRenewer::CheckOnce() {
  const absl::Time now = clock_.Now();
  absl::StatusOr<provisioning::CertificateInfo> info = ReadServerCertificate(credentials_dir_);
  if (!info.ok()) {
    common::LogError("camfleetd cannot read its own certificate in ", credentials_dir_, ": ",
                     info.status().message());
    if (on_health_) on_health_(false);
    return info.status();
  }
  const absl::Time due = provisioning::RenewalDueAt(info->not_before, info->not_after);
  if (now < due) {
    if (on_health_) on_health_(true);
    return info;
  }
  absl::StatusOr<provisioning::IssuedCertificate> renewed =
      RenewServerCertificate(ca_, store_, credentials_dir_, now, "camfleetd");
  if (renewed.ok()) {
    common::LogInfo("camfleetd renewed its serving certificate: ", renewed->info.serial_hex,
                    " valid until ", TimeText(renewed->info.not_after), " replaces ",
                    info->serial_hex, " (due since ", TimeText(due),
                    "); new connections get it within ",
                    absl::FormatDuration(options_.reload_interval));
    if (on_health_) on_health_(true);
    return renewed->info;
  }
  const int64_t days_left = (info->not_after - now) / absl::Hours(24);
  const std::string message = absl::StrCat(
      "camfleetd's serving certificate ", info->serial_hex, " expires at ",
      TimeText(info->not_after), " (", days_left,
      " days left) and renewing it failed: ", renewed.status().message(),
      "; fix the cause or run `camfleetd renew-server-cert --home HOME`; health service ",
      kServerCertificateHealthService, " is NOT_SERVING until it is renewed");
  if (info->not_after - now < kServerCertificateUrgent) {
    common::LogError(message);
  } else {
    common::LogWarning(message);
  }
  if (on_health_) on_health_(false);
  return renewed.status();
}

void ServerCertificateRenewer::Start() {
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      mu_.Unlock();
      static_cast<void>(CheckOnce());  // Logs its own failures.
      mu_.Lock();
      // Stop() may have come while CheckOnce ran unlocked: its signal is gone by now, so look
      // at the flag before sleeping (waiting here would hold Stop() for a whole check interval,
      // as it did a server shut down right after its start).
      if (stop_) break;
      cv_.WaitWithTimeout(&mu_, options_.check_interval);
    }
  });
}

void ServerCertificateRenewer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace camfleet::server
