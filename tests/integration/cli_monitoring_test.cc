// The quartermaster's view of what docks report, through the real `camfleet` command lines:
// camfleetd made by InitHome and served over mutual TLS on 127.0.0.1:0 (TlsTestServer), a dock
// enrolled through the API streaming outbox items on its own DockService.Sync stream
// (tests/dock/sync_client.h) exactly as the agent does, and the CLI run in-process with a
// quartermaster's bundle that `camfleet operator add` made. Real SQLite, real TLS, no mocks.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/dock/sync_client.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSite[] = "POST-1";
constexpr char kDock[] = "post-1-dock-1";
constexpr char kEpoch[] = "0123456789abcdef0123456789abcdef";

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

using Result = ::camfleet::testing::CliResult;

// Lines of `text` that contain `needle`.
std::vector<std::string> LinesWith(const std::string& text, const std::string& needle) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.find(needle) != absl::string_view::npos) lines.emplace_back(line);
  }
  return lines;
}

class CliMonitoringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(server_->CreateSite(kSite), IsOk());
    TlsClient admin(server_->AdminChannel());
    for (const char* serial : {"CAM-0001", "CAM-0002", "CAM-0003", "CAM-0004", "CAM-0005"}) {
      ASSERT_THAT(admin.RegisterCamera(serial, kSite), IsOk());
      ASSERT_THAT(admin.Commission(serial, ""), IsOk());
    }
    ASSERT_THAT(admin.CreateHolder("B100", kSite), IsOk());
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock(kSite, kDock);
    ASSERT_THAT(dock, IsOk());
    dock_ = dock->credentials;
    // The quartermaster's bundle, made the way an admin makes it: `camfleet operator add`.
    qm_ = dir_.File("qm");
    Result r = As(server_->paths().AdminCredentials(kRootAdmin),
                  {"operator", "add", "qm-test", "--role", "quartermaster", "--out", qm_});
    ASSERT_EQ(r.code, 0) << r;
  }

  // Runs `camfleet --server localhost:PORT --credentials <bundle> <args...>` in-process.
  Result As(const std::string& bundle, std::vector<std::string> args) {
    return testing::RunCli(
        testing::TlsCliArgs(absl::StrCat(kServerName, ":", server_->port()), bundle, 10, args),
        clock_);
  }
  Result Qm(std::vector<std::string> args) { return As(qm_, std::move(args)); }
  std::string QmOk(std::vector<std::string> args) {
    Result r = Qm(std::move(args));
    EXPECT_EQ(r.code, 0) << r;
    return r.out;
  }

  // The dock's stream, opened with a hello that reports `slots`.
  std::unique_ptr<SyncClient> Connect(const std::vector<std::pair<uint32_t, std::string>>& slots) {
    auto sync = std::make_unique<SyncClient>(server_->Channel(dock_.bundle));
    v1::SyncHello hello;
    hello.set_protocol_version(1);
    hello.set_epoch(kEpoch);
    hello.set_agent_version("0.9.1-test");
    hello.set_backlog_items(12);
    hello.set_backlog_bytes(4096);
    *hello.mutable_dock_time() = At(absl::Now());
    for (const auto& [slot, serial] : slots) {
      v1::SlotOccupant* o = hello.add_slots();
      o->set_slot(slot);
      o->set_serial(serial);
    }
    absl::StatusOr<v1::SyncWelcome> welcome = sync->Open(hello);
    EXPECT_THAT(welcome, IsOk());
    return sync;
  }

  v1::OutboxItem Item(v1::SyncLane lane) {
    v1::OutboxItem item;
    item.set_lane(lane);
    item.set_sequence(lane == v1::SYNC_LANE_CUSTODY ? ++custody_ : ++telemetry_);
    *item.mutable_record_time() = At(absl::Now());
    *item.mutable_clock_offset() = TimeUtil::MicrosecondsToDuration(0);
    return item;
  }
  // A reading taken at `when` with `full_mah` of 3000 mAh design capacity.
  v1::OutboxItem Health(const std::string& serial, uint32_t slot, absl::Time when, uint32_t battery,
                        uint32_t full_mah, uint32_t cycles) {
    v1::OutboxItem item = Item(v1::SYNC_LANE_TELEMETRY);
    *item.mutable_record_time() = At(when);
    v1::HealthReading* h = item.mutable_health();
    h->set_serial(serial);
    h->set_slot(slot);
    *h->mutable_device_time() = At(when);
    h->set_camera_sequence(++camera_sequence_);
    h->set_battery_percent(battery);
    h->set_full_charge_capacity_mah(full_mah);
    h->set_design_capacity_mah(3000);
    h->set_cycle_count(cycles);
    h->set_temperature_decicelsius(251);
    h->set_voltage_mv(3900);
    h->set_charging(true);
    h->set_storage_used_bytes(25);
    h->set_storage_total_bytes(100);
    h->set_firmware_version("1.4.2");
    return item;
  }
  void Send(SyncClient& sync, const std::vector<v1::OutboxItem>& items) {
    absl::StatusOr<v1::SyncAck> ack = sync.Send(items);
    ASSERT_THAT(ack, IsOk());
    EXPECT_THAT(ack->rejected(), ::testing::IsEmpty());
  }

  TempDir dir_;
  common::RealClock clock_;
  std::unique_ptr<TlsTestServer> server_;
  ClientCredentials dock_;
  std::string qm_;
  uint64_t custody_ = 0;
  uint64_t telemetry_ = 0;
  uint64_t camera_sequence_ = 0;
};

