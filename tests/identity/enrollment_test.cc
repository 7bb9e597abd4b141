// Getting a certificate: operators from an admin, docks with a one-time token, cameras through
// a dock of their own site. Bad CSRs, bad tokens and cameras in the wrong state are refused with
// precise codes; lost and retired cameras lose their certificate; docks renew within a grace.
// The server runs on a FakeClock that starts at the real time (clients check the server's own
// certificate against the real clock).

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "services/server/home.h"
#include "tests/identity/crl_listing.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

constexpr char kDockId[] = "post-1-dock-1";

// A CSR for `common_name` made with `key`.
std::string CsrFor(const provisioning::PrivateKey& key, const std::string& common_name) {
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(key, common_name);
  EXPECT_THAT(csr, IsOk());
  if (!csr.ok()) return "";
  absl::StatusOr<std::string> pem = csr->ToPem();
  EXPECT_THAT(pem, IsOk());
  return pem.ok() ? *pem : "";
}

std::string FreshCsr(const std::string& common_name) {
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(common_name);
  EXPECT_THAT(made, IsOk());
  return made.ok() ? made->csr_pem : "";
}

class EnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite("POST-1"), IsOk());
    ASSERT_THAT(admin_->CreateSite("POST-2"), IsOk());
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
    ASSERT_THAT(dock, IsOk());
    dock_credentials_ = dock->credentials;
    dock_ = std::make_unique<TlsClient>(server_->Channel(dock_credentials_.bundle));
  }

  // Renews the dock's certificate with a new key and switches dock_ to it.
  void RenewDockNow() {
    absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(kDockId);
    ASSERT_THAT(next, IsOk());
    absl::StatusOr<v1::RenewDockCertificateResponse> renewed = dock_->RenewDock(next->csr_pem);
    ASSERT_THAT(renewed, IsOk());
    dock_credentials_.bundle = {next->key_pem, renewed->certificate().certificate_pem(),
                                renewed->ca_certificate_pem()};
    std::map<std::string, std::string> cameras = dock_->camera_keys();
    dock_ = std::make_unique<TlsClient>(server_->Channel(dock_credentials_.bundle));
    dock_->set_camera_keys(std::move(cameras));
  }

  // Registers `serial` at POST-1 and enrolls it through the dock.
  absl::StatusOr<v1::EnrollCameraResponse> RegisterAndEnroll(const std::string& serial) {
    absl::StatusOr<v1::RegisterCameraResponse> registered =
        admin_->RegisterCamera(serial, "POST-1");
    if (!registered.ok()) return registered.status();
    return dock_->EnrollNewCamera(serial);
  }

  absl::StatusOr<v1::Certificate> CertificateBySerial(const std::string& identity,
                                                      const std::string& serial) {
    absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf(identity);
    if (!certs.ok()) return certs.status();
    for (const v1::Certificate& c : *certs) {
      if (c.serial() == serial) return c;
    }
    return absl::NotFoundError(serial);
  }

  // Docks known to the server, revoked ones included.
  std::vector<std::string> DockIds() {
    v1::ListDocksRequest req;
    req.set_include_revoked(true);
    absl::StatusOr<v1::ListDocksResponse> docks =
        admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, req);
    EXPECT_THAT(docks, IsOk());
    std::vector<std::string> out;
    if (docks.ok()) {
      for (const v1::Dock& d : docks->docks()) out.push_back(d.dock_id());
    }
    return out;
  }

  common::FakeClock clock_{absl::Now()};
  TempDir files_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  ClientCredentials dock_credentials_;
  std::unique_ptr<TlsClient> dock_;
};

// ------------------------------------------------------------------------------------- CSRs

TEST_F(EnrollmentTest, IssueOperatorRefusesCsrWithBadSignature) {
  v1::IssueOperatorCertificateRequest req;
  req.set_name("qm-alice");
  req.set_role(v1::ROLE_QUARTERMASTER);
  req.set_csr_pem(provisioning_test::FlipSignatureBit(FreshCsr("qm-alice")));
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("csr_pem"), HasSubstr("signature does not verify"))));
}

TEST_F(EnrollmentTest, IssueOperatorRefusesCsrSignedByAnotherKey) {
  provisioning::PrivateKey claimed = provisioning_test::MakeEcKey("prime256v1");
  provisioning::PrivateKey signer = provisioning_test::MakeEcKey("prime256v1");
  v1::IssueOperatorCertificateRequest req;
  req.set_name("qm-alice");
  req.set_role(v1::ROLE_QUARTERMASTER);
  req.set_csr_pem(provisioning_test::CsrSignedByOtherKey(claimed, signer, "qm-alice"));
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signature")));
}

TEST_F(EnrollmentTest, IssueOperatorRefusesRsa1024Key) {
  v1::IssueOperatorCertificateRequest req;
  req.set_name("qm-alice");
  req.set_role(v1::ROLE_QUARTERMASTER);
  req.set_csr_pem(CsrFor(provisioning_test::MakeRsaKey(1024), "qm-alice"));
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA-1024")));
}

