// Reports and stock checks over the real API: camfleetd made by InitHome and served over mutual
// TLS on 127.0.0.1:0 (TlsTestServer) with a clock the test moves, a dock enrolled through the
// API streaming health readings on its own Sync stream (tests/dock/sync_client.h) as the agent
// does, and the `camfleet` command lines run in-process with operator bundles that
// `camfleet operator add` made. Real SQLite, real TLS, no mocks.
//
// The fleet: REGION with POST-A and POST-B under it, and OTHER beside it.
//   CAMA-0001  issued to B100, due an hour after the start: overdue once the clock moves 2h
//   CAMA-0002  docked in slot 4, then issued to B101 and reported lost (it stays with B101)
//   CAMA-0003  faulty since the start
//   CAMA-0004  battery health 66 %            (worn by health)
//   CAMA-0005  battery health 96 %, 900 cycles (worn by cycles)
//   CAMA-0006  last seen ten days before the start, slot 3 (not seen for 7 days)
//   CAMB-0001  issued to B200, overdue like CAMA-0001
//   CAMB-0002  lost from the shelf (no holder ever)
//   CAMO-0001  available at OTHER

#include <google/protobuf/util/time_util.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/report.grpc.pb.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/dock/sync_client.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using google::protobuf::util::TimeUtil;
using provisioning::Role;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kDock[] = "post-a-dock-1";
constexpr char kEpoch[] = "0123456789abcdef0123456789abcdef";

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

using Result = ::camfleet::testing::CliResult;

// Calls one ReportService method as the holder of `channel`.
class ReportClient {
 public:
  explicit ReportClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::ReportService::NewStub(std::move(channel))) {}
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(grpc::Status (v1::ReportService::Stub::*method)(grpc::ClientContext*,
                                                                            const Req&, Resp*),
                            const Req& req) {
    std::unique_ptr<grpc::ClientContext> ctx = TlsContext();
    Resp resp;
    grpc::Status s = (stub_.get()->*method)(ctx.get(), req, &resp);
    if (!s.ok()) return common::FromGrpcStatus(s);
    return resp;
  }
  absl::StatusOr<v1::RunReportResponse> Run(v1::RunReportRequest req) {
    return Call(&v1::ReportService::Stub::RunReport, req);
  }
  absl::StatusOr<v1::RunReportResponse> Run(v1::ReportKind kind, const std::string& site = "") {
    v1::RunReportRequest req;
    req.set_report(kind);
    req.set_site_code(site);
    return Run(req);
  }
  // Every page of a report, merged.
  absl::StatusOr<v1::RunReportResponse> All(v1::RunReportRequest req, int* pages = nullptr) {
    v1::RunReportResponse merged;
    int n = 0;
    while (true) {
      absl::StatusOr<v1::RunReportResponse> page = Run(req);
      if (!page.ok()) return page.status();
      if (n++ > 0) page->clear_columns();
      std::string token = page->next_page_token();
      merged.MergeFrom(*page);
      if (token.empty()) break;
      req.set_page_token(token);
    }
    if (pages != nullptr) *pages = n;
    merged.clear_next_page_token();
    return merged;
  }

 private:
  std::unique_ptr<v1::ReportService::Stub> stub_;
};

// The cell of `column` in `row`.
std::string Cell(const v1::RunReportResponse& r, const v1::ReportRow& row,
                 const std::string& column) {
  for (int i = 0; i < r.columns_size(); ++i) {
    if (r.columns(i).name() == column) return i < row.cells_size() ? row.cells(i) : "<short row>";
  }
  return "<no column " + column + ">";
}
std::vector<std::string> Column(const v1::RunReportResponse& r, const std::string& column) {
  std::vector<std::string> out;
  for (const v1::ReportRow& row : r.rows()) out.push_back(Cell(r, row, column));
  return out;
}
std::vector<std::string> Serials(const google::protobuf::RepeatedPtrField<v1::StockUnit>& units) {
  std::vector<std::string> out;
  for (const v1::StockUnit& u : units) out.push_back(u.serial());
  return out;
}

