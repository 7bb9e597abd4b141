// Commissioning a camera by hand with the certificate its supplier put on it at the factory:
// accepted only if it chains to a supplier CA an admin added and names the camera's serial;
// otherwise refused with nothing changed.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/key.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

// A CA of a camera supplier: a key and a self-signed CA certificate, made in its own directory
// (our CA code makes a perfectly good stand-in for a supplier's).
struct SupplierCa {
  TempDir dir;
  std::string pem;
  std::unique_ptr<provisioning::PrivateKey> key;
};

std::unique_ptr<SupplierCa> MakeSupplierCa() {
  auto supplier = std::make_unique<SupplierCa>();
  absl::StatusOr<provisioning::CertificateAuthority> ca =
      provisioning::CertificateAuthority::Create(supplier->dir.path(), absl::Now());
  EXPECT_THAT(ca, IsOk());
  if (!ca.ok()) return nullptr;
  supplier->pem = ca->CertificatePem();
  absl::StatusOr<provisioning::PrivateKey> key =
      provisioning::PrivateKey::ReadFile(supplier->dir.File("ca.key"));
  EXPECT_THAT(key, IsOk());
  if (!key.ok()) return nullptr;
  supplier->key = std::make_unique<provisioning::PrivateKey>(*std::move(key));
  return supplier;
}

// A factory certificate for `serial` from `supplier`, valid for a year from an hour ago.
std::string FactoryCertificate(const SupplierCa& supplier, const std::string& serial) {
  provisioning::PrivateKey camera_key = provisioning_test::MakeEcKey("prime256v1");
  return provisioning_test::FactoryCertificate(*supplier.key, supplier.pem, camera_key, serial,
                                               absl::Now() - absl::Hours(1),
                                               absl::Now() + absl::Hours(24 * 365));
}

class SupplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite("POST-1"), IsOk());
    ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
    acme_ = MakeSupplierCa();
    ASSERT_NE(acme_, nullptr);
  }

  // What a refused commission must leave as it was: the camera, its certificates and the
  // head of the audit chain.
  std::string Observable() {
    std::string out;
    absl::StatusOr<v1::Camera> camera = admin_->GetCamera("CAM-0001");
    EXPECT_THAT(camera, IsOk());
    if (camera.ok()) out += camera->DebugString();
    absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
    EXPECT_THAT(certs, IsOk());
    if (certs.ok()) out += "certificates: " + std::to_string(certs->size()) + "\n";
    absl::StatusOr<v1::VerifyAuditChainResponse> chain = admin_->VerifyAuditChain();
    EXPECT_THAT(chain, IsOk());
    if (chain.ok()) out += chain->DebugString();
    return out;
  }

  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::unique_ptr<SupplierCa> acme_;
};

TEST_F(SupplierTest, FactoryCertificateFromAddedSupplierCommissionsTheCamera) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  absl::StatusOr<v1::CommissionCameraResponse> commissioned =
      admin_->Commission("CAM-0001", FactoryCertificate(*acme_, "CAM-0001"));
  ASSERT_THAT(commissioned, IsOk());
  EXPECT_EQ(commissioned->camera().state(), v1::CAMERA_STATE_AVAILABLE);

  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  ASSERT_THAT(*certs, SizeIs(1));
  EXPECT_EQ(certs->front().role(), v1::ROLE_CAMERA);
  EXPECT_EQ(certs->front().issued_by(), "supplier:acme");
  EXPECT_THAT(certs->front().serial(), StartsWith("acme:"));
}

TEST_F(SupplierTest, CommissionedCameraWithFactoryCertificateCountsAsEnrolled) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  ASSERT_THAT(admin_->Commission("CAM-0001", FactoryCertificate(*acme_, "CAM-0001")), IsOk());
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  TlsClient dock_client(server_->Channel(dock->credentials.bundle));
  EXPECT_THAT(dock_client.EnrollNewCamera("CAM-0001"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already enrolled")));
}

TEST_F(SupplierTest, FactoryCertificateFromUnknownCaIsRefusedAndChangesNothing) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  std::unique_ptr<SupplierCa> stranger = MakeSupplierCa();
  ASSERT_NE(stranger, nullptr);
  const std::string before = Observable();
  EXPECT_THAT(admin_->Commission("CAM-0001", FactoryCertificate(*stranger, "CAM-0001")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("factory_certificate_pem"), HasSubstr("acme"))));
  EXPECT_EQ(Observable(), before);
  absl::StatusOr<v1::Camera> camera = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_REGISTERED);
}

