#include "provisioning/csr.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

PrivateKey NewKey() { return *PrivateKey::GenerateEcP256(); }

CertificateRequest CsrFor(const PrivateKey& key, const std::string& cn) {
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(key, cn);
  EXPECT_THAT(csr, IsOk());
  return *std::move(csr);
}

CertificateRequest Parse(const std::string& pem) {
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::FromPem(pem);
  EXPECT_THAT(csr, IsOk());
  return *std::move(csr);
}

TEST(CsrTest, MadeCsrPassesCheckForItsSerial) {
  const PrivateKey key = NewKey();
  EXPECT_THAT(CheckCsr(CsrFor(key, "CAM-000123"), {"CAM-000123"}), IsOk());
}

TEST(CsrTest, PemRoundTripKeepsSubjectAndKey) {
  const PrivateKey key = NewKey();
  absl::StatusOr<std::string> pem = CsrFor(key, "post-7-dock-1").ToPem();
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(*pem, HasSubstr("-----BEGIN CERTIFICATE REQUEST-----"));
  const CertificateRequest back = Parse(*pem);
  EXPECT_EQ(*back.CommonName(), "post-7-dock-1");
  EXPECT_EQ(*back.PublicKeyFingerprint(), *key.PublicKeyFingerprint());
  EXPECT_THAT(CheckCsr(back, {}), IsOk());
}

TEST(CsrTest, MakeRejectsAnInvalidIdentity) {
  EXPECT_THAT(CertificateRequest::Make(NewKey(), "a/b"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CsrTest, FromPemRejectsSomethingElse) {
  EXPECT_THAT(CertificateRequest::FromPem("hello"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CsrTest, CheckRefusesATamperedSignature) {
  const std::string pem = *CsrFor(NewKey(), "CAM-000123").ToPem();
  const CertificateRequest tampered = Parse(provisioning_test::FlipSignatureBit(pem));
  EXPECT_THAT(CheckCsr(tampered, {"CAM-000123"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "CSR signature does not verify"));
}

TEST(CsrTest, CheckRefusesACsrSignedByAnotherKeyThanItCarries) {
  const PrivateKey claimed = NewKey();
  const PrivateKey signer = NewKey();
  const CertificateRequest csr =
      Parse(provisioning_test::CsrSignedByOtherKey(claimed, signer, "CAM-000123"));
  EXPECT_THAT(CheckCsr(csr, {"CAM-000123"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "CSR signature does not verify"));
}

TEST(CsrTest, CheckRefusesRsa1024NamingTypeAndSize) {
  const PrivateKey weak = provisioning_test::MakeRsaKey(1024);
  EXPECT_THAT(CheckCsr(CsrFor(weak, "CAM-000123"), {"CAM-000123"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CSR key is RSA-1024"), HasSubstr("EC P-256"),
                             HasSubstr("at least 3072 bits"))));
}

TEST(CsrTest, CheckAcceptsRsa3072) {
  const PrivateKey rsa = provisioning_test::MakeRsaKey(3072);
  EXPECT_THAT(CheckCsr(CsrFor(rsa, "alice"), {"alice"}), IsOk());
}

TEST(CsrTest, CheckAcceptsEcP384) {
  const PrivateKey p384 = provisioning_test::MakeEcKey("P-384");
  EXPECT_THAT(CheckCsr(CsrFor(p384, "alice"), {"alice"}), IsOk());
}

TEST(CsrTest, CheckRefusesOtherCurvesNamingTheCurve) {
  const PrivateKey k1 = provisioning_test::MakeEcKey("secp256k1");
  EXPECT_THAT(CheckCsr(CsrFor(k1, "alice"), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR key is EC secp256k1")));
}

TEST(CsrTest, CheckRefusesEd25519NamingIt) {
  const PrivateKey ed = provisioning_test::MakeEd25519Key();
  EXPECT_THAT(CheckCsr(CsrFor(ed, "alice"), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR key is ED25519")));
}

TEST(CsrTest, CheckRefusesASubjectThatIsNotTheExpectedSerialNamingBoth) {
  EXPECT_THAT(CheckCsr(CsrFor(NewKey(), "CAM-000999"), {"CAM-000123"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CAM-000999"), HasSubstr("CAM-000123"))));
}

}  // namespace
}  // namespace camfleet::provisioning