TEST_F(EnrollmentTest, IssueOperatorRefusesCsrNamingSomeoneElse) {
  v1::IssueOperatorCertificateRequest req;
  req.set_name("qm-alice");
  req.set_role(v1::ROLE_QUARTERMASTER);
  req.set_csr_pem(FreshCsr("qm-mallory"));
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("qm-alice"), HasSubstr("qm-mallory"))));
}

TEST_F(EnrollmentTest, IssueOperatorRefusesUpperCaseName) {
  // provisioning.proto: an operator name is 1-64 characters of a-z, 0-9, '.', '_' and '-'.
  v1::IssueOperatorCertificateRequest req;
  req.set_name("Alice");
  req.set_role(v1::ROLE_QUARTERMASTER);
  req.set_csr_pem(FreshCsr("Alice"));
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
}

TEST(InitHomeNameTest, InitHomeRefusesUpperCaseAdminName) {
  // The first admin is an operator like any other, under the same naming rule.
  TempDir dir;
  server::InitOptions init;
  init.home = dir.File("home");
  init.admin_name = "Root-Admin";
  EXPECT_THAT(server::InitHome(init),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Root-Admin")));
}

TEST_F(EnrollmentTest, EnrollDockRefusesCsrWithBadSignatureAndKeepsTheToken) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(installer.EnrollDock(token->token(),
                                   provisioning_test::FlipSignatureBit(FreshCsr("post-1-dock-2"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signature")));
  EXPECT_THAT(installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")), IsOk());
}

TEST_F(EnrollmentTest, EnrollDockRefusesRsa1024Key) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(installer.EnrollDock(token->token(),
                                   CsrFor(provisioning_test::MakeRsaKey(1024), "post-1-dock-2")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA-1024")));
}

TEST_F(EnrollmentTest, EnrollDockRefusesDockIdOutsideItsAlphabet) {
  // provisioning.proto: a dock id is 3-64 characters of a-z, 0-9 and '-'.
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(installer.EnrollDock(token->token(), FreshCsr("Post_1.Dock")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Post_1.Dock")));
  EXPECT_THAT(DockIds(), Not(Contains("Post_1.Dock")));
}

TEST_F(EnrollmentTest, EnrollDockRefusesTooShortDockId) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(installer.EnrollDock(token->token(), FreshCsr("d1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("d1")));
}

TEST_F(EnrollmentTest, EnrollCameraRefusesCsrNamingAnotherSerial) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  EXPECT_THAT(dock_->EnrollCamera("CAM-0001", FreshCsr("CAM-0002")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CAM-0001"), HasSubstr("CAM-0002"))));
  absl::StatusOr<v1::Camera> camera = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_REGISTERED);
}

TEST_F(EnrollmentTest, EnrollCameraRefusesCsrWithBadSignature) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  EXPECT_THAT(
      dock_->EnrollCamera("CAM-0001", provisioning_test::FlipSignatureBit(FreshCsr("CAM-0001"))),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signature")));
}

TEST_F(EnrollmentTest, EnrollCameraRefusesRsa1024Key) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  EXPECT_THAT(
      dock_->EnrollCamera("CAM-0001", CsrFor(provisioning_test::MakeRsaKey(1024), "CAM-0001")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA-1024")));
}

// ----------------------------------------------------------------------------------- tokens

TEST_F(EnrollmentTest, IssueOperatorRefusesMachineRole) {
  v1::IssueOperatorCertificateRequest req;
  req.set_name("post-1-dock-7");
  req.set_role(v1::ROLE_DOCK);
  req.set_csr_pem(FreshCsr("post-1-dock-7"));
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::IssueOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an operator role")));
}

TEST_F(EnrollmentTest, CreateTokenRefusesTtlOutOfRange) {
  EXPECT_THAT(admin_->CreateToken("POST-1", absl::Seconds(30)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl")));
  EXPECT_THAT(admin_->CreateToken("POST-1", absl::Hours(24 * 31)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ttl")));
}

TEST_F(EnrollmentTest, CreateTokenForUnknownSiteIsNotFound) {
  EXPECT_THAT(admin_->CreateToken("POST-404"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("POST-404")));
}

TEST_F(EnrollmentTest, ReusedTokenIsRefused) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  ASSERT_THAT(installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")), IsOk());
  EXPECT_THAT(
      installer.EnrollDock(token->token(), FreshCsr("post-1-dock-3")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("unknown, already used or expired")));
  EXPECT_THAT(DockIds(), Not(Contains("post-1-dock-3")));
}

TEST_F(EnrollmentTest, ExpiredTokenIsRefused) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token =
      admin_->CreateToken("POST-1", absl::Minutes(10));
  ASSERT_THAT(token, IsOk());
  clock_.Advance(absl::Minutes(11));
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(
      installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("unknown, already used or expired")));
  EXPECT_THAT(DockIds(), Not(Contains("post-1-dock-2")));
}

TEST_F(EnrollmentTest, TokenWorksUntilItExpires) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token =
      admin_->CreateToken("POST-1", absl::Minutes(10));
  ASSERT_THAT(token, IsOk());
  clock_.Advance(absl::Minutes(9));
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")), IsOk());
}

TEST_F(EnrollmentTest, UnknownTokenIsRefused) {
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(
      installer.EnrollDock("cfe_not-a-token-anyone-made", FreshCsr("post-1-dock-2")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("unknown, already used or expired")));
  EXPECT_THAT(DockIds(), Not(Contains("post-1-dock-2")));
}

TEST_F(EnrollmentTest, TokenIsNotEchoedInRefusal) {
  TlsClient installer(server_->ChannelWithoutCertificate());
  const std::string secret = "cfe_secret-value-1234567890";
  absl::StatusOr<v1::EnrollDockResponse> refused =
      installer.EnrollDock(secret, FreshCsr("post-1-dock-2"));
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("secret-value")));
}

TEST_F(EnrollmentTest, EnrollDockWithEnrolledDockIdIsAlreadyExists) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  EXPECT_THAT(installer.EnrollDock(token->token(), FreshCsr(kDockId)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(kDockId)));
}

TEST_F(EnrollmentTest, TokenStaysUsableWhenTheDockIdWasTaken) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  ASSERT_THAT(installer.EnrollDock(token->token(), FreshCsr(kDockId)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")), IsOk());
}

// `camfleet-dock enroll` keeps its key and CSR on disk before it sends them; after a lost
// answer it sends the same CSR with the same token and finishes the enrollment it started.
TEST_F(EnrollmentTest, RetriedDockEnrollmentWithTheSameKeyGetsTheSameCertificate) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  const std::string csr = FreshCsr("post-1-dock-2");
  absl::StatusOr<v1::EnrollDockResponse> first = installer.EnrollDock(token->token(), csr);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<v1::EnrollDockResponse> retry = installer.EnrollDock(token->token(), csr);
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->certificate().serial(), first->certificate().serial());
  EXPECT_EQ(retry->certificate().certificate_pem(), first->certificate().certificate_pem());
  EXPECT_EQ(retry->ca_certificate_pem(), first->ca_certificate_pem());
  EXPECT_EQ(retry->dock().dock_id(), "post-1-dock-2");
  EXPECT_EQ(retry->dock().site_code(), "POST-1");
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("post-1-dock-2");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 1u);
}

// A new CSR for the same key (a CSR's signature differs each time it is made) is the same key.
TEST_F(EnrollmentTest, RetriedDockEnrollmentWithANewCsrForTheSameKeyGetsTheSameCertificate) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  absl::StatusOr<v1::EnrollDockResponse> first =
      installer.EnrollDock(token->token(), CsrFor(*key, "post-1-dock-2"));
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<v1::EnrollDockResponse> retry =
      installer.EnrollDock(token->token(), CsrFor(*key, "post-1-dock-2"));
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->certificate().serial(), first->certificate().serial());
}

TEST_F(EnrollmentTest, UsedTokenWithAnotherKeyForTheSameDockIsRefused) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  ASSERT_THAT(installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")), IsOk());
  EXPECT_THAT(
      installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2")),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("unknown, already used or expired")));
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("post-1-dock-2");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 1u);
}

TEST_F(EnrollmentTest, RetriedDockEnrollmentWithAnExpiredTokenIsRefused) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token =
      admin_->CreateToken("POST-1", absl::Minutes(10));
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  const std::string csr = FreshCsr("post-1-dock-2");
  ASSERT_THAT(installer.EnrollDock(token->token(), csr), IsOk());
  clock_.Advance(absl::Minutes(11));
  EXPECT_THAT(installer.EnrollDock(token->token(), csr),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(EnrollmentTest, RetriedEnrollmentOfARevokedDockIsRefused) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  const std::string csr = FreshCsr("post-1-dock-2");
  ASSERT_THAT(installer.EnrollDock(token->token(), csr), IsOk());
  v1::RevokeDockRequest req;
  req.set_dock_id("post-1-dock-2");
  req.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req), IsOk());
  EXPECT_THAT(installer.EnrollDock(token->token(), csr),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// The dock measures its clock against these (agent/clock_offset.h).
TEST_F(EnrollmentTest, EnrollmentAndRenewalAnswersCarryTheServersTime) {
  const int64_t now_us = absl::ToUnixMicros(clock_.Now());
  auto micros = [](const google::protobuf::Timestamp& t) {
    return google::protobuf::util::TimeUtil::TimestampToMicroseconds(t);
  };
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  absl::StatusOr<v1::EnrollDockResponse> dock =
      installer.EnrollDock(token->token(), FreshCsr("post-1-dock-2"));
  ASSERT_THAT(dock, IsOk());
  EXPECT_EQ(micros(dock->server_time()), now_us);
  absl::StatusOr<v1::EnrollCameraResponse> camera = RegisterAndEnroll("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(micros(camera->server_time()), now_us);
  absl::StatusOr<v1::RenewCameraCertificateResponse> renewed =
      dock_->RenewCameraWithProof("CAM-0001");
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(micros(renewed->server_time()), now_us);
  clock_.Advance(absl::Hours(24 * 61));  // into the dock certificate's renewal window
  absl::StatusOr<v1::RenewDockCertificateResponse> dock_renewed =
      dock_->RenewDock(FreshCsr(kDockId));
  ASSERT_THAT(dock_renewed, IsOk());
  EXPECT_EQ(micros(dock_renewed->server_time()), absl::ToUnixMicros(clock_.Now()));
}

TEST_F(EnrollmentTest, EnrolledDockServesTheTokensSite) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-2");
  ASSERT_THAT(token, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  absl::StatusOr<v1::EnrollDockResponse> enrolled =
      installer.EnrollDock(token->token(), FreshCsr("post-2-dock-1"));
  ASSERT_THAT(enrolled, IsOk());
  EXPECT_EQ(enrolled->dock().site_code(), "POST-2");
  EXPECT_EQ(enrolled->certificate().role(), v1::ROLE_DOCK);
  EXPECT_EQ(enrolled->certificate().identity(), "post-2-dock-1");
  EXPECT_EQ(enrolled->dock().certificate_serial(), enrolled->certificate().serial());
}

// ---------------------------------------------------------------------------------- cameras

TEST_F(EnrollmentTest, EnrollmentMakesRegisteredCameraAvailable) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  absl::StatusOr<v1::EnrollCameraResponse> enrolled = dock_->EnrollNewCamera("CAM-0001");
  ASSERT_THAT(enrolled, IsOk());
  EXPECT_EQ(enrolled->camera().state(), v1::CAMERA_STATE_AVAILABLE);
  EXPECT_EQ(enrolled->certificate().role(), v1::ROLE_CAMERA);
  EXPECT_EQ(enrolled->certificate().identity(), "CAM-0001");
  EXPECT_EQ(enrolled->certificate().issued_by(), std::string("dock:") + kDockId);
  absl::StatusOr<v1::Camera> camera = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_AVAILABLE);
}

// A dock cannot map the fleet: an unknown serial and another site's serial are answered with
// the same code and the same words (issue 11, item 10).
TEST_F(EnrollmentTest, UnknownAndOtherSiteSerialsGetTheSameAnswer) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0002", "POST-2"), IsOk());
  absl::StatusOr<v1::EnrollCameraResponse> unknown = dock_->EnrollNewCamera("CAM-0404");
  absl::StatusOr<v1::EnrollCameraResponse> foreign = dock_->EnrollNewCamera("CAM-0002");
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CAM-0404")));
  EXPECT_THAT(foreign, StatusIs(absl::StatusCode::kPermissionDenied, Not(HasSubstr("POST-2"))));
  EXPECT_EQ(absl::StrReplaceAll(unknown.status().message(), {{"CAM-0404", "X"}}),
            absl::StrReplaceAll(foreign.status().message(), {{"CAM-0002", "X"}}));
  v1::RenewCameraCertificateRequest renew;
  renew.set_serial("CAM-0404");
  renew.set_csr_pem(FreshCsr("CAM-0404"));
  absl::StatusOr<v1::RenewCameraCertificateResponse> renew_unknown =
      dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, renew);
  renew.set_serial("CAM-0002");
  renew.set_csr_pem(FreshCsr("CAM-0002"));
  absl::StatusOr<v1::RenewCameraCertificateResponse> renew_foreign =
      dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, renew);
  EXPECT_THAT(renew_unknown, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(absl::StrReplaceAll(renew_unknown.status().message(), {{"CAM-0404", "X"}}),
            absl::StrReplaceAll(renew_foreign.status().message(), {{"CAM-0002", "X"}}));
}

TEST_F(EnrollmentTest, DockCannotEnrollAnotherSitesCamera) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0002", "POST-2"), IsOk());
  EXPECT_THAT(dock_->EnrollNewCamera("CAM-0002"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("CAM-0002"), HasSubstr("POST-1"), HasSubstr(kDockId))));
  absl::StatusOr<v1::Camera> camera = admin_->GetCamera("CAM-0002");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_REGISTERED);
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0002");
  ASSERT_THAT(certs, IsOk());
  EXPECT_THAT(*certs, IsEmpty());
}

