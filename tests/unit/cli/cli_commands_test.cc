// Whole camfleet command lines, run in-process against the real server (real SQLite file, real
// gRPC on 127.0.0.1:0). The server and the CLI share one FakeClock so due times and "overdue
// by" are exact.

#include <google/protobuf/util/json_util.h>
#include <sqlite3.h>

#include <fstream>
#include <map>
#include <sstream>

#include "absl/time/civil_time.h"
#include "cli/app.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

absl::Time Start() {
  return absl::FromCivil(absl::CivilMinute(2026, 11, 22, 20, 0), absl::UTCTimeZone());
}

using Result = ::camfleet::testing::CliResult;

class CliCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.db_path = dir_.File("fleet.db");
    options.listen = {"127.0.0.1:0"};
    options.clock = &clock_;
    options.insecure_dev = true;  // plaintext on loopback; cli_tls_test covers mutual TLS
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Runs `camfleet --server <test server> --insecure --operator qm-test <args...>`.
  Result Run(const std::vector<std::string>& args) {
    return RunRaw(testing::DevCliArgs(server_->target(), "qm-test", 10, args));
  }
  Result RunRaw(const std::vector<std::string>& argv) { return testing::RunCli(argv, clock_); }
  // Runs and expects exit 0.
  std::string Ok(std::vector<std::string> args) {
    Result r = Run(std::move(args));
    EXPECT_EQ(r.code, 0) << r;
    return r.out;
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_.File(name);
    std::ofstream(path) << text;
    return path;
  }

  // A site, a holder and one AVAILABLE camera.
  void StockOneCamera() {
    Ok({"site", "create", "POST-7", "--name", "Border post 7"});
    Ok({"holder", "create", "B-1234", "--name", "Jane Doe", "--unit", "K9", "--site", "POST-7"});
    Ok({"camera", "register", "CAM-0001", "--model", "BWC-4", "--site", "POST-7"});
    Ok({"camera", "commission", "CAM-0001", "--reason", "supplier batch checked"});
  }

  TempDir dir_;
  common::FakeClock clock_{Start()};
  std::unique_ptr<server::Server> server_;
};

