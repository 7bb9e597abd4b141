// Proof of possession on camera renewal (issue 11, item 2): a renewal CSR is signed by the new
// key only, so the camera also signs it with the key of its current certificate
// (provisioning/possession.h) and the server checks that signature against the certificate it
// holds as the camera's current one. A dock alone (stolen, or a rogue device in a slot
// replaying a camera's certificate) cannot renew a camera; an ISSUED camera is not renewed;
// a camera on its factory certificate proves the factory key the same way.

#include "provisioning/possession.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/key.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/openssl_cli.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kDockId[] = "post-1-dock-1";

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Runs openssl and fails the test with its output when it does not succeed.
void Openssl(const std::vector<std::string>& args) {
  provisioning_test::CommandResult r = provisioning_test::RunOpenSsl(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

class PossessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite("POST-1"), IsOk());
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
    ASSERT_THAT(dock, IsOk());
    dock_ = std::make_unique<TlsClient>(server_->Channel(dock->credentials.bundle));
    ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
    absl::StatusOr<v1::EnrollCameraResponse> enrolled =
        dock_->EnrollNewCamera("CAM-0001", &camera_key_);
    ASSERT_THAT(enrolled, IsOk());
    camera_certificate_ = enrolled->certificate();
  }

  size_t CertificateCount(const std::string& serial) {
    absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf(serial);
    EXPECT_THAT(certs, IsOk());
    return certs.ok() ? certs->size() : 0;
  }

  absl::StatusOr<v1::RenewCameraCertificateResponse> Renew(const std::string& serial,
                                                           const std::string& csr_pem,
                                                           const std::string& signature) {
    v1::RenewCameraCertificateRequest req;
    req.set_serial(serial);
    req.set_csr_pem(csr_pem);
    req.set_current_key_signature(signature);
    return dock_->Dock(&v1::DockService::Stub::RenewCameraCertificate, req);
  }

  common::FakeClock clock_{absl::Now()};
  TempDir files_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::unique_ptr<TlsClient> dock_;
  // What the camera holds: its key and the certificate for it.
  std::string camera_key_;
  v1::Certificate camera_certificate_;
};

