// The web page over real HTTPS against the real camfleetd (mutual TLS for the API, the server's
// certificate for the page): sign-in links, sessions, the role table and CSRF on every write,
// and hostile text shown as text. Every refusal is checked in the database too: nothing changed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "provisioning/certificate.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/key.h"
#include "services/server/server_certificate.h"
#include "services/storage/fleet_repository.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "common/status_macros.h"
#include "tests/web/web_fleet.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using provisioning::Role;

constexpr char kSerial[] = "BWC4-000001";

class WebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<WebFleet>> fleet = WebFleet::Start(&clock_);
    ASSERT_THAT(fleet, IsOk());
    fleet_ = *std::move(fleet);
    ASSERT_THAT(fleet_->Site("POST-7"), IsOk());
    ASSERT_THAT(fleet_->Holder("B-1001", "Amira Haddad", "POST-7"), IsOk());
    ASSERT_THAT(fleet_->AvailableCamera(kSerial, "POST-7"), IsOk());
    absl::StatusOr<ClientCredentials> qm = fleet_->Operator("qm-okafor", Role::kQuartermaster);
    ASSERT_THAT(qm, IsOk());
    qm_ = *qm;
    absl::StatusOr<ClientCredentials> auditor = fleet_->Operator("aud-lee", Role::kAuditor);
    ASSERT_THAT(auditor, IsOk());
    auditor_ = *auditor;
  }

  // Signs `who` in through a fresh link; returns the session cookie's value.
  std::string SignIn(const ClientCredentials& who) {
    absl::StatusOr<std::string> link = fleet_->SignInLink(who);
    EXPECT_THAT(link, IsOk());
    if (!link.ok()) return "";
    httplib::Result r = Redeem(TokenOf(*link));
    EXPECT_TRUE(r && r->status == 303) << (r ? r->body : "no answer");
    return SessionCookieOf(r);
  }
  httplib::Result Redeem(const std::string& token) {
    return fleet_->Client()->Post("/sign-in", {{"Origin", fleet_->origin()}},
                                  httplib::Params{{"token", token}});
  }
  httplib::Result Get(const std::string& cookie, const std::string& path) {
    return fleet_->Client()->Get(path.c_str(), {{"Cookie", "camfleet_session=" + cookie}});
  }
  httplib::Result Post(const std::string& cookie, const std::string& path,
                       const httplib::Params& form, const std::string& origin = "") {
    httplib::Headers headers = {{"Cookie", "camfleet_session=" + cookie},
                                {"Origin", origin.empty() ? fleet_->origin() : origin}};
    return fleet_->Client()->Post(path.c_str(), headers, form);
  }
  // The CSRF token of the session behind `cookie`, read from a page as the browser sees it.
  std::string Csrf(const std::string& cookie) {
    httplib::Result page = Get(cookie, "/fleet");
    EXPECT_TRUE(page && page->status == 200);
    return page ? CsrfOf(page->body) : "";
  }
  int64_t Count(const std::string& sql) {
    absl::StatusOr<int64_t> n = QueryInt(fleet_->db_path(), sql);
    EXPECT_THAT(n, IsOk());
    return n.ok() ? *n : -1;
  }
  int64_t AuditEvents() { return Count("SELECT COUNT(*) FROM audit_events"); }
  // `n` FAULTY cameras DEPOT-000001... at a new site DEPOT-1, each with `note`, written in one
  // transaction through the store's repositories (the API would take minutes under ASan for
  // thousands; the fleet path has its own suites). Only the reports read them.
  absl::Status FaultyCameras(int n, const std::string& note) {
    RETURN_IF_ERROR(fleet_->Site("DEPOT-1"));
    return fleet_->server().server().store().WriteAndWait(
        [&](storage::WriteTx& tx) -> absl::Status {
          ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(tx.db(), "DEPOT-1"));
          for (int i = 1; i <= n; ++i) {
            v1::Camera camera;
            camera.set_serial(absl::StrFormat("DEPOT-%06d", i));
            camera.set_model("Patrol-BWC-4");
            camera.set_hardware_revision("B");
            camera.set_state(v1::CAMERA_STATE_FAULTY);
            ASSIGN_OR_RETURN(storage::CameraRow row, storage::InsertCamera(tx, camera, site.id));
            RETURN_IF_ERROR(
                storage::UpdateCameraState(tx, row.id, v1::CAMERA_STATE_FAULTY, note));
          }
          return absl::OkStatus();
        });
  }
  bool CameraIs(const std::string& state) {
    return Count(absl::StrCat("SELECT COUNT(*) FROM cameras WHERE serial = '", kSerial,
                              "' AND state = '", state, "'")) == 1;
  }

  common::FakeClock clock_{absl::Now()};
  std::unique_ptr<WebFleet> fleet_;
  ClientCredentials qm_;
  ClientCredentials auditor_;
};

