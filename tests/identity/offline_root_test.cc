// The offline root (issue 11, item 5): `camfleetd init` makes a root and an issuing CA; the
// root's key leaves the server encrypted and the server works day to day without it; a
// replaced issuing CA leaves every dock and camera working (they trust the root), and once the
// root revokes the old issuing CA, what it issued is refused.
//
// The server runs on a FakeClock that starts at the real time (clients check the server's own
// certificate against the real clock), moved forward to reach renewal windows.

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/key.h"
#include "provisioning/role.h"
#include "services/server/home.h"
#include "tests/dock/sync_client.h"
#include "tests/identity/forged_certificate.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/openssl_cli.h"

namespace camfleet::testing {
namespace {

using provisioning::kRecoveryRenewalHint;
using provisioning::Role;
using provisioning_test::RunOpenSsl;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassphrase[] = "correct horse battery staple";
constexpr absl::Duration kDay = absl::Hours(24);

provisioning::IssueRequest DockRequest(const std::string& dock_id) {
  provisioning::IssueRequest request;
  request.role = Role::kDock;
  request.identity = dock_id;
  return request;
}

server::RotateOptions RotateWith(const std::string& home, const std::string& root_key,
                                 bool revoke_old, absl::Time now) {
  server::RotateOptions options;
  options.home = home;
  options.root_key_path = root_key;
  options.passphrase = kPassphrase;
  options.revoke_old = revoke_old;
  options.now = now;
  return options;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

int CountCertificates(const std::string& pem) {
  int n = 0;
  for (size_t at = pem.find("BEGIN CERTIFICATE"); at != std::string::npos;
       at = pem.find("BEGIN CERTIFICATE", at + 1)) {
    ++n;
  }
  return n;
}

class OfflineRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(TlsClient(server_->AdminChannel()).CreateSite("POST-1"), IsOk());
    std::ofstream(files_.File("passphrase")) << kPassphrase << "\n";
  }

  std::string CaFile(const char* name) const {
    return provisioning::JoinPath(server_->paths().CaDir(), name);
  }

  // `camfleetd ca export-root`: the root key to a file outside the home.
  void ExportRoot() {
    ASSERT_THAT(provisioning::ExportRootKey(server_->paths().CaDir(), RootKeyFile(), kPassphrase),
                IsOk());
  }
  std::string RootKeyFile() const { return files_.File("root-key.pem"); }

  // `camfleetd ca rotate-intermediate` with the server stopped, then started again.
  absl::StatusOr<server::IntermediateRotation> Rotate(bool compromised) {
    server_->Shutdown();
    absl::StatusOr<server::IntermediateRotation> rotated =
        server::RotateIntermediateInHome({.home = server_->home(),
                                          .root_key_path = RootKeyFile(),
                                          .passphrase = kPassphrase,
                                          .revoke_old = compromised,
                                          .now = clock_.Now()});
    if (absl::Status s = server_->Restart(); !s.ok()) return s;
    return rotated;
  }

  absl::StatusOr<ClientCredentials> RenewDock(const ClientCredentials& dock) {
    absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(dock.name);
    if (!next.ok()) return next.status();
    absl::StatusOr<v1::RenewDockCertificateResponse> r =
        TlsClient(server_->Channel(dock.bundle)).RenewDock(next->csr_pem);
    if (!r.ok()) return r.status();
    return ClientCredentials{
        dock.name, {next->key_pem, r->certificate().certificate_pem(), r->ca_certificate_pem()}};
  }