TEST_F(EnrollmentTest, EnrolledCameraCannotEnrollAgain) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  EXPECT_THAT(dock_->EnrollNewCamera("CAM-0001"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already enrolled")));
}

TEST_F(EnrollmentTest, ResetEnrollmentLetsCameraEnrollAgain) {
  absl::StatusOr<v1::EnrollCameraResponse> first = RegisterAndEnroll("CAM-0001");
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<v1::ResetCameraEnrollmentResponse> reset = admin_->ResetEnrollment("CAM-0001");
  ASSERT_THAT(reset, IsOk());
  EXPECT_EQ(reset->revoked_certificate().serial(), first->certificate().serial());
  EXPECT_EQ(reset->revoked_certificate().revocation_reason(), v1::REVOCATION_REASON_SUPERSEDED);

  absl::StatusOr<v1::EnrollCameraResponse> second = dock_->EnrollNewCamera("CAM-0001");
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(second->certificate().serial(), first->certificate().serial());
}

TEST_F(EnrollmentTest, ResetEnrollmentNeedsAValidCertificate) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  EXPECT_THAT(admin_->ResetEnrollment("CAM-0001"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no valid certificate")));
}

TEST_F(EnrollmentTest, LostCameraCannotEnroll) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  ASSERT_THAT(admin_->ReportLost("CAM-0001"), IsOk());
  EXPECT_THAT(dock_->EnrollNewCamera("CAM-0001"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("LOST")));
}

TEST_F(EnrollmentTest, ReportCameraLostRevokesItsCertificateAsKeyCompromise) {
  absl::StatusOr<v1::EnrollCameraResponse> enrolled = RegisterAndEnroll("CAM-0001");
  ASSERT_THAT(enrolled, IsOk());
  const std::string serial = enrolled->certificate().serial();
  absl::StatusOr<v1::GetCrlResponse> before = admin_->GetCrl();
  ASSERT_THAT(before, IsOk());

  ASSERT_THAT(admin_->ReportLost("CAM-0001"), IsOk());

  absl::StatusOr<v1::GetCrlResponse> after = admin_->GetCrl();
  ASSERT_THAT(after, IsOk());
  absl::StatusOr<CrlListing> before_listing =
      ReadCrlWithOpenssl(before->crl_pem(), files_.path(), "before.pem");
  ASSERT_THAT(before_listing, IsOk());
  absl::StatusOr<CrlListing> after_listing =
      ReadCrlWithOpenssl(after->crl_pem(), files_.path(), "after.pem");
  ASSERT_THAT(after_listing, IsOk());
  EXPECT_THAT(before_listing->revoked, Not(Contains(Key(serial))));
  EXPECT_THAT(after_listing->revoked, Contains(Pair(serial, "Key Compromise")))
      << after_listing->text;
  absl::StatusOr<v1::Certificate> cert = CertificateBySerial("CAM-0001", serial);
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->revocation_reason(), v1::REVOCATION_REASON_KEY_COMPROMISE);
}