TEST_F(CliCommandsTest, EveryCommandAnswersHelp) {
  const std::vector<std::vector<std::string>> commands = {{},
                                                          {"site"},
                                                          {"site", "create"},
                                                          {"site", "get"},
                                                          {"site", "list"},
                                                          {"holder"},
                                                          {"holder", "create"},
                                                          {"holder", "get"},
                                                          {"holder", "list"},
                                                          {"camera"},
                                                          {"camera", "register"},
                                                          {"camera", "import"},
                                                          {"camera", "get"},
                                                          {"camera", "list"},
                                                          {"camera", "commission"},
                                                          {"camera", "issue"},
                                                          {"camera", "return"},
                                                          {"camera", "lost"},
                                                          {"camera", "found"},
                                                          {"camera", "faulty"},
                                                          {"camera", "repair"},
                                                          {"camera", "retire"},
                                                          {"issue"},
                                                          {"return"},
                                                          {"overdue"},
                                                          {"custody"},
                                                          {"audit"},
                                                          {"audit", "list"},
                                                          {"audit", "verify"},
                                                          {"whoami"},
                                                          {"operator"},
                                                          {"operator", "add"},
                                                          {"operator", "list"},
                                                          {"operator", "revoke"},
                                                          {"operator", "renew"},
                                                          {"token"},
                                                          {"token", "create"},
                                                          {"token", "list"},
                                                          {"dock"},
                                                          {"dock", "list"},
                                                          {"dock", "revoke"},
                                                          {"cert"},
                                                          {"cert", "list"},
                                                          {"cert", "revoke"},
                                                          {"crl"},
                                                          {"camera", "reset-enrollment"},
                                                          {"supplier-ca"},
                                                          {"supplier-ca", "add"},
                                                          {"supplier-ca", "list"}};
  for (std::vector<std::string> command : commands) {
    command.insert(command.begin(), "camfleet");
    command.push_back("--help");
    Result r = RunRaw(command);
    EXPECT_EQ(r.code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << r;
  }
}

TEST_F(CliCommandsTest, SiteCreateThenGetShowsTheSite) {
  Ok({"site", "create", "REGION-N", "--name", "North region"});
  EXPECT_THAT(Ok({"site", "create", "POST-7", "--name", "Border post 7", "--parent", "REGION-N"}),
              HasSubstr("created site POST-7"));
  EXPECT_THAT(Ok({"site", "get", "POST-7"}),
              AllOf(HasSubstr("name     Border post 7"), HasSubstr("parent   REGION-N"),
                    HasSubstr("created  2026-11-22 20:00Z")));
}

TEST_F(CliCommandsTest, SiteListFiltersByParent) {
  Ok({"site", "create", "REGION-N", "--name", "North"});
  Ok({"site", "create", "REGION-S", "--name", "South"});
  Ok({"site", "create", "POST-7", "--name", "Post 7", "--parent", "REGION-N"});
  std::string out = Ok({"site", "list", "--parent", "REGION-N"});
  EXPECT_THAT(out, AllOf(HasSubstr("CODE"), HasSubstr("POST-7"), Not(HasSubstr("REGION-S"))));
}

TEST_F(CliCommandsTest, ServerErrorPrintsCodeNameAndMessageAndExitsOne) {
  Result r = Run({"site", "get", "NOPE"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND: ")) << r;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliCommandsTest, UnreachableServerIsAnRpcErrorWithAHint) {
  Result r = RunRaw({"camfleet", "--server", "unix:" + dir_.File("nobody.sock"), "--insecure",
                     "--timeout", "5", "site", "list"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: UNAVAILABLE: "), HasSubstr("hint: is camfleetd")))
      << r;
}

TEST_F(CliCommandsTest, IdentityCommandsOnADevelopmentServerExplainWhyNot) {
  Result r = Run({"operator", "list"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: UNIMPLEMENTED: "),
                           HasSubstr("hint: a development server (--insecure-dev)")))
      << r;
}

TEST_F(CliCommandsTest, BadRevocationReasonIsAUsageErrorNamingTheReasons) {
  Result r = Run({"operator", "revoke", "bob", "--reason", "fired"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("key-compromise, affiliation-changed, superseded")) << r;
}

TEST_F(CliCommandsTest, BadRoleIsAUsageErrorNamingTheOperatorRoles) {
  Result r = Run({"operator", "add", "bob", "--role", "dock", "--out", dir_.File("bob")});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("admin, quartermaster, auditor")) << r;
}

TEST_F(CliCommandsTest, MissingRequiredFlagIsAUsageError) {
  Result r = Run({"camera", "issue", "CAM-0001", "--due", "12h"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("--to")) << r;
}

TEST_F(CliCommandsTest, UnknownStateIsAUsageErrorNamingTheAllowedStates) {
  Result r = Run({"camera", "list", "--state", "stolen"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("registered, available, issued, lost, faulty, retired")) << r;
}

TEST_F(CliCommandsTest, StateFilterIgnoresCase) {
  StockOneCamera();
  Ok({"camera", "register", "CAM-0002", "--model", "BWC-4", "--site", "POST-7"});
  std::string out = Ok({"camera", "list", "--state", "Available"});
  EXPECT_THAT(out, AllOf(HasSubstr("CAM-0001"), Not(HasSubstr("CAM-0002"))));
}

TEST_F(CliCommandsTest, BadDueIsAUsageErrorShowingBothForms) {
  StockOneCamera();
  Result r = Run({"issue", "CAM-0001", "--to", "B-1234", "--due", "tomorrow"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("12h"), HasSubstr("2026-11-23T08:00:00Z"))) << r;
}

TEST_F(CliCommandsTest, ForceNeedsAReason) {
  StockOneCamera();
  Result r = Run({"issue", "CAM-0001", "--to", "B-1234", "--due", "12h", "--force"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("--force-reason")) << r;
}

TEST_F(CliCommandsTest, ImportWithABadRowImportsNothingAndExitsFour) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  std::string csv = WriteFile("delivery.csv",
                              "serial,model,hardware_revision,site\n"
                              "CAM-0001,BWC-4,B,POST-7\n"
                              "CAM 0002,BWC-4,B,POST-7\n"
                              "CAM-0003,BWC-4,B,POST-7\n");
  Result r = Run({"camera", "import", csv});
  EXPECT_EQ(r.code, 4) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("read 3 rows from " + csv), HasSubstr("LINE"),
                           HasSubstr("   3  serial"), HasSubstr("nothing imported: 1 of 3")))
      << r;
  EXPECT_THAT(Ok({"camera", "list"}), HasSubstr("no cameras match"));
}

TEST_F(CliCommandsTest, PartialImportTakesTheGoodRowsAndExitsZero) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  std::string csv = WriteFile("delivery.csv",
                              "serial,model,hardware_revision,site\n"
                              "CAM-0001,BWC-4,B,POST-7\n"
                              "CAM 0002,BWC-4,B,POST-7\n"
                              "CAM-0003,BWC-4,B,POST-7\n");
  Result r = Run({"camera", "import", csv, "--partial"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("imported 2 of 3 rows; skipped 1 bad rows")) << r;
}

TEST_F(CliCommandsTest, CleanImportExitsZero) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  std::string csv = WriteFile("delivery.csv",
                              "serial,model,hardware_revision,site\n"
                              "CAM-0001,BWC-4,B,POST-7\n");
  EXPECT_THAT(Ok({"camera", "import", csv}), HasSubstr("imported 1 of 1 rows"));
  EXPECT_THAT(Ok({"camera", "get", "CAM-0001"}), HasSubstr("REGISTERED"));
}

// A spreadsheet's legacy CSV export (Windows-1252: 0xE9 is 'é'). The server takes only UTF-8
// text; the CLI says which file, where, and how to convert it, and sends nothing.
TEST_F(CliCommandsTest, ImportOfAManifestThatIsNotUtf8SaysWhereAndHowToConvertIt) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  std::string csv = WriteFile("delivery.csv",
                              "serial,model,hardware_revision,site\n"
                              "CAM-0001,BWC-4,B,POST-7\n"
                              "CAM-0002,BWC-4,R\xe9v B,POST-7\n");
  Result r = Run({"camera", "import", csv});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr(csv + " is not UTF-8 text: line 3, byte 17 (0xe9)"),
                           HasSubstr("CSV UTF-8"), HasSubstr("iconv -f WINDOWS-1252 -t UTF-8")))
      << r;
  EXPECT_THAT(Ok({"camera", "list"}), HasSubstr("no cameras match"));
}

// A name typed in a Latin-1 terminal: the CLI names the field and the fix instead of sending
// what protobuf cannot parse at the server.
TEST_F(CliCommandsTest, TextThatIsNotUtf8IsRefusedNamingTheFieldBeforeItIsSent) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  Result r = Run({"holder", "create", "B-1234", "--name", "Jos\xe9 Ruiz", "--site", "POST-7"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(
      r.err, AllOf(HasSubstr("name is not UTF-8 text (byte 4 is 0xe9)"), HasSubstr("LANG=C.UTF-8")))
      << r;
  EXPECT_THAT(Ok({"holder", "list"}), HasSubstr("no holders"));
  EXPECT_THAT(Ok({"holder", "create", "B-1234", "--name", "Jos\xc3\xa9 Ruiz", "--site", "POST-7"}),
              HasSubstr("B-1234"));
}

TEST_F(CliCommandsTest, ImportOfMissingFileIsAUsageError) {
  Result r = Run({"camera", "import", dir_.File("missing.csv")});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("cannot read")) << r;
}

TEST_F(CliCommandsTest, CommissionWithUnreadableFactoryCertificateIsAUsageError) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  Ok({"camera", "register", "CAM-0001", "--model", "BWC-4", "--site", "POST-7"});
  Result r = Run({"camera", "commission", "CAM-0001", "--reason", "r", "--factory-cert",
                  dir_.File("missing.pem")});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("cannot read")) << r;
  EXPECT_THAT(Ok({"camera", "get", "CAM-0001"}), HasSubstr("REGISTERED"));
}