  // A renewal with `next`'s CSR, presenting `holder`'s certificate.
  absl::StatusOr<ClientCredentials> RenewDockWith(const ClientCredentials& holder,
                                                  const KeyAndCsr& next) {
    absl::StatusOr<v1::RenewDockCertificateResponse> r =
        TlsClient(server_->Channel(holder.bundle)).RenewDock(next.csr_pem);
    if (!r.ok()) return r.status();
    return ClientCredentials{
        holder.name, {next.key_pem, r->certificate().certificate_pem(), r->ca_certificate_pem()}};
  }
  absl::StatusOr<v1::RenewOperatorCertificateResponse> RenewOperatorWith(
      const ClientCredentials& holder, const KeyAndCsr& next) {
    v1::RenewOperatorCertificateRequest req;
    req.set_csr_pem(next.csr_pem);
    return TlsClient(server_->Channel(holder.bundle))
        .Prov(&v1::ProvisioningService::Stub::RenewOperatorCertificate, req);
  }

  // An admin on the new issuing CA (root-admin's certificate came from the compromised one),
  // acting for the helpers from now on.
  void ActAsFreshAdmin() {
    absl::StatusOr<ClientCredentials> admin =
        server_->IssueDirect(Role::kAdmin, "admin-2", clock_.Now());
    ASSERT_THAT(admin, IsOk());
    server_->set_acting_admin(*admin);
  }

  // The audit events with `action`, read as the acting admin.
  std::vector<v1::AuditEvent> EventsOf(const std::string& action) {
    v1::ListAuditEventsRequest filter;
    filter.set_action(action);
    absl::StatusOr<std::vector<v1::AuditEvent>> events =
        TlsClient(server_->AdminChannel()).AuditEvents(filter);
    EXPECT_THAT(events, IsOk());
    return events.ok() ? *events : std::vector<v1::AuditEvent>{};
  }

  std::string IssuerOf(const std::string& cert_pem) {
    absl::StatusOr<provisioning::CertificateInfo> info = provisioning::ParseCertificate(cert_pem);
    return info.ok() ? info->issuer_cn : info.status().ToString();
  }

  // What a dock holding `ca_pem` makes of the server's current CRL (CrlStore does this).
  absl::StatusOr<provisioning::CertificateVerifier> DockVerifier(const std::string& ca_pem,
                                                                 const ClientCredentials& dock) {
    absl::StatusOr<provisioning::CertificateVerifier> verifier =
        provisioning::CertificateVerifier::FromCaPem(ca_pem);
    if (!verifier.ok()) return verifier.status();
    absl::StatusOr<v1::GetCrlResponse> crl = TlsClient(server_->Channel(dock.bundle)).GetCrl();
    if (!crl.ok()) return crl.status();
    return verifier->WithCrl(crl->crl_pem());
  }