TEST_F(EnrollmentTest, RetireCameraRevokesItsCertificateAsCessationOfOperation) {
  absl::StatusOr<v1::EnrollCameraResponse> enrolled = RegisterAndEnroll("CAM-0001");
  ASSERT_THAT(enrolled, IsOk());
  ASSERT_THAT(admin_->Retire("CAM-0001"), IsOk());
  absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CrlListing> listing = ReadCrlWithOpenssl(crl->crl_pem(), files_.path());
  ASSERT_THAT(listing, IsOk());
  EXPECT_THAT(listing->revoked,
              Contains(Pair(enrolled->certificate().serial(), "Cessation Of Operation")))
      << listing->text;
}

TEST_F(EnrollmentTest, RetiredCameraCannotEnroll) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  ASSERT_THAT(admin_->Retire("CAM-0001"), IsOk());
  EXPECT_THAT(dock_->EnrollNewCamera("CAM-0001"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("RETIRED")));
}

TEST_F(EnrollmentTest, FoundCameraEnrollsAgainWithANewCertificate) {
  absl::StatusOr<v1::EnrollCameraResponse> first = RegisterAndEnroll("CAM-0001");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(admin_->ReportLost("CAM-0001"), IsOk());
  ASSERT_THAT(admin_->ReportFound("CAM-0001"), IsOk());

  absl::StatusOr<v1::EnrollCameraResponse> second = dock_->EnrollNewCamera("CAM-0001");
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(second->certificate().serial(), first->certificate().serial());
  EXPECT_EQ(second->camera().state(), v1::CAMERA_STATE_AVAILABLE);
  // The certificate whose key was out of our hands stays revoked.
  absl::StatusOr<v1::Certificate> old =
      CertificateBySerial("CAM-0001", first->certificate().serial());
  ASSERT_THAT(old, IsOk());
  EXPECT_TRUE(old->has_revoke_time());
}