TEST_F(CliCommandsTest, IssueShowsHolderAndDueTime) {
  StockOneCamera();
  EXPECT_THAT(Ok({"camera", "issue", "CAM-0001", "--to", "B-1234", "--due", "12h"}),
              HasSubstr("issued CAM-0001 to B-1234 (Jane Doe), due back 2026-11-23 08:00Z (in "
                        "12h)"));
  EXPECT_THAT(Ok({"camera", "get", "CAM-0001"}), AllOf(HasSubstr("ISSUED"), HasSubstr("B-1234")));
}

TEST_F(CliCommandsTest, TopLevelIssueAndReturnShortcutsWork) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "2026-11-23T08:00:00Z"});
  EXPECT_THAT(Ok({"return", "CAM-0001"}),
              HasSubstr("CAM-0001 returned GOOD from B-1234 (Jane Doe); now AVAILABLE"));
}

TEST_F(CliCommandsTest, ReturnAfterDueSaysHowLate) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "1h"});
  clock_.Advance(absl::Hours(3) + absl::Minutes(30));
  EXPECT_THAT(Ok({"return", "CAM-0001"}), HasSubstr("(2h30m late)"));
}

TEST_F(CliCommandsTest, IllegalTransitionShowsTheServersReason) {
  StockOneCamera();
  Result r = Run({"camera", "found", "CAM-0001", "--note", "under a desk"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("error: FAILED_PRECONDITION: camera 'CAM-0001' is AVAILABLE")) << r;
}

TEST_F(CliCommandsTest, LifecycleCommandsMoveTheCameraThroughEveryState) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "12h"});
  EXPECT_EQ(Ok({"camera", "lost", "CAM-0001", "--note", "dropped at checkpoint"}),
            "CAM-0001 is now LOST\n");
  EXPECT_EQ(Ok({"camera", "found", "CAM-0001", "--note", "handed in"}),
            "CAM-0001 is now AVAILABLE\n");
  EXPECT_EQ(Ok({"camera", "faulty", "CAM-0001", "--note", "lens cracked"}),
            "CAM-0001 is now FAULTY\n");
  EXPECT_EQ(Ok({"camera", "repair", "CAM-0001", "--note", "lens replaced"}),
            "CAM-0001 is now AVAILABLE\n");
  EXPECT_EQ(Ok({"camera", "retire", "CAM-0001", "--reason", "end of life"}),
            "CAM-0001 is now RETIRED\n");
}

