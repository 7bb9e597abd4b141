#include "provisioning/certificate_authority.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/provisioning/ca_fixture.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::provisioning_test::CaTest;
using ::camfleet::provisioning_test::FixedNow;
using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// ---- Create and Load ----

TEST_F(CaTest, CreateWritesTheKeyWithMode0600) { EXPECT_EQ(ModeOf(Dir().File(kCaKeyFile)), 0600u); }

TEST_F(CaTest, CreateWritesTheCertificateReadableByAll) {
  EXPECT_EQ(ModeOf(Dir().File(kCaCertFile)), 0644u);
  EXPECT_EQ(ReadAll(Dir().File(kCaCertFile)), Ca().CertificatePem());
}

TEST_F(CaTest, CreateRefusesToReplaceAnExistingCa) {
  const std::string key_before = ReadAll(Dir().File(kCaKeyFile));
  const std::string cert_before = ReadAll(Dir().File(kCaCertFile));
  EXPECT_THAT(CertificateAuthority::Create(Dir().path(), FixedNow()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(kCaKeyFile)));
  EXPECT_EQ(ReadAll(Dir().File(kCaKeyFile)), key_before);
  EXPECT_EQ(ReadAll(Dir().File(kCaCertFile)), cert_before);
}

TEST(CaCreateTest, CreateRefusesWhenOnlyTheCertificateExists) {
  TempDir dir;
  std::ofstream(dir.File(kCaCertFile)) << "left over";
  EXPECT_THAT(CertificateAuthority::Create(dir.path(), FixedNow()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(kCaCertFile)));
  struct stat st {};
  EXPECT_NE(::stat(dir.File(kCaKeyFile).c_str(), &st), 0) << "no key may be left behind";
}

TEST(CaCreateTest, CreateInAMissingDirectoryIsNotFound) {
  TempDir dir;
  EXPECT_THAT(CertificateAuthority::Create(dir.File("absent"), FixedNow()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(CaTest, CaExpiresTenYearsAfterCreation) {
  EXPECT_EQ(Ca().NotAfter(), FixedNow() + kCaValidity);
}

TEST_F(CaTest, LoadReturnsTheSameCa) {
  absl::StatusOr<CertificateAuthority> loaded = CertificateAuthority::Load(Dir().path());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->CertificatePem(), Ca().CertificatePem());
  // And it can issue what the original verifies.
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "alice");
  absl::StatusOr<IssuedCertificate> cert =
      loaded->Issue(*csr, {Role::kAdmin, "alice", {}, {}, false}, FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_THAT(Ca().VerifyChain(cert->pem, FixedNow()), IsOk());
}

TEST(CaLoadTest, LoadOfAnEmptyDirectoryIsNotFoundNamingTheKey) {
  TempDir dir;
  EXPECT_THAT(CertificateAuthority::Load(dir.path()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(kCaKeyFile)));
}

TEST_F(CaTest, LoadWithoutTheCertificateIsNotFoundNamingIt) {
  ASSERT_EQ(::unlink(Dir().File(kCaCertFile).c_str()), 0);
  EXPECT_THAT(CertificateAuthority::Load(Dir().path()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(kCaCertFile)));
}

TEST_F(CaTest, LoadRefusesAKeyOthersCanRead) {
  ASSERT_EQ(::chmod(Dir().File(kCaKeyFile).c_str(), 0640), 0);
  EXPECT_THAT(CertificateAuthority::Load(Dir().path()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(kCaKeyFile)));
}

TEST_F(CaTest, LoadRefusesAKeyThatIsNotTheCertificatesKey) {
  TempDir other_dir;
  ASSERT_THAT(CertificateAuthority::Create(other_dir.path(), FixedNow()), IsOk());
  ASSERT_EQ(::unlink(Dir().File(kCaKeyFile).c_str()), 0);
  ASSERT_EQ(::rename(other_dir.File(kCaKeyFile).c_str(), Dir().File(kCaKeyFile).c_str()), 0);
  EXPECT_THAT(CertificateAuthority::Load(Dir().path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not the key")));
}

TEST_F(CaTest, LoadRefusesACorruptCertificateNamingIt) {
  ASSERT_EQ(::unlink(Dir().File(kCaCertFile).c_str()), 0);
  std::ofstream(Dir().File(kCaCertFile)) << "garbage";
  EXPECT_THAT(CertificateAuthority::Load(Dir().path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(kCaCertFile)));
}

// ---- Issue ----

TEST_F(CaTest, IssuedCertificateNamesRoleAndIdentity) {
  for (Role role : kAllRoles) {
    absl::StatusOr<IssuedCertificate> cert = IssueFresh(role, "unit-7", FixedNow());
    ASSERT_THAT(cert, IsOk()) << RoleName(role);
    EXPECT_EQ(cert->info.role, role);
    EXPECT_EQ(cert->info.identity, "unit-7");
    EXPECT_EQ(cert->info.subject_cn, "unit-7");
    EXPECT_EQ(cert->info.issuer_cn, kCaCommonName);
  }
}

TEST_F(CaTest, ParseCertificateReadsBackWhatIssueReturned) {
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kCamera, "CAM-000123", FixedNow());
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<CertificateInfo> parsed = ParseCertificate(cert->pem);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->serial_hex, cert->info.serial_hex);
  EXPECT_EQ(parsed->role, Role::kCamera);
  EXPECT_EQ(parsed->identity, "CAM-000123");
  EXPECT_EQ(parsed->not_before, cert->info.not_before);
  EXPECT_EQ(parsed->not_after, cert->info.not_after);
  EXPECT_EQ(parsed->key_fingerprint, cert->info.key_fingerprint);
}

TEST_F(CaTest, IssuedCertificateCarriesTheCsrKey) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "post-7-dock-1");
  absl::StatusOr<IssuedCertificate> cert =
      Ca().Issue(*csr, {Role::kDock, "post-7-dock-1", {}, {}, false}, FixedNow());
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->info.key_fingerprint, *key->PublicKeyFingerprint());
}