TEST_F(EnrollmentTest, CameraRenewsThroughItsDock) {
  absl::StatusOr<v1::EnrollCameraResponse> first = RegisterAndEnroll("CAM-0001");
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<v1::RenewCameraCertificateResponse> renewed =
      dock_->RenewCameraWithProof("CAM-0001");
  ASSERT_THAT(renewed, IsOk());
  EXPECT_NE(renewed->certificate().serial(), first->certificate().serial());
}

// A dock whose answer was lost on the link sends the same CSR again.
TEST_F(EnrollmentTest, RetriedEnrollmentWithTheSameCsrGetsTheSameCertificate) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  const std::string csr = FreshCsr("CAM-0001");
  absl::StatusOr<v1::EnrollCameraResponse> first = dock_->EnrollCamera("CAM-0001", csr);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<v1::EnrollCameraResponse> retry = dock_->EnrollCamera("CAM-0001", csr);
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->certificate().serial(), first->certificate().serial());
  EXPECT_EQ(retry->certificate().certificate_pem(), first->certificate().certificate_pem());
  EXPECT_EQ(retry->camera().state(), v1::CAMERA_STATE_AVAILABLE);
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 1u);
}

TEST_F(EnrollmentTest, EnrollmentWithAnotherKeyStillNeedsAReset) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  ASSERT_THAT(dock_->EnrollCamera("CAM-0001", FreshCsr("CAM-0001")), IsOk());
  EXPECT_THAT(dock_->EnrollCamera("CAM-0001", FreshCsr("CAM-0001")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already enrolled")));
}

TEST_F(EnrollmentTest, RetriedRenewalWithTheSameCsrGetsTheSameCertificate) {
  std::string camera_key;
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  ASSERT_THAT(dock_->EnrollNewCamera("CAM-0001", &camera_key), IsOk());
  v1::RenewCameraCertificateRequest req;
  req.set_serial("CAM-0001");
  req.set_csr_pem(FreshCsr("CAM-0001"));
  absl::StatusOr<std::string> proof = TlsClient::SignWithKey(camera_key, req.csr_pem());
  ASSERT_THAT(proof, IsOk());
  req.set_current_key_signature(*proof);
  absl::StatusOr<v1::RenewCameraCertificateResponse> renewed =
      dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, req);
  ASSERT_THAT(renewed, IsOk());
  absl::StatusOr<v1::RenewCameraCertificateResponse> retry =
      dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, req);
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->certificate().serial(), renewed->certificate().serial());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 2u);  // the enrollment's and one renewal's, not two renewals'
}