TEST_F(WebTest, SignInLinkBecomesAStrictHttpOnlySecureCookie) {
  absl::StatusOr<std::string> link = fleet_->SignInLink(qm_);
  ASSERT_THAT(link, IsOk());
  EXPECT_THAT(*link, HasSubstr(absl::StrCat("https://127.0.0.1:",
                                            fleet_->server().server().web_port(),
                                            "/sign-in?token=")));
  EXPECT_EQ(TokenOf(*link).size(), 43u);  // 256 random bits, base64url without padding
  httplib::Result r = Redeem(TokenOf(*link));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  std::string attributes;
  const std::string cookie = SessionCookieOf(r, &attributes);
  EXPECT_FALSE(cookie.empty());
  EXPECT_THAT(attributes, HasSubstr("HttpOnly"));
  EXPECT_THAT(attributes, HasSubstr("Secure"));
  EXPECT_THAT(attributes, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(attributes, HasSubstr("Max-Age=28800"));
  httplib::Result page = Get(cookie, "/fleet");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("qm-okafor (quartermaster)"));
  EXPECT_THAT(page->body, HasSubstr(kSerial));
}

TEST_F(WebTest, UsedLinkRefused) {
  absl::StatusOr<std::string> link = fleet_->SignInLink(qm_);
  ASSERT_THAT(link, IsOk());
  ASSERT_EQ(Redeem(TokenOf(*link))->status, 303);
  httplib::Result again = Redeem(TokenOf(*link));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  EXPECT_THAT(again->body, HasSubstr("used already"));
  EXPECT_EQ(SessionCookieOf(again), "");
}

TEST_F(WebTest, UnknownLinkRefused) {
  httplib::Result r = Redeem("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("not known"));
  EXPECT_EQ(SessionCookieOf(r), "");
  EXPECT_EQ(Redeem("")->status, 401);
}

TEST_F(WebTest, ForgedLinkRefusedAndTheRealOneStillWorks) {
  absl::StatusOr<std::string> link = fleet_->SignInLink(qm_);
  ASSERT_THAT(link, IsOk());
  std::string forged = TokenOf(*link);
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  httplib::Result r = Redeem(forged);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(SessionCookieOf(r), "");
  EXPECT_EQ(Redeem(TokenOf(*link))->status, 303);
}

TEST_F(WebTest, ExpiredLinkRefused) {
  absl::StatusOr<std::string> link = fleet_->SignInLink(qm_);
  ASSERT_THAT(link, IsOk());
  clock_.Advance(absl::Minutes(5) + absl::Seconds(1));
  httplib::Result r = Redeem(TokenOf(*link));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("expired"));
  EXPECT_EQ(SessionCookieOf(r), "");
}

TEST_F(WebTest, SignInFromAnotherSiteRefused) {
  absl::StatusOr<std::string> link = fleet_->SignInLink(qm_);
  ASSERT_THAT(link, IsOk());
  httplib::Result r = fleet_->Client()->Post("/sign-in", {{"Origin", "https://evil.example"}},
                                             httplib::Params{{"token", TokenOf(*link)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(Redeem(TokenOf(*link))->status, 303);  // not used up by the refused attempt
}

TEST_F(WebTest, SessionExpires) {
  const std::string cookie = SignIn(qm_);
  clock_.Advance(absl::Hours(8) + absl::Seconds(1));
  httplib::Result r = Get(cookie, "/fleet");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("expired"));
}

TEST_F(WebTest, NoCookieNoPage) {
  httplib::Result r = fleet_->Client()->Get("/cameras/BWC4-000001");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, Not(HasSubstr("Amira")));
  EXPECT_EQ(Get("forged-session-id", "/fleet")->status, 401);
}

TEST_F(WebTest, RevokedOperatorsCookieRefusedAtOnce) {
  const std::string cookie = SignIn(qm_);
  const std::string csrf = Csrf(cookie);
  ASSERT_FALSE(csrf.empty());
  ASSERT_THAT(fleet_->RevokeOperator("qm-okafor"), IsOk());
  const int64_t events = AuditEvents();
  httplib::Result page = Get(cookie, "/fleet");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 401);
  EXPECT_THAT(page->body, HasSubstr("revoked"));
  httplib::Result write = Post(cookie, absl::StrCat("/cameras/", kSerial, "/issue"),
                               {{"csrf", csrf}, {"badge", "B-1001"}});
  ASSERT_TRUE(write);
  EXPECT_EQ(write->status, 401);
  EXPECT_TRUE(CameraIs("AVAILABLE"));
  EXPECT_EQ(AuditEvents(), events);
}

