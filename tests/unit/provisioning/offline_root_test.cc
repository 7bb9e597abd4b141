// The two-level fleet CA in provisioning/ (issue 11, item 5): the root's key encrypted for
// export, rotation and revocation of issuing CAs, and homes with a single CA left as they were.

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/provisioning/ca_fixture.h"

namespace camfleet::provisioning_test {
namespace {

using provisioning::CertificateAuthority;
using provisioning::CertificateVerifier;
using provisioning::PrivateKey;
using provisioning::Role;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::StatusIs;
using testing::TempDir;

constexpr char kPassphrase[] = "a long enough passphrase";
constexpr absl::Duration kDay = absl::Hours(24);

absl::StatusOr<provisioning::IssuedCertificate> IssueDock(const CertificateAuthority& ca,
                                                          const std::string& id, absl::Time now) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, id);
  if (!csr.ok()) return csr.status();
  provisioning::IssueRequest request;
  request.role = Role::kDock;
  request.identity = id;
  return ca.Issue(*csr, request, now);
}

TEST(EncryptedKeyTest, RoundTripsWithThePassphraseOnlyAndRefusesShortOnes) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  absl::StatusOr<std::string> pem = key->ToEncryptedPem(kPassphrase);
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(*pem, HasSubstr("BEGIN ENCRYPTED PRIVATE KEY"));
  EXPECT_THAT(PrivateKey::FromPem(*pem), Not(IsOk())) << "never read without a passphrase";
  absl::StatusOr<PrivateKey> back = PrivateKey::FromPemWithPassphrase(*pem, kPassphrase);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back->PublicKeyFingerprint(), *key->PublicKeyFingerprint());
  EXPECT_THAT(PrivateKey::FromPemWithPassphrase(*pem, "another long passphrase"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wrong passphrase")));
  EXPECT_THAT(key->ToEncryptedPem("short"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 12")));
}

TEST(OfflineRootTest, ExportDeletesTheRootKeyAndTheCaStillIssuesAndSignsCrls) {
  TempDir dir;
  ASSERT_THAT(CertificateAuthority::CreateWithRoot(dir.path(), FixedNow()), IsOk());
  const std::string out = dir.File("exported.pem");
  EXPECT_THAT(provisioning::ExportRootKey(dir.path(), out, "short"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(provisioning::PathExists(dir.File(provisioning::kRootKeyFile)))
      << "a failed export leaves the key";
  ASSERT_THAT(provisioning::ExportRootKey(dir.path(), out, kPassphrase), IsOk());
  EXPECT_FALSE(provisioning::PathExists(dir.File(provisioning::kRootKeyFile)));
  EXPECT_THAT(provisioning::ExportRootKey(dir.path(), dir.File("again.pem"), kPassphrase),
              StatusIs(absl::StatusCode::kNotFound));

  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Load(dir.path());
  ASSERT_THAT(ca, IsOk());
  EXPECT_TRUE(ca->HasRoot());
  absl::StatusOr<provisioning::IssuedCertificate> cert = IssueDock(*ca, "dock-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<std::string> crl = ca->MakeCrl(
      {{cert->info.serial_hex, FixedNow(), provisioning::RevocationReason::kSuperseded}},
      FixedNow(), FixedNow() + 7 * kDay, 1);
  ASSERT_THAT(crl, IsOk());
  // Only the root's certificate at a dock: the issuing CA comes with the CRL.
  std::ifstream in(dir.File(provisioning::kRootCertFile));
  std::stringstream root_pem;
  root_pem << in.rdbuf();
  absl::StatusOr<CertificateVerifier> root_only = CertificateVerifier::FromCaPem(root_pem.str());
  ASSERT_THAT(root_only, IsOk());
  absl::StatusOr<CertificateVerifier> with_crl = root_only->WithCrl(*crl);
  ASSERT_THAT(with_crl, IsOk());
  EXPECT_THAT(with_crl->VerifyChain(cert->pem, FixedNow()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_EQ(with_crl->CrlNumber(), 1u);

  // The exported key opens with the passphrase, and rotates the issuing CA.
  EXPECT_THAT(provisioning::ReadRootKey(out, "wrong passphrase!!"), Not(IsOk()));
  absl::StatusOr<PrivateKey> root_key = provisioning::ReadRootKey(out, kPassphrase);
  ASSERT_THAT(root_key, IsOk());
  EXPECT_THAT(provisioning::RotateIssuingCa(dir.path(), *root_key, FixedNow(), std::nullopt),
              IsOk());
}

TEST(OfflineRootTest, RetiredIssuingCaStaysTrustedUntilTheRootRevokesIt) {
  TempDir dir;
  absl::StatusOr<CertificateAuthority> first =
      CertificateAuthority::CreateWithRoot(dir.path(), FixedNow());
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<provisioning::IssuedCertificate> old_cert =
      IssueDock(*first, "dock-1", FixedNow());
  ASSERT_THAT(old_cert, IsOk());
  absl::StatusOr<PrivateKey> root_key = PrivateKey::ReadFile(dir.File(provisioning::kRootKeyFile));
  ASSERT_THAT(root_key, IsOk());
  // Another key is not the root's.
  absl::StatusOr<PrivateKey> stranger = PrivateKey::GenerateEcP256();
  EXPECT_THAT(provisioning::RotateIssuingCa(dir.path(), *stranger, FixedNow(), std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not the key")));

  absl::StatusOr<provisioning::IssuingCaRotation> rotation =
      provisioning::RotateIssuingCa(dir.path(), *root_key, FixedNow() + kDay, std::nullopt);
  ASSERT_THAT(rotation, IsOk());
  absl::StatusOr<CertificateAuthority> second = CertificateAuthority::Load(dir.path());
  ASSERT_THAT(second, IsOk());
  absl::StatusOr<provisioning::IssuedCertificate> new_cert =
      IssueDock(*second, "dock-1", FixedNow() + kDay);
  ASSERT_THAT(new_cert, IsOk());
  EXPECT_EQ(new_cert->info.issuer_cn, rotation->new_ca.subject_cn);
  EXPECT_THAT(second->VerifyChain(old_cert->pem, FixedNow() + kDay), IsOk());
  EXPECT_THAT(second->VerifyChain(new_cert->pem, FixedNow() + kDay), IsOk());
  // A dock holding the first CA certificates checks both against the new CRL bundle (one CRL
  // per issuing CA): a revocation of the old certificate reaches it.
  absl::StatusOr<std::string> crl =
      second->MakeCrl({{old_cert->info.serial_hex, FixedNow() + kDay,
                        provisioning::RevocationReason::kKeyCompromise}},
                      FixedNow() + kDay, FixedNow() + 8 * kDay, 2);
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CertificateVerifier> at_dock =
      CertificateVerifier::FromCaPem(first->CertificatePem());
  ASSERT_THAT(at_dock, IsOk());
  absl::StatusOr<CertificateVerifier> with_crl = at_dock->WithCrl(*crl);
  ASSERT_THAT(with_crl, IsOk());
  EXPECT_THAT(with_crl->VerifyChain(old_cert->pem, FixedNow() + kDay),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("keyCompromise")));
  EXPECT_THAT(with_crl->VerifyChain(new_cert->pem, FixedNow() + kDay), IsOk());

  // The current issuing CA cannot be revoked; the retired one can.
  EXPECT_THAT(
      provisioning::RevokeIssuingCa(dir.path(), *root_key, rotation->new_ca.serial_hex,
                                    provisioning::RevocationReason::kSuperseded, FixedNow() + kDay),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("rotate first")));
  ASSERT_THAT(provisioning::RevokeIssuingCa(dir.path(), *root_key, rotation->old_ca.serial_hex,
                                            provisioning::RevocationReason::kSuperseded,
                                            FixedNow() + 2 * kDay),
              IsOk());
  absl::StatusOr<CertificateAuthority> third = CertificateAuthority::Load(dir.path());
  ASSERT_THAT(third, IsOk());
  EXPECT_THAT(third->VerifyChain(old_cert->pem, FixedNow() + 2 * kDay),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("an issuing CA the fleet root revoked")));
  EXPECT_THAT(third->VerifyChain(new_cert->pem, FixedNow() + 2 * kDay), IsOk());
  EXPECT_EQ(third->CertificatePem().find(first->ChainPem()), std::string::npos)
      << "the revoked issuing CA is no longer handed out";
}

TEST(OfflineRootTest, ASingleCaHomeKeepsItsOneCaAsRootAndIssuerAndCannotRotate) {
  TempDir dir;
  absl::StatusOr<CertificateAuthority> ca = CertificateAuthority::Create(dir.path(), FixedNow());
  ASSERT_THAT(ca, IsOk());
  absl::StatusOr<CertificateAuthority> loaded = CertificateAuthority::Load(dir.path());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_FALSE(loaded->HasRoot());
  EXPECT_EQ(loaded->ChainPem(), "");
  EXPECT_EQ(loaded->CertificatePem(), ca->CertificatePem());
  absl::StatusOr<provisioning::IssuedCertificate> cert = IssueDock(*loaded, "dock-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<std::string> crl = loaded->MakeCrl({}, FixedNow(), FixedNow() + kDay, 1);
  ASSERT_THAT(crl, IsOk());
  EXPECT_EQ(crl->find("BEGIN X509 CRL", crl->find("BEGIN X509 CRL") + 1), std::string::npos)
      << "one CRL, as before";
  absl::StatusOr<CertificateVerifier> verifier =
      CertificateVerifier::FromCaPem(ca->CertificatePem());
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(verifier->WithCrl(*crl)->VerifyChain(cert->pem, FixedNow()), IsOk());
  absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(dir.File(provisioning::kCaKeyFile));
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(provisioning::RotateIssuingCa(dir.path(), *key, FixedNow(), std::nullopt),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("single-level")));
}

}  // namespace
}  // namespace camfleet::provisioning_test