class ReportTest : public ::testing::Test {
 protected:
  ReportTest() : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))) {}

  void SetUp() override {
    start_ = clock_.Now();
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server =
        TlsTestServer::Start({.clock = &clock_});
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(CreateSite("REGION", ""), IsOk());
    ASSERT_THAT(CreateSite("POST-A", "REGION"), IsOk());
    ASSERT_THAT(CreateSite("POST-B", "REGION"), IsOk());
    ASSERT_THAT(CreateSite("OTHER", ""), IsOk());
    for (const char* badge : {"B100", "B101"}) {
      ASSERT_THAT(admin_->CreateHolder(badge, "POST-A"), IsOk());
    }
    ASSERT_THAT(admin_->CreateHolder("B200", "POST-B"), IsOk());
    for (int i = 1; i <= 6; ++i) AddCamera(absl::StrCat("CAMA-000", i), "POST-A");
    for (int i = 1; i <= 2; ++i) AddCamera(absl::StrCat("CAMB-000", i), "POST-B");
    AddCamera("CAMO-0001", "OTHER");

    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-A", kDock);
    ASSERT_THAT(dock, IsOk());
    dock_ = dock->credentials;
    std::unique_ptr<SyncClient> sync = Connect();
    Send(*sync,
         {Health("CAMA-0002", 4, start_, 2950, 20), Health("CAMA-0004", 1, start_, 2000, 100),
          Health("CAMA-0005", 2, start_, 2900, 900),
          Health("CAMA-0006", 3, start_ - absl::Hours(24 * 10), 3000, 10)});
    ASSERT_THAT(sync->Close(), IsOk());

    ASSERT_THAT(Issue("CAMA-0001", "B100"), IsOk());
    ASSERT_THAT(Issue("CAMA-0002", "B101"), IsOk());
    ASSERT_THAT(admin_->ReportLost("CAMA-0002"), IsOk());
    v1::ReportCameraFaultyRequest faulty;
    faulty.set_serial("CAMA-0003");
    faulty.set_note("lens cracked");
    ASSERT_THAT(admin_->Fleet(&v1::FleetService::Stub::ReportCameraFaulty, faulty), IsOk());
    ASSERT_THAT(Issue("CAMB-0001", "B200"), IsOk());
    ASSERT_THAT(admin_->ReportLost("CAMB-0002"), IsOk());
    clock_.Advance(absl::Hours(2));

    absl::StatusOr<ClientCredentials> qm =
        server_->IssueOperator("qm-reports", Role::kQuartermaster);
    ASSERT_THAT(qm, IsOk());
    qm_ = std::make_unique<ReportClient>(server_->Channel(qm->bundle));
    absl::StatusOr<ClientCredentials> auditor =
        server_->IssueOperator("aud-reports", Role::kAuditor);
    ASSERT_THAT(auditor, IsOk());
    auditor_ = std::make_unique<ReportClient>(server_->Channel(auditor->bundle));
    qm_bundle_ = dir_.File("qm");
    Result r = As(server_->paths().AdminCredentials(kRootAdmin),
                  {"operator", "add", "qm-cli", "--role", "quartermaster", "--out", qm_bundle_});
    ASSERT_EQ(r.code, 0) << r;
    auditor_bundle_ = dir_.File("auditor");
    r = As(server_->paths().AdminCredentials(kRootAdmin),
           {"operator", "add", "aud-cli", "--role", "auditor", "--out", auditor_bundle_});
    ASSERT_EQ(r.code, 0) << r;
  }

  absl::Status CreateSite(const std::string& code, const std::string& parent) {
    v1::CreateSiteRequest req;
    req.set_code(code);
    req.set_name(absl::StrCat("Site ", code));
    req.set_parent_code(parent);
    return admin_->Fleet(&v1::FleetService::Stub::CreateSite, req).status();
  }
  void AddCamera(const std::string& serial, const std::string& site) {
    ASSERT_THAT(admin_->RegisterCamera(serial, site), IsOk());
    ASSERT_THAT(admin_->Commission(serial, ""), IsOk());
  }
  absl::Status Issue(const std::string& serial, const std::string& badge) {
    v1::IssueCameraRequest req;
    req.set_serial(serial);
    req.set_holder_badge(badge);
    *req.mutable_due_back_time() = At(clock_.Now() + absl::Hours(1));
    req.set_force(true);
    req.set_force_reason("no health reading yet in the test");
    return admin_->Fleet(&v1::FleetService::Stub::IssueCamera, req).status();
  }

  std::unique_ptr<SyncClient> Connect() {
    auto sync = std::make_unique<SyncClient>(server_->Channel(dock_.bundle));
    v1::SyncHello hello;
    hello.set_protocol_version(1);
    hello.set_epoch(kEpoch);
    hello.set_agent_version("0.9.1-test");
    *hello.mutable_dock_time() = At(clock_.Now());
    absl::StatusOr<v1::SyncWelcome> welcome = sync->Open(hello);
    EXPECT_THAT(welcome, IsOk());
    return sync;
  }
  // A reading at `when` with `full_mah` of 3000 mAh design capacity.
  v1::OutboxItem Health(const std::string& serial, uint32_t slot, absl::Time when,
                        uint32_t full_mah, uint32_t cycles) {
    v1::OutboxItem item;
    item.set_lane(v1::SYNC_LANE_TELEMETRY);
    item.set_sequence(++telemetry_);
    *item.mutable_record_time() = At(when);
    *item.mutable_clock_offset() = TimeUtil::MicrosecondsToDuration(0);
    v1::HealthReading* h = item.mutable_health();
    h->set_serial(serial);
    h->set_slot(slot);
    *h->mutable_device_time() = At(when);
    h->set_camera_sequence(++camera_sequence_);
    h->set_battery_percent(90);
    h->set_full_charge_capacity_mah(full_mah);
    h->set_design_capacity_mah(3000);
    h->set_cycle_count(cycles);
    h->set_temperature_decicelsius(251);
    h->set_voltage_mv(3900);
    h->set_storage_used_bytes(25);
    h->set_storage_total_bytes(100);
    h->set_firmware_version("1.4.2");
    return item;
  }
  void Send(SyncClient& sync, const std::vector<v1::OutboxItem>& items) {
    absl::StatusOr<v1::SyncAck> ack = sync.Send(items);
    ASSERT_THAT(ack, IsOk());
    EXPECT_THAT(ack->rejected(), IsEmpty());
  }

  // Runs `camfleet --server localhost:PORT --credentials <bundle> <args...>` in-process.
  Result As(const std::string& bundle, std::vector<std::string> args) {
    return testing::RunCli(
        testing::TlsCliArgs(absl::StrCat(kServerName, ":", server_->port()), bundle, 30, args),
        clock_);
  }
  Result Qm(std::vector<std::string> args) { return As(qm_bundle_, std::move(args)); }

  TempDir dir_;
  common::FakeClock clock_;
  absl::Time start_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::unique_ptr<ReportClient> qm_;
  std::unique_ptr<ReportClient> auditor_;
  std::string qm_bundle_;
  std::string auditor_bundle_;
  ClientCredentials dock_;
  uint64_t telemetry_ = 0;
  uint64_t camera_sequence_ = 0;
};

