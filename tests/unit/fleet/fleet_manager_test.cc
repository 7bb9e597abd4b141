// FleetManager over a real Store in a temp dir: lifecycle with custody and audit, manifest
// import, overdue listing, paging. Plain C++: no gRPC.

#include "services/fleet/fleet_manager.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "provisioning/role.h"
#include "services/storage/store.h"
#include "tests/testing/fleet_call.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::fleet {
namespace {

using ::camfleet::testing::CallFleet;
using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::google::protobuf::util::TimeUtil;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kNotFound = absl::StatusCode::kNotFound;
constexpr auto kFailedPrecondition = absl::StatusCode::kFailedPrecondition;

rpc::Identity Who(std::string name, provisioning::Role role) {
  rpc::Identity who;
  who.name = std::move(name);
  who.role = role;
  return who;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

struct AuditRow {
  int64_t seq = 0;
  int64_t time_us = 0;
  std::string actor;
  std::string action;
  std::string object_id;
  std::string details;
};

class FleetManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    manager_ = std::make_unique<FleetManager>(*store_, tokens_);
  }

  void TearDown() override {
    manager_.reset();
    store_.reset();
  }

  // ---- setup through the manager itself
  void MakeSite(const std::string& code, const std::string& parent = "") {
    v1::CreateSiteRequest req;
    req.set_code(code);
    req.set_name(absl::StrCat("Site ", code));
    req.set_parent_code(parent);
    ASSERT_THAT(CallFleet(*manager_, &FleetManager::CreateSite, admin_, req), IsOk());
  }
  void MakeHolder(const std::string& badge, const std::string& site) {
    v1::CreateHolderRequest req;
    req.set_badge(badge);
    req.set_name(absl::StrCat("Officer ", badge));
    req.set_unit("Traffic");
    req.set_home_site_code(site);
    ASSERT_THAT(CallFleet(*manager_, &FleetManager::CreateHolder, admin_, req), IsOk());
  }
  void MakeCamera(const std::string& serial, const std::string& site,
                  const std::string& model = "BWC-7") {
    v1::RegisterCameraRequest req;
    req.set_serial(serial);
    req.set_model(model);
    req.set_hardware_revision("B");
    req.set_site_code(site);
    ASSERT_THAT(CallFleet(*manager_, &FleetManager::RegisterCamera, admin_, req), IsOk());
  }
  void MakeAvailable(const std::string& serial, const std::string& site,
                     const std::string& model = "BWC-7") {
    MakeCamera(serial, site, model);
    ASSERT_THAT(Commission(serial), IsOk());
  }
  // The usual world: site POST-1, holder B-100, camera CAM-0001 AVAILABLE.
  void MakeWorld() {
    MakeSite("POST-1");
    MakeHolder("B-100", "POST-1");
    MakeAvailable("CAM-0001", "POST-1");
  }

  // ---- requests
  absl::StatusOr<v1::CommissionCameraResponse> Commission(const std::string& serial,
                                                          const rpc::Identity* who = nullptr) {
    v1::CommissionCameraRequest req;
    req.set_serial(serial);
    req.set_reason("delivered with the supplier's paperwork");
    return CallFleet(*manager_, &FleetManager::CommissionCamera, who ? *who : admin_, req);
  }
  absl::StatusOr<v1::IssueCameraResponse> Issue(const std::string& serial, const std::string& badge,
                                                const rpc::Identity* who = nullptr,
                                                absl::Duration due_in = absl::Hours(8)) {
    v1::IssueCameraRequest req;
    req.set_serial(serial);
    req.set_holder_badge(badge);
    *req.mutable_due_back_time() = Ts(clock_.Now() + due_in);
    req.set_note("day shift");
    return CallFleet(*manager_, &FleetManager::IssueCamera, who ? *who : qm_, req);
  }
  absl::StatusOr<v1::ReturnCameraResponse> Return(
      const std::string& serial, v1::ReturnCondition condition = v1::RETURN_CONDITION_GOOD,
      const rpc::Identity* who = nullptr) {
    v1::ReturnCameraRequest req;
    req.set_serial(serial);
    req.set_condition(condition);
    req.set_note("back at the armory");
    return CallFleet(*manager_, &FleetManager::ReturnCamera, who ? *who : qm_, req);
  }
  absl::StatusOr<v1::ReportCameraLostResponse> Lost(const std::string& serial,
                                                    const rpc::Identity* who = nullptr) {
    v1::ReportCameraLostRequest req;
    req.set_serial(serial);
    req.set_note("dropped during pursuit");
    return CallFleet(*manager_, &FleetManager::ReportCameraLost, who ? *who : qm_, req);
  }
  absl::StatusOr<v1::ReportCameraFoundResponse> Found(const std::string& serial,
                                                      const rpc::Identity* who = nullptr) {
    v1::ReportCameraFoundRequest req;
    req.set_serial(serial);
    req.set_note("handed in at the front desk");
    return CallFleet(*manager_, &FleetManager::ReportCameraFound, who ? *who : qm_, req);
  }
  absl::StatusOr<v1::ReportCameraFaultyResponse> Faulty(const std::string& serial,
                                                        const rpc::Identity* who = nullptr) {
    v1::ReportCameraFaultyRequest req;
    req.set_serial(serial);
    req.set_note("does not power on");
    return CallFleet(*manager_, &FleetManager::ReportCameraFaulty, who ? *who : qm_, req);
  }
  absl::StatusOr<v1::RepairCameraResponse> Repair(const std::string& serial,
                                                  const rpc::Identity* who = nullptr) {
    v1::RepairCameraRequest req;
    req.set_serial(serial);
    req.set_note("battery replaced");
    return CallFleet(*manager_, &FleetManager::RepairCamera, who ? *who : qm_, req);
  }
  absl::StatusOr<v1::RetireCameraResponse> Retire(const std::string& serial,
                                                  const rpc::Identity* who = nullptr) {
    v1::RetireCameraRequest req;
    req.set_serial(serial);
    req.set_reason("end of life");
    return CallFleet(*manager_, &FleetManager::RetireCamera, who ? *who : admin_, req);
  }
  absl::StatusOr<v1::ImportManifestResponse> Import(const std::string& csv, bool partial,
                                                    bool dry_run) {
    v1::ImportManifestRequest req;
    req.set_csv(csv);
    req.set_partial(partial);
    req.set_dry_run(dry_run);
    return CallFleet(*manager_, &FleetManager::ImportManifest, admin_, req);
  }

  v1::CameraState StateOf(const std::string& serial) {
    v1::GetCameraRequest req;
    req.set_serial(serial);
    absl::StatusOr<v1::GetCameraResponse> resp = manager_->GetCamera(req);
    EXPECT_THAT(resp, IsOk());
    return resp.ok() ? resp->camera().state() : v1::CAMERA_STATE_UNSPECIFIED;
  }