TEST_F(CaTest, ValidityFollowsTheRoleProfileWithFiveMinutesOfSkew) {
  for (Role role : kAllRoles) {
    absl::StatusOr<IssuedCertificate> cert = IssueFresh(role, "unit-1", FixedNow());
    ASSERT_THAT(cert, IsOk());
    EXPECT_EQ(cert->info.not_before, FixedNow() - absl::Minutes(5)) << RoleName(role);
    EXPECT_EQ(cert->info.not_after, FixedNow() + ProfileFor(role).validity) << RoleName(role);
  }
}

TEST_F(CaTest, ValidityIsTheDocumentedTable) {
  const absl::Duration day = absl::Hours(24);
  EXPECT_EQ(ProfileFor(Role::kCamera).validity, 365 * day);
  EXPECT_EQ(ProfileFor(Role::kDock).validity, 90 * day);
  EXPECT_EQ(ProfileFor(Role::kAdmin).validity, 30 * day);
  EXPECT_EQ(ProfileFor(Role::kQuartermaster).validity, 30 * day);
  EXPECT_EQ(ProfileFor(Role::kAuditor).validity, 30 * day);
  EXPECT_EQ(ProfileFor(Role::kServer).validity, 365 * day);
}

TEST_F(CaTest, SerialsAreUniqueAndAbout128Bits) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "CAM-1");
  ASSERT_THAT(csr, IsOk());
  std::set<std::string> serials;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<IssuedCertificate> cert =
        Ca().Issue(*csr, {Role::kCamera, "CAM-1", {}, {}, false}, FixedNow());
    ASSERT_THAT(cert, IsOk());
    // 127 random bits: 32 hex digits unless the top ones happen to be zero.
    EXPECT_GE(cert->info.serial_hex.size(), 24u);
    EXPECT_LE(cert->info.serial_hex.size(), 32u);
    serials.insert(cert->info.serial_hex);
  }
  EXPECT_THAT(serials, SizeIs(200));
}

TEST_F(CaTest, IssueRefusesACsrForAnotherIdentity) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "CAM-000999");
  EXPECT_THAT(Ca().Issue(*csr, {Role::kCamera, "CAM-000123", {}, {}, false}, FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("CAM-000999"), HasSubstr("CAM-000123"))));
}