// ---------------------------------------------------------------------------- every report

TEST_F(ReportTest, LostUnitsShowLastHolderLastDockAndSlotAndLastSeen) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_LOST);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0002", "CAMB-0002"));
  const v1::ReportRow& a = r->rows(0);
  EXPECT_EQ(Cell(*r, a, "site"), "POST-A");
  EXPECT_EQ(Cell(*r, a, "last_holder_badge"), "B101");
  EXPECT_EQ(Cell(*r, a, "last_holder_name"), "Officer B101");
  EXPECT_EQ(Cell(*r, a, "last_dock"), kDock);
  EXPECT_EQ(Cell(*r, a, "last_slot"), "4");
  EXPECT_EQ(Cell(*r, a, "last_seen"),
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", start_, absl::UTCTimeZone()));
  EXPECT_EQ(Cell(*r, a, "note"), "left in a patrol car");
  // Lost from the shelf: never held, never docked.
  const v1::ReportRow& b = r->rows(1);
  EXPECT_EQ(Cell(*r, b, "last_holder_badge"), "");
  EXPECT_EQ(Cell(*r, b, "last_dock"), "");
  EXPECT_EQ(Cell(*r, b, "last_seen"), "");
}

TEST_F(ReportTest, OverdueReturnsMostOverdueFirstWithHolder) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_OVERDUE);
  ASSERT_THAT(r, IsOk());
  // A lost camera stays with its holder until found: overdue too, its state says why.
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0001", "CAMA-0002", "CAMB-0001"));
  EXPECT_THAT(Column(*r, "state"), ElementsAre("ISSUED", "LOST", "ISSUED"));
  EXPECT_THAT(Column(*r, "holder_badge"), ElementsAre("B100", "B101", "B200"));
  // Due an hour after the start, the clock two hours on: an hour overdue.
  EXPECT_THAT(Column(*r, "overdue_seconds"), ElementsAre("3600", "3600", "3600"));
}