  common::FakeClock clock_{absl::Now()};
  TempDir files_;
  std::unique_ptr<TlsTestServer> server_;
};

TEST_F(OfflineRootTest, InitMakesARootAndAnIssuingCaThatTheOpensslToolChains) {
  const std::string root = CaFile(provisioning::kRootCertFile);
  const std::string issuing = CaFile(provisioning::kCaCertFile);
  ASSERT_TRUE(provisioning::PathExists(root));
  ASSERT_TRUE(provisioning::PathExists(CaFile(provisioning::kRootKeyFile)));
  // The root signs only CAs (pathlen 1); the issuing CA only leaves (pathlen 0).
  provisioning_test::CommandResult root_text = RunOpenSsl({"x509", "-in", root, "-noout", "-text"});
  ASSERT_EQ(root_text.exit_code, 0) << root_text.output;
  EXPECT_THAT(root_text.output, HasSubstr("CA:TRUE, pathlen:1"));
  EXPECT_THAT(root_text.output, HasSubstr("camfleet fleet root CA"));
  provisioning_test::CommandResult issuing_text =
      RunOpenSsl({"x509", "-in", issuing, "-noout", "-text"});
  ASSERT_EQ(issuing_text.exit_code, 0) << issuing_text.output;
  EXPECT_THAT(issuing_text.output, HasSubstr("CA:TRUE, pathlen:0"));
  EXPECT_THAT(issuing_text.output, HasSubstr("Issuer: O = camfleet, CN = camfleet fleet root CA"));

  // What clients are given: the root first, then the issuing CA.
  const std::string& ca_pem = server_->admin().bundle.ca_pem;
  EXPECT_EQ(CountCertificates(ca_pem), 2);
  EXPECT_TRUE(absl::StartsWith(ca_pem, ReadAll(root)));
  // The admin's certificate chains root <- issuing CA <- admin for an independent verifier.
  const std::string admin_cert = files_.File("admin.pem");
  std::ofstream(admin_cert) << server_->admin().bundle.cert_pem;
  provisioning_test::CommandResult verified =
      RunOpenSsl({"verify", "-CAfile", root, "-untrusted", issuing, admin_cert});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  // The serving certificate is followed by its issuing CA in the chain it serves.
  const std::string server_pem =
      ReadAll(provisioning::JoinPath(server_->paths().ServerCredentials(), "cert.pem"));
  EXPECT_EQ(CountCertificates(server_pem), 2);
  EXPECT_THAT(server_pem, HasSubstr(ReadAll(issuing)));
}

TEST_F(OfflineRootTest, ServerIssuesRenewsAndSignsCrlsWithTheRootKeyOffTheServer) {
  ExportRoot();
  EXPECT_FALSE(provisioning::PathExists(CaFile(provisioning::kRootKeyFile)));
  EXPECT_THAT(ReadAll(RootKeyFile()), HasSubstr("BEGIN ENCRYPTED PRIVATE KEY"));
  // The openssl tool opens it with the passphrase, and not without.
  provisioning_test::CommandResult opened = RunOpenSsl(
      {"pkey", "-in", RootKeyFile(), "-passin", std::string("pass:") + kPassphrase, "-noout"});
  EXPECT_EQ(opened.exit_code, 0) << opened.output;
  provisioning_test::CommandResult wrong =
      RunOpenSsl({"pkey", "-in", RootKeyFile(), "-passin", "pass:not the passphrase", "-noout"});
  EXPECT_NE(wrong.exit_code, 0);
  ASSERT_THAT(server_->Restart(), IsOk());

  // Issue: a dock enrolls and an operator gets a certificate.
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  ASSERT_THAT(server_->IssueOperator("qm-1", Role::kQuartermaster), IsOk());
  // Renew, in the dock's window.
  clock_.Advance(61 * kDay);
  absl::StatusOr<ClientCredentials> renewed = RenewDock(dock->credentials);
  ASSERT_THAT(renewed, IsOk());
  // CRL: revoke the dock's first certificate; the CRL the server signs lists it. (root-admin's
  // first certificate has expired by now: it acts with one from the issuing CA.)
  absl::StatusOr<ClientCredentials> admin =
      server_->IssueDirect(Role::kAdmin, kRootAdmin, clock_.Now());
  ASSERT_THAT(admin, IsOk());
  server_->set_acting_admin(*admin);
  ASSERT_THAT(TlsClient(server_->AdminChannel())
                  .RevokeCertificate(
                      provisioning::ParseCertificate(dock->credentials.bundle.cert_pem)->serial_hex,
                      v1::REVOCATION_REASON_SUPERSEDED),
              IsOk());
  absl::StatusOr<provisioning::CertificateVerifier> at_dock =
      DockVerifier(dock->credentials.bundle.ca_pem, *renewed);
  ASSERT_THAT(at_dock, IsOk());
  EXPECT_THAT(at_dock->VerifyChain(dock->credentials.bundle.cert_pem, clock_.Now()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(at_dock->VerifyChain(renewed->bundle.cert_pem, clock_.Now()), IsOk());
}

TEST_F(OfflineRootTest, AfterRotationADockEnrolledBeforeKeepsWorkingAndRenewsOntoTheNewIssuingCa) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  const std::string old_ca_pem = dock->credentials.bundle.ca_pem;
  ExportRoot();
  absl::StatusOr<server::IntermediateRotation> rotated = Rotate(/*compromised=*/false);
  ASSERT_THAT(rotated, IsOk());
  EXPECT_FALSE(rotated->rotation.old_revoked);
  EXPECT_NE(rotated->rotation.new_ca.subject_cn, rotated->rotation.old_ca.subject_cn);

  // The dock, with the certificate and CA certificates it had, keeps syncing: the server's new
  // chain reaches the root it trusts, and its certificate from the retired CA is still good.
  TlsClient old_dock(server_->Channel(dock->credentials.bundle));
  ASSERT_THAT(old_dock.GetCrl(), IsOk());
  // A camera enrolled through it now gets a certificate from the new issuing CA, which the dock
  // (old CA certificates plus the server's CRL) and the camera (pinned to the root: SameRoot)
  // both accept.
  ASSERT_THAT(TlsClient(server_->AdminChannel()).RegisterCamera("CAM-000001", "POST-1"), IsOk());
  absl::StatusOr<v1::EnrollCameraResponse> camera = old_dock.EnrollNewCamera("CAM-000001");
  ASSERT_THAT(camera, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> camera_cert =
      provisioning::ParseCertificate(camera->certificate().certificate_pem());
  ASSERT_THAT(camera_cert, IsOk());
  EXPECT_EQ(camera_cert->issuer_cn, rotated->rotation.new_ca.subject_cn);
  absl::StatusOr<provisioning::CertificateVerifier> at_dock =
      DockVerifier(old_ca_pem, dock->credentials);
  ASSERT_THAT(at_dock, IsOk());
  EXPECT_THAT(at_dock->VerifyChain(camera->certificate().certificate_pem(), clock_.Now()), IsOk());
  absl::StatusOr<provisioning::CertificateVerifier> pinned =
      provisioning::CertificateVerifier::FromCaPem(old_ca_pem);
  ASSERT_THAT(pinned, IsOk());
  absl::StatusOr<provisioning::CertificateVerifier> camera_trust =
      pinned->SameRoot(camera->ca_certificate_pem());
  ASSERT_THAT(camera_trust, IsOk());
  EXPECT_THAT(camera_trust->VerifyChain(camera->certificate().certificate_pem(), clock_.Now()),
              IsOk());

  // Its renewal comes from the new issuing CA, with the fleet's current CA certificates.
  clock_.Advance(61 * kDay);
  absl::StatusOr<ClientCredentials> renewed = RenewDock(dock->credentials);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(provisioning::ParseCertificate(renewed->bundle.cert_pem)->issuer_cn,
            rotated->rotation.new_ca.subject_cn);
  EXPECT_THAT(pinned->SameRoot(renewed->bundle.ca_pem), IsOk());
  EXPECT_THAT(TlsClient(server_->Channel(renewed->bundle)).GetCrl(), IsOk());

  // Once everyone has renewed, the root revokes the retired issuing CA: the dock's old
  // certificate is refused by the server and on the CRL a dock applies.
  server_->Shutdown();
  ASSERT_THAT(server::RevokeIntermediateInHome(
                  RotateWith(server_->home(), RootKeyFile(), false, clock_.Now()),
                  rotated->rotation.old_ca.serial_hex),
              IsOk());
  ASSERT_THAT(server_->Restart(), IsOk());
  EXPECT_THAT(TlsClient(server_->Channel(dock->credentials.bundle)).GetCrl(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  absl::StatusOr<provisioning::CertificateVerifier> after = DockVerifier(old_ca_pem, *renewed);
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->VerifyChain(dock->credentials.bundle.cert_pem, clock_.Now()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(after->VerifyChain(renewed->bundle.cert_pem, clock_.Now()), IsOk());
}

TEST_F(OfflineRootTest, ACompromisedIssuingCaIsRevokedAtOnceAndWhatItIssuedIsRefused) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  // What a thief holding the issuing CA's key could sign: any certificate at all.
  absl::StatusOr<ClientCredentials> forged =
      server_->IssueDirect(Role::kAdmin, "mallory", clock_.Now());
  ASSERT_THAT(forged, IsOk());
  ExportRoot();
  absl::StatusOr<server::IntermediateRotation> rotated = Rotate(/*compromised=*/true);
  ASSERT_THAT(rotated, IsOk());
  EXPECT_TRUE(rotated->rotation.old_revoked);

  EXPECT_THAT(TlsClient(server_->Channel(forged->bundle)).ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("an issuing CA the fleet root revoked")));
  EXPECT_THAT(TlsClient(server_->Channel(dock->credentials.bundle)).GetCrl(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  // The admin's own certificate came from the compromised issuing CA too, and is refused; one
  // from the new issuing CA works, and a new dock enrolls under it.
  EXPECT_THAT(TlsClient(server_->AdminChannel()).ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  absl::StatusOr<ClientCredentials> admin =
      server_->IssueDirect(Role::kAdmin, kRootAdmin, clock_.Now());
  ASSERT_THAT(admin, IsOk());
  server_->set_acting_admin(*admin);
  absl::StatusOr<EnrolledDock> fresh = server_->EnrollDock("POST-1", "post-1-dock-2");
  ASSERT_THAT(fresh, IsOk());
  absl::StatusOr<provisioning::CertificateVerifier> at_dock =
      DockVerifier(dock->credentials.bundle.ca_pem, fresh->credentials);
  ASSERT_THAT(at_dock, IsOk());
  EXPECT_THAT(at_dock->VerifyChain(forged->bundle.cert_pem, clock_.Now()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(at_dock->VerifyChain(fresh->credentials.bundle.cert_pem, clock_.Now()), IsOk());
}

TEST_F(OfflineRootTest, ACertificateChainingToAnotherRootIsRefused) {
  TempDir other_dir;
  absl::StatusOr<provisioning::CertificateAuthority> other =
      provisioning::CertificateAuthority::CreateWithRoot(other_dir.path(), clock_.Now());
  ASSERT_THAT(other, IsOk());
  // The other fleet's CA certificates are refused as a replacement for ours.
  absl::StatusOr<provisioning::CertificateVerifier> ours =
      provisioning::CertificateVerifier::FromCaPem(server_->ca_pem());
  ASSERT_THAT(ours, IsOk());
  EXPECT_THAT(ours->SameRoot(other->CertificatePem()),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("another root")));
  // A certificate from it, even with its issuing CA attached, does not chain to our root.
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr("post-1-dock-9");
  ASSERT_THAT(made, IsOk());
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::FromPem(made->csr_pem);
  ASSERT_THAT(csr, IsOk());
  absl::StatusOr<provisioning::IssuedCertificate> foreign =
      other->Issue(*csr, DockRequest("post-1-dock-9"), clock_.Now());
  ASSERT_THAT(foreign, IsOk());
  EXPECT_THAT(ours->VerifyChain(foreign->pem + other->ChainPem(), clock_.Now()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not issued by")));
  EXPECT_THAT(
      TlsClient(server_->Channel({made->key_pem, foreign->pem, server_->ca_pem()})).GetCrl(),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not issued by")));
}

// ------------------------------------------- recovery after a compromised issuing CA (issue 11)

v1::SyncHello Hello() {
  v1::SyncHello hello;
  hello.set_protocol_version(1);
  hello.set_epoch("0123456789abcdef0123456789abcdef");
  hello.set_agent_version("0.2.0");
  *hello.mutable_dock_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  return hello;
}

// (a) and (b): the dock renews once with the certificate it holds, no token, right after its
// enrollment (its window opens at day 60), and then works with the new one; the old one is
// refused for everything else before and after, and cannot renew a second time.
TEST_F(OfflineRootTest, AfterACompromisedRotationADockRenewsOnceWithItsOldCertificateAndSyncs) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  const ClientCredentials old = dock->credentials;
  ExportRoot();
  absl::StatusOr<server::IntermediateRotation> rotated = Rotate(/*compromised=*/true);
  ASSERT_THAT(rotated, IsOk());
  ActAsFreshAdmin();
  ASSERT_THAT(TlsClient(server_->AdminChannel()).RegisterCamera("CAM-000001", "POST-1"), IsOk());

  // Before: everything but the renewal is refused, saying to renew.
  const auto refused_saying_renew = StatusIs(
      absl::StatusCode::kUnauthenticated,
      AllOf(HasSubstr("an issuing CA the fleet root revoked"), HasSubstr(kRecoveryRenewalHint)));
  EXPECT_THAT(TlsClient(server_->Channel(old.bundle)).GetCrl(), refused_saying_renew);
  EXPECT_THAT(TlsClient(server_->Channel(old.bundle)).EnrollNewCamera("CAM-000001"),
              refused_saying_renew);
  EXPECT_THAT(SyncClient(server_->Channel(old.bundle)).Open(Hello()), refused_saying_renew);
  // A program acts on the reason the refusal carries (a google.rpc.ErrorInfo), not on its words.
  EXPECT_EQ(common::ReasonOf(testing::GetStatus(TlsClient(server_->Channel(old.bundle)).GetCrl())),
            common::kReasonIssuerRevoked);

  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(old.name);
  ASSERT_THAT(next, IsOk());
  absl::StatusOr<ClientCredentials> renewed = RenewDockWith(old, *next);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(IssuerOf(renewed->bundle.cert_pem), rotated->rotation.new_ca.subject_cn);
  absl::StatusOr<provisioning::CertificateVerifier> pinned =
      provisioning::CertificateVerifier::FromCaPem(old.bundle.ca_pem);
  ASSERT_THAT(pinned, IsOk());
  EXPECT_THAT(pinned->SameRoot(renewed->bundle.ca_pem), IsOk());

  // After: the new certificate works for everything a dock does.
  TlsClient now(server_->Channel(renewed->bundle));
  EXPECT_THAT(now.GetCrl(), IsOk());
  EXPECT_THAT(now.EnrollNewCamera("CAM-000001"), IsOk());
  SyncClient sync(server_->Channel(renewed->bundle));
  EXPECT_THAT(sync.Open(Hello()), IsOk());

  // The old one: refused for everything, and it renews once only.
  EXPECT_THAT(TlsClient(server_->Channel(old.bundle)).GetCrl(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("revoked"), Not(HasSubstr(kRecoveryRenewalHint)))));
  EXPECT_EQ(common::ReasonOf(testing::GetStatus(TlsClient(server_->Channel(old.bundle)).GetCrl())),
            "");
  absl::StatusOr<KeyAndCsr> another = MakeKeyAndCsr(old.name);
  ASSERT_THAT(another, IsOk());
  EXPECT_THAT(RenewDockWith(old, *another),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("renews once")));
  // A retry of that one renewal (its answer lost on the way) gets the same certificate back.
  absl::StatusOr<ClientCredentials> retried = RenewDockWith(old, *next);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->bundle.cert_pem, renewed->bundle.cert_pem);

  // Recorded as a recovery: one new certificate, the old one superseded, no token used.
  std::vector<v1::AuditEvent> recovered = EventsOf("dock.recover_certificate");
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].actor(), "dock:post-1-dock-1");
  EXPECT_THAT(recovered[0].details_json(), HasSubstr(rotated->rotation.old_ca.subject_cn));
  absl::StatusOr<std::vector<v1::Certificate>> certs =
      TlsClient(server_->AdminChannel()).CertificatesOf(old.name);
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_FALSE((*certs)[0].has_revoke_time());
  EXPECT_EQ((*certs)[1].revocation_reason(), v1::REVOCATION_REASON_SUPERSEDED);
  EXPECT_EQ(EventsOf("token.create").size(), 1u);
}

// (c): certificates signed with the stolen issuing key that camfleetd never recorded: one for
// an existing dock id with the thief's key, one for a new admin, and a copy of the dock's own
// certificate (same serial, same key) with a longer life. None renews, none does anything else.
TEST_F(OfflineRootTest, CertificatesMintedWithTheStolenIssuingKeyAreRefusedForRenewalAndAllElse) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  absl::StatusOr<ClientCredentials> minted_dock =
      server_->IssueDirect(Role::kDock, "post-1-dock-1", clock_.Now());
  ASSERT_THAT(minted_dock, IsOk());
  absl::StatusOr<ClientCredentials> minted_admin =
      server_->IssueDirect(Role::kAdmin, "mallory", clock_.Now());
  ASSERT_THAT(minted_admin, IsOk());
  absl::StatusOr<ClientCredentials> minted_root_admin =
      server_->IssueDirect(Role::kAdmin, kRootAdmin, clock_.Now());
  ASSERT_THAT(minted_root_admin, IsOk());
  absl::StatusOr<provisioning::PrivateKey> stolen =
      provisioning::PrivateKey::ReadFile(CaFile(provisioning::kCaKeyFile));
  ASSERT_THAT(stolen, IsOk());
  absl::StatusOr<std::string> stolen_pem = stolen->ToPem();
  ASSERT_THAT(stolen_pem, IsOk());
  absl::StatusOr<std::string> stretched = ResignWithNotAfter(
      dock->credentials.bundle.cert_pem, *stolen_pem, clock_.Now() + 3000 * kDay);
  ASSERT_THAT(stretched, IsOk());
  ClientCredentials copy = dock->credentials;
  copy.bundle.cert_pem = *stretched;
  ExportRoot();
  ASSERT_THAT(Rotate(/*compromised=*/true), IsOk());

  for (const ClientCredentials* minted : {&*minted_dock, &copy}) {
    absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("post-1-dock-1");
    ASSERT_THAT(next, IsOk());
    EXPECT_THAT(RenewDockWith(*minted, *next),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         AllOf(HasSubstr("counts only if camfleetd issued and recorded it"),
                               HasSubstr("enroll the dock again"))));
    EXPECT_THAT(TlsClient(server_->Channel(minted->bundle)).GetCrl(),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  }
  for (const ClientCredentials* minted : {&*minted_admin, &*minted_root_admin}) {
    absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(minted->name);
    ASSERT_THAT(next, IsOk());
    EXPECT_THAT(RenewOperatorWith(*minted, *next),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("never issued")));
    EXPECT_THAT(TlsClient(server_->Channel(minted->bundle)).ListSites(),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  }
  // Nothing was issued to any of them; the real dock still recovers.
  ActAsFreshAdmin();
  EXPECT_TRUE(EventsOf("dock.recover_certificate").empty());
  EXPECT_TRUE(EventsOf("operator.recover_certificate").empty());
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("post-1-dock-1");
  ASSERT_THAT(next, IsOk());
  EXPECT_THAT(RenewDockWith(dock->credentials, *next), IsOk());
}

// (d): an operator recovers the same way, with `camfleet operator renew`.
TEST_F(OfflineRootTest, AnOperatorRecoversWithCamfleetOperatorRenew) {
  ExportRoot();
  absl::StatusOr<server::IntermediateRotation> rotated = Rotate(/*compromised=*/true);
  ASSERT_THAT(rotated, IsOk());
  const ClientCredentials old = server_->admin();
  EXPECT_THAT(TlsClient(server_->Channel(old.bundle)).ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("camfleet operator renew")));

  const std::string dir = server_->paths().AdminCredentials(kRootAdmin);
  auto cli = [&](std::vector<std::string> args) {
    return RunCli(
        testing::TlsCliArgs(absl::StrCat(kServerName, ":", server_->port()), dir, 10, args),
        clock_);
  };
  CliResult renewed = cli({"operator", "renew"});
  ASSERT_EQ(renewed.code, 0) << renewed;
  EXPECT_THAT(renewed.out, HasSubstr("renewed root-admin")) << renewed;
  absl::StatusOr<provisioning::CredentialBundle> now = provisioning::LoadCredentialBundle(dir);
  ASSERT_THAT(now, IsOk());
  EXPECT_EQ(IssuerOf(now->cert_pem), rotated->rotation.new_ca.subject_cn);
  CliResult sites = cli({"site", "list"});
  EXPECT_EQ(sites.code, 0) << sites;
  EXPECT_THAT(sites.out, HasSubstr("POST-1")) << sites;
  // The new certificate renews by its own window again.
  CliResult again = cli({"operator", "renew"});
  EXPECT_NE(again.code, 0) << again;
  EXPECT_THAT(again.err, HasSubstr("not due for renewal")) << again;

  // The old certificate: refused for everything, its renewal done.
  EXPECT_THAT(TlsClient(server_->Channel(old.bundle)).ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(kRootAdmin);
  ASSERT_THAT(next, IsOk());
  EXPECT_THAT(RenewOperatorWith(old, *next),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("renews once")));
  server_->set_acting_admin({kRootAdmin, *now});
  EXPECT_EQ(EventsOf("operator.recover_certificate").size(), 1u);
}

// (e) through the API: the recovered dock renews its docked camera onto the new issuing CA with
// the camera's proof of possession; a lost camera, a revoked dock and a revoked certificate from
// the compromised CA stay refused.
TEST_F(OfflineRootTest, ARecoveredDockRenewsItsCamerasButRevokedOnesStayRefused) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  absl::StatusOr<EnrolledDock> stolen_dock = server_->EnrollDock("POST-1", "post-1-dock-2");
  ASSERT_THAT(stolen_dock, IsOk());
  absl::StatusOr<EnrolledDock> retired_cert_dock = server_->EnrollDock("POST-1", "post-1-dock-3");
  ASSERT_THAT(retired_cert_dock, IsOk());
  TlsClient admin(server_->AdminChannel());
  TlsClient old_dock(server_->Channel(dock->credentials.bundle));
  for (const char* serial : {"CAM-000001", "CAM-000002"}) {
    ASSERT_THAT(admin.RegisterCamera(serial, "POST-1"), IsOk());
    ASSERT_THAT(old_dock.EnrollNewCamera(serial), IsOk());
  }
  ASSERT_THAT(admin.ReportLost("CAM-000002"), IsOk());
  v1::RevokeDockRequest revoke;
  revoke.set_dock_id("post-1-dock-2");
  revoke.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(admin.Prov(&v1::ProvisioningService::Stub::RevokeDock, revoke), IsOk());
  ASSERT_THAT(admin.RevokeCertificate(
                  provisioning::ParseCertificate(retired_cert_dock->credentials.bundle.cert_pem)
                      ->serial_hex,
                  v1::REVOCATION_REASON_CESSATION_OF_OPERATION),
              IsOk());
  ExportRoot();
  absl::StatusOr<server::IntermediateRotation> rotated = Rotate(/*compromised=*/true);
  ASSERT_THAT(rotated, IsOk());

  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("post-1-dock-1");
  ASSERT_THAT(next, IsOk());
  absl::StatusOr<ClientCredentials> recovered = RenewDockWith(dock->credentials, *next);
  ASSERT_THAT(recovered, IsOk());
  TlsClient new_dock(server_->Channel(recovered->bundle));
  new_dock.set_camera_keys(old_dock.camera_keys());
  absl::StatusOr<v1::RenewCameraCertificateResponse> camera =
      new_dock.RenewCameraWithProof("CAM-000001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(IssuerOf(camera->certificate().certificate_pem()), rotated->rotation.new_ca.subject_cn);
  EXPECT_THAT(new_dock.RenewCameraWithProof("CAM-000002"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("LOST")));

  for (const EnrolledDock* refused : {&*stolen_dock, &*retired_cert_dock}) {
    absl::StatusOr<KeyAndCsr> csr = MakeKeyAndCsr(refused->credentials.name);
    ASSERT_THAT(csr, IsOk());
    EXPECT_THAT(RenewDockWith(refused->credentials, *csr),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  }
}

}  // namespace
}  // namespace camfleet::testing
