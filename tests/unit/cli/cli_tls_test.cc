// Whole camfleet command lines against the real server over mutual TLS: a home made by
// `camfleetd init`'s own code (InitHome) in a temp dir, the server on 127.0.0.1:0, and the CLI
// dialling it with the first admin's bundle, then with bundles it makes itself. The real clock
// throughout: the TLS handshake checks certificates against it.

#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/app.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/credential_bundle.h"
#include "services/server/home.h"
#include "services/server/server.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kAdmin[] = "root";

using Result = ::camfleet::testing::CliResult;

// The serial in a bundle's certificate.
std::string SerialOf(const std::string& bundle) {
  absl::StatusOr<provisioning::CredentialBundle> loaded =
      provisioning::LoadCredentialBundle(bundle);
  if (!loaded.ok()) return absl::StrCat("<", loaded.status().ToString(), ">");
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(loaded->cert_pem);
  if (!info.ok()) return absl::StrCat("<", info.status().ToString(), ">");
  return info->serial_hex;
}

class CliTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Makes the home with `init` (home and admin filled in here) and serves it.
  void StartServer(server::InitOptions init) {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    init.home = dir_.File(absl::StrCat("home", ++homes_));
    init.admin_name = kAdmin;
    ASSERT_THAT(server::InitHome(init), IsOk());
    server::ServerOptions options;
    options.home = init.home;
    options.listen = {"127.0.0.1:0"};
    options.insecure_dev = false;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    admin_ = server::HomePaths{init.home}.AdminCredentials(kAdmin);
  }

  // The name the server certificate carries, as a user would dial it.
  std::string Target() const { return absl::StrCat("localhost:", server_->port()); }

  // Runs `camfleet --server localhost:PORT --credentials <bundle> <args...>`.
  Result As(const std::string& bundle, std::vector<std::string> args) {
    return RunRaw(testing::TlsCliArgs(Target(), bundle, 10, args));
  }
  Result RunRaw(const std::vector<std::string>& argv) { return testing::RunCli(argv, clock_); }
  // Runs as the first admin and expects exit 0.
  std::string AdminOk(std::vector<std::string> args) {
    Result r = As(admin_, std::move(args));
    EXPECT_EQ(r.code, 0) << r;
    return r.out;
  }

  // `operator add NAME --role ROLE` into a fresh directory; returns the directory.
  std::string AddOperator(const std::string& name, const std::string& role) {
    std::string out = dir_.File(name + "-creds");
    AdminOk({"operator", "add", name, "--role", role, "--out", out});
    return out;
  }

  TempDir dir_;
  int homes_ = 0;
  // The server's and the command line's time: the real time until a test moves it (renewal
  // windows are weeks away).
  common::FakeClock clock_{absl::Now()};
  std::unique_ptr<server::Server> server_;
  std::string admin_;
};

TEST_F(CliTlsTest, OperatorAddWritesABundleWithAPrivateKeyAndSaysWhere) {
  const std::string out = dir_.File("bob-creds");
  Result r = As(admin_, {"operator", "add", "bob", "--role", "quartermaster", "--out", out});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out,
              AllOf(HasSubstr(" to bob (quartermaster), valid until "), HasSubstr("valid until "),
                    HasSubstr("(in 30d)"), HasSubstr("wrote bob's credentials to " + out)))
      << r;
  struct stat key {};
  ASSERT_EQ(stat((out + "/key.pem").c_str(), &key), 0);
  EXPECT_EQ(key.st_mode & 0777, 0600u);
  EXPECT_THAT(As(out, {"whoami"}).out, HasSubstr("role         quartermaster"));
}