TEST_F(ReportTest, WornBatteriesByHealthOrByCycles) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_WORN_BATTERY);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0004", "CAMA-0005"));
  EXPECT_THAT(Column(*r, "battery_health_percent"), ElementsAre("66", "96"));
  EXPECT_THAT(Column(*r, "cycle_count"), ElementsAre("100", "900"));
  EXPECT_THAT(Column(*r, "last_slot"), ElementsAre("1", "2"));

  // Thresholds move the line: health below 50 % and more than 950 cycles: nothing.
  v1::RunReportRequest req;
  req.set_report(v1::REPORT_KIND_WORN_BATTERY);
  req.set_battery_health_below_percent(50);
  req.set_cycle_count_above(950);
  r = qm_->Run(req);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->rows(), IsEmpty());
  req.set_battery_health_below_percent(99);
  req.set_cycle_count_above(50);
  r = qm_->Run(req);
  ASSERT_THAT(r, IsOk());
  // CAMA-0002 is lost but its battery is still worn by this line (98 %); CAMA-0006 (100 %,
  // 10 cycles) is not.
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0002", "CAMA-0004", "CAMA-0005"));
}

TEST_F(ReportTest, UnitsNotSeenForNDays) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_NOT_SEEN);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0006"));
  EXPECT_EQ(Cell(*r, r->rows(0), "last_dock"), kDock);
  EXPECT_EQ(Cell(*r, r->rows(0), "not_seen_seconds"), absl::StrCat(10 * 86400 + 7200));
  v1::RunReportRequest req;
  req.set_report(v1::REPORT_KIND_NOT_SEEN);
  req.set_not_seen_days(11);
  r = qm_->Run(req);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->rows(), IsEmpty());
}

TEST_F(ReportTest, FaultyUnitsAndHowLongTheyHaveBeen) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_FAULTY);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0003"));
  EXPECT_EQ(Cell(*r, r->rows(0), "faulty_for_seconds"), "7200");
  EXPECT_EQ(Cell(*r, r->rows(0), "note"), "lens cracked");
}

TEST_F(ReportTest, FleetSummaryCountsStatesBatteryHealthAndDocksPerSite) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_FLEET_SUMMARY, "region");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "site"), ElementsAre("POST-A", "POST-B", "REGION"));
  const v1::ReportRow& a = r->rows(0);
  EXPECT_EQ(Cell(*r, a, "available"), "3");  // 0004, 0005, 0006
  EXPECT_EQ(Cell(*r, a, "issued"), "1");
  EXPECT_EQ(Cell(*r, a, "lost"), "1");
  EXPECT_EQ(Cell(*r, a, "faulty"), "1");
  EXPECT_EQ(Cell(*r, a, "battery_unknown"), "2");  // 0001, 0003 never read
  EXPECT_EQ(Cell(*r, a, "battery_below_60"), "0");
  EXPECT_EQ(Cell(*r, a, "battery_60_to_79"), "1");  // 0004 at 66 %
  EXPECT_EQ(Cell(*r, a, "battery_80_up"), "3");     // 0002, 0005, 0006
  EXPECT_EQ(Cell(*r, a, "docks"), "1");
  // The dock last spoke two hours ago (the clock moved): not online.
  EXPECT_EQ(Cell(*r, a, "docks_online"), "0");
  EXPECT_EQ(Cell(*r, r->rows(1), "lost"), "1");
  EXPECT_EQ(Cell(*r, r->rows(2), "available"), "0");
}

// ---------------------------------------------------------------- site subtree and paging

TEST_F(ReportTest, SiteFilterTakesTheSiteAndEverythingUnderIt) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_LOST, "POST-A");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0002"));
  r = qm_->Run(v1::REPORT_KIND_LOST, "REGION");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0002", "CAMB-0002"));
  r = qm_->Run(v1::REPORT_KIND_OVERDUE, "POST-B");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMB-0001"));
  r = qm_->Run(v1::REPORT_KIND_LOST, "OTHER");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->rows(), IsEmpty());
  EXPECT_THAT(r->columns(), SizeIs(10));
}

