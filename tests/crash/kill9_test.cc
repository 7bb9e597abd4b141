// camfleetd killed with SIGKILL in the middle of a burst of issues and returns loses nothing it
// acknowledged: every acknowledged change is in the database after a restart, with its audit
// event, the audit chain is intact and SQLite finds the file sound.
//
// 32 clients each own six cameras and walk them issue, return, issue, ... one call at a time,
// stopping at their first failed call. So each client has a prefix of acknowledged calls and at
// most one call whose fate is unknown (sent, answer lost): that one may or may not have
// committed, and nothing after it was sent.

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/crash/camfleetd_child.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::ElementsAreArray;

constexpr int kClients = 32;
constexpr int kCamerasPerClient = 6;
constexpr int kCallsPerClient = 32;  // 1,024 issue/return calls in all
constexpr int kAcknowledgedBeforeKill = 300;
constexpr absl::Duration kStartTimeout = absl::Seconds(60);
// Calls in the burst get longer than the usual deadline: 32 clients share two cores.
constexpr absl::Duration kBurstDeadline = absl::Seconds(20);

std::string Serial(int client, int camera) { return absl::StrFormat("KC-%02d-%d", client, camera); }
std::string Badge(int client) { return absl::StrFormat("K-%02d", client); }
std::string Worker(int client) { return absl::StrFormat("worker-%02d", client); }

// Call k of a client: camera k % 6; issue on even passes over its cameras, return on odd ones.
int CameraOf(int call) { return call % kCamerasPerClient; }
bool IsIssue(int call) { return (call / kCamerasPerClient) % 2 == 0; }

// One run of the real binary on `db`.
absl::StatusOr<std::unique_ptr<CamfleetdChild>> StartCamfleetd(const TempDir& dir,
                                                               const std::string& db, int run) {
  return CamfleetdChild::Start(CAMFLEETD_PATH, dir, db, run, kStartTimeout);
}

template <typename Stub, typename Req, typename Resp>
grpc::Status Call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp, const std::string& who,
                  absl::Duration deadline = kCallDeadline) {
  std::unique_ptr<grpc::ClientContext> ctx = NewClientContext(who, deadline);
  return (stub.*method)(ctx.get(), req, resp);
}

// What a client saw of one call.
struct CallRecord {
  int call = 0;
  grpc::Status status;
  int64_t assignment_id = 0;  // of an acknowledged issue or return
  absl::Time answered;
};

// What the database must show for one camera if the given calls (in order) were applied:
// one assignment per issue, each return closing the latest as GOOD.
struct CameraModel {
  std::vector<int64_t> acknowledged_ids;  // assignment ids of acknowledged calls, by position
  std::vector<bool> closed;
  std::vector<std::string> actions;  // audit actions after register and commission
};

CameraModel Apply(const std::vector<const CallRecord*>& calls, bool with_uncertain_last) {
  CameraModel m;
  for (size_t i = 0; i < calls.size(); ++i) {
    const bool acknowledged = calls[i]->status.ok();
    if (!acknowledged && !(with_uncertain_last && i + 1 == calls.size())) break;
    if (IsIssue(calls[i]->call)) {
      m.closed.push_back(false);
      m.actions.push_back("camera.issue");
      if (acknowledged) m.acknowledged_ids.push_back(calls[i]->assignment_id);
    } else {
      if (!m.closed.empty()) m.closed.back() = true;
      m.actions.push_back("camera.return");
    }
  }
  return m;
}

class Kill9Test : public ::testing::Test {
 protected:
  void SetUp() override { db_ = dir_.File("fleet.db"); }

  TempDir dir_;
  std::string db_;
};