  // ---- SQL straight at the file, through the store's readers
  int64_t Count(const std::string& sql) {
    int64_t n = -1;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      absl::StatusOr<common::Statement> s = db.Prepare(sql);
      if (!s.ok()) return s.status();
      absl::StatusOr<bool> row = s->Step();
      if (!row.ok()) return row.status();
      if (*row) n = s->ColumnInt(0);
      return absl::OkStatus();
    }),
                IsOk())
        << sql;
    return n;
  }
  int64_t AuditCount() { return Count("SELECT COUNT(*) FROM audit_events"); }
  int64_t OpenAssignments(const std::string& serial) {
    return Count(
        absl::StrCat("SELECT COUNT(*) FROM assignments WHERE returned_us IS NULL AND camera_id = "
                     "(SELECT id FROM cameras WHERE serial = '",
                     serial, "')"));
  }
  std::vector<AuditRow> AuditSince(int64_t after_seq) {
    std::vector<AuditRow> rows;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      absl::StatusOr<common::Statement> s = db.Prepare(
          "SELECT seq, time_us, actor, action, object_id, details FROM audit_events "
          "WHERE seq > ? ORDER BY seq");
      if (!s.ok()) return s.status();
      s->Bind(1, after_seq);
      while (true) {
        absl::StatusOr<bool> row = s->Step();
        if (!row.ok()) return row.status();
        if (!*row) return absl::OkStatus();
        rows.push_back({s->ColumnInt(0), s->ColumnInt(1), s->ColumnText(2), s->ColumnText(3),
                        s->ColumnText(4), s->ColumnText(5)});
      }
    }),
                IsOk());
    return rows;
  }
  // Every row of every fleet table, as text: equal fingerprints mean nothing changed.
  std::string Fingerprint() {
    std::string out;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      for (const char* table : {"sites", "holders", "cameras", "assignments", "audit_events"}) {
        std::vector<std::string> columns;
        {
          absl::StatusOr<common::Statement> info =
              db.Prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid");
          if (!info.ok()) return info.status();
          info->Bind(1, table);
          while (true) {
            absl::StatusOr<bool> row = info->Step();
            if (!row.ok()) return row.status();
            if (!*row) break;
            columns.push_back(absl::StrCat("quote(", info->ColumnText(0), ")"));
          }
        }
        absl::StatusOr<common::Statement> s = db.Prepare(absl::StrCat(
            "SELECT ", absl::StrJoin(columns, " || '|' || "), " FROM ", table, " ORDER BY 1"));
        if (!s.ok()) return s.status();
        absl::StrAppend(&out, table, ":\n");
        while (true) {
          absl::StatusOr<bool> row = s->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          absl::StrAppend(&out, s->ColumnText(0), "\n");
        }
      }
      return absl::OkStatus();
    }),
                IsOk());
    return out;
  }
  // Creates a trigger from a separate connection, as a way to make one statement fail.
  void AddTrigger(const std::string& sql) {
    absl::StatusOr<std::unique_ptr<common::Database>> db =
        common::Database::Open(dir_.File("fleet.db"));
    ASSERT_THAT(db, IsOk());
    ASSERT_THAT((*db)->Exec(sql), IsOk());
  }

  // Runs `call`, which must succeed, and checks it wrote exactly one audit event with `action`
  // by `actor` about `object_id`, stamped with the same commit time as the change.
  void ExpectOneAuditEvent(const std::function<absl::Status()>& call, const std::string& action,
                           const std::string& actor, const std::string& object_id) {
    const std::vector<AuditRow> before = AuditSince(0);
    const int64_t last = before.empty() ? 0 : before.back().seq;
    clock_.Advance(absl::Minutes(1));  // a distinct commit time for this change
    ASSERT_THAT(call(), IsOk());
    const std::vector<AuditRow> added = AuditSince(last);
    ASSERT_THAT(added, SizeIs(1));
    EXPECT_EQ(added[0].action, action);
    EXPECT_EQ(added[0].actor, actor);
    EXPECT_EQ(added[0].object_id, object_id);
    EXPECT_EQ(added[0].time_us, absl::ToUnixMicros(clock_.Now()));
  }

  TempDir dir_;
  common::FakeClock clock_{absl::FromUnixSeconds(1704067200)};  // 2024-01-01T00:00:00Z
  rpc::PageTokens tokens_{std::string("fleet-manager-test-page-token-key")};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<FleetManager> manager_;
  rpc::Identity admin_ = Who("admin-ann", provisioning::Role::kAdmin);
  rpc::Identity qm_ = Who("qm-quinn", provisioning::Role::kQuartermaster);
};

// ------------------------------------------------------------- one open assignment, raced

TEST_F(FleetManagerTest, FiftyConcurrentIssuesOfOneCameraLeaveOneOpenAssignment) {
  constexpr int kCallers = 50;
  MakeSite("POST-1");
  MakeAvailable("CAM-0001", "POST-1");
  for (int i = 0; i < kCallers; ++i) MakeHolder(absl::StrCat("B-", i), "POST-1");
  const int64_t audit_before = AuditCount();

  absl::Notification go;
  std::vector<absl::Status> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      go.WaitForNotification();
      results[static_cast<size_t>(i)] = Issue("CAM-0001", absl::StrCat("B-", i)).status();
    });
  }
  go.Notify();
  for (std::thread& t : threads) t.join();

  int succeeded = 0;
  for (const absl::Status& s : results) {
    if (s.ok()) {
      ++succeeded;
    } else {
      EXPECT_TRUE(s.code() == kFailedPrecondition || s.code() == absl::StatusCode::kAborted) << s;
    }
  }
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(OpenAssignments("CAM-0001"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM assignments"), 1);
  EXPECT_EQ(AuditCount(), audit_before + 1);
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_ISSUED);
}

TEST_F(FleetManagerTest, IssuingAnIssuedCameraNamesItsState) {
  MakeWorld();
  MakeHolder("B-200", "POST-1");
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  EXPECT_THAT(Issue("CAM-0001", "B-200"),
              StatusIs(kFailedPrecondition, AllOf(HasSubstr("CAM-0001"), HasSubstr("ISSUED"))));
}

// ------------------------------------------------------------ one audit event per change

TEST_F(FleetManagerTest, CreateSiteWritesOneAuditEvent) {
  ExpectOneAuditEvent(
      [&] {
        v1::CreateSiteRequest req;
        req.set_code("HQ");
        req.set_name("Headquarters");
        return CallFleet(*manager_, &FleetManager::CreateSite, admin_, req).status();
      },
      "site.create", "admin-ann", "HQ");
}

TEST_F(FleetManagerTest, CreateHolderWritesOneAuditEvent) {
  MakeSite("POST-1");
  ExpectOneAuditEvent(
      [&] {
        v1::CreateHolderRequest req;
        req.set_badge("B-7");
        req.set_name("Officer Seven");
        req.set_home_site_code("POST-1");
        return CallFleet(*manager_, &FleetManager::CreateHolder, qm_, req).status();
      },
      "holder.create", "qm-quinn", "B-7");
}

TEST_F(FleetManagerTest, RegisterCameraWritesOneAuditEvent) {
  MakeSite("POST-1");
  ExpectOneAuditEvent(
      [&] {
        v1::RegisterCameraRequest req;
        req.set_serial("CAM-0009");
        req.set_model("BWC-7");
        req.set_site_code("POST-1");
        return CallFleet(*manager_, &FleetManager::RegisterCamera, qm_, req).status();
      },
      "camera.register", "qm-quinn", "CAM-0009");
}