TEST_F(ReportTest, SiteCodesAreTakenInAnyCase) {
  absl::StatusOr<v1::RunReportResponse> r = qm_->Run(v1::REPORT_KIND_LOST, "Post-a");
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Column(*r, "serial"), ElementsAre("CAMA-0002"));
}

TEST_F(ReportTest, EveryReportPagesWithoutLosingOrRepeatingRows) {
  for (v1::ReportKind kind : {v1::REPORT_KIND_LOST, v1::REPORT_KIND_OVERDUE,
                              v1::REPORT_KIND_WORN_BATTERY, v1::REPORT_KIND_FLEET_SUMMARY}) {
    v1::RunReportRequest req;
    req.set_report(kind);
    absl::StatusOr<v1::RunReportResponse> whole = qm_->Run(req);
    ASSERT_THAT(whole, IsOk());
    req.set_page_size(1);
    int pages = 0;
    absl::StatusOr<v1::RunReportResponse> paged = qm_->All(req, &pages);
    ASSERT_THAT(paged, IsOk());
    EXPECT_EQ(pages, whole->rows_size()) << v1::ReportKind_Name(kind);
    EXPECT_EQ(Column(*paged, "serial"), Column(*whole, "serial")) << v1::ReportKind_Name(kind);
    EXPECT_EQ(Column(*paged, "site"), Column(*whole, "site")) << v1::ReportKind_Name(kind);
  }
}

TEST_F(ReportTest, APageTokenWorksOnlyWithItsOwnReportAndFilters) {
  v1::RunReportRequest req;
  req.set_report(v1::REPORT_KIND_LOST);
  req.set_page_size(1);
  absl::StatusOr<v1::RunReportResponse> first = qm_->Run(req);
  ASSERT_THAT(first, IsOk());
  ASSERT_FALSE(first->next_page_token().empty());
  req.set_page_token(first->next_page_token());
  req.set_site_code("POST-B");
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  req.set_site_code("");
  req.set_report(v1::REPORT_KIND_FAULTY);
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
}

// ------------------------------------------------------------------------------ bad input

TEST_F(ReportTest, BadReportRequestsNameTheField) {
  v1::RunReportRequest req;
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument,
                                      AllOf(HasSubstr("report is required"), HasSubstr("LOST"))));
  req.set_report(static_cast<v1::ReportKind>(42));
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("report 42")));
  req.set_report(v1::REPORT_KIND_LOST);
  req.set_not_seen_days(3);
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument,
                                      AllOf(HasSubstr("not_seen_days"), HasSubstr("NOT_SEEN"))));
  req.set_not_seen_days(0);
  req.set_cycle_count_above(10);
  EXPECT_THAT(qm_->Run(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cycle_count_above")));
  req.set_report(v1::REPORT_KIND_WORN_BATTERY);
  req.set_battery_health_below_percent(101);
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("battery_health_below_percent is 101")));
  req.set_battery_health_below_percent(0);
  req.set_report(v1::REPORT_KIND_NOT_SEEN);
  req.set_cycle_count_above(0);
  req.set_not_seen_days(5000);
  EXPECT_THAT(qm_->Run(req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not_seen_days is 5000")));
  req.set_not_seen_days(0);
  req.set_page_size(-1);
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  req.set_page_size(0);
  req.set_page_token("not-a-token");
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  req.set_page_token("");
  req.set_site_code("POST A");
  EXPECT_THAT(qm_->Run(req), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("site_code")));
}

