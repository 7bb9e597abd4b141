// Who may call: the server reads role and identity from the client certificate and checks its
// chain, validity and revocation on every call, then the method's rule. Each refusal has its
// precise code and says why.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "tests/identity/csr_with_extensions.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/openssl_cli.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using ::testing::AllOf;
using ::testing::HasSubstr;

class AuthenticationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(Options());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_NO_FATAL_FAILURE(ChooseAdmin());
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite("POST-1"), IsOk());
  }
  virtual TlsTestServerOptions Options() { return {}; }
  // Which admin the fixture acts as; root-admin unless overridden.
  virtual void ChooseAdmin() {}

  // A client for a new operator `name` with `role`.
  std::unique_ptr<TlsClient> Operator(const std::string& name, Role role) {
    absl::StatusOr<ClientCredentials> op = server_->IssueOperator(name, role);
    EXPECT_THAT(op, IsOk());
    if (!op.ok()) return nullptr;
    return std::make_unique<TlsClient>(server_->Channel(op->bundle));
  }

  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
};

TEST_F(AuthenticationTest, AdminFromInitIsAccepted) { EXPECT_THAT(admin_->ListSites(), IsOk()); }

TEST_F(AuthenticationTest, RevokedOperatorIsRefusedOnItsAlreadyOpenConnection) {
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  ASSERT_THAT(qm->ListSites(), IsOk());
  ASSERT_EQ(qm->channel()->GetState(false), GRPC_CHANNEL_READY);

  ASSERT_THAT(admin_->RevokeOperator("qm-alice"), IsOk());

  // The TLS handshake is long done; only the per-call check can refuse it.
  EXPECT_THAT(qm->ListSites(), StatusIs(absl::StatusCode::kUnauthenticated,
                                        AllOf(HasSubstr("qm-alice"), HasSubstr("revoked"))));
  EXPECT_EQ(qm->channel()->GetState(false), GRPC_CHANNEL_READY)
      << "the refusal must come from the same connection, not a new handshake";
}

TEST_F(AuthenticationTest, RevokedOperatorIsRefusedOnANewConnection) {
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-alice"), IsOk());
  TlsClient fresh(server_->Channel(qm->bundle));
  EXPECT_THAT(fresh.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(AuthenticationTest, RevocationIsStillEnforcedAfterRestart) {
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-alice"), IsOk());
  ASSERT_THAT(server_->Restart(), IsOk());
  TlsClient fresh(server_->Channel(qm->bundle));
  EXPECT_THAT(fresh.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(AuthenticationTest, RevokingOneCertificateLeavesTheOperatorsOtherCertificateWorking) {
  absl::StatusOr<ClientCredentials> first =
      server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<ClientCredentials> second =
      server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(second, IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-alice");
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 2u);
  // Newest first: the second certificate issued is certs[0].
  ASSERT_EQ(certs->at(0).certificate_pem(), second->bundle.cert_pem);
  ASSERT_THAT(admin_->RevokeCertificate(certs->at(1).serial(), v1::REVOCATION_REASON_SUPERSEDED),
              IsOk());

  TlsClient old_cert(server_->Channel(first->bundle));
  TlsClient new_cert(server_->Channel(second->bundle));
  EXPECT_THAT(old_cert.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(new_cert.ListSites(), IsOk());
}

TEST_F(AuthenticationTest, RevokedDockIsRefusedOnItsOpenConnection) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  TlsClient client(server_->Channel(dock->credentials.bundle));
  ASSERT_THAT(client.GetCrl(), IsOk());
  v1::RevokeDockRequest req;
  req.set_dock_id("post-1-dock-1");
  req.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req), IsOk());
  EXPECT_THAT(client.GetCrl(), StatusIs(absl::StatusCode::kUnauthenticated,
                                        AllOf(HasSubstr("post-1-dock-1"), HasSubstr("revoked"))));
}

TEST_F(AuthenticationTest, CertificateFromAnotherCaIsRefused) {
  // Same role and even the same name as the real first admin, but another CA signed it.
  TempDir other_dir;
  absl::StatusOr<provisioning::CertificateAuthority> other =
      provisioning::CertificateAuthority::Create(other_dir.path(), absl::Now());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, kRootAdmin);
  ASSERT_THAT(csr, IsOk());
  provisioning::IssueRequest request;
  request.role = Role::kAdmin;
  request.identity = kRootAdmin;
  absl::StatusOr<provisioning::IssuedCertificate> cert = other->Issue(*csr, request, absl::Now());
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<std::string> key_pem = key->ToPem();
  ASSERT_THAT(key_pem, IsOk());

  TlsClient impostor(server_->Channel({*key_pem, cert->pem, other->CertificatePem()}));
  EXPECT_THAT(impostor.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not issued by")));
  EXPECT_THAT(impostor.CreateSite("POST-9"), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(AuthenticationTest, NoClientCertificateIsRefusedOnANormalMethod) {
  TlsClient anonymous(server_->ChannelWithoutCertificate());
  EXPECT_THAT(anonymous.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("no client certificate")));
}

TEST_F(AuthenticationTest, NoClientCertificateIsRefusedOnADockMethod) {
  TlsClient anonymous(server_->ChannelWithoutCertificate());
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr("CAM-0001");
  ASSERT_THAT(made, IsOk());
  EXPECT_THAT(anonymous.EnrollCamera("CAM-0001", made->csr_pem),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("no client certificate")));
}

TEST_F(AuthenticationTest, QuartermasterCannotCreateSite) {
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  EXPECT_THAT(qm->CreateSite("POST-2"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("CreateSite needs role admin"), HasSubstr("qm-alice"),
                             HasSubstr("quartermaster"))));
}

TEST_F(AuthenticationTest, QuartermasterCannotIssueOperatorCertificates) {
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr("qm-mallory");
  ASSERT_THAT(made, IsOk());
  v1::IssueOperatorCertificateRequest req;
  req.set_name("qm-mallory");
  req.set_role(v1::ROLE_ADMIN);
  req.set_csr_pem(made->csr_pem);
  EXPECT_THAT(qm->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("IssueOperatorCertificate needs role admin")));
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-mallory");
  ASSERT_THAT(certs, IsOk());
  EXPECT_TRUE(certs->empty());
}