// The stolen-dock case: a valid dock certificate, a camera of its site, a CSR with the dock's
// own key. Without the camera's proof, and with a "proof" made with the dock's key, it is
// refused and nothing is issued.
TEST_F(PossessionTest, DockWithItsOwnKeyCannotRenewACameraOfItsSite) {
  absl::StatusOr<KeyAndCsr> forged = MakeKeyAndCsr("CAM-0001");
  ASSERT_THAT(forged, IsOk());
  EXPECT_THAT(Renew("CAM-0001", forged->csr_pem, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("current_key_signature")));
  absl::StatusOr<std::string> self_signed =
      TlsClient::SignWithKey(forged->key_pem, forged->csr_pem);
  ASSERT_THAT(self_signed, IsOk());
  EXPECT_THAT(Renew("CAM-0001", forged->csr_pem, *self_signed),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("current_key_signature"), HasSubstr("CAM-0001"),
                             HasSubstr(camera_certificate_.serial()))));
  EXPECT_THAT(Renew("CAM-0001", forged->csr_pem, "\x30\x06garbage"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(CertificateCount("CAM-0001"), 1u);
}

// A rogue device in a slot says it is CAM-0001 and shows the victim's certificate (public: it
// was read off the victim's link, or out of the CRL tooling); it holds another key. Its own
// signature is refused, and so is a proof captured from a real renewal of the victim replayed
// with the rogue's CSR.
TEST_F(PossessionTest, ReplayOfAVictimsCertificateFromARogueDeviceIsRefused) {
  // The victim renews once for real; the rogue captured that exchange (CSR and proof).
  absl::StatusOr<KeyAndCsr> victim_next = MakeKeyAndCsr("CAM-0001");
  ASSERT_THAT(victim_next, IsOk());
  absl::StatusOr<std::string> victim_proof =
      TlsClient::SignWithKey(camera_key_, victim_next->csr_pem);
  ASSERT_THAT(victim_proof, IsOk());

  absl::StatusOr<KeyAndCsr> rogue = MakeKeyAndCsr("CAM-0001");
  ASSERT_THAT(rogue, IsOk());
  absl::StatusOr<std::string> rogue_proof = TlsClient::SignWithKey(rogue->key_pem, rogue->csr_pem);
  ASSERT_THAT(rogue_proof, IsOk());
  EXPECT_THAT(Renew("CAM-0001", rogue->csr_pem, *rogue_proof),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Renew("CAM-0001", rogue->csr_pem, *victim_proof),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(CertificateCount("CAM-0001"), 1u);

  // The victim's own renewal goes through; the captured proof is worthless after it too.
  absl::StatusOr<v1::RenewCameraCertificateResponse> renewed =
      Renew("CAM-0001", victim_next->csr_pem, *victim_proof);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_THAT(Renew("CAM-0001", rogue->csr_pem, *victim_proof),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(CertificateCount("CAM-0001"), 2u);
}

// The proof is the one `openssl dgst` makes over the context string and the CSR's DER: the
// format in provisioning/README.md is exact, so a camera vendor can implement it.
TEST_F(PossessionTest, ProofMadeWithTheOpensslCommandLineIsAccepted) {
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("CAM-0001");
  ASSERT_THAT(next, IsOk());
  const std::string key = files_.File("camera.key");
  const std::string csr = files_.File("next.csr");
  ASSERT_NO_FATAL_FAILURE(WriteFile(key, camera_key_));
  ASSERT_NO_FATAL_FAILURE(WriteFile(csr, next->csr_pem));
  const std::string der = files_.File("next.der");
  const std::string message = files_.File("message");
  const std::string signature = files_.File("proof.sig");
  ASSERT_NO_FATAL_FAILURE(Openssl({"req", "-in", csr, "-outform", "DER", "-out", der}));
  ASSERT_NO_FATAL_FAILURE(
      WriteFile(message, std::string(provisioning::kRenewalProofContext) + ReadFile(der)));
  ASSERT_NO_FATAL_FAILURE(Openssl({"dgst", "-sha256", "-sign", key, "-out", signature, message}));
  EXPECT_THAT(Renew("CAM-0001", next->csr_pem, ReadFile(signature)), IsOk());
}

TEST_F(PossessionTest, IssuedCameraCannotBeRenewed) {
  ASSERT_THAT(admin_->CreateHolder("B-100", "POST-1"), IsOk());
  v1::IssueCameraRequest issue;
  issue.set_serial("CAM-0001");
  issue.set_holder_badge("B-100");
  *issue.mutable_due_back_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(clock_.Now() + absl::Hours(10)));
  ASSERT_THAT(admin_->Fleet(&v1::FleetService::Stub::IssueCamera, issue), IsOk());
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("CAM-0001");
  ASSERT_THAT(next, IsOk());
  absl::StatusOr<std::string> proof = TlsClient::SignWithKey(camera_key_, next->csr_pem);
  ASSERT_THAT(proof, IsOk());
  // Even with the camera's real proof (a dock that held it once and kept a signature).
  EXPECT_THAT(Renew("CAM-0001", next->csr_pem, *proof),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ISSUED")));
  EXPECT_EQ(CertificateCount("CAM-0001"), 1u);
}

// A camera commissioned on its factory certificate renews into the fleet only by proving the
// factory key; another key's proof is refused.
TEST_F(PossessionTest, FactoryCertificateCountsOnlyWithAProofMadeWithTheFactoryKey) {
  TempDir supplier_dir;
  absl::StatusOr<provisioning::CertificateAuthority> supplier =
      provisioning::CertificateAuthority::Create(supplier_dir.path(), absl::Now());
  ASSERT_THAT(supplier, IsOk());
  absl::StatusOr<provisioning::PrivateKey> supplier_key =
      provisioning::PrivateKey::ReadFile(supplier_dir.File("ca.key"));
  ASSERT_THAT(supplier_key, IsOk());
  ASSERT_THAT(admin_->AddSupplierCa("acme", supplier->CertificatePem()), IsOk());
  provisioning::PrivateKey factory_key = provisioning_test::MakeEcKey("prime256v1");
  ASSERT_THAT(admin_->RegisterCamera("CAM-0002", "POST-1"), IsOk());
  ASSERT_THAT(
      admin_->Commission("CAM-0002",
                         provisioning_test::FactoryCertificate(
                             *supplier_key, supplier->CertificatePem(), factory_key, "CAM-0002",
                             absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24 * 365))),
      IsOk());

  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("CAM-0002");
  ASSERT_THAT(next, IsOk());
  absl::StatusOr<std::string> wrong = TlsClient::SignWithKey(next->key_pem, next->csr_pem);
  ASSERT_THAT(wrong, IsOk());
  EXPECT_THAT(Renew("CAM-0002", next->csr_pem, *wrong),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("acme:")));
  absl::StatusOr<std::string> proof = provisioning::SignRenewalProof(factory_key, next->csr_pem);
  ASSERT_THAT(proof, IsOk());
  absl::StatusOr<v1::RenewCameraCertificateResponse> renewed =
      Renew("CAM-0002", next->csr_pem, *proof);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_EQ(renewed->certificate().issued_by(), std::string("dock:") + kDockId);
}

}  // namespace
}  // namespace camfleet::testing