TEST_F(EnrollmentTest, LostCameraCannotRenew) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  ASSERT_THAT(admin_->ReportLost("CAM-0001"), IsOk());
  v1::RenewCameraCertificateRequest req;
  req.set_serial("CAM-0001");
  req.set_csr_pem(FreshCsr("CAM-0001"));
  EXPECT_THAT(dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, req),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("LOST")));
}

// ------------------------------------------------------------------------------ dock renewal

TEST_F(EnrollmentTest, DockRenewsBeforeExpiry) {
  clock_.Advance(absl::Hours(24 * 61));
  absl::StatusOr<v1::RenewDockCertificateResponse> renewed = dock_->RenewDock(FreshCsr(kDockId));
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(renewed->certificate().identity(), kDockId);
  EXPECT_EQ(renewed->certificate().issued_by(), std::string("dock:") + kDockId);
}

TEST_F(EnrollmentTest, ExpiredDockIsRefusedOutsideRenewal) {
  clock_.Advance(absl::Hours(24 * 100));  // 90-day certificate, 10 days past expiry
  EXPECT_THAT(dock_->GetCrl(), StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
}

TEST_F(EnrollmentTest, DockRenewsWithExpiredCertificateWithinGrace) {
  clock_.Advance(absl::Hours(24 * 100));  // 10 of the 30 days of grace used
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(kDockId);
  ASSERT_THAT(next, IsOk());
  absl::StatusOr<v1::RenewDockCertificateResponse> renewed = dock_->RenewDock(next->csr_pem);
  ASSERT_THAT(renewed, IsOk());

  TlsClient renewed_dock(server_->Channel(
      {next->key_pem, renewed->certificate().certificate_pem(), renewed->ca_certificate_pem()}));
  EXPECT_THAT(renewed_dock.GetCrl(), IsOk());
}

TEST_F(EnrollmentTest, DockRenewalIsRefusedAfterGrace) {
  clock_.Advance(absl::Hours(24 * 121));  // 90 days + 30 days of grace + 1 day
  EXPECT_THAT(dock_->RenewDock(FreshCsr(kDockId)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("expired"), HasSubstr("grace"))));
}

TEST_F(EnrollmentTest, DockRenewalRefusesCsrForAnotherDock) {
  clock_.Advance(absl::Hours(24 * 61));  // into the renewal window
  EXPECT_THAT(dock_->RenewDock(FreshCsr("post-2-dock-9")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("post-2-dock-9")));
}

TEST_F(EnrollmentTest, RenewedDockShowsItsNewCertificate) {
  clock_.Advance(absl::Hours(24 * 61));  // into the renewal window
  absl::StatusOr<v1::RenewDockCertificateResponse> renewed = dock_->RenewDock(FreshCsr(kDockId));
  ASSERT_THAT(renewed, IsOk());
  // root-admin's 30-day certificate has expired by now.
  absl::StatusOr<ClientCredentials> admin =
      server_->IssueDirect(Role::kAdmin, "admin-2", clock_.Now());
  ASSERT_THAT(admin, IsOk());
  admin_ = std::make_unique<TlsClient>(server_->Channel(admin->bundle));
  v1::ListDocksRequest req;
  req.set_site_code("POST-1");
  absl::StatusOr<v1::ListDocksResponse> docks =
      admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, req);
  ASSERT_THAT(docks, IsOk());
  ASSERT_EQ(docks->docks_size(), 1);
  EXPECT_EQ(docks->docks(0).certificate_serial(), renewed->certificate().serial());
}

TEST_F(EnrollmentTest, RevokedDockCannotRenew) {
  v1::RevokeDockRequest req;
  req.set_dock_id(kDockId);
  req.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req), IsOk());
  EXPECT_THAT(dock_->RenewDock(FreshCsr(kDockId)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(EnrollmentTest, DockCannotRenewAnotherSitesCamera) {
  absl::StatusOr<EnrolledDock> other = server_->EnrollDock("POST-2", "post-2-dock-1");
  ASSERT_THAT(other, IsOk());
  TlsClient other_dock(server_->Channel(other->credentials.bundle));
  ASSERT_THAT(admin_->RegisterCamera("CAM-0002", "POST-2"), IsOk());
  ASSERT_THAT(other_dock.EnrollNewCamera("CAM-0002"), IsOk());
  v1::RenewCameraCertificateRequest req;
  req.set_serial("CAM-0002");
  req.set_csr_pem(FreshCsr("CAM-0002"));
  EXPECT_THAT(dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, req),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("CAM-0002"), HasSubstr("POST-1"))));
}

// --------------------------------------------------------------------------- operator renewal