TEST_F(ReportTest, UnknownSiteIsNotFound) {
  EXPECT_THAT(qm_->Run(v1::REPORT_KIND_LOST, "NOWHERE"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'NOWHERE'")));
  v1::CheckStockRequest check;
  check.set_site_code("NOWHERE");
  EXPECT_THAT(qm_->Call(&v1::ReportService::Stub::CheckStock, check),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'NOWHERE'")));
  v1::ListStockChecksDueRequest due;
  due.set_site_code("NOWHERE");
  EXPECT_THAT(qm_->Call(&v1::ReportService::Stub::ListStockChecksDue, due),
              StatusIs(absl::StatusCode::kNotFound));
}

// ------------------------------------------------------------------------------------ roles

TEST_F(ReportTest, AnAuditorReadsReportsAndStockButRecordsNothing) {
  EXPECT_THAT(auditor_->Run(v1::REPORT_KIND_LOST), IsOk());
  EXPECT_THAT(auditor_->Run(v1::REPORT_KIND_FLEET_SUMMARY), IsOk());
  v1::CheckStockRequest check;
  check.set_site_code("POST-A");
  EXPECT_THAT(auditor_->Call(&v1::ReportService::Stub::CheckStock, check), IsOk());
  EXPECT_THAT(
      auditor_->Call(&v1::ReportService::Stub::ListStockChecksDue, v1::ListStockChecksDueRequest()),
      IsOk());
  v1::RecordStockCheckRequest record;
  record.set_site_code("POST-A");
  EXPECT_THAT(auditor_->Call(&v1::ReportService::Stub::RecordStockCheck, record),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("quartermaster")));
  v1::SetStockCheckIntervalRequest interval;
  interval.set_site_code("POST-A");
  interval.set_interval_days(7);
  EXPECT_THAT(auditor_->Call(&v1::ReportService::Stub::SetStockCheckInterval, interval),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// ------------------------------------------------------------------------------ stock check

TEST_F(ReportTest, StockCheckNamesMissingUnitsWithLastHolderAndLastDock) {
  v1::CheckStockRequest req;
  req.set_site_code("post-a");
  absl::StatusOr<v1::CheckStockResponse> r = qm_->Call(&v1::ReportService::Stub::CheckStock, req);
  ASSERT_THAT(r, IsOk());
  const v1::StockCheck& c = r->check();
  EXPECT_EQ(c.site_code(), "POST-A");
  EXPECT_EQ(c.hours(), 24u);
  // CAMA-0002 is lost: no longer expected on the shelf.
  EXPECT_THAT(Serials(c.expected()),
              ElementsAre("CAMA-0001", "CAMA-0003", "CAMA-0004", "CAMA-0005", "CAMA-0006"));
  EXPECT_THAT(Serials(c.seen()), ElementsAre("CAMA-0004", "CAMA-0005"));
  ASSERT_THAT(Serials(c.issued()), ElementsAre("CAMA-0001"));
  EXPECT_EQ(c.issued(0).holder_badge(), "B100");
  EXPECT_EQ(c.issued(0).holder_name(), "Officer B100");
  ASSERT_THAT(Serials(c.missing()), ElementsAre("CAMA-0003", "CAMA-0006"));
  EXPECT_EQ(c.missing(1).last_dock_id(), kDock);
  EXPECT_EQ(c.missing(1).last_slot(), 3u);
  EXPECT_TRUE(c.missing(1).has_last_seen_time());
  EXPECT_EQ(c.missing(0).state(), v1::CAMERA_STATE_FAULTY);

  // A window of 11 days takes in CAMA-0006, docked ten days ago.
  req.set_hours(24 * 11);
  r = qm_->Call(&v1::ReportService::Stub::CheckStock, req);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(Serials(r->check().missing()), ElementsAre("CAMA-0003"));

  req.set_hours(3000);
  EXPECT_THAT(qm_->Call(&v1::ReportService::Stub::CheckStock, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hours is 3000")));
}

TEST_F(ReportTest, ARecordedStockCheckIsAuditedAndMovesTheDueDate) {
  v1::ListStockChecksDueRequest due_req;
  due_req.set_site_code("REGION");
  absl::StatusOr<v1::ListStockChecksDueResponse> due =
      qm_->Call(&v1::ReportService::Stub::ListStockChecksDue, due_req);
  ASSERT_THAT(due, IsOk());
  ASSERT_THAT(due->due(), SizeIs(3));
  for (const v1::StockCheckDue& d : due->due()) {
    EXPECT_FALSE(d.has_last_check_time()) << d.site_code();
    EXPECT_EQ(d.interval_days(), 30u);
  }

  v1::RecordStockCheckRequest req;
  req.set_site_code("POST-A");
  req.set_note("counted by Sgt. Asanov");
  absl::StatusOr<v1::RecordStockCheckResponse> rec =
      qm_->Call(&v1::ReportService::Stub::RecordStockCheck, req);
  ASSERT_THAT(rec, IsOk());
  EXPECT_EQ(rec->record().checked_by(), "qm-reports");
  EXPECT_EQ(rec->record().expected_count(), 5);
  EXPECT_EQ(rec->record().seen_count(), 2);
  EXPECT_EQ(rec->record().issued_count(), 1);
  EXPECT_EQ(rec->record().missing_count(), 2);
  EXPECT_THAT(rec->record().missing_serials(), ElementsAre("CAMA-0003", "CAMA-0006"));

  v1::ListAuditEventsRequest audit;
  audit.set_object_id("POST-A");
  absl::StatusOr<std::vector<v1::AuditEvent>> events = admin_->AuditEvents(audit);
  ASSERT_THAT(events, IsOk());
  bool found = false;
  for (const v1::AuditEvent& e : *events) {
    if (e.action() != "stock_check.record") continue;
    found = true;
    EXPECT_EQ(e.actor(), "qm-reports");
    EXPECT_THAT(e.details_json(), AllOf(HasSubstr("CAMA-0003 CAMA-0006"), HasSubstr("Asanov")));
  }
  EXPECT_TRUE(found);
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = admin_->VerifyAuditChain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact());

  due = qm_->Call(&v1::ReportService::Stub::ListStockChecksDue, due_req);
  ASSERT_THAT(due, IsOk());
  // Never-checked sites are due now and come first; POST-A in 30 days.
  ASSERT_THAT(due->due(), SizeIs(3));
  const v1::StockCheckDue& last = due->due(2);
  EXPECT_EQ(last.site_code(), "POST-A");
  EXPECT_EQ(last.last_checked_by(), "qm-reports");
  EXPECT_FALSE(last.overdue());
  EXPECT_EQ(TimeUtil::TimestampToSeconds(last.due_time()),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 30)));

  v1::SetStockCheckIntervalRequest interval;
  interval.set_site_code("post-a");
  interval.set_interval_days(7);
  absl::StatusOr<v1::SetStockCheckIntervalResponse> set =
      qm_->Call(&v1::ReportService::Stub::SetStockCheckInterval, interval);
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(set->due().interval_days(), 7u);
  EXPECT_EQ(TimeUtil::TimestampToSeconds(set->due().due_time()),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 7)));
  clock_.Advance(absl::Hours(24 * 8));
  due = qm_->Call(&v1::ReportService::Stub::ListStockChecksDue, due_req);
  ASSERT_THAT(due, IsOk());
  for (const v1::StockCheckDue& d : due->due()) {
    if (d.site_code() == "POST-A") {
      EXPECT_TRUE(d.overdue());
    }
  }

  interval.set_interval_days(0);
  EXPECT_THAT(qm_->Call(&v1::ReportService::Stub::SetStockCheckInterval, interval),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("interval_days")));
}