TEST_F(FleetManagerTest, CommissionWritesOneAuditEventNamingWhoVouched) {
  MakeSite("POST-1");
  MakeCamera("CAM-0001", "POST-1");
  const rpc::Identity vic = Who("admin-vic", provisioning::Role::kAdmin);
  ExpectOneAuditEvent([&] { return Commission("CAM-0001", &vic).status(); }, "camera.commission",
                      "admin-vic", "CAM-0001");
  EXPECT_THAT(AuditSince(0).back().details, HasSubstr("\"vouched_by\":\"admin-vic\""));
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_AVAILABLE);
}

TEST_F(FleetManagerTest, IssueWritesOneAuditEvent) {
  MakeWorld();
  const rpc::Identity ivy = Who("qm-ivy", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent([&] { return Issue("CAM-0001", "B-100", &ivy).status(); }, "camera.issue",
                      "qm-ivy", "CAM-0001");
  EXPECT_THAT(AuditSince(0).back().details, HasSubstr("\"holder\":\"B-100\""));
}

TEST_F(FleetManagerTest, ReturnGoodWritesOneAuditEvent) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  const rpc::Identity rex = Who("qm-rex", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent([&] { return Return("CAM-0001", v1::RETURN_CONDITION_GOOD, &rex).status(); },
                      "camera.return", "qm-rex", "CAM-0001");
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_AVAILABLE);
}

TEST_F(FleetManagerTest, ReturnDamagedWritesOneAuditEventAndGoesFaulty) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  const rpc::Identity rex = Who("qm-rex", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent(
      [&] { return Return("CAM-0001", v1::RETURN_CONDITION_DAMAGED, &rex).status(); },
      "camera.return", "qm-rex", "CAM-0001");
  EXPECT_THAT(AuditSince(0).back().details, HasSubstr("\"condition\":\"DAMAGED\""));
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_FAULTY);
}

TEST_F(FleetManagerTest, ReportLostWritesOneAuditEvent) {
  MakeWorld();
  const rpc::Identity lou = Who("qm-lou", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent([&] { return Lost("CAM-0001", &lou).status(); }, "camera.lost", "qm-lou",
                      "CAM-0001");
}

TEST_F(FleetManagerTest, ReportFoundWritesOneAuditEvent) {
  MakeWorld();
  ASSERT_THAT(Lost("CAM-0001"), IsOk());
  const rpc::Identity fay = Who("qm-fay", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent([&] { return Found("CAM-0001", &fay).status(); }, "camera.found", "qm-fay",
                      "CAM-0001");
}

TEST_F(FleetManagerTest, ReportFaultyWritesOneAuditEvent) {
  MakeWorld();
  const rpc::Identity fin = Who("qm-fin", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent([&] { return Faulty("CAM-0001", &fin).status(); }, "camera.faulty", "qm-fin",
                      "CAM-0001");
}

TEST_F(FleetManagerTest, RepairWritesOneAuditEvent) {
  MakeWorld();
  ASSERT_THAT(Faulty("CAM-0001"), IsOk());
  const rpc::Identity ray = Who("tech-ray", provisioning::Role::kQuartermaster);
  ExpectOneAuditEvent([&] { return Repair("CAM-0001", &ray).status(); }, "camera.repair",
                      "tech-ray", "CAM-0001");
}

TEST_F(FleetManagerTest, RetireWritesOneAuditEvent) {
  MakeWorld();
  const rpc::Identity tim = Who("admin-tim", provisioning::Role::kAdmin);
  ExpectOneAuditEvent([&] { return Retire("CAM-0001", &tim).status(); }, "camera.retire",
                      "admin-tim", "CAM-0001");
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_RETIRED);
}

TEST_F(FleetManagerTest, AuditChainIsIntactAfterAFullLifecycle) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  ASSERT_THAT(Lost("CAM-0001"), IsOk());
  ASSERT_THAT(Found("CAM-0001"), IsOk());
  ASSERT_THAT(Faulty("CAM-0001"), IsOk());
  ASSERT_THAT(Repair("CAM-0001"), IsOk());
  ASSERT_THAT(Retire("CAM-0001"), IsOk());
  const std::vector<AuditRow> events = AuditSince(0);
  std::vector<std::string> actions;
  for (const AuditRow& e : events) actions.push_back(e.action);
  EXPECT_THAT(actions,
              ElementsAre("site.create", "holder.create", "camera.register", "camera.commission",
                          "camera.issue", "camera.lost", "camera.found", "camera.faulty",
                          "camera.repair", "camera.retire"));
}

// ----------------------------------------------------- change and audit in one transaction

TEST_F(FleetManagerTest, IssueWhoseAuditEventFailsChangesNothing) {
  MakeWorld();
  AddTrigger(
      "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_events "
      "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END;");
  const std::string before = Fingerprint();
  EXPECT_THAT(Issue("CAM-0001", "B-100"),
              StatusIs(kFailedPrecondition, HasSubstr("audit log unavailable")));
  EXPECT_EQ(Fingerprint(), before);
  EXPECT_EQ(OpenAssignments("CAM-0001"), 0);
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_AVAILABLE);
}

TEST_F(FleetManagerTest, ReturnWhoseAuditEventFailsKeepsTheAssignmentOpen) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  AddTrigger(
      "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_events "
      "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END;");
  const std::string before = Fingerprint();
  EXPECT_FALSE(Return("CAM-0001").ok());
  EXPECT_EQ(Fingerprint(), before);
  EXPECT_EQ(OpenAssignments("CAM-0001"), 1);
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_ISSUED);
}

// ------------------------------------------------------------- refused calls write nothing

TEST_F(FleetManagerTest, IssueWithBadSerialWritesNothing) {
  MakeWorld();
  const std::string before = Fingerprint();
  EXPECT_THAT(Issue("cam 0001", "B-100"), StatusIs(kInvalid, HasSubstr("serial")));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, ReturnWithUnspecifiedConditionWritesNothing) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  const std::string before = Fingerprint();
  EXPECT_THAT(Return("CAM-0001", v1::RETURN_CONDITION_UNSPECIFIED),
              StatusIs(kInvalid, HasSubstr("condition")));
  EXPECT_THAT(Return("CAM-0001", v1::RETURN_CONDITION_NOT_RETURNED),
              StatusIs(kInvalid, HasSubstr("condition")));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, RetireWithoutReasonWritesNothing) {
  MakeWorld();
  const std::string before = Fingerprint();
  v1::RetireCameraRequest req;
  req.set_serial("CAM-0001");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::RetireCamera, admin_, req),
              StatusIs(kInvalid, HasSubstr("reason")));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, IllegalReturnWritesNothingAndNamesTheState) {
  MakeWorld();
  const std::string before = Fingerprint();
  clock_.Advance(absl::Minutes(5));
  EXPECT_THAT(Return("CAM-0001"),
              StatusIs(kFailedPrecondition, AllOf(HasSubstr("CAM-0001"), HasSubstr("AVAILABLE"))));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, IllegalRepairOfRetiredCameraWritesNothing) {
  MakeWorld();
  ASSERT_THAT(Retire("CAM-0001"), IsOk());
  const std::string before = Fingerprint();
  EXPECT_THAT(Repair("CAM-0001"),
              StatusIs(kFailedPrecondition, AllOf(HasSubstr("CAM-0001"), HasSubstr("RETIRED"))));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, IssueOfLostCameraWritesNothing) {
  MakeWorld();
  ASSERT_THAT(Lost("CAM-0001"), IsOk());
  const std::string before = Fingerprint();
  EXPECT_THAT(Issue("CAM-0001", "B-100"), StatusIs(kFailedPrecondition, HasSubstr("LOST")));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, IssueToUnknownHolderWritesNothing) {
  MakeWorld();
  const std::string before = Fingerprint();
  EXPECT_THAT(Issue("CAM-0001", "B-404"), StatusIs(kNotFound, HasSubstr("B-404")));
  EXPECT_EQ(Fingerprint(), before);
}

