// `camfleet whoami` over a credential bundle made at run time by our own provisioning code: a
// throwaway fleet CA in a temp dir, an operator key and certificate from it. No server.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <optional>
#include <sstream>

#include "absl/time/civil_time.h"
#include "cli/app.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// When the CA is made and the certificate issued.
absl::Time Issued() {
  return absl::FromCivil(absl::CivilMinute(2026, 11, 1, 8, 0), absl::UTCTimeZone());
}

struct Result {
  int code;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

class WhoamiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<provisioning::CertificateAuthority> ca =
        provisioning::CertificateAuthority::Create(ca_dir_.path(), Issued());
    ASSERT_THAT(ca, IsOk());
    ca_.emplace(*std::move(ca));
    absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
    ASSERT_THAT(key, IsOk());
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::Make(*key, "bob");
    ASSERT_THAT(csr, IsOk());
    provisioning::IssueRequest request;
    request.role = provisioning::Role::kQuartermaster;
    request.identity = "bob";
    absl::StatusOr<provisioning::IssuedCertificate> cert = ca_->Issue(*csr, request, Issued());
    ASSERT_THAT(cert, IsOk());
    cert_ = *std::move(cert);
    ASSERT_THAT(
        provisioning::WriteCredentialBundle(Bundle(), *key, cert_.pem, ca_->CertificatePem()),
        IsOk());
  }

  std::string Bundle() const { return home_.File("bob"); }

  // Runs `camfleet <args...>` at `now` with an empty environment.
  Result Run(std::vector<std::string> args, absl::Time now) {
    common::FakeClock clock(now);
    args.insert(args.begin(), "camfleet");
    std::ostringstream out, err;
    Environment env{.out = &out,
                    .err = &err,
                    .getenv = [](absl::string_view) { return std::optional<std::string>(); },
                    .clock = &clock};
    int code = RunCamfleet(args, env);
    return {code, out.str(), err.str()};
  }

  TempDir ca_dir_;
  TempDir home_;
  std::optional<provisioning::CertificateAuthority> ca_;
  provisioning::IssuedCertificate cert_;
};

TEST_F(WhoamiTest, ShowsIdentityRoleSerialAndDaysLeft) {
  Result r = Run({"--credentials", Bundle(), "whoami"}, Issued() + absl::Hours(24));
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("identity     bob\n"), HasSubstr("role         quartermaster\n"),
                    HasSubstr("serial       " + cert_.info.serial_hex + "\n"),
                    HasSubstr("issuer       camfleet fleet CA\n"),
                    HasSubstr("valid until  2026-12-01 08:00Z (29d left)\n"),
                    HasSubstr("days left    29\n"), HasSubstr("EC P-256"),
                    HasSubstr("credentials  " + Bundle())))
      << r;
  EXPECT_EQ(r.err, "");
}

TEST_F(WhoamiTest, SaysNothingMoreBeforeTwoThirdsOfTheValidity) {
  Result r = Run({"--credentials", Bundle(), "whoami"}, Issued() + absl::Hours(24 * 19));
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.err, "") << r;
}

TEST_F(WhoamiTest, WarnsToRenewPastTwoThirdsOfTheValidity) {
  Result r = Run({"--credentials", Bundle(), "whoami"}, Issued() + absl::Hours(24 * 21));
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("days left    9\n")) << r;
  EXPECT_THAT(r.err,
              AllOf(HasSubstr("warning: this certificate is past 2/3 of its validity"),
                    HasSubstr("expires in 9d"), HasSubstr("renew with `camfleet operator renew`")))
      << r;
}

TEST_F(WhoamiTest, SaysAnExpiredCertificateCanStillBeRenewedWithinTheGrace) {
  Result r = Run({"--credentials", Bundle(), "whoami"}, Issued() + absl::Hours(24 * 32));
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("(expired 2d ago)"), HasSubstr("days left    0\n"))) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("expired 2d ago"),
                           HasSubstr("only to renew, until "
                                     "2026-12-31 08:00Z"),
                           HasSubstr("camfleet operator renew")))
      << r;
}

TEST_F(WhoamiTest, SaysACertificatePastTheGraceNeedsAnAdmin) {
  Result r = Run({"--credentials", Bundle(), "whoami"}, Issued() + absl::Hours(24 * 70));
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("can no longer be renewed"), HasSubstr("ask an admin"),
                           Not(HasSubstr("operator renew"))))
      << r;
}

TEST_F(WhoamiTest, JsonHasTheFieldsScriptsNeed) {
  Result r = Run({"--credentials", Bundle(), "--json", "whoami"}, Issued() + absl::Hours(24 * 21));
  ASSERT_EQ(r.code, 0) << r;
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &doc).ok()) << r.out;
  const auto& fields = doc.fields();
  EXPECT_EQ(fields.at("identity").string_value(), "bob");
  EXPECT_EQ(fields.at("role").string_value(), "quartermaster");
  EXPECT_EQ(fields.at("serial").string_value(), cert_.info.serial_hex);
  EXPECT_EQ(fields.at("not_after").string_value(), "2026-12-01T08:00:00Z");
  EXPECT_EQ(fields.at("days_left").number_value(), 9);
  EXPECT_TRUE(fields.at("renewal_due").bool_value());
  EXPECT_FALSE(fields.at("expired").bool_value());
  EXPECT_THAT(r.err, HasSubstr("past 2/3"));  // warnings stay off stdout
}

TEST_F(WhoamiTest, NeedsNoServerAndNoTransport) {
  // Only the bundle: no --server that answers, no --insecure. Nothing is dialled.
  Result r = Run({"--server", "unix:/nonexistent.sock", "--credentials", Bundle(), "whoami"},
                 Issued() + absl::Hours(1));
  EXPECT_EQ(r.code, 0) << r;
}

TEST_F(WhoamiTest, WithoutCredentialsIsAUsageError) {
  Result r = Run({"whoami"}, Issued());
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("whoami needs your credentials: pass --credentials DIR")) << r;
}

TEST_F(WhoamiTest, RefusesAKeyThatIsNotTheCertificates) {
  TempDir other;
  absl::StatusOr<provisioning::PrivateKey> stranger = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(stranger, IsOk());
  ASSERT_THAT(provisioning::WriteCredentialBundle(other.File("mixed"), *stranger, cert_.pem,
                                                  ca_->CertificatePem()),
              IsOk());
  Result r = Run({"--credentials", other.File("mixed"), "whoami"}, Issued());
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("key.pem does not belong to cert.pem")) << r;
}

TEST_F(WhoamiTest, RefusesAKeyOthersCanRead) {
  ASSERT_EQ(chmod((Bundle() + "/key.pem").c_str(), 0644), 0);
  Result r = Run({"--credentials", Bundle(), "whoami"}, Issued());
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("credentials in " + Bundle()), HasSubstr("key.pem"))) << r;
}

}  // namespace
}  // namespace camfleet::cli