TEST_F(CliCommandsTest, HolderGetShowsTheCamerasTheyHold) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "12h", "--note", "night patrol"});
  EXPECT_THAT(Ok({"holder", "get", "B-1234"}),
              AllOf(HasSubstr("Jane Doe"), HasSubstr("holds 1 camera:"), HasSubstr("CAM-0001"),
                    HasSubstr("qm-test"), HasSubstr("night patrol")));
}

TEST_F(CliCommandsTest, OverdueShowsHowLongOverdue) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "1h"});
  clock_.Advance(absl::Hours(4) + absl::Minutes(12));
  std::string out = Ok({"overdue", "--site", "POST-7"});
  EXPECT_THAT(out, AllOf(HasSubstr("OVERDUE BY"), HasSubstr("CAM-0001"), HasSubstr("Jane Doe"),
                         HasSubstr("3h12m")));
}

TEST_F(CliCommandsTest, OverdueWithNothingOverdueSaysSo) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "1h"});
  EXPECT_EQ(Ok({"overdue"}), "no overdue cameras\n");
}

TEST_F(CliCommandsTest, CustodyListsEveryAssignmentWithWhoAndHow) {
  StockOneCamera();
  Ok({"issue", "CAM-0001", "--to", "B-1234", "--due", "12h"});
  Ok({"return", "CAM-0001", "--damaged", "--note", "strap torn"});
  std::string out = Ok({"custody", "CAM-0001"});
  EXPECT_THAT(
      out, AllOf(HasSubstr("CAM-0001  FAULTY"), HasSubstr("B-1234 Jane Doe"), HasSubstr("DAMAGED"),
                 HasSubstr("return: strap torn"), HasSubstr("qm-test")));
}

