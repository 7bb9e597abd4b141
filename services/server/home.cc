#include "services/server/home.h"

#include <sys/stat.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "provisioning/audit_checkpoint.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/identity.h"
#include "provisioning/key.h"
#include "services/rpc/validation.h"
#include "services/server/server_certificate.h"
#include "services/storage/audit_log.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"

namespace camfleet::server {
namespace {

constexpr char kInitActor[] = "camfleetd-init";
constexpr char kRotateActor[] = "camfleetd ca";

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
  // The server's certificate is followed by its issuing CA, so a client that holds only the
  // root (or an older issuing CA) can build the chain.
  const std::string chain =
      request.role == provisioning::Role::kServer ? cert.pem + ca.ChainPem() : cert.pem;
  RETURN_IF_ERROR(provisioning::WriteCredentialBundle(bundle_dir, key, chain, ca.CertificatePem()));
  return cert;
}

}  // namespace

absl::Status InitHome(const InitOptions& options) {
  if (options.home.empty()) return absl::InvalidArgumentError("give the home directory");
  if (absl::Status s = rpc::ValidateOperatorName("admin name", options.admin_name); !s.ok()) {
    return s;
  }
  const HomePaths paths{options.home};
  if (provisioning::PathExists(paths.CaDir() + "/" + provisioning::kCaKeyFile) ||
      provisioning::PathExists(paths.CaDir() + "/" + provisioning::kRootCertFile) ||
      provisioning::PathExists(paths.Database())) {
    return absl::AlreadyExistsError(absl::StrCat(
        options.home, " already holds a camfleet CA or store; init refuses to overwrite it"));
  }
  const absl::Time now = options.now == absl::InfinitePast() ? absl::Now() : options.now;
  RETURN_IF_ERROR(MakeDir(options.home));
  RETURN_IF_ERROR(MakeDir(paths.CaDir()));
  // A root and an issuing CA: the root's key is exported off the server afterwards
  // (`camfleetd ca export-root`) and needed again only to replace the issuing CA.
  ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca,
                   provisioning::CertificateAuthority::CreateWithRoot(paths.CaDir(), now));

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
  ASSIGN_OR_RETURN(
      provisioning::IssuedCertificate admin_cert,
      IssueWithNewKey(ca, admin_request, now, paths.AdminCredentials(options.admin_name)));

  RETURN_IF_ERROR(provisioning::CheckpointSigner::LoadOrCreate(paths.AuditDir()).status());

  common::RealClock clock;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                   storage::Store::Open(paths.Database(), clock));
  return store->WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    RETURN_IF_ERROR(
        storage::InsertCertificate(tx, storage::CertificateRecordOf(server_cert, kInitActor))
            .status());
    RETURN_IF_ERROR(storage::Audit(tx, kInitActor, "server.issue_certificate", "server",
                                   server_cert.info.identity,
                                   {{"certificate", server_cert.info.serial_hex}}));
    RETURN_IF_ERROR(storage::InsertOperator(tx, options.admin_name, "admin", kInitActor).status());
    RETURN_IF_ERROR(
        storage::InsertCertificate(tx, storage::CertificateRecordOf(admin_cert, kInitActor))
            .status());
    return storage::Audit(tx, kInitActor, "operator.issue_certificate", "operator",
                          options.admin_name,
                          {{"role", "admin"}, {"certificate", admin_cert.info.serial_hex}});
  });
}

absl::StatusOr<IntermediateRotation> RotateIntermediateInHome(const RotateOptions& options) {
  const HomePaths paths{options.home};
  const absl::Time now = options.now == absl::InfinitePast() ? absl::Now() : options.now;
  ASSIGN_OR_RETURN(provisioning::PrivateKey root_key,
                   provisioning::ReadRootKey(options.root_key_path, options.passphrase));
  std::optional<provisioning::RevocationReason> revoke;
  if (options.revoke_old) revoke = provisioning::RevocationReason::kKeyCompromise;
  ASSIGN_OR_RETURN(provisioning::IssuingCaRotation rotation,
                   provisioning::RotateIssuingCa(paths.CaDir(), root_key, now, revoke));
  {
    common::RealClock clock;
    storage::StoreOptions store_options;
    store_options.must_exist = true;
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                     storage::Store::Open(paths.Database(), clock, store_options));
    const absl::Status recorded = store->WriteAndWait([&](storage::WriteTx& tx) {
      return storage::Audit(
          tx, kRotateActor, "ca.rotate_intermediate", "ca", rotation.new_ca.subject_cn,
          {{"certificate", rotation.new_ca.serial_hex},
           {"replaces", rotation.old_ca.serial_hex},
           {"old", rotation.old_revoked ? "revoked (keyCompromise)" : "retired"}});
    });
    store->Shutdown();
    RETURN_IF_ERROR(recorded);
  }
  // The serving certificate comes from the new issuing CA at once: clients see the new chain.
  ASSIGN_OR_RETURN(provisioning::IssuedCertificate server_cert,
                   RenewServerCertificateInHome(options.home, now));
  return IntermediateRotation{std::move(rotation), server_cert.info.serial_hex};
}

absl::Status RevokeIntermediateInHome(const RotateOptions& options, const std::string& serial) {
  const HomePaths paths{options.home};
  const absl::Time now = options.now == absl::InfinitePast() ? absl::Now() : options.now;
  ASSIGN_OR_RETURN(provisioning::PrivateKey root_key,
                   provisioning::ReadRootKey(options.root_key_path, options.passphrase));
  RETURN_IF_ERROR(provisioning::RevokeIssuingCa(paths.CaDir(), root_key, serial,
                                                provisioning::RevocationReason::kSuperseded, now));
  common::RealClock clock;
  storage::StoreOptions store_options;
  store_options.must_exist = true;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                   storage::Store::Open(paths.Database(), clock, store_options));
  const absl::Status recorded = store->WriteAndWait([&](storage::WriteTx& tx) {
    return storage::Audit(tx, kRotateActor, "ca.revoke_intermediate", "ca", serial,
                          {{"reason", "superseded"}});
  });
  store->Shutdown();
  return recorded;
}

}  // namespace camfleet::server