TEST_F(CliTlsTest, NewQuartermasterCanListSites) {
  AdminOk({"site", "create", "POST-7", "--name", "Border post 7"});
  const std::string bob = AddOperator("bob", "quartermaster");
  Result r = As(bob, {"site", "list"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("POST-7")) << r;
}

TEST_F(CliTlsTest, QuartermasterIsRefusedSiteCreateNamingTheAdminRole) {
  const std::string bob = AddOperator("bob", "quartermaster");
  Result r = As(bob, {"site", "create", "POST-8", "--name", "Post 8"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: PERMISSION_DENIED: "), HasSubstr("needs role admin"),
                           HasSubstr("'bob' has role quartermaster")))
      << r;
}

TEST_F(CliTlsTest, RevokedOperatorsNextCommandIsUnauthenticated) {
  const std::string bob = AddOperator("bob", "quartermaster");
  ASSERT_EQ(As(bob, {"site", "list"}).code, 0);
  EXPECT_THAT(AdminOk({"operator", "revoke", "bob", "--reason", "Key_Compromise", "--note",
                       "laptop stolen"}),
              HasSubstr("revoked operator bob (quartermaster) and every certificate they held: "
                        "key-compromise"));
  Result r = As(bob, {"site", "list"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: UNAUTHENTICATED: "), HasSubstr("camfleet whoami")))
      << r;
}

TEST_F(CliTlsTest, OperatorAddRefusesADirectoryHoldingCredentialsBeforeAskingTheServer) {
  Result r = As(admin_, {"operator", "add", "carol", "--role", "auditor", "--out", admin_});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("already holds credentials")) << r;
  EXPECT_THAT(AdminOk({"operator", "list", "--all"}), Not(HasSubstr("carol")));
}

TEST_F(CliTlsTest, OperatorListShowsRoleStateAndValidCertificates) {
  AddOperator("bob", "quartermaster");
  std::string out = AdminOk({"operator", "list"});
  EXPECT_THAT(out, AllOf(HasSubstr("NAME"), HasSubstr("VALID CERTS"), HasSubstr("bob"),
                         HasSubstr("quartermaster"), HasSubstr("active"), HasSubstr(kAdmin)))
      << out;
}

TEST_F(CliTlsTest, OperatorRenewReplacesTheBundleWithAWorkingOne) {
  const std::string bob = AddOperator("bob", "quartermaster");
  const std::string before = SerialOf(bob);
  // Too early: the server refuses, and says when the window opens; the bundle is untouched.
  Result early = As(bob, {"operator", "renew"});
  EXPECT_NE(early.code, 0) << early;
  EXPECT_THAT(early.err, HasSubstr("not due for renewal")) << early;
  EXPECT_EQ(SerialOf(bob), before);
  clock_.Advance(absl::Hours(24 * 21));  // into the 30-day certificate's renewal window
  Result r = As(bob, {"operator", "renew"});
  ASSERT_EQ(r.code, 0) << r;
  const std::string after = SerialOf(bob);
  EXPECT_NE(after, before);
  EXPECT_THAT(r.out, AllOf(HasSubstr("renewed bob (quartermaster): certificate " + after),
                           HasSubstr("the previous certificate " + before)))
      << r;
  EXPECT_EQ(As(bob, {"site", "list"}).code, 0);
}

TEST_F(CliTlsTest, TokenCreatePrintsTheTokenOnceWithAWarning) {
  AdminOk({"site", "create", "POST-7", "--name", "Border post 7"});
  Result r = As(admin_, {"token", "create", "--site", "POST-7", "--ttl", "2h", "--note", "rack B"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("enrollment token 1 for site POST-7"), HasSubstr("(in 2h)")))
      << r;
  EXPECT_THAT(r.err, HasSubstr("warning: this token is shown once")) << r;
  // The secret is the indented line; the list never shows it.
  std::string token;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  ", 0) == 0) token = line.substr(2);
  }
  ASSERT_GE(token.size(), 16u) << r;
  std::string list = AdminOk({"token", "list", "--site", "POST-7"});
  EXPECT_THAT(list, AllOf(HasSubstr("unused"), HasSubstr("rack B"), Not(HasSubstr(token))));
}

TEST_F(CliTlsTest, CertRevokeShowsInTheListAndRaisesTheCrlNumber) {
  const std::string bob = AddOperator("bob", "auditor");
  const std::string serial = SerialOf(bob);
  EXPECT_THAT(AdminOk({"cert", "list", "--identity", "bob"}),
              AllOf(HasSubstr(serial), HasSubstr("auditor"), HasSubstr("valid")));
  EXPECT_THAT(AdminOk({"crl"}), HasSubstr("CRL number"));
  EXPECT_THAT(AdminOk({"cert", "revoke", serial, "--reason", "superseded"}),
              HasSubstr("revoked certificate " + serial + " (auditor bob): superseded"));
  EXPECT_THAT(AdminOk({"cert", "list", "--identity", "bob"}), HasSubstr("no certificates match"));
  EXPECT_THAT(AdminOk({"cert", "list", "--identity", "bob", "--all"}),
              HasSubstr("revoked (superseded)"));
  Result pem = As(admin_, {"crl", "--pem"});
  EXPECT_EQ(pem.code, 0) << pem;
  EXPECT_THAT(pem.out, StartsWith("-----BEGIN X509 CRL-----")) << pem;
  EXPECT_THAT(pem.err, HasSubstr("CRL number")) << pem;
}

TEST_F(CliTlsTest, CrlOutWritesThePemToTheFile) {
  const std::string file = dir_.File("fleet.crl");
  Result r = As(admin_, {"crl", "--out", file});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("wrote the CRL to " + file));
  std::ifstream in(file);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "-----BEGIN X509 CRL-----");
}