TEST_F(EnrollmentTest, OperatorRenewsWithExpiredCertificateWithinGrace) {
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  clock_.Advance(absl::Hours(24 * 40));  // 30-day certificate, 10 days into the grace
  TlsClient client(server_->Channel(qm->bundle));
  ASSERT_THAT(client.ListSites(), StatusIs(absl::StatusCode::kUnauthenticated));
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("qm-alice");
  ASSERT_THAT(next, IsOk());
  v1::RenewOperatorCertificateRequest req;
  req.set_csr_pem(next->csr_pem);
  absl::StatusOr<v1::RenewOperatorCertificateResponse> renewed =
      client.Prov(&v1::ProvisioningService::Stub::RenewOperatorCertificate, req);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(renewed->certificate().role(), v1::ROLE_QUARTERMASTER);
  TlsClient renewed_client(server_->Channel(
      {next->key_pem, renewed->certificate().certificate_pem(), renewed->ca_certificate_pem()}));
  EXPECT_THAT(renewed_client.ListSites(), IsOk());
}

TEST_F(EnrollmentTest, OperatorRenewalRefusesCsrForAnotherName) {
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  clock_.Advance(absl::Hours(24 * 21));  // into the renewal window
  TlsClient client(server_->Channel(qm->bundle));
  v1::RenewOperatorCertificateRequest req;
  req.set_csr_pem(FreshCsr(kRootAdmin));
  EXPECT_THAT(client.Prov(&v1::ProvisioningService::Stub::RenewOperatorCertificate, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(kRootAdmin)));
}

// --------------------------------------------------------------------------------------- CRL

TEST_F(EnrollmentTest, CrlIsRebuiltOnceADayWithoutRevocations) {
  absl::StatusOr<v1::GetCrlResponse> first = admin_->GetCrl();
  ASSERT_THAT(first, IsOk());
  clock_.Advance(absl::Hours(25));
  absl::StatusOr<v1::GetCrlResponse> next = admin_->GetCrl();
  ASSERT_THAT(next, IsOk());
  EXPECT_GT(next->crl_number(), first->crl_number());
  EXPECT_GT(google::protobuf::util::TimeUtil::TimestampToSeconds(next->this_update()),
            google::protobuf::util::TimeUtil::TimestampToSeconds(first->this_update()));
}

// ------------------------------------------------------------------------------------ races

TEST_F(EnrollmentTest, ConcurrentEnrollmentsWithOneTokenEnrollOneDock) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  constexpr int kInstallers = 6;
  std::vector<std::string> csrs;
  for (int i = 0; i < kInstallers; ++i) csrs.push_back(FreshCsr(absl::StrCat("race-dock-", i)));
  std::vector<absl::Status> results(kInstallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstallers; ++i) {
    threads.emplace_back([&, i] {
      TlsClient installer(server_->ChannelWithoutCertificate());
      results[static_cast<size_t>(i)] =
          installer.EnrollDock(token->token(), csrs[static_cast<size_t>(i)]).status();
    });
  }
  for (std::thread& t : threads) t.join();
  int enrolled = 0;
  for (const absl::Status& r : results) {
    if (r.ok()) {
      ++enrolled;
    } else {
      EXPECT_THAT(r, StatusIs(absl::StatusCode::kPermissionDenied));
    }
  }
  EXPECT_EQ(enrolled, 1);
  int race_docks = 0;
  for (const std::string& id : DockIds()) race_docks += absl::StartsWith(id, "race-dock-") ? 1 : 0;
  EXPECT_EQ(race_docks, 1);
}

TEST_F(EnrollmentTest, ConcurrentEnrollmentsOfOneCameraIssueOneCertificate) {
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  constexpr int kAttempts = 6;
  std::vector<std::string> csrs;
  for (int i = 0; i < kAttempts; ++i) csrs.push_back(FreshCsr("CAM-0001"));
  std::vector<absl::Status> results(kAttempts);
  std::vector<std::thread> threads;
  for (int i = 0; i < kAttempts; ++i) {
    threads.emplace_back([&, i] {
      TlsClient dock(server_->Channel(dock_credentials_.bundle));
      results[static_cast<size_t>(i)] =
          dock.EnrollCamera("CAM-0001", csrs[static_cast<size_t>(i)]).status();
    });
  }
  for (std::thread& t : threads) t.join();
  int enrolled = 0;
  for (const absl::Status& r : results) {
    if (r.ok()) {
      ++enrolled;
    } else {
      EXPECT_THAT(r,
                  StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already enrolled")));
    }
  }
  EXPECT_EQ(enrolled, 1);
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 1u);
}