TEST_F(WebTest, RevokedOperatorCannotRedeemALinkAskedForBefore) {
  absl::StatusOr<std::string> link = fleet_->SignInLink(qm_);
  ASSERT_THAT(link, IsOk());
  ASSERT_THAT(fleet_->RevokeOperator("qm-okafor"), IsOk());
  httplib::Result r = Redeem(TokenOf(*link));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(SessionCookieOf(r), "");
}

TEST_F(WebTest, AuditorSeesNoWriteButtonsAndAWriteIsRefused) {
  const std::string cookie = SignIn(auditor_);
  httplib::Result page = Get(cookie, absl::StrCat("/cameras/", kSerial));
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_THAT(page->body, Not(HasSubstr("/issue\"")));
  EXPECT_THAT(page->body, Not(HasSubstr("/lost\"")));
  EXPECT_THAT(page->body, Not(HasSubstr("id=\"issue-form\"")));
  const std::string csrf = CsrfOf(page->body);  // the sign-out form's
  ASSERT_FALSE(csrf.empty());
  const int64_t events = AuditEvents();
  httplib::Result issue = Post(cookie, absl::StrCat("/cameras/", kSerial, "/issue"),
                               {{"csrf", csrf}, {"badge", "B-1001"}, {"note", "x"}});
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->status, 403);
  EXPECT_THAT(issue->body, HasSubstr("IssueCamera needs role admin or quartermaster"));
  httplib::Result lost =
      Post(cookie, absl::StrCat("/cameras/", kSerial, "/lost"), {{"csrf", csrf}, {"note", "x"}});
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->status, 403);
  EXPECT_TRUE(CameraIs("AVAILABLE"));
  EXPECT_EQ(AuditEvents(), events);
}