TEST_F(CliTlsTest, EmptyListsSaySo) {
  EXPECT_EQ(AdminOk({"dock", "list"}), "no docks\n");
  EXPECT_EQ(AdminOk({"supplier-ca", "list"}), "no supplier CAs\n");
  EXPECT_EQ(AdminOk({"token", "list"}), "no enrollment tokens\n");
}

TEST_F(CliTlsTest, OperatorFlagIsNotSentTheCertificateNamesTheActor) {
  Result r = As(admin_, {"--operator", "mallory", "site", "create", "POST-7", "--name", "P7"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.err, HasSubstr("--operator is not sent with TLS")) << r;
  EXPECT_THAT(AdminOk({"audit", "list", "--object", "POST-7"}),
              AllOf(HasSubstr(kAdmin), Not(HasSubstr("mallory"))));
}

TEST_F(CliTlsTest, WithoutCredentialsOrInsecureIsAUsageErrorSayingWhatToPass) {
  Result r = RunRaw({"camfleet", "--server", Target(), "site", "list"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("pass --credentials DIR"), HasSubstr("--insecure"))) << r;
}

TEST_F(CliTlsTest, MissingBundleIsAUsageErrorNamingTheFile) {
  Result r = As(dir_.File("nowhere"), {"site", "list"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("cannot use the credentials in " + dir_.File("nowhere")),
                           HasSubstr("key.pem")))
      << r;
}

TEST_F(CliTlsTest, CertificateNotNamingTheServerIsAnErrorWithAHint) {
  Result r = RunRaw({"camfleet", "--server", Target(), "--server-name", "camfleet.example",
                     "--credentials", admin_, "--timeout", "10", "site", "list"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: UNAVAILABLE: "),
                           HasSubstr("hint: the server's certificate does not name "
                                     "'camfleet.example'"),
                           HasSubstr("--server-name")))
      << r;
}

TEST_F(CliTlsTest, ServerOfAnotherFleetCaFailsTheHandshakeWithAHint) {
  server::InitOptions other;
  other.home = dir_.File("other-home");
  other.admin_name = "eve";
  ASSERT_THAT(server::InitHome(other), IsOk());
  const std::string eve = server::HomePaths{other.home}.AdminCredentials("eve");
  Result r = As(eve, {"site", "list"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: UNAVAILABLE: "),
                           HasSubstr("hint: the TLS handshake with " + Target() + " failed"),
                           HasSubstr("ca.pem in " + eve), HasSubstr("camfleet whoami")))
      << r;
}

TEST_F(CliTlsTest, TlsClientOfADevelopmentServerIsToldToUseInsecure) {
  server::ServerOptions options;
  options.db_path = dir_.File("dev.db");
  options.listen = {"127.0.0.1:0"};
  options.insecure_dev = true;
  absl::StatusOr<std::unique_ptr<server::Server>> dev = server::Server::Start(options);
  ASSERT_THAT(dev, IsOk());
  Result r = RunRaw({"camfleet", "--server", (*dev)->target(), "--credentials", admin_, "--timeout",
                     "10", "site", "list"});
  (*dev)->Shutdown();
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("pass --insecure instead of --credentials")) << r;
}

TEST_F(CliTlsTest, PlaintextClientIsToldToUseCredentials) {
  Result r =
      RunRaw({"camfleet", "--server", Target(), "--insecure", "--timeout", "10", "site", "list"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("pass --credentials DIR instead of --insecure")) << r;
}

TEST_F(CliTlsTest, ServerNameLetsAnAddressTheCertificateDoesNotNameBeDialled) {
  server::InitOptions init;
  init.dns_names = {"camfleet.example"};
  init.ip_addresses = {};
  StartServer(init);
  const std::string by_address = absl::StrCat("127.0.0.1:", server_->port());
  Result refused = RunRaw({"camfleet", "--server", by_address, "--credentials", admin_, "--timeout",
                           "10", "site", "list"});
  EXPECT_EQ(refused.code, 1) << refused;
  Result named = RunRaw({"camfleet", "--server", by_address, "--server-name", "camfleet.example",
                         "--credentials", admin_, "--timeout", "10", "site", "list"});
  EXPECT_EQ(named.code, 0) << named;
}

}  // namespace
}  // namespace camfleet::cli
