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

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/role.h"
#include "services/server/home.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/openssl_cli.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using provisioning_test::RunOpenSsl;
using ::testing::HasSubstr;

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

}  // namespace
}  // namespace camfleet::testing