// ----------------------------------------------------------------------- issue checks

TEST_F(FleetManagerTest, IssueWithDueTimeInThePastIsInvalidArgument) {
  MakeWorld();
  const std::string before = Fingerprint();
  EXPECT_THAT(Issue("CAM-0001", "B-100", nullptr, -absl::Hours(1)),
              StatusIs(kInvalid, HasSubstr("due_back_time")));
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, IssueDueNowIsInvalidArgument) {
  MakeWorld();
  EXPECT_THAT(Issue("CAM-0001", "B-100", nullptr, absl::ZeroDuration()),
              StatusIs(kInvalid, HasSubstr("due_back_time")));
}

TEST_F(FleetManagerTest, IssueWithoutDueTimeIsInvalidArgument) {
  MakeWorld();
  v1::IssueCameraRequest req;
  req.set_serial("CAM-0001");
  req.set_holder_badge("B-100");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::IssueCamera, qm_, req),
              StatusIs(kInvalid, HasSubstr("due_back_time")));
}

TEST_F(FleetManagerTest, ForceWithoutReasonIsInvalidArgument) {
  MakeWorld();
  v1::IssueCameraRequest req;
  req.set_serial("CAM-0001");
  req.set_holder_badge("B-100");
  *req.mutable_due_back_time() = Ts(clock_.Now() + absl::Hours(8));
  req.set_force(true);
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::IssueCamera, qm_, req),
              StatusIs(kInvalid, HasSubstr("force_reason")));
}

TEST_F(FleetManagerTest, ForceReasonWithoutForceIsInvalidArgument) {
  MakeWorld();
  v1::IssueCameraRequest req;
  req.set_serial("CAM-0001");
  req.set_holder_badge("B-100");
  *req.mutable_due_back_time() = Ts(clock_.Now() + absl::Hours(8));
  req.set_force_reason("battery low but needed");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::IssueCamera, qm_, req),
              StatusIs(kInvalid, HasSubstr("force")));
}

TEST_F(FleetManagerTest, ForcedIssueRecordsTheReason) {
  MakeWorld();
  v1::IssueCameraRequest req;
  req.set_serial("CAM-0001");
  req.set_holder_badge("B-100");
  *req.mutable_due_back_time() = Ts(clock_.Now() + absl::Hours(8));
  req.set_force(true);
  req.set_force_reason("battery low but needed");
  absl::StatusOr<v1::IssueCameraResponse> resp =
      CallFleet(*manager_, &FleetManager::IssueCamera, qm_, req);
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->assignment().force_reason(), "battery low but needed");
  EXPECT_THAT(AuditSince(0).back().details, HasSubstr("battery low but needed"));
}

TEST_F(FleetManagerTest, IssueAnswersWithTheOpenAssignmentAndTheIssuedCamera) {
  MakeWorld();
  absl::StatusOr<v1::IssueCameraResponse> resp = Issue("CAM-0001", "B-100");
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->assignment().camera_serial(), "CAM-0001");
  EXPECT_EQ(resp->assignment().holder_badge(), "B-100");
  EXPECT_EQ(resp->assignment().issued_by(), "qm-quinn");
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(resp->assignment().due_back_time()),
            absl::ToUnixMicros(clock_.Now() + absl::Hours(8)));
  EXPECT_FALSE(resp->assignment().has_return_time());
  EXPECT_EQ(resp->camera().state(), v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(resp->camera().holder_badge(), "B-100");
}

// -------------------------------------------------------------------- custody semantics

TEST_F(FleetManagerTest, LostCameraKeepsItsAssignmentOpen) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  ASSERT_THAT(Lost("CAM-0001"), IsOk());
  EXPECT_EQ(OpenAssignments("CAM-0001"), 1);
  v1::GetHolderRequest req;
  req.set_badge("B-100");
  absl::StatusOr<v1::GetHolderResponse> holder = manager_->GetHolder(req);
  ASSERT_THAT(holder, IsOk());
  ASSERT_THAT(holder->open_assignments(), SizeIs(1));
  EXPECT_EQ(holder->open_assignments(0).camera_serial(), "CAM-0001");
}

TEST_F(FleetManagerTest, FoundClosesTheAssignmentAsNotReturned) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  ASSERT_THAT(Lost("CAM-0001"), IsOk());
  ASSERT_THAT(Found("CAM-0001"), IsOk());
  EXPECT_EQ(OpenAssignments("CAM-0001"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM assignments WHERE return_condition = 'NOT_RETURNED'"), 1);
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_AVAILABLE);
}

TEST_F(FleetManagerTest, FaultyFromIssuedClosesTheAssignmentAsNotReturned) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  ASSERT_THAT(Faulty("CAM-0001"), IsOk());
  EXPECT_EQ(OpenAssignments("CAM-0001"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM assignments WHERE return_condition = 'NOT_RETURNED'"), 1);
}

TEST_F(FleetManagerTest, RetireOfIssuedCameraClosesTheAssignment) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  ASSERT_THAT(Retire("CAM-0001"), IsOk());
  EXPECT_EQ(OpenAssignments("CAM-0001"), 0);
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_RETIRED);
}

TEST_F(FleetManagerTest, ReturnAnswersWithTheClosedAssignment) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100"), IsOk());
  clock_.Advance(absl::Hours(3));
  absl::StatusOr<v1::ReturnCameraResponse> resp = Return("CAM-0001");
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->assignment().returned_by(), "qm-quinn");
  EXPECT_EQ(resp->assignment().return_condition(), v1::RETURN_CONDITION_GOOD);
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(resp->assignment().return_time()),
            absl::ToUnixMicros(clock_.Now()));
  EXPECT_EQ(resp->camera().state(), v1::CAMERA_STATE_AVAILABLE);
  EXPECT_EQ(resp->camera().holder_badge(), "");
}