TEST_F(AuthenticationTest, AuditorCannotRegisterCamera) {
  std::unique_ptr<TlsClient> auditor = Operator("aud-carol", Role::kAuditor);
  ASSERT_NE(auditor, nullptr);
  EXPECT_THAT(auditor->RegisterCamera("CAM-0001", "POST-1"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("needs role admin or quartermaster")));
}

TEST_F(AuthenticationTest, DockCannotCallFleetMethods) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  TlsClient client(server_->Channel(dock->credentials.bundle));
  EXPECT_THAT(client.RegisterCamera("CAM-0001", "POST-1"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("post-1-dock-1"), HasSubstr("has role dock"))));
}

TEST_F(AuthenticationTest, ForgedOperatorHeaderDoesNotLendItsName) {
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  qm->set_forged_operator(kRootAdmin);
  EXPECT_THAT(qm->CreateSite("POST-2"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("'qm-alice'")));
}

// A home made 120 days ago: the CA and the server certificate are still valid, but a 30-day
// operator certificate signed then has long expired.
class OldHomeTest : public AuthenticationTest {
 protected:
  TlsTestServerOptions Options() override {
    TlsTestServerOptions options;
    options.init_now = absl::Now() - absl::Hours(24 * 120);
    return options;
  }
  // root-admin's certificate expired with the rest; a current one is signed directly.
  void ChooseAdmin() override {
    absl::StatusOr<ClientCredentials> admin =
        server_->IssueDirect(Role::kAdmin, "current-admin", absl::Now());
    ASSERT_THAT(admin, IsOk());
    server_->set_acting_admin(*admin);
  }
};

TEST_F(OldHomeTest, FirstAdminCertificateHasExpiredWithTheHome) {
  TlsClient root(server_->Channel(server_->admin().bundle));
  EXPECT_THAT(root.ListSites(), StatusIs(absl::StatusCode::kUnauthenticated,
                                         AllOf(HasSubstr("root-admin"), HasSubstr("expired"))));
}

TEST_F(OldHomeTest, ExpiredCertificateIsRefused) {
  absl::StatusOr<ClientCredentials> old =
      server_->IssueDirect(Role::kAdmin, "old-admin", absl::Now() - absl::Hours(24 * 100));
  ASSERT_THAT(old, IsOk());
  TlsClient client(server_->Channel(old->bundle));
  EXPECT_THAT(client.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
}

TEST_F(OldHomeTest, ExpiredOperatorCannotRenewAfterItsGrace) {
  // 100 days ago + 30 days of validity + 30 days of grace ended 40 days ago.
  absl::StatusOr<ClientCredentials> old =
      server_->IssueDirect(Role::kQuartermaster, "qm-old", absl::Now() - absl::Hours(24 * 100));
  ASSERT_THAT(old, IsOk());
  TlsClient client(server_->Channel(old->bundle));
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr("qm-old");
  ASSERT_THAT(made, IsOk());
  v1::RenewOperatorCertificateRequest req;
  req.set_csr_pem(made->csr_pem);
  EXPECT_THAT(client.Prov(&v1::ProvisioningService::Stub::RenewOperatorCertificate, req),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("expired"), HasSubstr("grace"))));
}