TEST_F(SupplierTest, FactoryCertificateNamingAnotherSerialIsRefusedAndChangesNothing) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  const std::string before = Observable();
  EXPECT_THAT(admin_->Commission("CAM-0001", FactoryCertificate(*acme_, "CAM-0999")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CAM-0999"), HasSubstr("CAM-0001"))));
  EXPECT_EQ(Observable(), before);
}

TEST_F(SupplierTest, FactoryCertificateWithoutAnySupplierCaIsRefused) {
  const std::string before = Observable();
  EXPECT_THAT(admin_->Commission("CAM-0001", FactoryCertificate(*acme_, "CAM-0001")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no supplier CA")));
  EXPECT_EQ(Observable(), before);
}

TEST_F(SupplierTest, FactoryCertificateIsCheckedAgainstEverySupplierCa) {
  std::unique_ptr<SupplierCa> other = MakeSupplierCa();
  ASSERT_NE(other, nullptr);
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  ASSERT_THAT(admin_->AddSupplierCa("globex", other->pem), IsOk());
  absl::StatusOr<v1::CommissionCameraResponse> commissioned =
      admin_->Commission("CAM-0001", FactoryCertificate(*other, "CAM-0001"));
  ASSERT_THAT(commissioned, IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  ASSERT_THAT(*certs, SizeIs(1));
  EXPECT_EQ(certs->front().issued_by(), "supplier:globex");
}

TEST_F(SupplierTest, AddSupplierCaRefusesALeafCertificate) {
  // A camera's own factory certificate is no CA.
  EXPECT_THAT(admin_->AddSupplierCa("acme", FactoryCertificate(*acme_, "CAM-0001")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate_pem")));
  v1::ListSupplierCasRequest req;
  absl::StatusOr<v1::ListSupplierCasResponse> cas =
      admin_->Prov(&v1::ProvisioningService::Stub::ListSupplierCas, req);
  ASSERT_THAT(cas, IsOk());
  EXPECT_THAT(cas->supplier_cas(), IsEmpty());
}

TEST_F(SupplierTest, SupplierCaNameIsUnique) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  std::unique_ptr<SupplierCa> other = MakeSupplierCa();
  ASSERT_NE(other, nullptr);
  EXPECT_THAT(admin_->AddSupplierCa("acme", other->pem),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(SupplierTest, LostCameraRevokesItsFactoryCertificate) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  ASSERT_THAT(admin_->Commission("CAM-0001", FactoryCertificate(*acme_, "CAM-0001")), IsOk());
  ASSERT_THAT(admin_->ReportLost("CAM-0001"), IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  ASSERT_THAT(*certs, SizeIs(1));
  EXPECT_EQ(certs->front().revocation_reason(), v1::REVOCATION_REASON_KEY_COMPROMISE);
  // The supplier's serial is not ours to publish; the fleet CRL still builds.
  EXPECT_THAT(admin_->GetCrl(), IsOk());
}

TEST_F(SupplierTest, CommissionOfAnAvailableCameraKeepsNoFactoryCertificate) {
  ASSERT_THAT(admin_->AddSupplierCa("acme", acme_->pem), IsOk());
  ASSERT_THAT(admin_->Commission("CAM-0001", ""), IsOk());
  const std::string before = Observable();
  // The certificate is good, but the camera is no longer REGISTERED: the whole transaction,
  // the certificate it had already recorded included, must be undone.
  EXPECT_THAT(admin_->Commission("CAM-0001", FactoryCertificate(*acme_, "CAM-0001")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("AVAILABLE")));
  EXPECT_EQ(Observable(), before);
}

}  // namespace
}  // namespace camfleet::testing