// Issue and return build their answer from what they wrote instead of reading it back (the
// writer's cost per write, issue 10): the answer must be exactly what a read shows afterwards.
TEST_F(FleetManagerTest, IssueAndReturnAnswerWithWhatAReadShowsAfterwards) {
  using google::protobuf::util::MessageDifferencer;
  MakeWorld();
  v1::GetCustodyTrailRequest trail_req;
  trail_req.set_serial("CAM-0001");
  absl::StatusOr<v1::IssueCameraResponse> issued = Issue("CAM-0001", "B-100");
  ASSERT_THAT(issued, IsOk());
  absl::StatusOr<v1::GetCustodyTrailResponse> trail = manager_->GetCustodyTrail(trail_req);
  ASSERT_THAT(trail, IsOk());
  ASSERT_THAT(trail->assignments(), SizeIs(1));
  EXPECT_TRUE(MessageDifferencer::Equals(issued->assignment(), trail->assignments(0)))
      << issued->assignment().DebugString() << "read:\n"
      << trail->assignments(0).DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(issued->camera(), trail->camera()))
      << issued->camera().DebugString() << "read:\n"
      << trail->camera().DebugString();

  clock_.Advance(absl::Hours(3));
  absl::StatusOr<v1::ReturnCameraResponse> returned = Return("CAM-0001");
  ASSERT_THAT(returned, IsOk());
  trail = manager_->GetCustodyTrail(trail_req);
  ASSERT_THAT(trail, IsOk());
  ASSERT_THAT(trail->assignments(), SizeIs(1));
  EXPECT_TRUE(MessageDifferencer::Equals(returned->assignment(), trail->assignments(0)))
      << returned->assignment().DebugString() << "read:\n"
      << trail->assignments(0).DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(returned->camera(), trail->camera()))
      << returned->camera().DebugString() << "read:\n"
      << trail->camera().DebugString();
}

TEST_F(FleetManagerTest, CustodyTrailListsAssignmentsOldestFirstWithWhoIssuedAndReturned) {
  MakeWorld();
  MakeHolder("B-200", "POST-1");
  MakeHolder("B-300", "POST-1");
  const rpc::Identity alice = Who("qm-alice", provisioning::Role::kQuartermaster);
  const rpc::Identity bob = Who("qm-bob", provisioning::Role::kQuartermaster);
  const rpc::Identity carol = Who("qm-carol", provisioning::Role::kQuartermaster);
  const rpc::Identity dave = Who("qm-dave", provisioning::Role::kQuartermaster);
  ASSERT_THAT(Issue("CAM-0001", "B-100", &alice), IsOk());
  clock_.Advance(absl::Hours(1));
  ASSERT_THAT(Return("CAM-0001", v1::RETURN_CONDITION_GOOD, &bob), IsOk());
  clock_.Advance(absl::Hours(1));
  ASSERT_THAT(Issue("CAM-0001", "B-200", &carol), IsOk());
  clock_.Advance(absl::Hours(1));
  ASSERT_THAT(Return("CAM-0001", v1::RETURN_CONDITION_DAMAGED, &dave), IsOk());
  ASSERT_THAT(Repair("CAM-0001"), IsOk());
  clock_.Advance(absl::Hours(1));
  ASSERT_THAT(Issue("CAM-0001", "B-300", &alice), IsOk());

  v1::GetCustodyTrailRequest req;
  req.set_serial("CAM-0001");
  absl::StatusOr<v1::GetCustodyTrailResponse> trail = manager_->GetCustodyTrail(req);
  ASSERT_THAT(trail, IsOk());
  ASSERT_THAT(trail->assignments(), SizeIs(3));
  const auto& a = trail->assignments();
  EXPECT_EQ(a[0].holder_badge(), "B-100");
  EXPECT_EQ(a[0].issued_by(), "qm-alice");
  EXPECT_EQ(a[0].returned_by(), "qm-bob");
  EXPECT_EQ(a[0].return_condition(), v1::RETURN_CONDITION_GOOD);
  EXPECT_EQ(a[1].holder_badge(), "B-200");
  EXPECT_EQ(a[1].issued_by(), "qm-carol");
  EXPECT_EQ(a[1].returned_by(), "qm-dave");
  EXPECT_EQ(a[1].return_condition(), v1::RETURN_CONDITION_DAMAGED);
  EXPECT_EQ(a[2].holder_badge(), "B-300");
  EXPECT_EQ(a[2].issued_by(), "qm-alice");
  EXPECT_EQ(a[2].returned_by(), "");
  EXPECT_FALSE(a[2].has_return_time());
  EXPECT_LT(TimeUtil::TimestampToMicroseconds(a[0].issue_time()),
            TimeUtil::TimestampToMicroseconds(a[1].issue_time()));
  EXPECT_LT(TimeUtil::TimestampToMicroseconds(a[1].issue_time()),
            TimeUtil::TimestampToMicroseconds(a[2].issue_time()));
  EXPECT_EQ(trail->camera().holder_badge(), "B-300");
}

// ------------------------------------------------------------------------------ overdue

TEST_F(FleetManagerTest, OverdueListingFollowsTheClock) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100", nullptr, absl::Hours(1)), IsOk());
  absl::StatusOr<v1::ListOverdueAssignmentsResponse> now =
      manager_->ListOverdueAssignments(v1::ListOverdueAssignmentsRequest());
  ASSERT_THAT(now, IsOk());
  EXPECT_THAT(now->assignments(), IsEmpty());

  clock_.Advance(absl::Hours(2));
  absl::StatusOr<v1::ListOverdueAssignmentsResponse> later =
      manager_->ListOverdueAssignments(v1::ListOverdueAssignmentsRequest());
  ASSERT_THAT(later, IsOk());
  ASSERT_THAT(later->assignments(), SizeIs(1));
  EXPECT_EQ(later->assignments(0).camera_serial(), "CAM-0001");
  EXPECT_EQ(later->assignments(0).holder_badge(), "B-100");
}

TEST_F(FleetManagerTest, ReturnedCameraIsNotOverdue) {
  MakeWorld();
  ASSERT_THAT(Issue("CAM-0001", "B-100", nullptr, absl::Hours(1)), IsOk());
  clock_.Advance(absl::Hours(2));
  ASSERT_THAT(Return("CAM-0001"), IsOk());
  absl::StatusOr<v1::ListOverdueAssignmentsResponse> resp =
      manager_->ListOverdueAssignments(v1::ListOverdueAssignmentsRequest());
  ASSERT_THAT(resp, IsOk());
  EXPECT_THAT(resp->assignments(), IsEmpty());
}