TEST_F(WebTest, WriteWithoutCsrfTokenRefused) {
  const std::string cookie = SignIn(qm_);
  const int64_t events = AuditEvents();
  const std::string path = absl::StrCat("/cameras/", kSerial, "/issue");
  httplib::Result none = Post(cookie, path, {{"badge", "B-1001"}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  EXPECT_THAT(none->body, HasSubstr("CSRF"));
  httplib::Result wrong = Post(cookie, path, {{"csrf", "not-the-token"}, {"badge", "B-1001"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  // Another session's token does not do either.
  const std::string other = Csrf(SignIn(qm_));
  httplib::Result borrowed = Post(cookie, path, {{"csrf", other}, {"badge", "B-1001"}});
  ASSERT_TRUE(borrowed);
  EXPECT_EQ(borrowed->status, 403);
  EXPECT_TRUE(CameraIs("AVAILABLE"));
  EXPECT_EQ(AuditEvents(), events);
}

TEST_F(WebTest, WriteFromAnotherOriginRefused) {
  const std::string cookie = SignIn(qm_);
  const std::string csrf = Csrf(cookie);
  const int64_t events = AuditEvents();
  httplib::Result r = Post(cookie, absl::StrCat("/cameras/", kSerial, "/issue"),
                           {{"csrf", csrf}, {"badge", "B-1001"}}, "https://evil.example");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(CameraIs("AVAILABLE"));
  EXPECT_EQ(AuditEvents(), events);
}

TEST_F(WebTest, QuartermasterIssuesAndReturnsWithTheOperatorAsActor) {
  const std::string cookie = SignIn(qm_);
  const std::string csrf = Csrf(cookie);
  httplib::Result issue =
      Post(cookie, absl::StrCat("/cameras/", kSerial, "/issue"),
           {{"csrf", csrf}, {"badge", "b-1001"}, {"due_hours", "12"}, {"note", "shift A"}});
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->status, 303) << issue->body;
  EXPECT_EQ(issue->get_header_value("Location"), absl::StrCat("/cameras/", kSerial));
  EXPECT_TRUE(CameraIs("ISSUED"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_events WHERE action = 'camera.issue' AND "
                  "actor = 'qm-okafor'"),
            1);
  httplib::Result page = Get(cookie, absl::StrCat("/cameras/", kSerial));
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("Amira Haddad (B-1001)"));
  EXPECT_THAT(page->body, HasSubstr("id=\"return-form\""));
  httplib::Result ret = Post(cookie, absl::StrCat("/cameras/", kSerial, "/return"),
                             {{"csrf", csrf}, {"condition", "good"}});
  ASSERT_TRUE(ret);
  EXPECT_EQ(ret->status, 303) << ret->body;
  EXPECT_TRUE(CameraIs("AVAILABLE"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_events WHERE action = 'camera.return' AND "
                  "actor = 'qm-okafor'"),
            1);
}

TEST_F(WebTest, RefusedTransitionShowsTheServersReasonAndChangesNothing) {
  const std::string cookie = SignIn(qm_);
  const int64_t events = AuditEvents();
  httplib::Result r = Post(cookie, absl::StrCat("/cameras/", kSerial, "/return"),
                           {{"csrf", Csrf(cookie)}, {"condition", "good"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_THAT(r->body, HasSubstr("AVAILABLE"));
  EXPECT_EQ(AuditEvents(), events);
}

TEST_F(WebTest, HostileTextIsShownEscapedOnEveryPage) {
  const std::string script = "<script>alert(1)</script>";
  const std::string img = "<img src=x onerror=alert(2)>";
  ASSERT_THAT(fleet_->Holder("B-666", script + " O'Neil \"x\"", "POST-7"), IsOk());
  const std::string cookie = SignIn(qm_);
  const std::string csrf = Csrf(cookie);
  ASSERT_EQ(Post(cookie, absl::StrCat("/cameras/", kSerial, "/issue"),
                 {{"csrf", csrf}, {"badge", "B-666"}, {"due_hours", "8"}, {"note", img}})
                ->status,
            303);
  ASSERT_EQ(Post(cookie, absl::StrCat("/cameras/", kSerial, "/lost"),
                 {{"csrf", csrf}, {"note", script}})
                ->status,
            303);
  for (const std::string& path :
       {absl::StrCat("/cameras/", kSerial), absl::StrCat("/cameras/", kSerial, "/handover"),
        std::string("/fleet?model=") + "%3Cscript%3E", std::string("/alerts"),
        std::string("/docks")}) {
    SCOPED_TRACE(path);
    httplib::Result page = Get(cookie, path);
    ASSERT_TRUE(page);
    EXPECT_THAT(page->body, Not(HasSubstr("<script>alert")));
    EXPECT_THAT(page->body, Not(HasSubstr("<img src=x")));
    EXPECT_THAT(page->body, Not(HasSubstr("<script>\"")));
  }
  httplib::Result page = Get(cookie, absl::StrCat("/cameras/", kSerial));
  EXPECT_THAT(page->body, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Neil &quot;x&quot;"));
  EXPECT_THAT(page->body, HasSubstr("&lt;img src=x onerror=alert(2)&gt;"));
  // The only scripts a page loads are camfleetd's own, and the policy says so.
  EXPECT_THAT(page->get_header_value("Content-Security-Policy"), HasSubstr("script-src 'self'"));
}

TEST_F(WebTest, AssetsAreServedByCamfleetdItself) {
  httplib::Result css = fleet_->Client()->Get("/assets/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_THAT(css->body, HasSubstr("@media print"));
  const std::string cookie = SignIn(qm_);
  httplib::Result page = Get(cookie, "/fleet");
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, Not(HasSubstr("http://")));
  EXPECT_THAT(page->body, Not(HasSubstr("https://")));
}

TEST_F(WebTest, FleetTableFiltersAsTheCli) {
  ASSERT_THAT(fleet_->AvailableCamera("BWC2-000001", "POST-7", "Patrol_BWC-2"), IsOk());
  const std::string cookie = SignIn(auditor_);
  httplib::Result page = Get(cookie, "/fleet?model=Patrol%5FBWC-2");
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("BWC2-000001"));
  EXPECT_THAT(page->body, Not(HasSubstr(kSerial)));
  httplib::Result bad = Get(cookie, "/fleet?state=misplaced");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("state &#39;MISPLACED&#39; is unknown"));
  httplib::Result unknown_site = Get(cookie, "/fleet?site=NOWHERE");
  ASSERT_TRUE(unknown_site);
  EXPECT_EQ(unknown_site->status, 404);
}

// ---- reports ---------------------------------------------------------------------------

TEST_F(WebTest, AuditorReadsEveryReportWithHostileTextEscaped) {
  const std::string script = "<script>alert(1)</script>";
  ASSERT_THAT(fleet_->Holder("B-666", script + " O'Neil", "POST-7"), IsOk());
  ASSERT_THAT(fleet_->Issue(kSerial, "B-666", absl::Hours(8), "<img src=x onerror=alert(2)>"),
              IsOk());
  ASSERT_THAT(fleet_->Lost(kSerial, script), IsOk());
  const std::string cookie = SignIn(auditor_);
  httplib::Result index = Get(cookie, "/reports");
  ASSERT_TRUE(index);
  ASSERT_EQ(index->status, 200) << index->body;
  for (const char* name : {"lost", "overdue", "worn-battery", "not-seen", "faulty",
                           "failed-updates", "fleet-summary"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(index->body, HasSubstr(absl::StrCat("href=\"/reports/", name, "\"")));
    EXPECT_THAT(index->body, HasSubstr(absl::StrCat("href=\"/reports/", name, ".csv\"")));
    httplib::Result page = Get(cookie, absl::StrCat("/reports/", name));
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200) << page->body;
    EXPECT_THAT(page->body, HasSubstr("id=\"report\""));
    EXPECT_THAT(page->body, Not(HasSubstr("<script>alert")));
    EXPECT_THAT(page->body, Not(HasSubstr("<img src=x")));
  }
  httplib::Result lost = Get(cookie, "/reports/lost");
  ASSERT_TRUE(lost);
  EXPECT_THAT(lost->body, HasSubstr(absl::StrCat("<a href=\"/cameras/", kSerial, "\">")));
  EXPECT_THAT(lost->body, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Neil"));
  EXPECT_THAT(lost->body, HasSubstr("B-666"));
  httplib::Result summary = Get(cookie, "/reports/fleet-summary?site=post-7");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->status, 200);
  EXPECT_THAT(summary->body, HasSubstr("<td>POST-7</td>"));
  // The quartermaster reads them too; the report download needs a session like any page.
  EXPECT_EQ(Get(SignIn(qm_), "/reports/overdue")->status, 200);
  httplib::Result anonymous = fleet_->Client()->Get("/reports/lost.csv");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_THAT(anonymous->body, Not(HasSubstr(kSerial)));
}

TEST_F(WebTest, ReportFiltersAreCheckedAsTheGrpcCallChecksThem) {
  const std::string cookie = SignIn(auditor_);
  struct Case {
    std::string path;
    int status;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"/reports/worn-battery?below_health=lots", 400, "battery health below must be a "
                                                            "whole number"},
           {"/reports/worn-battery?below_health=200", 400, "battery_health_below_percent"},
           {"/reports/not-seen?days=99999", 400, "not_seen_days"},
           {"/reports/lost?days=3", 400, "not_seen_days"},
           {"/reports/lost?site=NOWHERE", 404, "NOWHERE"},
           {"/reports/lost.csv?site=NOWHERE", 404, "NOWHERE"},
           {"/reports/misplaced", 404, "no report &#39;misplaced&#39;"},
           {"/reports/misplaced.csv", 404, "no report"},
       }) {
    SCOPED_TRACE(c.path);
    httplib::Result r = Get(cookie, c.path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status);
    EXPECT_THAT(r->body, HasSubstr(c.says));
    EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "");
  }
  // The thresholds that apply are shown in the form and work.
  httplib::Result worn = Get(cookie, "/reports/worn-battery?below_health=90&cycles_above=100");
  ASSERT_TRUE(worn);
  EXPECT_EQ(worn->status, 200) << worn->body;
  EXPECT_THAT(worn->body, HasSubstr("name=\"below_health\""));
  EXPECT_THAT(worn->body, HasSubstr("value=\"90\""));
  EXPECT_THAT(worn->body, HasSubstr("href=\"/reports/worn-battery.csv?below_health=90&amp;"
                                    "cycles_above=100\""));
}

TEST_F(WebTest, ReportPagesThroughWithTheSameFilters) {
  ASSERT_THAT(FaultyCameras(250, "dropped"), IsOk());
  const std::string cookie = SignIn(qm_);
  std::string path = "/reports/faulty?site=depot-1";
  std::set<std::string> serials;
  int pages = 0;
  while (!path.empty()) {
    ASSERT_LT(++pages, 10);
    httplib::Result page = Get(cookie, path);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->status, 200) << page->body;
    for (absl::string_view part : absl::StrSplit(page->body, "<a href=\"/cameras/")) {
      if (absl::StartsWith(part, "DEPOT-")) serials.insert(std::string(part.substr(0, 12)));
    }
    const std::string kNext = "<a id=\"next-page\" href=\"";
    const size_t at = page->body.find(kNext);
    path.clear();
    if (at != std::string::npos) {
      const size_t start = at + kNext.size();
      path = absl::StrReplaceAll(page->body.substr(start, page->body.find('"', start) - start),
                                 {{"&amp;", "&"}});
      EXPECT_THAT(path, HasSubstr("site=DEPOT-1&"));
    }
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(serials, SizeIs(250));
}

TEST_F(WebTest, ReportCsvStreamsEveryRowChunkedWithFormulasDefused) {
  // 2,500 rows: three pages of the ReportService, written one after the other.
  constexpr int kRows = 2500;
  const std::string note = "=HYPERLINK(\"http://evil.example\",\"x\"), then <b>";
  ASSERT_THAT(FaultyCameras(kRows, note), IsOk());
  const std::string cookie = SignIn(auditor_);
  httplib::Result csv = fleet_->Client()->Get(
      "/reports/faulty.csv?site=depot-1",
      {{"Cookie", "camfleet_session=" + cookie}, {"Accept-Encoding", "identity"}});
  ASSERT_TRUE(csv);
  ASSERT_EQ(csv->status, 200) << csv->body;
  EXPECT_EQ(csv->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(csv->has_header("Content-Length"));
  EXPECT_EQ(csv->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_THAT(csv->get_header_value("Content-Disposition"),
              HasSubstr("attachment; filename=\"camfleet-faulty-depot-1-"));
  std::vector<std::string> lines = absl::StrSplit(csv->body, "\r\n");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "");  // every line ends with CRLF
  lines.pop_back();
  ASSERT_THAT(lines, SizeIs(kRows + 1));
  EXPECT_EQ(lines[0],
            "serial,model,site,faulty_since,faulty_for_seconds,note,last_holder_badge,last_dock,"
            "last_slot,last_seen");
  std::set<std::string> serials;
  for (size_t i = 1; i < lines.size(); ++i) {
    serials.insert(lines[i].substr(0, lines[i].find(',')));
    // The note is one quoted field, its formula defused with a leading apostrophe.
    EXPECT_THAT(lines[i], HasSubstr(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\"), "
                                    "then <b>\","))
        << lines[i];
  }
  EXPECT_THAT(serials, SizeIs(kRows));
  EXPECT_EQ(*serials.begin(), "DEPOT-000001");
  EXPECT_EQ(*serials.rbegin(), absl::StrFormat("DEPOT-%06d", kRows));
}

// ---- rollouts --------------------------------------------------------------------------

class WebRolloutTest : public WebTest {
 protected:
  static constexpr char kFailing[] = "BWC5-000001";
  static constexpr char kDownloading[] = "BWC5-000002";

  void SetUp() override {
    WebTest::SetUp();
    if (HasFatalFailure()) return;
    // Release manifests name models without spaces (firmware/manifest.h).
    ASSERT_THAT(fleet_->AvailableCamera(kFailing, "POST-7", "BWC-5"), IsOk());
    ASSERT_THAT(fleet_->AvailableCamera(kDownloading, "POST-7", "BWC-5"), IsOk());
    absl::StatusOr<std::string> release = fleet_->Release("2.1.0", "BWC-5");
    ASSERT_THAT(release, IsOk());
    absl::StatusOr<v1::Rollout> rollout =
        fleet_->StartRollout(*release, "POST-7", "<script>alert('note')</script> spring update");
    ASSERT_THAT(rollout, IsOk());
    rollout_ = *rollout;
    path_ = absl::StrCat("/rollouts/", rollout_.rollout_id());
  }
  bool RolloutIs(const std::string& state) {
    return Count(absl::StrCat("SELECT COUNT(*) FROM rollouts WHERE id = ", rollout_.rollout_id(),
                              " AND state = '", state, "'")) == 1;
  }

  v1::Rollout rollout_;
  std::string path_;
};

TEST_F(WebRolloutTest, ProgressPerWaveAndSiteAndFailedCamerasWithTheirError) {
  ASSERT_THAT(fleet_->InstallProgress(rollout_, kDownloading,
                                      v1::FIRMWARE_INSTALL_STATE_DOWNLOADING, ""),
              IsOk());
  ASSERT_THAT(fleet_->InstallProgress(rollout_, kFailing, v1::FIRMWARE_INSTALL_STATE_FAILED,
                                      "<img src=x onerror=alert(3)> flash write error"),
              IsOk());
  const std::string cookie = SignIn(auditor_);
  httplib::Result list = Get(cookie, "/rollouts");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  EXPECT_THAT(list->body, HasSubstr(absl::StrCat("href=\"", path_, "\"")));
  EXPECT_THAT(list->body, HasSubstr("2.1.0"));
  httplib::Result paused = Get(cookie, "/rollouts?state=paused");
  ASSERT_TRUE(paused);
  EXPECT_THAT(paused->body, HasSubstr(absl::StrCat("href=\"", path_, "\"")));
  httplib::Result running = Get(cookie, "/rollouts?state=RUNNING");
  ASSERT_TRUE(running);
  EXPECT_THAT(running->body, Not(HasSubstr(absl::StrCat("href=\"", path_, "\""))));
  httplib::Result bad_state = Get(cookie, "/rollouts?state=stalled");
  ASSERT_TRUE(bad_state);
  EXPECT_EQ(bad_state->status, 400);
  EXPECT_THAT(bad_state->body, HasSubstr("state &#39;STALLED&#39; is unknown"));
  httplib::Result page = Get(cookie, path_);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  // The first failure pauses a rollout without a threshold; the page says so and why.
  EXPECT_THAT(page->body, HasSubstr("rollout-PAUSED"));
  EXPECT_THAT(page->body, HasSubstr("id=\"reason\""));
  // Wave 1 and site POST-7: 2 cameras, 1 downloading, 1 failed.
  for (const std::string& row : {std::string("<tr id=\"wave-1\">"),
                                 std::string("<tr id=\"site-POST-7\">")}) {
    SCOPED_TRACE(row);
    const size_t at = page->body.find(row);
    ASSERT_NE(at, std::string::npos);
    const std::string cells = page->body.substr(at, page->body.find("</tr>", at) - at);
    EXPECT_THAT(cells, HasSubstr("<td class=\"num\">2</td><td class=\"num\">0</td><td "
                                 "class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">"
                                 "0</td><td class=\"num bad\">1</td>"));
  }
  const size_t failed = page->body.find("id=\"failed\"");
  ASSERT_NE(failed, std::string::npos);
  const std::string failed_table = page->body.substr(failed);
  EXPECT_THAT(failed_table, HasSubstr(absl::StrCat("<a href=\"/cameras/", kFailing, "\">")));
  EXPECT_THAT(failed_table, HasSubstr("&lt;img src=x onerror=alert(3)&gt; flash write error"));
  EXPECT_THAT(failed_table, Not(HasSubstr(kDownloading)));
  EXPECT_THAT(page->body, HasSubstr("&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;"));
  EXPECT_THAT(page->body, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(page->body, Not(HasSubstr("<img src=x")));
  // An auditor gets no controls. The failed-updates report lists the camera too.
  EXPECT_THAT(page->body, Not(HasSubstr("form class=\"action\"")));
  httplib::Result report = Get(cookie, "/reports/failed-updates");
  ASSERT_TRUE(report);
  EXPECT_THAT(report->body, HasSubstr(absl::StrCat("href=\"", path_, "\"")));
  EXPECT_THAT(report->body, HasSubstr("&lt;img src=x onerror=alert(3)&gt; flash write error"));
  EXPECT_EQ(Get(cookie, "/rollouts/999999")->status, 404);
}

TEST_F(WebRolloutTest, AdminPausesResumesAndAbortsQuartermasterIsRefused) {
  absl::StatusOr<ClientCredentials> admin = fleet_->Operator("adm-ito", Role::kAdmin);
  ASSERT_THAT(admin, IsOk());
  const std::string qm = SignIn(qm_);
  httplib::Result qm_page = Get(qm, path_);
  ASSERT_TRUE(qm_page);
  EXPECT_THAT(qm_page->body, Not(HasSubstr("id=\"abort-form\"")));
  const int64_t events = AuditEvents();
  httplib::Result refused =
      Post(qm, path_ + "/abort", {{"csrf", CsrfOf(qm_page->body)}, {"reason", "mine"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_THAT(refused->body, HasSubstr("AbortRollout needs role admin"));
  EXPECT_TRUE(RolloutIs("RUNNING"));
  EXPECT_EQ(AuditEvents(), events);

  const std::string cookie = SignIn(*admin);
  httplib::Result page = Get(cookie, path_);
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("id=\"pause-form\""));
  EXPECT_THAT(page->body, HasSubstr("id=\"abort-form\""));
  const std::string csrf = CsrfOf(page->body);
  httplib::Result no_csrf = Post(cookie, path_ + "/pause", {{"reason", "storm"}});
  ASSERT_TRUE(no_csrf);
  EXPECT_EQ(no_csrf->status, 403);
  EXPECT_TRUE(RolloutIs("RUNNING"));
  httplib::Result pause = Post(cookie, path_ + "/pause", {{"csrf", csrf}, {"reason", "storm"}});
  ASSERT_TRUE(pause);
  EXPECT_EQ(pause->status, 303) << pause->body;
  EXPECT_EQ(pause->get_header_value("Location"), path_);
  EXPECT_TRUE(RolloutIs("PAUSED"));
  httplib::Result resume = Post(cookie, path_ + "/resume", {{"csrf", csrf}});
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->status, 303) << resume->body;
  EXPECT_TRUE(RolloutIs("RUNNING"));
  httplib::Result no_reason = Post(cookie, path_ + "/abort", {{"csrf", csrf}, {"reason", ""}});
  ASSERT_TRUE(no_reason);
  EXPECT_EQ(no_reason->status, 400);
  EXPECT_THAT(no_reason->body, HasSubstr("reason"));
  httplib::Result abort =
      Post(cookie, path_ + "/abort", {{"csrf", csrf}, {"reason", "wrong image"}});
  ASSERT_TRUE(abort);
  EXPECT_EQ(abort->status, 303) << abort->body;
  EXPECT_TRUE(RolloutIs("ABORTED"));
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE actor = 'adm-ito' AND "
                               "action IN ('rollout.pause', 'rollout.resume', 'rollout.abort') "
                               "AND object_id = '",
                               rollout_.rollout_id(), "'")),
            3);
  httplib::Result done = Get(cookie, path_);
  ASSERT_TRUE(done);
  EXPECT_THAT(done->body, HasSubstr("rollout-ABORTED"));
  EXPECT_THAT(done->body, Not(HasSubstr("id=\"abort-form\"")));
}

// ---- the certificate -------------------------------------------------------------------

TEST_F(WebTest, RenewedServerCertificateIsServedOnTheNextConnectionWithoutRestart) {
  const std::string bundle = fleet_->server().paths().ServerCredentials();
  absl::StatusOr<provisioning::CertificateInfo> first = server::ReadServerCertificate(bundle);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<std::string> served = fleet_->ServedWebCertificate();
  ASSERT_THAT(served, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> served_info =
      provisioning::ParseCertificate(*served);
  ASSERT_THAT(served_info, IsOk());
  EXPECT_EQ(served_info->serial_hex, first->serial_hex);
  const std::string cookie = SignIn(qm_);  // a session from before the renewal

  // `camfleetd renew-server-cert`, from outside the running server.
  absl::StatusOr<provisioning::IssuedCertificate> renewed =
      server::RenewServerCertificateInHome(fleet_->server().home(), clock_.Now());
  ASSERT_THAT(renewed, IsOk());
  ASSERT_NE(renewed->info.serial_hex, first->serial_hex);
  // No reload interval: the very next handshake gets the new one.
  served = fleet_->ServedWebCertificate();
  ASSERT_THAT(served, IsOk());
  served_info = provisioning::ParseCertificate(*served);
  ASSERT_THAT(served_info, IsOk());
  EXPECT_EQ(served_info->serial_hex, renewed->info.serial_hex);
  // A browser that trusts the fleet CA goes on without a hitch, session and all.
  httplib::Result page = Get(cookie, "/fleet");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr(kSerial));
}

TEST_F(WebTest, UnusableRenewedBundleKeepsTheOldCertificateServed) {
  const std::string bundle = fleet_->server().paths().ServerCredentials();
  absl::StatusOr<provisioning::CertificateInfo> first = server::ReadServerCertificate(bundle);
  ASSERT_THAT(first, IsOk());
  // A hand-made mistake: the bundle's current version swapped for one whose key is not the
  // certificate's (another key of the right form).
  absl::StatusOr<provisioning::PrivateKey> stranger = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(stranger, IsOk());
  absl::StatusOr<provisioning::CredentialBundle> current =
      provisioning::LoadCredentialBundle(bundle);
  ASSERT_THAT(current, IsOk());
  ASSERT_THAT(provisioning::ReplaceCredentialBundle(bundle, *stranger, current->cert_pem,
                                                    current->ca_pem),
              IsOk());
  absl::StatusOr<std::string> served = fleet_->ServedWebCertificate();
  ASSERT_THAT(served, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> served_info =
      provisioning::ParseCertificate(*served);
  ASSERT_THAT(served_info, IsOk());
  EXPECT_EQ(served_info->serial_hex, first->serial_hex);
  // The browser's handshake still checks out: the old pair, key and all, is what is served.
  EXPECT_EQ(fleet_->Client()->Get("/assets/style.css")->status, 200);
}

TEST_F(WebTest, DockCannotAskForASignInLink) {
  ASSERT_THAT(fleet_->server().CreateSite("POST-9"), IsOk());
  absl::StatusOr<EnrolledDock> dock = fleet_->server().EnrollDock("POST-9", "dock-post9-a");
  ASSERT_THAT(dock, IsOk());
  EXPECT_THAT(fleet_->SignInLink(dock->credentials),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

}  // namespace
}  // namespace camfleet::testing
