#include "provisioning/supplier_certificate.h"

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/provisioning/ca_fixture.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::provisioning_test::FixedNow;
using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kDay = absl::Hours(24);

// A supplier CA (made with our code, since a CA is a CA) and factory certificates made the way a
// supplier would: plain X.509 with the serial as CN and no camfleet:// URI.
class SupplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<CertificateAuthority> supplier =
        CertificateAuthority::Create(supplier_dir_.path(), FixedNow());
    ASSERT_THAT(supplier, IsOk());
    supplier_ca_pem_ = supplier->CertificatePem();
    absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(supplier_dir_.File(kCaKeyFile));
    ASSERT_THAT(key, IsOk());
    supplier_key_.emplace(*std::move(key));
  }

  std::string Factory(const PrivateKey& camera_key, const std::string& serial) {
    return provisioning_test::FactoryCertificate(*supplier_key_, supplier_ca_pem_, camera_key,
                                                 serial, FixedNow() - kDay,
                                                 FixedNow() + 3650 * kDay);
  }
  std::string Factory(const std::string& serial) {
    return Factory(*PrivateKey::GenerateEcP256(), serial);
  }

  const std::string& SupplierCaPem() const { return supplier_ca_pem_; }

 private:
  TempDir supplier_dir_;
  std::string supplier_ca_pem_;
  std::optional<PrivateKey> supplier_key_;
};

TEST_F(SupplierTest, AcceptsTheSuppliersCertificateForTheSerialAsACamera) {
  const PrivateKey camera_key = *PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateInfo> info =
      VerifyIssuedBy(Factory(camera_key, "CAM-000123"), SupplierCaPem(), "CAM-000123", FixedNow());
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->role, Role::kCamera);
  EXPECT_EQ(info->identity, "CAM-000123");
  EXPECT_EQ(info->serial_hex, "1092");  // 4242
  EXPECT_EQ(info->key_fingerprint, *camera_key.PublicKeyFingerprint());
}

TEST_F(SupplierTest, RefusesACertificateForAnotherSerialNamingBoth) {
  EXPECT_THAT(VerifyIssuedBy(Factory("CAM-000999"), SupplierCaPem(), "CAM-000123", FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CAM-000999"), HasSubstr("CAM-000123"))));
}

TEST_F(SupplierTest, RefusesACertificateFromAnotherIssuer) {
  TempDir other_dir;
  absl::StatusOr<CertificateAuthority> other =
      CertificateAuthority::Create(other_dir.path(), FixedNow());
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(
      VerifyIssuedBy(Factory("CAM-000123"), other->CertificatePem(), "CAM-000123", FixedNow()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not issued by the supplier CA")));
}

TEST_F(SupplierTest, RefusesAnExpiredCertificate) {
  EXPECT_THAT(VerifyIssuedBy(Factory("CAM-000123"), SupplierCaPem(), "CAM-000123",
                             FixedNow() + 3651 * kDay),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expired at")));
}

TEST_F(SupplierTest, RefusesAFactoryKeyBelowTheFleetPolicy) {
  const PrivateKey weak = provisioning_test::MakeRsaKey(1024);
  EXPECT_THAT(
      VerifyIssuedBy(Factory(weak, "CAM-000123"), SupplierCaPem(), "CAM-000123", FixedNow()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA-1024")));
}

TEST_F(SupplierTest, RefusesAnIssuerThatIsNotACa) {
  const std::string leaf = Factory("CAM-000123");
  EXPECT_THAT(VerifyIssuedBy(leaf, leaf, "CAM-000123", FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a CA")));
}

TEST_F(SupplierTest, ParseCaCertificateReadsASupplierCa) {
  absl::StatusOr<CertificateInfo> info = ParseCaCertificate(SupplierCaPem());
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->subject_cn, kCaCommonName);
  EXPECT_EQ(info->not_after, FixedNow() + kCaValidity);
}

TEST_F(SupplierTest, ParseCaCertificateRefusesALeaf) {
  EXPECT_THAT(ParseCaCertificate(Factory("CAM-000123")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a CA")));
}

TEST(ParseCaCertificateTest, RefusesSomethingThatIsNotPem) {
  EXPECT_THAT(ParseCaCertificate("nope"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace camfleet::provisioning