TEST_F(FleetManagerTest, OverdueIsMostOverdueFirstAcrossPagesAndBySiteSubtree) {
  MakeSite("REGION");
  MakeSite("POST-A", "REGION");
  MakeSite("POST-B");
  MakeHolder("B-1", "POST-A");
  // Due in 5h, 1h, 4h, 2h, 3h; CAM-0006 at POST-B due in 30 min.
  const std::vector<std::pair<std::string, int>> due_minutes = {
      {"CAM-0001", 300}, {"CAM-0002", 60}, {"CAM-0003", 240}, {"CAM-0004", 120}, {"CAM-0005", 180}};
  for (const auto& [serial, minutes] : due_minutes) {
    MakeAvailable(serial, "POST-A");
    ASSERT_THAT(Issue(serial, "B-1", nullptr, absl::Minutes(minutes)), IsOk());
  }
  MakeAvailable("CAM-0006", "POST-B");
  ASSERT_THAT(Issue("CAM-0006", "B-1", nullptr, absl::Minutes(30)), IsOk());
  clock_.Advance(absl::Hours(6));

  std::vector<std::string> order;
  v1::ListOverdueAssignmentsRequest req;
  req.set_site_code("REGION");
  req.set_page_size(2);
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<v1::ListOverdueAssignmentsResponse> resp = manager_->ListOverdueAssignments(req);
    ASSERT_THAT(resp, IsOk());
    EXPECT_LE(resp->assignments_size(), 2);
    for (const v1::Assignment& a : resp->assignments()) order.push_back(a.camera_serial());
    if (resp->next_page_token().empty()) break;
    req.set_page_token(resp->next_page_token());
  }
  EXPECT_THAT(order, ElementsAre("CAM-0002", "CAM-0004", "CAM-0005", "CAM-0003", "CAM-0001"));
}

TEST_F(FleetManagerTest, OverdueForUnknownSiteIsNotFoundNamingIt) {
  v1::ListOverdueAssignmentsRequest req;
  req.set_site_code("NOWHERE");
  EXPECT_THAT(manager_->ListOverdueAssignments(req), StatusIs(kNotFound, HasSubstr("NOWHERE")));
}

// ------------------------------------------------------------------- not found, named

TEST_F(FleetManagerTest, UnknownCameraIsNotFoundNamingTheSerial) {
  MakeWorld();
  EXPECT_THAT(Issue("CAM-9999", "B-100"), StatusIs(kNotFound, HasSubstr("CAM-9999")));
  EXPECT_THAT(Lost("CAM-9998"), StatusIs(kNotFound, HasSubstr("CAM-9998")));
  v1::GetCameraRequest get;
  get.set_serial("CAM-9997");
  EXPECT_THAT(manager_->GetCamera(get), StatusIs(kNotFound, HasSubstr("CAM-9997")));
  v1::GetCustodyTrailRequest trail;
  trail.set_serial("CAM-9996");
  EXPECT_THAT(manager_->GetCustodyTrail(trail), StatusIs(kNotFound, HasSubstr("CAM-9996")));
}

TEST_F(FleetManagerTest, UnknownHolderIsNotFoundNamingTheBadge) {
  MakeWorld();
  v1::GetHolderRequest get;
  get.set_badge("B-404");
  EXPECT_THAT(manager_->GetHolder(get), StatusIs(kNotFound, HasSubstr("B-404")));
  v1::ListCamerasRequest list;
  list.set_holder_badge("B-405");
  EXPECT_THAT(manager_->ListCameras(list), StatusIs(kNotFound, HasSubstr("B-405")));
}

TEST_F(FleetManagerTest, UnknownSiteIsNotFoundNamingTheCode) {
  v1::RegisterCameraRequest reg;
  reg.set_serial("CAM-0001");
  reg.set_model("BWC-7");
  reg.set_site_code("POST-404");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::RegisterCamera, admin_, reg),
              StatusIs(kNotFound, HasSubstr("POST-404")));
  v1::CreateHolderRequest holder;
  holder.set_badge("B-1");
  holder.set_name("One");
  holder.set_home_site_code("POST-405");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::CreateHolder, admin_, holder),
              StatusIs(kNotFound, HasSubstr("POST-405")));
  v1::CreateSiteRequest site;
  site.set_code("POST-1");
  site.set_name("Post one");
  site.set_parent_code("REGION-406");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::CreateSite, admin_, site),
              StatusIs(kNotFound, HasSubstr("REGION-406")));
  v1::GetSiteRequest get;
  get.set_code("POST-407");
  EXPECT_THAT(manager_->GetSite(get), StatusIs(kNotFound, HasSubstr("POST-407")));
  v1::ListCamerasRequest list;
  list.set_site_code("POST-408");
  EXPECT_THAT(manager_->ListCameras(list), StatusIs(kNotFound, HasSubstr("POST-408")));
  EXPECT_EQ(AuditCount(), 0);
}

TEST_F(FleetManagerTest, DuplicateKeysAreAlreadyExistsNamingTheKey) {
  MakeWorld();
  v1::CreateSiteRequest site;
  site.set_code("POST-1");
  site.set_name("Again");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::CreateSite, admin_, site),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("POST-1")));
  v1::CreateHolderRequest holder;
  holder.set_badge("B-100");
  holder.set_name("Again");
  holder.set_home_site_code("POST-1");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::CreateHolder, admin_, holder),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("B-100")));
  v1::RegisterCameraRequest cam;
  cam.set_serial("CAM-0001");
  cam.set_model("BWC-7");
  cam.set_site_code("POST-1");
  EXPECT_THAT(CallFleet(*manager_, &FleetManager::RegisterCamera, admin_, cam),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("CAM-0001")));
}

// ------------------------------------------------------------------------ manifest import

constexpr char kManifestHeader[] = "serial,model,hardware_revision,site\n";

TEST_F(FleetManagerTest, CleanManifestRegistersEveryCamera) {
  MakeSite("POST-1");
  MakeSite("POST-2");
  const int64_t audit_before = AuditCount();
  absl::StatusOr<v1::ImportManifestResponse> resp =
      Import(absl::StrCat(kManifestHeader, "CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-9,B,POST-2\n"),
             false, false);
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->imported(), 2);
  EXPECT_EQ(resp->rows(), 2);
  EXPECT_THAT(resp->errors(), IsEmpty());
  EXPECT_EQ(StateOf("CAM-0001"), v1::CAMERA_STATE_REGISTERED);
  EXPECT_EQ(StateOf("CAM-0002"), v1::CAMERA_STATE_REGISTERED);
  const std::vector<AuditRow> events = AuditSince(0);
  EXPECT_EQ(AuditCount(), audit_before + 2);
  EXPECT_EQ(events.back().action, "camera.register");
  EXPECT_EQ(events.back().actor, "admin-ann");
}

TEST_F(FleetManagerTest, ManifestWithABadRowImportsNothingByDefault) {
  MakeSite("POST-1");
  const std::string before = Fingerprint();
  absl::StatusOr<v1::ImportManifestResponse> resp =
      Import(absl::StrCat(kManifestHeader,
                          "CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-7,A,POST-9\n"
                          "CAM-0003,BWC-7,A,POST-1\n"),
             false, false);
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->imported(), 0);
  EXPECT_EQ(resp->rows(), 3);
  ASSERT_THAT(resp->errors(), SizeIs(1));
  EXPECT_EQ(resp->errors(0).line(), 3);
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, PartialManifestImportsTheGoodRows) {
  MakeSite("POST-1");
  const int64_t audit_before = AuditCount();
  absl::StatusOr<v1::ImportManifestResponse> resp =
      Import(absl::StrCat(kManifestHeader,
                          "CAM-0001,BWC-7,A,POST-1\nCAM 0002,BWC-7,A,POST-1\n"
                          "CAM-0003,BWC-7,A,POST-1\n"),
             true, false);
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->imported(), 2);
  EXPECT_EQ(resp->rows(), 3);
  ASSERT_THAT(resp->errors(), SizeIs(1));
  EXPECT_EQ(resp->errors(0).line(), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM cameras"), 2);
  EXPECT_EQ(AuditCount(), audit_before + 2);
}