TEST_F(CliCommandsTest, ListShowsOnePageWithAHintUnlessAll) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  for (const char* serial : {"CAM-0001", "CAM-0002", "CAM-0003"}) {
    Ok({"camera", "register", serial, "--model", "BWC-4", "--site", "POST-7"});
  }
  Result one_page = Run({"camera", "list", "--limit", "2"});
  EXPECT_EQ(one_page.code, 0) << one_page;
  EXPECT_THAT(one_page.out, Not(HasSubstr("CAM-0003")));
  EXPECT_THAT(one_page.err, HasSubstr("add --all"));
  Result all = Run({"camera", "list", "--limit", "2", "--all"});
  EXPECT_THAT(all.out, AllOf(HasSubstr("CAM-0001"), HasSubstr("CAM-0003")));
  EXPECT_EQ(all.err, "");
}

TEST_F(CliCommandsTest, JsonIsOneDocumentWithZeroValuesAndProtoNames) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  std::string csv = WriteFile("d.csv", "serial,model,hardware_revision,site\nCAM 1,M,,POST-7\n");
  Result r = Run({"camera", "import", csv, "--json"});
  EXPECT_EQ(r.code, 4) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"imported\": \"0\""), HasSubstr("\"errors\"")));
  EXPECT_THAT(r.err, HasSubstr("read 1 rows"));  // progress stays off stdout
  v1::ImportManifestResponse parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.errors_size(), 1);
}

TEST_F(CliCommandsTest, JsonListWithAllMergesEveryPage) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  Ok({"site", "create", "POST-8", "--name", "Post 8"});
  Ok({"site", "create", "POST-9", "--name", "Post 9"});
  Result r = Run({"--json", "site", "list", "--limit", "1", "--all"});
  ASSERT_EQ(r.code, 0) << r;
  v1::ListSitesResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.sites_size(), 3);
  EXPECT_EQ(parsed.next_page_token(), "");
}

TEST_F(CliCommandsTest, OperatorIsRecordedAsTheAuditActor) {
  Ok({"site", "create", "POST-7", "--name", "Post 7"});
  std::string out = Ok({"audit", "list", "--actor", "qm-test", "--object", "POST-7"});
  EXPECT_THAT(out, AllOf(HasSubstr("site.create"), HasSubstr("qm-test"), HasSubstr("POST-7")));
}

TEST_F(CliCommandsTest, AuditVerifyReportsAnIntactChain) {
  StockOneCamera();
  std::string out = Ok({"audit", "verify"});
  EXPECT_THAT(out, HasSubstr("audit chain intact: 4 events, head 4 "));
}

TEST_F(CliCommandsTest, AuditVerifyExitsThreeOnABrokenChain) {
  StockOneCamera();
  // Someone with the file drops the guard trigger and rewrites who did it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("fleet.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  int rc = sqlite3_exec(db,
                        "DROP TRIGGER audit_events_no_update;"
                        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2;",
                        nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);

  Result r = Run({"audit", "verify"});
  EXPECT_EQ(r.code, 3) << r;
  EXPECT_THAT(r.out, HasSubstr("audit chain BROKEN at event 2: ")) << r;
}

}  // namespace
}  // namespace camfleet::cli