TEST_F(CliMonitoringTest, EveryNewCommandAnswersHelp) {
  for (std::vector<std::string> command :
       std::vector<std::vector<std::string>>{{"alert"},
                                             {"alert", "list"},
                                             {"alert", "ack"},
                                             {"conflict"},
                                             {"conflict", "list"},
                                             {"conflict", "resolve"},
                                             {"health"},
                                             {"dock", "list"},
                                             {"camera", "get"},
                                             {"camera", "list"}}) {
    command.push_back("--help");
    Result r = Qm(command);
    EXPECT_EQ(r.code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << r;
  }
}

TEST_F(CliMonitoringTest, DockListShowsLastContactAgentBacklogAndCamerasBySlot) {
  std::unique_ptr<SyncClient> sync = Connect({{1, "CAM-0001"}, {3, "CAM-0003"}});
  std::string out = QmOk({"dock", "list"});
  std::vector<std::string> row = LinesWith(out, std::string(kDock) + " ");
  ASSERT_EQ(row.size(), 1u) << out;
  EXPECT_THAT(row[0], AllOf(HasSubstr(kSite), HasSubstr("active"), HasSubstr("0.9.1-test"),
                            HasSubstr(" 12 "), HasSubstr("2/8"), HasSubstr("ago")))
      << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(kDock, ":  1=CAM-0001  3=CAM-0003"))) << out;

  Result json = Qm({"--json", "dock", "list"});
  ASSERT_EQ(json.code, 0) << json;
  EXPECT_THAT(json.out,
              AllOf(HasSubstr("\"agent_version\": \"0.9.1-test\""),
                    HasSubstr("\"backlog_items\": \"12\""), HasSubstr("\"serial\": \"CAM-0003\"")));
}