// ------------------------------------------------------------------------------------- CLI

TEST_F(ReportTest, CliPrintsAReportAsATableCsvAndJson) {
  Result table = Qm({"report", "lost"});
  ASSERT_EQ(table.code, 0) << table;
  EXPECT_THAT(table.out, AllOf(HasSubstr("LAST HOLDER BADGE"), HasSubstr("CAMA-0002"),
                               HasSubstr("B101"), HasSubstr(kDock), HasSubstr("CAMB-0002")));

  Result csv = Qm({"report", "lost", "--csv", "--site", "post-a"});
  ASSERT_EQ(csv.code, 0) << csv;
  std::vector<std::string> lines = absl::StrSplit(csv.out, "\r\n", absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(2)) << csv;
  EXPECT_EQ(lines[0],
            "serial,model,site,lost_since,last_holder_badge,last_holder_name,last_dock,last_slot,"
            "last_seen,note");
  EXPECT_THAT(lines[1],
              AllOf(HasSubstr("CAMA-0002,AXON-4,POST-A,"), HasSubstr(",B101,Officer B101,"),
                    HasSubstr(absl::StrCat(",", kDock, ",4,"))));

  Result json = As(auditor_bundle_, {"report", "overdue", "--json"});
  ASSERT_EQ(json.code, 0) << json;
  nlohmann::json doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["report"], "OVERDUE");
  ASSERT_EQ(doc["rows"].size(), 3u);
  EXPECT_EQ(doc["rows"][0]["serial"], "CAMA-0001");
  EXPECT_EQ(doc["rows"][0]["overdue_seconds"], 3600);
  EXPECT_EQ(doc["more"], false);
}