TEST_F(AuthenticationTest, NotYetValidCertificateIsRefused) {
  absl::StatusOr<ClientCredentials> future =
      server_->IssueDirect(Role::kAdmin, "future-admin", absl::Now() + absl::Hours(24 * 10));
  ASSERT_THAT(future, IsOk());
  TlsClient client(server_->Channel(future->bundle));
  EXPECT_THAT(client.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not valid until")));
}

TEST_F(AuthenticationTest, CsrCannotAskForAnotherRole) {
  // The CSR asks for an admin identity and a CA certificate; the admin issues a quartermaster.
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  v1::IssueOperatorCertificateRequest req;
  req.set_name("qm-alice");
  req.set_role(v1::ROLE_QUARTERMASTER);
  req.set_csr_pem(CsrAskingForExtensions(*key, "qm-alice", "camfleet://admin/qm-alice"));
  absl::StatusOr<v1::IssueOperatorCertificateResponse> issued =
      admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req);
  ASSERT_THAT(issued, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(issued->certificate().certificate_pem());
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->role, Role::kQuartermaster);

  absl::StatusOr<std::string> key_pem = key->ToPem();
  ASSERT_THAT(key_pem, IsOk());
  TlsClient qm(server_->Channel({*key_pem, issued->certificate().certificate_pem(), ""}));
  EXPECT_THAT(qm.CreateSite("POST-2"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("has role quartermaster")));
}

TEST_F(AuthenticationTest, DockCsrCannotAskForAdminRole) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  absl::StatusOr<v1::EnrollDockResponse> enrolled = installer.EnrollDock(
      token->token(), CsrAskingForExtensions(*key, "post-1-dock-1", "camfleet://admin/root-admin"));
  ASSERT_THAT(enrolled, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(enrolled->certificate().certificate_pem());
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->role, Role::kDock);
  EXPECT_EQ(info->identity, "post-1-dock-1");
}

TEST_F(AuthenticationTest, RevokedOperatorCannotBeIssuedANewCertificate) {
  ASSERT_NE(Operator("qm-alice", Role::kQuartermaster), nullptr);
  ASSERT_THAT(admin_->RevokeOperator("qm-alice"), IsOk());
  EXPECT_THAT(server_->IssueOperator("qm-alice", Role::kQuartermaster),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("revoked")));
}

TEST_F(AuthenticationTest, OperatorCannotBeReissuedWithAnotherRole) {
  ASSERT_NE(Operator("qm-alice", Role::kQuartermaster), nullptr);
  EXPECT_THAT(server_->IssueOperator("qm-alice", Role::kAdmin),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("quartermaster")));
}

}  // namespace
}  // namespace camfleet::testing

namespace camfleet::testing {
namespace {

// Issue 11, item 10: signed by the fleet CA with a camfleet:// URI is not enough; the
// certificate must be for TLS client authentication (extendedKeyUsage clientAuth, keyUsage
// digitalSignature). Made with the openssl command line and the fleet CA's own key, as an
// insider holding a mis-issued (server, or signing-only) certificate would have it.
class ClientPurposeTest : public AuthenticationTest {
 protected:
  // A certificate for a fresh key naming camfleet://admin/`name`, with `extensions` (openssl
  // extfile lines) besides the URI and CA:FALSE, signed by the fleet CA.
  provisioning::CredentialBundle Crafted(const std::string& name, const std::string& extensions,
                                         int serial) {
    absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(name);
    EXPECT_THAT(made, IsOk());
    if (!made.ok()) return {};
    const std::string csr = files_.File(name + ".csr");
    const std::string ext = files_.File(name + ".ext");
    const std::string cert = files_.File(name + ".crt");
    std::ofstream(csr) << made->csr_pem;
    std::ofstream(ext) << "basicConstraints=critical,CA:FALSE\n"
                       << "subjectAltName=URI:camfleet://admin/" << name << "\n"
                       << extensions;
    const std::string ca_dir = server_->paths().CaDir();
    provisioning_test::CommandResult r = provisioning_test::RunOpenSsl(
        {"x509", "-req", "-in", csr, "-CA", ca_dir + "/" + provisioning::kCaCertFile, "-CAkey",
         ca_dir + "/" + provisioning::kCaKeyFile, "-set_serial", std::to_string(serial), "-days",
         "2", "-extfile", ext, "-out", cert});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::stringstream pem;
    pem << std::ifstream(cert).rdbuf();
    return {made->key_pem, pem.str(), server_->ca_pem()};
  }

  TempDir files_;
};

TEST_F(ClientPurposeTest, CertificateForAnotherPurposeIsRefusedOnEveryCall) {
  struct Case {
    const char* name;
    const char* extensions;
    const char* why;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"eve-server", "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            "clientAuth"},
           {"eve-no-eku", "keyUsage=critical,digitalSignature\n", "clientAuth"},
           {"eve-no-ku", "extendedKeyUsage=clientAuth\n", "digitalSignature"},
           {"eve-agreement", "keyUsage=critical,keyAgreement\nextendedKeyUsage=clientAuth\n",
            "digitalSignature"}}) {
    static int serial = 7001;
    TlsClient client(server_->Channel(Crafted(c.name, c.extensions, serial++)));
    EXPECT_THAT(client.ListSites(),
                StatusIs(absl::StatusCode::kUnauthenticated, AllOf(HasSubstr(c.why))))
        << c.name;
  }
  // The same recipe with the right purposes is accepted: the refusals above are the purposes.
  TlsClient good(server_->Channel(Crafted(
      "eve-client", "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n", 7100)));
  EXPECT_THAT(good.ListSites(), IsOk());
}

}  // namespace
}  // namespace camfleet::testing
