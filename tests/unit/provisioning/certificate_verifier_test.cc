#include "provisioning/certificate_verifier.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/revocation.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/provisioning/ca_fixture.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::provisioning_test::CaTest;
using ::camfleet::provisioning_test::FixedNow;
using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kDay = absl::Hours(24);

using VerifyTest = CaTest;

TEST_F(VerifyTest, AcceptsACertificateThisCaIssued) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kDock, "post-7-dock-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<CertificateInfo> info = Ca().VerifyChain(cert->pem, FixedNow() + kDay);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->role, Role::kDock);
  EXPECT_EQ(info->identity, "post-7-dock-1");
}

TEST_F(VerifyTest, RefusesACertificateFromAnotherCa) {
  TempDir other_dir;
  absl::StatusOr<CertificateAuthority> other =
      CertificateAuthority::Create(other_dir.path(), FixedNow());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "alice");
  absl::StatusOr<IssuedCertificate> forged =
      other->Issue(*csr, {Role::kAdmin, "alice", {}, {}, false}, FixedNow());
  ASSERT_THAT(forged, IsOk());
  // Same CA name, different key: only the signature tells them apart.
  EXPECT_THAT(
      Ca().VerifyChain(forged->pem, FixedNow()),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("is not issued by this fleet CA")));
}

TEST_F(VerifyTest, RefusesAnExpiredCertificateSayingWhen) {
  const absl::Time long_ago = FixedNow() - 400 * kDay;
  // A CA old enough to have issued it.
  TempDir old_dir;
  absl::StatusOr<CertificateAuthority> old_ca =
      CertificateAuthority::Create(old_dir.path(), long_ago - kDay);
  ASSERT_THAT(old_ca, IsOk());
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "CAM-1");
  absl::StatusOr<IssuedCertificate> cert =
      old_ca->Issue(*csr, {Role::kCamera, "CAM-1", {}, {}, false}, long_ago);
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(
      old_ca->VerifyChain(cert->pem, FixedNow()),
      StatusIs(absl::StatusCode::kUnauthenticated,
               HasSubstr(absl::StrCat("expired at ",
                                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", cert->info.not_after,
                                                       absl::UTCTimeZone())))));
}

TEST_F(VerifyTest, RefusesACertificateBeforeItsValidityStarts) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kCamera, "CAM-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(Ca().VerifyChain(cert->pem, FixedNow() - absl::Hours(1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not valid until")));
}

TEST_F(VerifyTest, AcceptsACertificateWithinTheClockSkewAllowance) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kCamera, "CAM-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(Ca().VerifyChain(cert->pem, FixedNow() - absl::Minutes(4)), IsOk());
}

TEST_F(VerifyTest, RefusesMalformedPemAsInvalidArgument) {
  EXPECT_THAT(Ca().VerifyChain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                               FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(VerifyTest, WorksFromTheCaCertificateAloneWithoutTheKey) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kCamera, "CAM-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  std::ifstream in(Dir().File(kCaCertFile));
  std::stringstream ca_pem;
  ca_pem << in.rdbuf();
  absl::StatusOr<CertificateVerifier> verifier = CertificateVerifier::FromCaPem(ca_pem.str());
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(verifier->VerifyChain(cert->pem, FixedNow()), IsOk());
}

TEST_F(VerifyTest, FromCaPemRefusesALeafCertificate) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kCamera, "CAM-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(CertificateVerifier::FromCaPem(cert->pem),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA")));
}

// ---- CRL ----

TEST_F(VerifyTest, RefusesARevokedCertificateSayingWhyAndWhen) {
  absl::StatusOr<IssuedCertificate> lost = IssueFresh(Role::kCamera, "CAM-LOST", FixedNow());
  absl::StatusOr<IssuedCertificate> kept = IssueFresh(Role::kCamera, "CAM-KEPT", FixedNow());
  ASSERT_THAT(lost, IsOk());
  ASSERT_THAT(kept, IsOk());
  absl::StatusOr<std::string> crl =
      Ca().MakeCrl({{lost->info.serial_hex, FixedNow() + kDay, RevocationReason::kKeyCompromise}},
                   FixedNow() + kDay, FixedNow() + 8 * kDay, 1);
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CertificateVerifier> verifier = Ca().Verifier().WithCrl(*crl);
  ASSERT_THAT(verifier, IsOk());

  EXPECT_THAT(verifier->VerifyChain(lost->pem, FixedNow() + 2 * kDay),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("revoked"), HasSubstr("keyCompromise"),
                             HasSubstr(lost->info.serial_hex))));
  EXPECT_THAT(verifier->VerifyChain(kept->pem, FixedNow() + 2 * kDay), IsOk());
}

TEST_F(VerifyTest, CrlNumberIsTheOneTheCaSigned) {
  absl::StatusOr<std::string> crl = Ca().MakeCrl({}, FixedNow(), FixedNow() + kDay, 4242);
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CertificateVerifier> verifier = Ca().Verifier().WithCrl(*crl);
  ASSERT_THAT(verifier, IsOk());
  EXPECT_EQ(verifier->CrlNumber(), std::optional<uint64_t>(4242));
  EXPECT_EQ(Ca().Verifier().CrlNumber(), std::nullopt);
}