TEST_F(Kill9Test, EveryAcknowledgedIssueAndReturnSurvivesSigkill) {
  // ---- first run: set up the fleet, then the burst, then SIGKILL.
  absl::StatusOr<std::unique_ptr<CamfleetdChild>> first = StartCamfleetd(dir_, db_, 1);
  ASSERT_THAT(first, IsOk());
  {
    auto channel = grpc::CreateChannel((*first)->target(), grpc::InsecureChannelCredentials());
    auto fleet = v1::FleetService::NewStub(channel);
    v1::CreateSiteRequest site;
    site.set_code("DEPOT");
    site.set_name("Depot");
    v1::CreateSiteResponse site_resp;
    ASSERT_THAT(Call(*fleet, &v1::FleetService::Stub::CreateSite, site, &site_resp, "setup"),
                IsOk());
    std::string csv = "serial,model,hardware_revision,site\n";
    for (int c = 0; c < kClients; ++c) {
      for (int k = 0; k < kCamerasPerClient; ++k) {
        absl::StrAppend(&csv, Serial(c, k), ",AXON-4,R1,DEPOT\n");
      }
    }
    v1::ImportManifestRequest manifest;
    manifest.set_csv(csv);
    v1::ImportManifestResponse manifest_resp;
    ASSERT_THAT(
        Call(*fleet, &v1::FleetService::Stub::ImportManifest, manifest, &manifest_resp, "setup"),
        IsOk());
    ASSERT_EQ(manifest_resp.imported(), kClients * kCamerasPerClient)
        << manifest_resp.DebugString();
  }

  // Holders and commissioning, one client thread each, so they commit in groups.
  std::vector<std::thread> threads;
  std::vector<grpc::Status> setup_failures(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto fleet = v1::FleetService::NewStub(NewDedicatedChannel((*first)->target()));
      v1::CreateHolderRequest holder;
      holder.set_badge(Badge(c));
      holder.set_name(absl::StrCat("Officer ", c));
      holder.set_home_site_code("DEPOT");
      v1::CreateHolderResponse holder_resp;
      grpc::Status s =
          Call(*fleet, &v1::FleetService::Stub::CreateHolder, holder, &holder_resp, "setup");
      for (int k = 0; k < kCamerasPerClient && s.ok(); ++k) {
        v1::CommissionCameraRequest req;
        req.set_serial(Serial(c, k));
        req.set_reason("crash test stock");
        v1::CommissionCameraResponse resp;
        s = Call(*fleet, &v1::FleetService::Stub::CommissionCamera, req, &resp, "setup");
      }
      setup_failures[c] = s;
    });
  }
  for (std::thread& t : threads) t.join();
  threads.clear();
  for (int c = 0; c < kClients; ++c) ASSERT_THAT(setup_failures[c], IsOk()) << "client " << c;

  absl::Mutex mu;
  int acknowledged = 0;  // guarded by mu
  std::vector<std::vector<CallRecord>> records(kClients);
  const absl::Time due = absl::Now() + absl::Hours(24);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto fleet = v1::FleetService::NewStub(NewDedicatedChannel((*first)->target()));
      for (int k = 0; k < kCallsPerClient; ++k) {
        CallRecord rec;
        rec.call = k;
        const std::string serial = Serial(c, CameraOf(k));
        if (IsIssue(k)) {
          v1::IssueCameraRequest req;
          req.set_serial(serial);
          req.set_holder_badge(Badge(c));
          *req.mutable_due_back_time() =
              google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(due));
          v1::IssueCameraResponse resp;
          rec.status = Call(*fleet, &v1::FleetService::Stub::IssueCamera, req, &resp, Worker(c),
                            kBurstDeadline);
          rec.assignment_id = resp.assignment().id();
        } else {
          v1::ReturnCameraRequest req;
          req.set_serial(serial);
          req.set_condition(v1::RETURN_CONDITION_GOOD);
          v1::ReturnCameraResponse resp;
          rec.status = Call(*fleet, &v1::FleetService::Stub::ReturnCamera, req, &resp, Worker(c),
                            kBurstDeadline);
          rec.assignment_id = resp.assignment().id();
        }
        rec.answered = absl::Now();
        const bool ok = rec.status.ok();
        records[c].push_back(std::move(rec));
        if (!ok) break;  // from here on the camera's state is unknown
        absl::MutexLock lock(&mu);
        ++acknowledged;
      }
    });
  }
  absl::Time killed_at;
  bool reached = false;
  std::thread watcher([&] {
    {
      absl::MutexLock lock(&mu);
      reached = mu.AwaitWithTimeout(
          absl::Condition(
              +[](int* n) { return *n >= kAcknowledgedBeforeKill; }, &acknowledged),
          absl::Seconds(120));
    }
    killed_at = absl::Now();
    (*first)->process().Signal(SIGKILL).IgnoreError();
  });
  watcher.join();
  for (std::thread& t : threads) t.join();
  threads.clear();
  absl::StatusOr<int> exit_status = (*first)->process().Wait(absl::Seconds(30));
  ASSERT_THAT(exit_status, IsOk());
  EXPECT_TRUE(WIFSIGNALED(*exit_status) && WTERMSIG(*exit_status) == SIGKILL)
      << "camfleetd ended on its own before the kill; log:\n"
      << (*first)->process().LogTail();
  ASSERT_TRUE(reached) << "only " << acknowledged << " calls acknowledged before the deadline";

  int total_acknowledged = 0;
  for (int c = 0; c < kClients; ++c) {
    for (const CallRecord& r : records[c]) {
      if (r.status.ok()) {
        ++total_acknowledged;
        continue;
      }
      // Nothing may fail while the server is up: every call in the burst is legal.
      EXPECT_GE(r.answered, killed_at)
          << "client " << c << " call " << r.call << " failed with " << r.status.error_code() << " "
          << r.status.error_message() << " before the kill";
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
    }
  }
  // The kill must have landed mid-burst for this test to mean anything.
  ASSERT_LT(total_acknowledged, kClients * kCallsPerClient);
  ASSERT_GE(total_acknowledged, kAcknowledgedBeforeKill);

  // ---- second run on the same file: everything acknowledged is there.
  absl::StatusOr<std::unique_ptr<CamfleetdChild>> second = StartCamfleetd(dir_, db_, 2);
  ASSERT_THAT(second, IsOk());
  auto channel = grpc::CreateChannel((*second)->target(), grpc::InsecureChannelCredentials());
  auto fleet = v1::FleetService::NewStub(channel);
  auto audit = v1::AuditService::NewStub(channel);
  int64_t applied_changes = 0;
  int uncertain_committed = 0;
  for (int c = 0; c < kClients; ++c) {
    for (int k = 0; k < kCamerasPerClient; ++k) {
      const std::string serial = Serial(c, k);
      std::vector<const CallRecord*> calls;
      for (const CallRecord& r : records[c]) {
        if (CameraOf(r.call) == k) calls.push_back(&r);
      }
      const bool has_uncertain = !calls.empty() && !calls.back()->status.ok();

      v1::GetCustodyTrailRequest trail_req;
      trail_req.set_serial(serial);
      v1::GetCustodyTrailResponse trail;
      ASSERT_THAT(
          Call(*fleet, &v1::FleetService::Stub::GetCustodyTrail, trail_req, &trail, "checker"),
          IsOk());
      std::vector<int64_t> ids;
      std::vector<bool> closed;
      for (const v1::Assignment& a : trail.assignments()) {
        ids.push_back(a.id());
        closed.push_back(a.has_return_time());
        if (a.has_return_time()) {
          EXPECT_EQ(a.return_condition(), v1::RETURN_CONDITION_GOOD) << serial;
          EXPECT_EQ(a.returned_by(), Worker(c)) << serial;
        }
        EXPECT_EQ(a.issued_by(), Worker(c)) << serial;
      }

      // Which world are we in: the uncertain call committed or not. Acknowledged calls are in
      // both; anything else is lost or invented data.
      const CameraModel without = Apply(calls, false);
      const CameraModel with = Apply(calls, has_uncertain);
      const bool matches_without = closed == without.closed;
      const bool matches_with = has_uncertain && closed == with.closed;
      ASSERT_TRUE(matches_without || matches_with)
          << serial << ": custody trail " << trail.DebugString() << " matches neither "
          << without.closed.size() << " nor " << with.closed.size() << " assignments";
      const CameraModel& model = matches_without ? without : with;
      if (!matches_without) ++uncertain_committed;
      // Every acknowledged issue is there under the id it was acknowledged with, in order.
      for (size_t i = 0; i < without.acknowledged_ids.size(); ++i) {
        EXPECT_EQ(ids[i], without.acknowledged_ids[i]) << serial << " assignment " << i;
      }
      const bool issued = !model.closed.empty() && !model.closed.back();
      EXPECT_EQ(trail.camera().state(),
                issued ? v1::CAMERA_STATE_ISSUED : v1::CAMERA_STATE_AVAILABLE)
          << serial;
      EXPECT_EQ(trail.camera().holder_badge(), issued ? Badge(c) : "") << serial;

      // The audit trail of the camera holds exactly the changes that are in the database.
      v1::ListAuditEventsRequest events_req;
      events_req.set_object_id(serial);
      events_req.set_page_size(1000);
      v1::ListAuditEventsResponse events;
      ASSERT_THAT(
          Call(*audit, &v1::AuditService::Stub::ListAuditEvents, events_req, &events, "checker"),
          IsOk());
      std::vector<std::string> actions;
      for (const v1::AuditEvent& e : events.events()) actions.push_back(e.action());
      std::vector<std::string> expected = {"camera.register", "camera.commission"};
      expected.insert(expected.end(), model.actions.begin(), model.actions.end());
      EXPECT_THAT(actions, ElementsAreArray(expected)) << serial;
      applied_changes += static_cast<int64_t>(model.actions.size());
    }
  }
  // Not every lost answer hides a commit, and not none: just report how many did.
  std::cout << "acknowledged " << total_acknowledged << " of " << kClients * kCallsPerClient
            << " calls; " << uncertain_committed << " unacknowledged calls had committed\n";

  v1::VerifyAuditChainResponse chain;
  ASSERT_THAT(Call(*audit, &v1::AuditService::Stub::VerifyAuditChain, v1::VerifyAuditChainRequest(),
                   &chain, "checker"),
              IsOk());
  EXPECT_TRUE(chain.intact()) << chain.problem() << " at " << chain.first_broken_sequence();
  // site + cameras registered + holders + commissions + the burst's changes.
  const int64_t setup_events = 1 + 2 * kClients * kCamerasPerClient + kClients;
  EXPECT_EQ(chain.head_sequence(), setup_events + applied_changes);

  // ---- stop cleanly and let SQLite check the file.
  ASSERT_THAT((*second)->process().Signal(SIGTERM), IsOk());
  absl::StatusOr<int> stopped = (*second)->process().Wait(absl::Seconds(60));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0)
      << "camfleetd did not stop cleanly on SIGTERM; log:\n"
      << (*second)->process().LogTail();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK)
      << (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
  std::vector<std::string> integrity;
  char* error = nullptr;
  const int rc = sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        static_cast<std::vector<std::string>*>(out)->push_back(values[0] ? values[0] : "NULL");
        return 0;
      },
      &integrity, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  int foreign_key_problems = 0;
  error = nullptr;
  EXPECT_EQ(sqlite3_exec(
                db, "PRAGMA foreign_key_check",
                [](void* n, int, char**, char**) {
                  ++*static_cast<int*>(n);
                  return 0;
                },
                &foreign_key_problems, &error),
            SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
  EXPECT_THAT(integrity, ElementsAreArray({"ok"}));
  EXPECT_EQ(foreign_key_problems, 0);
}

}  // namespace
}  // namespace camfleet::testing