TEST_F(FleetManagerTest, DryRunImportsNothingEvenWhenEveryRowIsGood) {
  MakeSite("POST-1");
  const std::string before = Fingerprint();
  absl::StatusOr<v1::ImportManifestResponse> resp =
      Import(absl::StrCat(kManifestHeader, "CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-7,A,POST-1\n"),
             true, true);
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->imported(), 0);
  EXPECT_EQ(resp->rows(), 2);
  EXPECT_THAT(resp->errors(), IsEmpty());
  EXPECT_EQ(Fingerprint(), before);
}

TEST_F(FleetManagerTest, DryRunReportsEveryError) {
  MakeSite("POST-1");
  MakeCamera("CAM-0001", "POST-1");
  absl::StatusOr<v1::ImportManifestResponse> resp = Import(
      absl::StrCat(kManifestHeader,
                   "CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-7,A,POST-9\nCAM 3,BWC-7,A,POST-1\n"),
      false, true);
  ASSERT_THAT(resp, IsOk());
  std::vector<int64_t> lines;
  for (const v1::ManifestRowError& e : resp->errors()) lines.push_back(e.line());
  EXPECT_THAT(lines, ElementsAre(2, 3, 4));
}

TEST_F(FleetManagerTest, ManifestSerialAlreadyInTheStoreIsReportedOnItsLine) {
  MakeSite("POST-1");
  MakeCamera("CAM-0002", "POST-1");
  absl::StatusOr<v1::ImportManifestResponse> resp =
      Import(absl::StrCat(kManifestHeader, "CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-7,A,POST-1\n"),
             true, false);
  ASSERT_THAT(resp, IsOk());
  ASSERT_THAT(resp->errors(), SizeIs(1));
  EXPECT_EQ(resp->errors(0).line(), 3);
  EXPECT_EQ(resp->errors(0).column(), "serial");
  EXPECT_THAT(resp->errors(0).message(),
              AllOf(HasSubstr("line 3"), HasSubstr("CAM-0002"), HasSubstr("already registered")));
  EXPECT_EQ(resp->imported(), 1);
}

TEST_F(FleetManagerTest, ManifestUnknownSiteIsReportedOnItsLine) {
  MakeSite("POST-1");
  absl::StatusOr<v1::ImportManifestResponse> resp =
      Import(absl::StrCat(kManifestHeader, "CAM-0001,BWC-7,A,POST-77\n"), false, false);
  ASSERT_THAT(resp, IsOk());
  ASSERT_THAT(resp->errors(), SizeIs(1));
  EXPECT_EQ(resp->errors(0).line(), 2);
  EXPECT_EQ(resp->errors(0).column(), "site");
  EXPECT_THAT(resp->errors(0).message(), HasSubstr("POST-77"));
  EXPECT_EQ(resp->imported(), 0);
}

TEST_F(FleetManagerTest, ManifestErrorsAreInLineOrderKeepingColumnOrderWithinALine) {
  MakeSite("POST-1");
  // Forty rows, each with a bad model and a bad site: two errors per line, model first.
  std::string csv = kManifestHeader;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&csv, absl::StrFormat("CAM-%04d,,A,po st\n", i));
  absl::StatusOr<v1::ImportManifestResponse> resp = Import(csv, false, true);
  ASSERT_THAT(resp, IsOk());
  ASSERT_THAT(resp->errors(), SizeIs(80));
  for (int i = 0; i < 40; ++i) {
    const v1::ManifestRowError& first = resp->errors(2 * i);
    const v1::ManifestRowError& second = resp->errors(2 * i + 1);
    EXPECT_EQ(first.line(), i + 2);
    EXPECT_EQ(second.line(), i + 2);
    EXPECT_EQ(first.column(), "model") << "line " << i + 2;
    EXPECT_EQ(second.column(), "site") << "line " << i + 2;
  }
}

TEST_F(FleetManagerTest, ManifestWithoutHeaderIsInvalidArgumentAndWritesNothing) {
  MakeSite("POST-1");
  const std::string before = Fingerprint();
  EXPECT_THAT(Import("CAM-0001,BWC-7,A,POST-1\n", true, false),
              StatusIs(kInvalid, HasSubstr("header")));
  EXPECT_EQ(Fingerprint(), before);
}

// -------------------------------------------------------------------------------- paging

struct CameraSpec {
  std::string serial;
  std::string site;
  std::string model;
  std::string holder;  // issued to, or empty
  bool retired = false;
};

class FleetListTest : public FleetManagerTest {
 protected:
  void SetUp() override {
    FleetManagerTest::SetUp();
    // REGION > DIST-A > POST-A1, and POST-B on its own.
    MakeSite("REGION");
    MakeSite("DIST-A", "REGION");
    MakeSite("POST-A1", "DIST-A");
    MakeSite("POST-B");
    MakeHolder("H-1", "POST-A1");
    MakeHolder("H-2", "POST-B");
    const char* sites[] = {"REGION", "DIST-A", "POST-A1", "POST-B"};
    const char* models[] = {"BWC-7", "BWC-9", "BWC-7X"};
    std::string csv = kManifestHeader;
    for (int i = 0; i < 23; ++i) {
      CameraSpec spec;
      spec.serial = absl::StrFormat("CAM-%04d", 23 - i);  // inserted out of serial order
      spec.site = sites[i % 4];
      spec.model = models[i % 3];
      if (i % 5 == 1) spec.holder = "H-1";
      if (i % 5 == 3) spec.holder = "H-2";
      spec.retired = i % 7 == 6 && spec.holder.empty();
      specs_.push_back(spec);
      absl::StrAppend(&csv, spec.serial, ",", spec.model, ",A,", spec.site, "\n");
    }
    absl::StatusOr<v1::ImportManifestResponse> imported = Import(csv, false, false);
    ASSERT_THAT(imported, IsOk());
    ASSERT_EQ(imported->imported(), 23);
    for (const CameraSpec& spec : specs_) {
      if (spec.retired) {
        ASSERT_THAT(Retire(spec.serial), IsOk());
        continue;
      }
      ASSERT_THAT(Commission(spec.serial), IsOk());
      if (!spec.holder.empty()) {
        ASSERT_THAT(Issue(spec.serial, spec.holder), IsOk());
      }
    }
  }

  std::set<std::string> Expect(const std::function<bool(const CameraSpec&)>& keep) {
    std::set<std::string> out;
    for (const CameraSpec& s : specs_) {
      if (keep(s)) out.insert(s.serial);
    }
    return out;
  }

  // Pages through ListCameras; every serial must come exactly once and in order.
  std::vector<std::string> ListAll(v1::ListCamerasRequest req, int page_size) {
    std::vector<std::string> serials;
    req.set_page_size(page_size);
    for (int page = 0; page < 100; ++page) {
      absl::StatusOr<v1::ListCamerasResponse> resp = manager_->ListCameras(req);
      EXPECT_THAT(resp, IsOk());
      if (!resp.ok()) break;
      EXPECT_LE(resp->cameras_size(), page_size);
      for (const v1::Camera& c : resp->cameras()) serials.push_back(c.serial());
      if (resp->next_page_token().empty()) break;
      EXPECT_EQ(resp->cameras_size(), page_size) << "a page before the last must be full";
      req.set_page_token(resp->next_page_token());
    }
    return serials;
  }