TEST_F(VerifyTest, FindRevocationGivesReasonAndTimeEvenAfterExpiry) {
  absl::StatusOr<IssuedCertificate> lost = IssueFresh(Role::kCamera, "CAM-LOST", FixedNow());
  absl::StatusOr<IssuedCertificate> kept = IssueFresh(Role::kCamera, "CAM-KEPT", FixedNow());
  ASSERT_THAT(lost, IsOk());
  ASSERT_THAT(kept, IsOk());
  const absl::Time revoked_at = absl::FromUnixSeconds(absl::ToUnixSeconds(FixedNow() + kDay));
  absl::StatusOr<std::string> crl =
      Ca().MakeCrl({{lost->info.serial_hex, revoked_at, RevocationReason::kCessationOfOperation}},
                   FixedNow() + kDay, FixedNow() + 8 * kDay, 2);
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CertificateVerifier> verifier = Ca().Verifier().WithCrl(*crl);
  ASSERT_THAT(verifier, IsOk());
  absl::StatusOr<std::optional<RevokedCertificate>> entry = verifier->FindRevocation(lost->pem);
  ASSERT_THAT(entry, IsOk());
  ASSERT_TRUE(entry->has_value());
  EXPECT_EQ((*entry)->reason, RevocationReason::kCessationOfOperation);
  EXPECT_EQ((*entry)->revoked_at, revoked_at);
  EXPECT_EQ((*entry)->serial_hex, lost->info.serial_hex);
  absl::StatusOr<std::optional<RevokedCertificate>> none = verifier->FindRevocation(kept->pem);
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->has_value());
  EXPECT_THAT(verifier->FindRevocation("not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(VerifyTest, AStaleCrlStillRevokesAndDoesNotBlockOthers) {
  absl::StatusOr<IssuedCertificate> lost = IssueFresh(Role::kCamera, "CAM-LOST", FixedNow());
  absl::StatusOr<IssuedCertificate> kept = IssueFresh(Role::kCamera, "CAM-KEPT", FixedNow());
  ASSERT_THAT(lost, IsOk());
  ASSERT_THAT(kept, IsOk());
  absl::StatusOr<std::string> crl =
      Ca().MakeCrl({{lost->info.serial_hex, FixedNow(), RevocationReason::kKeyCompromise}},
                   FixedNow(), FixedNow() + 7 * kDay, 1);
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CertificateVerifier> verifier = Ca().Verifier().WithCrl(*crl);
  ASSERT_THAT(verifier, IsOk());
  // A post cut off for 30 days: its CRL is three weeks past nextUpdate.
  const absl::Time cut_off_return = FixedNow() + 30 * kDay;
  EXPECT_THAT(verifier->VerifyChain(lost->pem, cut_off_return),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(verifier->VerifyChain(kept->pem, cut_off_return), IsOk());
}

TEST_F(VerifyTest, WithCrlRefusesACrlFromAnotherCa) {
  TempDir other_dir;
  absl::StatusOr<CertificateAuthority> other =
      CertificateAuthority::Create(other_dir.path(), FixedNow());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<std::string> crl = other->MakeCrl({}, FixedNow(), FixedNow() + kDay, 1);
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(Ca().Verifier().WithCrl(*crl),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not signed by this")));
}

TEST_F(VerifyTest, WithCrlRefusesSomethingThatIsNotACrl) {
  EXPECT_THAT(Ca().Verifier().WithCrl(Ca().CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Renewal grace ----

TEST_F(VerifyTest, RenewalAcceptsAnExpiredDockWithinTheGrace) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kDock, "post-7-dock-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  const absl::Time after_expiry = cert->info.not_after + 29 * kDay;
  EXPECT_THAT(Ca().VerifyChain(cert->pem, after_expiry),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
  absl::StatusOr<CertificateInfo> info = Ca().Verifier().VerifyForRenewal(cert->pem, after_expiry);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->identity, "post-7-dock-1");
}

TEST_F(VerifyTest, RenewalRefusesAfterTheGraceSayingWhenItEnded) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kDock, "post-7-dock-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(Ca().Verifier().VerifyForRenewal(cert->pem, cert->info.not_after + 31 * kDay),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("expired at"), HasSubstr("grace"), HasSubstr("30 days"))));
}

TEST_F(VerifyTest, RenewalGivesTheServerCertificateNoGrace) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kServer, "camfleetd", FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(Ca().Verifier().VerifyForRenewal(cert->pem, cert->info.not_after + kDay),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("grace")));
}

TEST_F(VerifyTest, RenewalStillRefusesARevokedCertificateInTheGrace) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kDock, "post-7-dock-1", FixedNow());
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<std::string> crl = Ca().MakeCrl(
      {{cert->info.serial_hex, FixedNow() + kDay, RevocationReason::kCessationOfOperation}},
      FixedNow() + kDay, FixedNow() + 8 * kDay, 1);
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CertificateVerifier> verifier = Ca().Verifier().WithCrl(*crl);
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(verifier->VerifyForRenewal(cert->pem, cert->info.not_after + kDay),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("cessationOfOperation")));
}

TEST_F(VerifyTest, RenewalRefusesACertificateFromAnotherCaEvenInTheGrace) {
  TempDir other_dir;
  absl::StatusOr<CertificateAuthority> other =
      CertificateAuthority::Create(other_dir.path(), FixedNow());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "post-7-dock-1");
  absl::StatusOr<IssuedCertificate> forged =
      other->Issue(*csr, {Role::kDock, "post-7-dock-1", {}, {}, false}, FixedNow());
  ASSERT_THAT(forged, IsOk());
  EXPECT_THAT(Ca().Verifier().VerifyForRenewal(forged->pem, forged->info.not_after + kDay),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not issued by")));
}

}  // namespace
}  // namespace camfleet::provisioning