TEST_F(ReportTest, CliRefusesAnUnknownReportAndPassesTheServersError) {
  Result r = Qm({"report", "stolen"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("unknown report 'stolen'"), HasSubstr("worn-battery")));
  r = Qm({"report", "lost", "--site", "NOWHERE"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  r = Qm({"report", "lost", "--days", "3"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("not_seen_days"));
}

TEST_F(ReportTest, CliStockCheckRecordsAndListsWhatIsDue) {
  Result check = Qm({"stock-check", "post-a"});
  ASSERT_EQ(check.code, 0) << check;
  EXPECT_THAT(check.out, AllOf(HasSubstr("missing"), HasSubstr("CAMA-0006"), HasSubstr(kDock),
                               HasSubstr("not recorded")));
  Result record = Qm({"stock-check", "POST-A", "--record", "--note", "shelf counted"});
  ASSERT_EQ(record.code, 0) << record;
  EXPECT_THAT(record.out, AllOf(HasSubstr("recorded as stock check"), HasSubstr("qm-cli")));
  Result due = Qm({"stock-check", "due"});
  ASSERT_EQ(due.code, 0) << due;
  EXPECT_THAT(due.out, AllOf(HasSubstr("POST-A"), HasSubstr("qm-cli"), HasSubstr("never checked")));
  Result interval = Qm({"stock-check", "interval", "post-b", "14"});
  ASSERT_EQ(interval.code, 0) << interval;
  EXPECT_THAT(interval.out, HasSubstr("POST-B: stock checked every 14 days"));
  Result refused = As(auditor_bundle_, {"stock-check", "POST-A", "--record"});
  EXPECT_EQ(refused.code, 1) << refused;
  EXPECT_THAT(refused.err, HasSubstr("PERMISSION_DENIED"));
}

// A report over thousands of cameras goes out page by page: every row once, in order, with
// the row count on stderr. The CLI holds one page at a time (report_commands.cc).
TEST_F(ReportTest, CliStreamsALargeReportAsCsvPageByPage) {
  constexpr int kCameras = 3000;
  std::string manifest = "serial,model,hardware_revision,site\n";
  for (int i = 0; i < kCameras; ++i) {
    absl::StrAppend(&manifest, absl::StrFormat("BULK-%05d", i), ",AXON-4,R1,post-a\n");
  }
  absl::StatusOr<v1::ImportManifestResponse> imported =
      admin_->Fleet(&v1::FleetService::Stub::ImportManifest, [&] {
        v1::ImportManifestRequest req;
        req.set_csv(manifest);
        return req;
      }());
  ASSERT_THAT(imported, IsOk());
  ASSERT_EQ(imported->imported(), kCameras);
  // Every bulk camera was docked once, twenty days ago.
  std::unique_ptr<SyncClient> sync = Connect();
  std::vector<v1::OutboxItem> batch;
  for (int i = 0; i < kCameras; ++i) {
    batch.push_back(Health(absl::StrFormat("BULK-%05d", i), 1 + i % 8,
                           start_ - absl::Hours(24 * 20) + absl::Seconds(i), 2800, 300));
    if (batch.size() == 250) {
      Send(*sync, batch);
      batch.clear();
    }
  }
  ASSERT_THAT(sync->Close(), IsOk());

  Result csv = Qm({"report", "not-seen", "--csv", "--page-size", "500"});
  ASSERT_EQ(csv.code, 0) << csv.err;
  std::vector<std::string> lines = absl::StrSplit(csv.out, "\r\n", absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + kCameras + 1u);  // header, the bulk, CAMA-0006
  // Oldest first: the bulk (20 days) in docking order, then CAMA-0006 (10 days).
  EXPECT_TRUE(absl::StartsWith(lines[1], "BULK-00000,")) << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[kCameras], "BULK-02999,")) << lines[kCameras];
  EXPECT_TRUE(absl::StartsWith(lines[kCameras + 1], "CAMA-0006,")) << lines[kCameras + 1];
  EXPECT_THAT(csv.err, HasSubstr(absl::StrCat(kCameras + 1, " rows")));

  Result limited = Qm({"report", "not-seen", "--csv", "--limit", "10", "--quiet"});
  ASSERT_EQ(limited.code, 0) << limited;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(limited.out, "\r\n", absl::SkipEmpty())).size(),
            11u);
  EXPECT_EQ(limited.err, "");
}

}  // namespace
}  // namespace camfleet::testing