TEST_F(CliMonitoringTest, CameraGetShowsHealthStateOfHealthTrendAndLastDock) {
  std::unique_ptr<SyncClient> sync = Connect({{2, "CAM-0002"}});
  const absl::Time now = absl::Now();
  // 95% of design 100 days ago, 90% 40 days ago, 85% an hour ago.
  Send(*sync, {Health("CAM-0002", 2, now - absl::Hours(24 * 100), 70, 2850, 120),
               Health("CAM-0002", 2, now - absl::Hours(24 * 40), 80, 2700, 250),
               Health("CAM-0002", 2, now - absl::Hours(1), 97, 2550, 330)});
  std::string out = QmOk({"camera", "get", "CAM-0002"});
  EXPECT_THAT(out, AllOf(HasSubstr("97%"), HasSubstr("charging"),
                         HasSubstr("85.0% (2550 of 3000 mAh), 330 cycles"), HasSubstr("firmware"),
                         HasSubstr("1.4.2")))
      << out;
  ASSERT_EQ(LinesWith(out, "health 30d ago").size(), 1u) << out;
  EXPECT_THAT(LinesWith(out, "health 30d ago")[0],
              AllOf(HasSubstr("90.0%"), HasSubstr("250 cycles"), HasSubstr("-5.0 points")));
  EXPECT_THAT(LinesWith(out, "health 90d ago")[0],
              AllOf(HasSubstr("95.0%"), HasSubstr("-10.0 points")));
  EXPECT_THAT(LinesWith(out, "last dock")[0], HasSubstr(absl::StrCat(kDock, " slot 2")));
  EXPECT_THAT(LinesWith(out, "last seen")[0], HasSubstr("ago"));
  EXPECT_THAT(out, Not(HasSubstr("WORN")));

  Result json = Qm({"--json", "camera", "get", "CAM-0002"});
  ASSERT_EQ(json.code, 0) << json;
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &doc).ok()) << json;
  const auto& trend = doc.fields().at("battery_trend").struct_value().fields();
  EXPECT_DOUBLE_EQ(
      trend.at("days_30_ago").struct_value().fields().at("state_of_health_percent").number_value(),
      90.0);
  EXPECT_DOUBLE_EQ(
      trend.at("latest").struct_value().fields().at("state_of_health_percent").number_value(),
      85.0);
  EXPECT_EQ(doc.fields().at("camera").struct_value().fields().at("last_dock_id").string_value(),
            kDock);
}

TEST_F(CliMonitoringTest, CameraGetSaysWhenHistoryIsShortAndWhenBatteryIsWorn) {
  std::unique_ptr<SyncClient> sync = Connect({{3, "CAM-0003"}});
  Send(*sync, {Health("CAM-0003", 3, absl::Now() - absl::Hours(2), 60, 2300, 520)});
  std::string out = QmOk({"camera", "get", "CAM-0003"});
  EXPECT_THAT(out, HasSubstr("76.6% (2300 of 3000 mAh), 520 cycles; WORN")) << out;
  EXPECT_THAT(LinesWith(out, "health 30d ago")[0], HasSubstr("no reading that old")) << out;

  // A camera no dock has read says so instead of showing empty health.
  std::string never = QmOk({"camera", "get", "CAM-0005"});
  EXPECT_THAT(never, HasSubstr("no reading yet")) << never;
  EXPECT_THAT(LinesWith(never, "last seen")[0], HasSubstr("never")) << never;
}

TEST_F(CliMonitoringTest, HealthListsReadingsNewestFirstPagedAndSince) {
  std::unique_ptr<SyncClient> sync = Connect({{1, "CAM-0001"}});
  const absl::Time now = absl::Now();
  std::vector<v1::OutboxItem> items;
  for (int h = 5; h >= 1; --h) {
    items.push_back(Health("CAM-0001", 1, now - absl::Hours(h), 100 - h, 2900, 10));
  }
  Send(*sync, items);

  std::string all = QmOk({"health", "CAM-0001"});
  ASSERT_EQ(LinesWith(all, kDock).size(), 5u) << all;
  // Newest first: 99% (an hour ago) before 95% (five hours ago).
  EXPECT_LT(all.find("99%"), all.find("95%")) << all;
  EXPECT_THAT(all, AllOf(HasSubstr("TAKEN"), HasSubstr("96.6%"), HasSubstr("25.1C")));

  std::string since = QmOk({"health", "CAM-0001", "--since", "2h30m"});
  EXPECT_EQ(LinesWith(since, kDock).size(), 2u) << since;

  Result page = Qm({"health", "CAM-0001", "--limit", "2"});
  ASSERT_EQ(page.code, 0) << page;
  EXPECT_EQ(LinesWith(page.out, kDock).size(), 2u) << page;
  EXPECT_THAT(page.err, HasSubstr("add --all")) << page;

  Result json = Qm({"--json", "health", "CAM-0001", "--all", "--since", "3h30m"});
  ASSERT_EQ(json.code, 0) << json;
  v1::ListHealthReadingsResponse resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &resp).ok()) << json;
  EXPECT_EQ(resp.readings_size(), 3);
  EXPECT_EQ(resp.next_page_token(), "");

  Result unknown = Qm({"health", "CAM-0404"});
  EXPECT_EQ(unknown.code, 1) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND")) << unknown;
  Result bad_since = Qm({"health", "CAM-0001", "--since", "yesterday"});
  EXPECT_EQ(bad_since.code, 2) << bad_since;
  EXPECT_THAT(bad_since.err, AllOf(HasSubstr("--since"), HasSubstr("7d"))) << bad_since;
}