  static std::set<std::string> ExactlyOnceInOrder(const std::vector<std::string>& serials) {
    std::set<std::string> unique(serials.begin(), serials.end());
    EXPECT_EQ(unique.size(), serials.size()) << "a camera came twice";
    EXPECT_TRUE(std::is_sorted(serials.begin(), serials.end()));
    return unique;
  }

  std::vector<CameraSpec> specs_;
};

TEST_F(FleetListTest, EveryCameraComesExactlyOnceAcrossPages) {
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(v1::ListCamerasRequest(), 4)),
            Expect([](const CameraSpec&) { return true; }));
}

TEST_F(FleetListTest, PageSizeOfOneStillReturnsEveryCamera) {
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(v1::ListCamerasRequest(), 1)).size(), 23u);
}

TEST_F(FleetListTest, StateFilterPagesOverOnlyThatState) {
  v1::ListCamerasRequest req;
  req.set_state(v1::CAMERA_STATE_AVAILABLE);
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 3)),
            Expect([](const CameraSpec& s) { return !s.retired && s.holder.empty(); }));
  req.set_state(v1::CAMERA_STATE_RETIRED);
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 3)),
            Expect([](const CameraSpec& s) { return s.retired; }));
}

TEST_F(FleetListTest, SiteFilterCoversTheWholeSubtree) {
  v1::ListCamerasRequest req;
  req.set_site_code("DIST-A");
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 2)),
            Expect([](const CameraSpec& s) { return s.site == "DIST-A" || s.site == "POST-A1"; }));
  req.set_site_code("REGION");
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 5)),
            Expect([](const CameraSpec& s) { return s.site != "POST-B"; }));
}

TEST_F(FleetListTest, ModelFilterMatchesTheModelExactly) {
  v1::ListCamerasRequest req;
  req.set_model("BWC-7");
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 2)),
            Expect([](const CameraSpec& s) { return s.model == "BWC-7"; }));
}

TEST_F(FleetListTest, HolderFilterListsWhatTheHolderHasNow) {
  v1::ListCamerasRequest req;
  req.set_holder_badge("H-1");
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 2)),
            Expect([](const CameraSpec& s) { return s.holder == "H-1"; }));
}

TEST_F(FleetListTest, CombinedFiltersAllApply) {
  v1::ListCamerasRequest req;
  req.set_site_code("REGION");
  req.set_model("BWC-9");
  req.set_state(v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 1)), Expect([](const CameraSpec& s) {
              return s.site != "POST-B" && s.model == "BWC-9" && !s.holder.empty();
            }));
}

TEST_F(FleetListTest, NotSeenSinceIncludesCamerasNeverSeen) {
  // No dock has reported any of them, so every camera counts as not seen.
  v1::ListCamerasRequest req;
  *req.mutable_not_seen_since() = Ts(clock_.Now());
  EXPECT_EQ(ExactlyOnceInOrder(ListAll(req, 7)).size(), 23u);
}

TEST_F(FleetListTest, SitesUnderAParentAreItsWholeSubtreeWithoutIt) {
  v1::ListSitesRequest req;
  req.set_parent_code("REGION");
  absl::StatusOr<v1::ListSitesResponse> resp = manager_->ListSites(req);
  ASSERT_THAT(resp, IsOk());
  std::vector<std::string> codes;
  for (const v1::Site& s : resp->sites()) codes.push_back(s.code());
  EXPECT_THAT(codes, ElementsAre("DIST-A", "POST-A1"));
}

TEST_F(FleetListTest, HoldersOfASiteIncludeItsSubtree) {
  v1::ListHoldersRequest req;
  req.set_site_code("REGION");
  absl::StatusOr<v1::ListHoldersResponse> resp = manager_->ListHolders(req);
  ASSERT_THAT(resp, IsOk());
  std::vector<std::string> badges;
  for (const v1::Holder& h : resp->holders()) badges.push_back(h.badge());
  EXPECT_THAT(badges, ElementsAre("H-1"));
}

TEST_F(FleetListTest, TokenFromAnotherFilterIsRefused) {
  v1::ListCamerasRequest req;
  req.set_page_size(2);
  req.set_model("BWC-7");
  absl::StatusOr<v1::ListCamerasResponse> first = manager_->ListCameras(req);
  ASSERT_THAT(first, IsOk());
  ASSERT_FALSE(first->next_page_token().empty());
  req.set_model("BWC-9");
  req.set_page_token(first->next_page_token());
  EXPECT_THAT(manager_->ListCameras(req), StatusIs(kInvalid, HasSubstr("page_token")));
}

TEST_F(FleetListTest, GarbagePageTokenIsRefused) {
  v1::ListCamerasRequest req;
  req.set_page_token("not-a-token");
  EXPECT_THAT(manager_->ListCameras(req), StatusIs(kInvalid, HasSubstr("page_token")));
}

TEST_F(FleetListTest, NegativePageSizeIsRefused) {
  v1::ListCamerasRequest req;
  req.set_page_size(-5);
  EXPECT_THAT(manager_->ListCameras(req), StatusIs(kInvalid, HasSubstr("page_size")));
}

TEST_F(FleetListTest, UnknownStateValueIsRefused) {
  v1::ListCamerasRequest req;
  req.set_state(static_cast<v1::CameraState>(42));
  EXPECT_THAT(manager_->ListCameras(req), StatusIs(kInvalid, HasSubstr("state")));
}

TEST_F(FleetListTest, SitesPageOverEverySiteOnce) {
  std::vector<std::string> codes;
  v1::ListSitesRequest req;
  req.set_page_size(1);
  for (int page = 0; page < 20; ++page) {
    absl::StatusOr<v1::ListSitesResponse> resp = manager_->ListSites(req);
    ASSERT_THAT(resp, IsOk());
    for (const v1::Site& s : resp->sites()) codes.push_back(s.code());
    if (resp->next_page_token().empty()) break;
    req.set_page_token(resp->next_page_token());
  }
  EXPECT_THAT(codes, ElementsAre("DIST-A", "POST-A1", "POST-B", "REGION"));
}

TEST_F(FleetListTest, HoldersPageOverEveryHolderOnce) {
  std::vector<std::string> badges;
  v1::ListHoldersRequest req;
  req.set_page_size(1);
  for (int page = 0; page < 20; ++page) {
    absl::StatusOr<v1::ListHoldersResponse> resp = manager_->ListHolders(req);
    ASSERT_THAT(resp, IsOk());
    for (const v1::Holder& h : resp->holders()) badges.push_back(h.badge());
    if (resp->next_page_token().empty()) break;
    req.set_page_token(resp->next_page_token());
  }
  EXPECT_THAT(badges, ElementsAre("H-1", "H-2"));
}

}  // namespace
}  // namespace camfleet::fleet