TEST_F(CaTest, IssueRefusesAWeakKey) {
  const PrivateKey weak = provisioning_test::MakeRsaKey(1024);
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(weak, "alice");
  EXPECT_THAT(Ca().Issue(*csr, {Role::kAdmin, "alice", {}, {}, false}, FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA-1024")));
}

TEST_F(CaTest, IssueRefusesAnInvalidIdentity) {
  EXPECT_THAT(IssueFresh(Role::kCamera, "../admin", FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CaTest, ServerCertificateCarriesItsDnsAndIpNames) {
  IssueRequest request{
      Role::kServer, "camfleetd", {"fleet.example.org"}, {"10.0.0.1", "::1"}, false};
  EXPECT_THAT(IssueFresh(request, FixedNow()), IsOk());
}

TEST_F(CaTest, IssueRefusesDnsNamesWithoutServerAuth) {
  IssueRequest request{Role::kCamera, "CAM-1", {"cam.example.org"}, {}, false};
  EXPECT_THAT(IssueFresh(request, FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serverAuth")));
}

TEST_F(CaTest, IssueRefusesAMalformedIpAddress) {
  IssueRequest request{Role::kServer, "camfleetd", {}, {"10.0.0.300"}, false};
  EXPECT_THAT(IssueFresh(request, FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("10.0.0.300")));
}

TEST_F(CaTest, IssueRefusesAWildcardDnsName) {
  IssueRequest request{Role::kServer, "camfleetd", {"*.example.org"}, {}, false};
  EXPECT_THAT(IssueFresh(request, FixedNow()), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CaTest, DockMayAlsoGetServerAuth) {
  IssueRequest request{Role::kDock, "post-7-dock-1", {"dock1.post7.example.org"}, {}, true};
  EXPECT_THAT(IssueFresh(request, FixedNow()), IsOk());
}

TEST_F(CaTest, CameraMayNotGetServerAuth) {
  IssueRequest request{Role::kCamera, "CAM-1", {}, {}, true};
  EXPECT_THAT(IssueFresh(request, FixedNow()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serverAuth")));
}

TEST_F(CaTest, CertificatesNeverOutliveTheCa) {
  const absl::Time late = Ca().NotAfter() - absl::Hours(24);
  absl::StatusOr<IssuedCertificate> cert = IssueFresh(Role::kCamera, "CAM-1", late);
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->info.not_after, Ca().NotAfter());
}

TEST_F(CaTest, IssueRefusesOnceTheCaHasExpired) {
  EXPECT_THAT(IssueFresh(Role::kCamera, "CAM-1", Ca().NotAfter() + absl::Seconds(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("fleet CA")));
}

TEST_F(CaTest, ParseCertificateRefusesTheCaCertificateAsNoFleetIdentity) {
  EXPECT_THAT(ParseCertificate(Ca().CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("camfleet://")));
}

TEST(ParseCertificateTest, RefusesSomethingThatIsNotPem) {
  EXPECT_THAT(ParseCertificate("certainly not"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- MakeCrl argument checks (the content is checked with the openssl tool and VerifyChain) --

TEST_F(CaTest, MakeCrlRefusesNextUpdateNotAfterThisUpdate) {
  EXPECT_THAT(Ca().MakeCrl({}, FixedNow(), FixedNow(), 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nextUpdate")));
}

TEST_F(CaTest, MakeCrlRefusesASerialThatIsNotHex) {
  EXPECT_THAT(Ca().MakeCrl({{"12zz", FixedNow(), RevocationReason::kKeyCompromise}}, FixedNow(),
                           FixedNow() + absl::Hours(24), 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("12zz")));
}

TEST_F(CaTest, MakeCrlRefusesTheSameSerialTwice) {
  EXPECT_THAT(Ca().MakeCrl({{"0abc", FixedNow(), RevocationReason::kKeyCompromise},
                            {"ABC", FixedNow(), RevocationReason::kSuperseded}},
                           FixedNow(), FixedNow() + absl::Hours(24), 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
}

TEST_F(CaTest, MakeCrlWithNoEntriesIsValid) {
  absl::StatusOr<std::string> crl = Ca().MakeCrl({}, FixedNow(), FixedNow() + absl::Hours(24), 1);
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(*crl, HasSubstr("-----BEGIN X509 CRL-----"));
}

}  // namespace
}  // namespace camfleet::provisioning