TEST_F(CliMonitoringTest, AlertListFiltersAndAckIsRecordedOnce) {
  std::unique_ptr<SyncClient> sync = Connect({{1, "CAM-0001"}});
  // A worn battery (70% of design) and an alert the dock raised itself.
  v1::OutboxItem alert = Item(v1::SYNC_LANE_CUSTODY);
  alert.mutable_alert()->set_kind(v1::DOCK_ALERT_KIND_OUTBOX_FULL);
  alert.mutable_alert()->set_message("outbox full: readings thinned");
  Send(*sync, {alert, Health("CAM-0001", 1, absl::Now(), 90, 2100, 600)});

  std::string all = QmOk({"alert", "list"});
  ASSERT_EQ(LinesWith(all, "worn-battery").size(), 1u) << all;
  ASSERT_EQ(LinesWith(all, "dock: outbox-full").size(), 1u) << all;
  EXPECT_THAT(LinesWith(all, "worn-battery")[0], AllOf(HasSubstr("CAM-0001"), HasSubstr("OPEN")));

  std::string worn = QmOk({"alert", "list", "--kind", "WORN_BATTERY"});
  EXPECT_THAT(worn, Not(HasSubstr("outbox-full"))) << worn;
  EXPECT_THAT(QmOk({"alert", "list", "--dock", kDock}), HasSubstr("outbox-full"));
  EXPECT_THAT(QmOk({"alert", "list", "--dock", "post-9-dock-1"}), HasSubstr("no alerts match"));
  EXPECT_THAT(QmOk({"alert", "list", "--camera", "CAM-0001"}), Not(HasSubstr("outbox-full")));

  Result json = Qm({"--json", "alert", "list", "--kind", "worn-battery"});
  v1::ListAlertsResponse alerts;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &alerts).ok()) << json;
  ASSERT_EQ(alerts.alerts_size(), 1);
  const std::string id = absl::StrCat(alerts.alerts(0).id());

  std::string acked = QmOk({"alert", "ack", id});
  EXPECT_THAT(acked, AllOf(HasSubstr("acknowledged alert " + id), HasSubstr("worn-battery"),
                           HasSubstr("CAM-0001")));
  EXPECT_THAT(QmOk({"alert", "list", "--open"}), Not(HasSubstr("worn-battery")));
  EXPECT_THAT(QmOk({"alert", "list", "--acknowledged"}),
              AllOf(HasSubstr("worn-battery"), HasSubstr("ack by qm-test")));
  Result again = Qm({"alert", "ack", id});
  EXPECT_EQ(again.code, 1) << again;
  EXPECT_THAT(again.err, HasSubstr("FAILED_PRECONDITION")) << again;
}

TEST_F(CliMonitoringTest, AlertListBadFlagsAreUsageErrorsNamingTheFix) {
  Result kind = Qm({"alert", "list", "--kind", "stolen"});
  EXPECT_EQ(kind.code, 2) << kind;
  EXPECT_THAT(kind.err, AllOf(HasSubstr("--kind"), HasSubstr("lost-camera-docked"),
                              HasSubstr("worn-battery")))
      << kind;
  Result both = Qm({"alert", "list", "--open", "--acknowledged"});
  EXPECT_EQ(both.code, 2) << both;
  EXPECT_THAT(both.err, HasSubstr("--acknowledged")) << both;
  Result id = Qm({"alert", "ack", "twelve"});
  EXPECT_EQ(id.code, 2) << id;
  EXPECT_THAT(id.err, HasSubstr("ID")) << id;
  Result missing = Qm({"alert", "ack", "999999"});
  EXPECT_EQ(missing.code, 1) << missing;
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND")) << missing;
}

