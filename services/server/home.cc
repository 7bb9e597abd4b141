#include "services/server/home.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/identity.h"
#include "provisioning/key.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"

namespace camfleet::server {
namespace {

constexpr char kInitActor[] = "camfleetd-init";

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create directory ", path));
  }
  return absl::OkStatus();
}

// A key made here and a certificate for it; the key goes only into `bundle_dir`.
absl::StatusOr<provisioning::IssuedCertificate> IssueWithNewKey(
    const provisioning::CertificateAuthority& ca, const provisioning::IssueRequest& request,
    absl::Time now, const std::string& bundle_dir) {
  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, request.identity));
  ASSIGN_OR_RETURN(provisioning::IssuedCertificate cert, ca.Issue(csr, request, now));
  RETURN_IF_ERROR(
      provisioning::WriteCredentialBundle(bundle_dir, key, cert.pem, ca.CertificatePem()));
  return cert;
}

storage::CertificateRecord Record(const provisioning::IssuedCertificate& cert) {
  storage::CertificateRecord r;
  r.serial = cert.info.serial_hex;
  r.role = std::string(provisioning::RoleName(cert.info.role));
  r.identity = cert.info.identity;
  r.subject = absl::StrCat("CN=", cert.info.subject_cn);
  r.key_fingerprint = cert.info.key_fingerprint;
  r.not_before_us = common::ToMicros(cert.info.not_before);
  r.not_after_us = common::ToMicros(cert.info.not_after);
  r.pem = cert.pem;
  r.issued_by = kInitActor;
  return r;
}

}  // namespace

absl::Status InitHome(const InitOptions& options) {
  if (options.home.empty()) return absl::InvalidArgumentError("give the home directory");
  if (absl::Status s = rpc::ValidateOperatorName("admin name", options.admin_name); !s.ok()) {
    return s;
  }
  const HomePaths paths{options.home};
  if (provisioning::PathExists(paths.CaDir() + "/" + provisioning::kCaKeyFile) ||
      provisioning::PathExists(paths.Database())) {
    return absl::AlreadyExistsError(absl::StrCat(
        options.home, " already holds a camfleet CA or store; init refuses to overwrite it"));
  }
  const absl::Time now = options.now == absl::InfinitePast() ? absl::Now() : options.now;
  RETURN_IF_ERROR(MakeDir(options.home));
  RETURN_IF_ERROR(MakeDir(paths.CaDir()));
  ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca,
                   provisioning::CertificateAuthority::Create(paths.CaDir(), now));

  provisioning::IssueRequest server_request;
  server_request.role = provisioning::Role::kServer;
  server_request.identity = options.dns_names.empty() ? "localhost" : options.dns_names.front();
  server_request.dns_names = options.dns_names;
  server_request.ip_addresses = options.ip_addresses;
  ASSIGN_OR_RETURN(provisioning::IssuedCertificate server_cert,
                   IssueWithNewKey(ca, server_request, now, paths.ServerCredentials()));

  provisioning::IssueRequest admin_request;
  admin_request.role = provisioning::Role::kAdmin;
  admin_request.identity = options.admin_name;
  ASSIGN_OR_RETURN(provisioning::IssuedCertificate admin_cert,
                   IssueWithNewKey(ca, admin_request, now,
                                   paths.AdminCredentials(options.admin_name)));

  common::RealClock clock;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                   storage::Store::Open(paths.Database(), clock));
  return store->WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    RETURN_IF_ERROR(storage::InsertCertificate(tx, Record(server_cert)).status());
    RETURN_IF_ERROR(storage::Audit(tx, kInitActor, "server.issue_certificate", "server",
                                   server_cert.info.identity,
                                   {{"certificate", server_cert.info.serial_hex}}));
    RETURN_IF_ERROR(
        storage::InsertOperator(tx, options.admin_name, "admin", kInitActor).status());
    RETURN_IF_ERROR(storage::InsertCertificate(tx, Record(admin_cert)).status());
    return storage::Audit(tx, kInitActor, "operator.issue_certificate", "operator",
                          options.admin_name,
                          {{"role", "admin"}, {"certificate", admin_cert.info.serial_hex}});
  });
}

}  // namespace camfleet::server