// Issue 11, item 10: every list method of the identity service pages (page_size, an opaque
// page_token bound to the filter), so no answer grows with the fleet.
TEST_F(EnrollmentTest, EveryIdentityListPages) {
  ASSERT_THAT(server_->EnrollDock("POST-1", "post-1-dock-2"), IsOk());
  ASSERT_THAT(server_->EnrollDock("POST-1", "post-1-dock-3"), IsOk());
  ASSERT_THAT(server_->IssueOperator("qm-a", Role::kQuartermaster), IsOk());
  ASSERT_THAT(server_->IssueOperator("qm-b", Role::kQuartermaster), IsOk());
  for (int i = 0; i < 2; ++i) ASSERT_THAT(admin_->CreateToken("POST-2"), IsOk());
  TempDir acme_dir, zeta_dir;
  for (const auto& [name, dir] : {std::pair<std::string, const TempDir*>{"acme", &acme_dir},
                                  std::pair<std::string, const TempDir*>{"zeta", &zeta_dir}}) {
    absl::StatusOr<provisioning::CertificateAuthority> ca =
        provisioning::CertificateAuthority::Create(dir->path(), absl::Now());
    ASSERT_THAT(ca, IsOk());
    ASSERT_THAT(admin_->AddSupplierCa(name, ca->CertificatePem()), IsOk());
  }
  // Walks every page of one list at one item per page; the names in order.
  auto walk = [&](auto method, auto request, auto names_of) {
    std::vector<std::string> seen;
    for (int pages = 0; pages < 20; ++pages) {
      request.set_page_size(1);
      auto page = admin_->Prov(method, request);
      EXPECT_THAT(page, IsOk());
      if (!page.ok()) break;
      std::vector<std::string> names = names_of(*page);
      EXPECT_LE(names.size(), 1u);
      seen.insert(seen.end(), names.begin(), names.end());
      if (page->next_page_token().empty()) break;
      request.set_page_token(page->next_page_token());
    }
    return seen;
  };
  EXPECT_THAT(walk(&v1::ProvisioningService::Stub::ListDocks, v1::ListDocksRequest(),
                   [](const v1::ListDocksResponse& r) {
                     std::vector<std::string> out;
                     for (const auto& d : r.docks()) out.push_back(d.dock_id());
                     return out;
                   }),
              ::testing::ElementsAre(kDockId, "post-1-dock-2", "post-1-dock-3"));
  EXPECT_THAT(walk(&v1::ProvisioningService::Stub::ListOperators, v1::ListOperatorsRequest(),
                   [](const v1::ListOperatorsResponse& r) {
                     std::vector<std::string> out;
                     for (const auto& o : r.operators()) out.push_back(o.name());
                     return out;
                   }),
              ::testing::IsSupersetOf({"qm-a", "qm-b", "root-admin"}));
  v1::ListEnrollmentTokensRequest tokens;
  tokens.set_site_code("POST-2");
  EXPECT_THAT(walk(&v1::ProvisioningService::Stub::ListEnrollmentTokens, tokens,
                   [](const v1::ListEnrollmentTokensResponse& r) {
                     std::vector<std::string> out;
                     for (const auto& t : r.enrollment_tokens()) out.push_back(t.site_code());
                     return out;
                   }),
              ::testing::ElementsAre("POST-2", "POST-2"));
  EXPECT_THAT(walk(&v1::ProvisioningService::Stub::ListSupplierCas, v1::ListSupplierCasRequest(),
                   [](const v1::ListSupplierCasResponse& r) {
                     std::vector<std::string> out;
                     for (const auto& c : r.supplier_cas()) out.push_back(c.name());
                     return out;
                   }),
              ::testing::ElementsAre("acme", "zeta"));
  // A token is bound to its filter.
  v1::ListDocksRequest first;
  first.set_page_size(1);
  absl::StatusOr<v1::ListDocksResponse> page =
      admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, first);
  ASSERT_THAT(page, IsOk());
  v1::ListDocksRequest other;
  other.set_include_revoked(true);
  other.set_page_token(page->next_page_token());
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
}

// A post whose dock renews itself every 80 days keeps its cameras renewable too: a camera
// certificate (365 days) is renewed within its 30-day grace, and refused after it.
class CameraGraceTest : public EnrollmentTest {
 protected:
  // Moves the clock to `day` days after the start, renewing the dock every 80 days on the way.
  void AdvanceToDay(int day) {
    while (day_ + 80 <= day) {
      day_ += 80;
      clock_.Set(start_ + absl::Hours(24 * day_));
      ASSERT_NO_FATAL_FAILURE(RenewDockNow());
    }
    day_ = day;
    clock_.Set(start_ + absl::Hours(24 * day_));
  }

  absl::StatusOr<v1::RenewCameraCertificateResponse> RenewCamera(const std::string& serial) {
    return dock_->RenewCameraWithProof(serial);
  }

  absl::Time start_ = clock_.Now();
  int day_ = 0;
};

TEST_F(CameraGraceTest, CameraRenewsWithExpiredCertificateWithinGrace) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  ASSERT_NO_FATAL_FAILURE(AdvanceToDay(375));
  EXPECT_THAT(RenewCamera("CAM-0001"), IsOk());
}

TEST_F(CameraGraceTest, CameraRenewalIsRefusedAfterGrace) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  ASSERT_NO_FATAL_FAILURE(AdvanceToDay(397));
  EXPECT_THAT(RenewCamera("CAM-0001"), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                HasSubstr("no valid certificate to renew")));
}

TEST_F(CameraGraceTest, CameraPastItsGraceCanEnrollAfresh) {
  ASSERT_THAT(RegisterAndEnroll("CAM-0001"), IsOk());
  ASSERT_NO_FATAL_FAILURE(AdvanceToDay(397));
  EXPECT_THAT(dock_->EnrollNewCamera("CAM-0001"), IsOk());
}

}  // namespace
}  // namespace camfleet::testing