TEST_F(CliMonitoringTest, ConflictOfACheckoutOfALostCameraIsListedAndResolved) {
  QmOk({"camera", "lost", "CAM-0004", "--note", "reported lost by radio"});
  std::unique_ptr<SyncClient> sync = Connect({{4, "CAM-0004"}});
  v1::OutboxItem checkout = Item(v1::SYNC_LANE_CUSTODY);
  checkout.mutable_checkout()->set_serial("CAM-0004");
  checkout.mutable_checkout()->set_slot(4);
  checkout.mutable_checkout()->set_badge("B100");
  checkout.mutable_checkout()->set_battery_percent(95);
  *checkout.mutable_checkout()->mutable_due_back_time() = At(absl::Now() + absl::Hours(12));
  Send(*sync, {checkout});

  std::string open = QmOk({"conflict", "list", "--open"});
  std::vector<std::string> rows = LinesWith(open, "CAM-0004");
  ASSERT_EQ(rows.size(), 1u) << open;
  EXPECT_THAT(rows[0], AllOf(HasSubstr(kDock), HasSubstr("LOST"), HasSubstr("OPEN")));
  EXPECT_THAT(QmOk({"alert", "list", "--kind", "conflict"}), HasSubstr("CAM-0004"));
  // The central decision stands.
  EXPECT_THAT(QmOk({"camera", "get", "CAM-0004"}), HasSubstr("LOST"));

  v1::ListConflictsResponse conflicts;
  Result json = Qm({"--json", "conflict", "list"});
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &conflicts).ok()) << json;
  ASSERT_EQ(conflicts.conflicts_size(), 1);
  EXPECT_THAT(conflicts.conflicts(0).physical_fact(), HasSubstr("B100"));
  const std::string id = absl::StrCat(conflicts.conflicts(0).id());

  Result no_text = Qm({"conflict", "resolve", id});
  EXPECT_EQ(no_text.code, 2) << no_text;
  EXPECT_THAT(no_text.err, HasSubstr("--resolution")) << no_text;
  EXPECT_THAT(QmOk({"conflict", "resolve", id, "--resolution", "found at the post; stays lost"}),
              HasSubstr("resolved conflict " + id));
  EXPECT_THAT(QmOk({"conflict", "list", "--open"}), HasSubstr("no conflicts match"));
  EXPECT_THAT(QmOk({"conflict", "list"}), HasSubstr("resolved by qm-test"));
  Result twice = Qm({"conflict", "resolve", id, "--resolution", "again"});
  EXPECT_EQ(twice.code, 1) << twice;
  EXPECT_THAT(twice.err, HasSubstr("FAILED_PRECONDITION")) << twice;
}

TEST_F(CliMonitoringTest, CameraListFiltersByBatteryBelowAndNotSeenSince) {
  std::unique_ptr<SyncClient> sync = Connect({{1, "CAM-0001"}, {2, "CAM-0002"}});
  Send(*sync, {Health("CAM-0001", 1, absl::Now(), 20, 2900, 10),
               Health("CAM-0002", 2, absl::Now(), 90, 2900, 10)});

  std::string low = QmOk({"camera", "list", "--battery-below", "50"});
  EXPECT_THAT(low,
              AllOf(HasSubstr("CAM-0001"), Not(HasSubstr("CAM-0002")), Not(HasSubstr("CAM-0003"))))
      << low;
  EXPECT_THAT(LinesWith(low, "CAM-0001")[0], AllOf(HasSubstr("20%"), HasSubstr(kDock)));

  std::string unseen = QmOk({"camera", "list", "--not-seen-since", "1h"});
  EXPECT_THAT(unseen, AllOf(HasSubstr("CAM-0003"), HasSubstr("CAM-0005"),
                            Not(HasSubstr("CAM-0001")), Not(HasSubstr("CAM-0002"))))
      << unseen;

  Result zero = Qm({"camera", "list", "--battery-below", "0"});
  EXPECT_EQ(zero.code, 2) << zero;
  EXPECT_THAT(zero.err, AllOf(HasSubstr("--battery-below"), HasSubstr("1"), HasSubstr("100")))
      << zero;
  Result since = Qm({"camera", "list", "--not-seen-since", "last week"});
  EXPECT_EQ(since.code, 2) << since;
  EXPECT_THAT(since.err, HasSubstr("--not-seen-since")) << since;
}

}  // namespace
}  // namespace camfleet::testing
