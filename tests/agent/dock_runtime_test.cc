// The running dock agent (DockRuntime: slot monitors, sync stream, check-out desk, local control
// socket) against a real camfleetd over mutual TLS and real simulated cameras on unix sockets.
// Server, agent and cameras share one FakeClock: health readings fall due, backoffs pass and
// the site view ages only when the test moves it. Nothing sleeps to synchronise: every wait is
// for a condition, with a deadline.

#include "agent/dock_runtime.h"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "agent/local_control.h"
#include "agent/sim/camera_unit.h"
#include "camfleet/v1/monitoring.grpc.pb.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/file_io.h"
#include "services/server/server.h"
#include "services/storage/store.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/db_query.h"
#include "tests/testing/dock_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::camfleet::testing::TlsClient;
using ::camfleet::testing::TlsTestServer;
using ::camfleet::testing::WaitFor;
using ::testing::HasSubstr;

constexpr char kDockId[] = "post-1-dock-1";
constexpr char kSite[] = "POST-1";
constexpr char kCam1[] = "CAM-0001";
constexpr char kCam2[] = "CAM-0002";
constexpr absl::Duration kWait = absl::Seconds(60);

class DockRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(absl::Now());
    testing::TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite(kSite), IsOk());
    ASSERT_THAT(admin_->CreateHolder("B100", kSite), IsOk());
    ASSERT_THAT(admin_->CreateHolder("B200", kSite), IsOk());
    ca_file_ = dir_.File("fleet-ca.pem");
    ASSERT_THAT(provisioning::WriteNewFile(ca_file_, server_->ca_pem(), 0644), IsOk());
    dock_dir_ = dir_.File("dock");
    absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken(kSite);
    ASSERT_THAT(token, IsOk());
    ASSERT_EQ(Cli({"enroll", "--server", server_->target(), "--server-name", testing::kServerName,
                   "--ca-file", ca_file_, "--token", token->token(), "--dock-id", kDockId, "--dir",
                   dock_dir_, "--slot-count", "4"}),
              0);
    AddCamera(1, kCam1);
    AddCamera(2, kCam2);
    // One keeper pass enrolls both cameras: they are AVAILABLE before the agent runs.
    ASSERT_EQ(Cli({"run", "--once", "--dir", dock_dir_, "--server", server_->target(),
                   "--server-name", testing::kServerName, "--slot", Slot(1), "--slot", Slot(2)}),
              0);
    for (const char* serial : {kCam1, kCam2}) {
      absl::StatusOr<v1::Camera> camera = admin_->GetCamera(serial);
      ASSERT_THAT(camera, IsOk());
      ASSERT_EQ(camera->state(), v1::CAMERA_STATE_AVAILABLE) << serial;
    }
  }

  void TearDown() override {
    if (runtime_ != nullptr) runtime_->Stop();
    runtime_.reset();
    units_.clear();
  }

  int Cli(std::vector<std::string> args) {
    const testing::CliResult r = testing::RunDockCli(std::move(args), clock_);
    cli_out_ = r.out;
    if (r.code != 0) ADD_FAILURE() << r;
    return r.code;
  }

  std::string Socket(int slot) { return dir_.File(absl::StrCat("slot", slot, ".sock")); }
  std::string Slot(int slot) { return absl::StrCat(slot, "=", Socket(slot)); }

  void AddCamera(int slot, const std::string& serial) {
    ASSERT_THAT(admin_->RegisterCamera(serial, kSite), IsOk());
    camsim::CameraSimulatorOptions options;
    options.state_dir = dir_.File(absl::StrCat("camera-", serial));
    options.serial = serial;
    options.model = "AXON-4";
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<camsim::CameraUnit>> unit =
        camsim::CameraUnit::Open(options, Socket(slot));
    ASSERT_THAT(unit, IsOk());
    units_[serial] = *std::move(unit);
  }

  void StartAgent() {
    DockRuntimeOptions options;
    options.paths = DockPaths{dock_dir_};
    options.endpoint = ServerEndpoint{server_->target(), testing::kServerName};
    options.sockets = {{1, Socket(1)}, {2, Socket(2)}};
    options.clock = &clock_;
    options.identify_interval = absl::Milliseconds(20);
    options.health_interval = absl::Minutes(5);
    // SetUp enrolled the cameras; a test that needs the keeper sets keeper_interval_ (a pass at
    // start, then one per interval of the fake clock), with no retries against a server that
    // is down.
    options.keeper_interval = keeper_interval_;
    options.keeper_retry.max_attempts = 1;
    options.sync.poll = absl::Milliseconds(10);
    options.sync.seed = 7;
    options.events = [this](const DockEvent& e) {
      absl::MutexLock lock(&events_mu_);
      events_.push_back(e);
    };
    absl::StatusOr<std::unique_ptr<DockRuntime>> runtime = DockRuntime::Start(options);
    ASSERT_THAT(runtime, IsOk());
    runtime_ = *std::move(runtime);
  }

  // Re-points the agent at a restarted server (its port changed): a new runtime on the same
  // dock directory, as after a reboot of the dock.
  void RestartAgent() {
    runtime_->Stop();
    runtime_.reset();
    StartAgent();
  }

  int64_t Backlog() {
    absl::StatusOr<OutboxBacklog> b = runtime_->outbox().Backlog();
    return b.ok() ? b->total.items : -1;
  }

  bool SlotHasHealth(int slot) {
    std::optional<SlotInfo> info = runtime_->board().Get(slot);
    return info.has_value() && info->health.has_value();
  }

  // The agent is welcomed, has a site view listing both cameras AVAILABLE, and sent everything.
  void WaitUntilSynced() {
    ASSERT_TRUE(WaitFor([&] {
      absl::StatusOr<v1::SiteCamera> c1 = runtime_->site_view().FindCamera(kCam1);
      return runtime_->sync().state().connected && Backlog() == 0 && SlotHasHealth(1) &&
             SlotHasHealth(2) && c1.ok();
    })) << "backlog "
        << Backlog();
  }

  absl::StatusOr<dockctl::v1::CheckoutResponse> Checkout(const std::string& badge) {
    return CallCheckout(ControlSocketPath(DockPaths{dock_dir_}), badge);
  }

  uint64_t LastSequence(v1::SyncLane lane) {
    absl::StatusOr<LaneState> s = runtime_->outbox().Lane(lane);
    return s.ok() ? s->last_sequence : 0;
  }

  // A value from the server's database, read as an auditor would (read-only connection); a
  // failed read fails the test.
  int64_t ServerRows(const std::string& sql) {
    absl::StatusOr<int64_t> value = testing::QueryInt(server_->paths().Database(), sql);
    EXPECT_THAT(value, IsOk()) << sql;
    return value.ok() ? *value : -1;
  }

  // What the agent said, for failure messages.
  std::string EventsText() {
    absl::MutexLock lock(&events_mu_);
    std::string text;
    for (const DockEvent& e : events_) absl::StrAppend(&text, FormatEvent(e), "\n");
    return text;
  }

  bool HasEvent(DockEvent::Kind kind, const std::string& serial = "") {
    absl::MutexLock lock(&events_mu_);
    for (const DockEvent& e : events_) {
      if (e.kind == kind && (serial.empty() || e.serial == serial)) return true;
    }
    return false;
  }

  bool HasEventSaying(const std::string& text) {
    absl::MutexLock lock(&events_mu_);
    for (const DockEvent& e : events_) {
      if (absl::StrContains(FormatEvent(e), text)) return true;
    }
    return false;
  }

  absl::Duration keeper_interval_ = absl::ZeroDuration();
  common::FakeClock clock_{absl::Now()};
  TempDir dir_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::string ca_file_;
  std::string dock_dir_;
  std::string cli_out_;
  std::map<std::string, std::unique_ptr<camsim::CameraUnit>> units_;
  std::unique_ptr<DockRuntime> runtime_;
  absl::Mutex events_mu_;
  std::vector<DockEvent> events_ ABSL_GUARDED_BY(events_mu_);
};

TEST_F(DockRuntimeTest, SyncsInsertionsAndHealthAndReceivesTheSiteView) {
  StartAgent();
  WaitUntilSynced();
  absl::StatusOr<v1::SiteCamera> c1 = runtime_->site_view().FindCamera(kCam1);
  ASSERT_THAT(c1, IsOk());
  EXPECT_EQ(c1->state(), v1::CAMERA_STATE_AVAILABLE);
  // Every reading the dock stored is at the server, once.
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM health_readings"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_TELEMETRY)));
  EXPECT_GE(LastSequence(v1::SYNC_LANE_TELEMETRY), 2u);
}

TEST_F(DockRuntimeTest, OfflineReadingsAndCheckoutsArriveExactlyOnceAfterTheServerReturns) {
  StartAgent();
  WaitUntilSynced();
  server_->Shutdown();

  // Link down: health keeps being read as it falls due.
  const uint64_t readings_before = LastSequence(v1::SYNC_LANE_TELEMETRY);
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(absl::Minutes(5));
    ASSERT_TRUE(WaitFor([&] {
      return LastSequence(v1::SYNC_LANE_TELEMETRY) >=
             readings_before + 2u * static_cast<uint64_t>(i);
    })) << EventsText();
  }
  // ... and officers check out: B100 takes the best-charged camera, and cannot take a second.
  absl::StatusOr<dockctl::v1::CheckoutResponse> out = Checkout("B100");
  ASSERT_THAT(out, IsOk());
  EXPECT_THAT(Checkout("B100"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(out->serial())));
  EXPECT_THAT(Checkout("B999"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("B999")));
  // B100 takes it out of the slot, goes on patrol, and brings it back: a return, offline.
  const std::string serial = out->serial();
  ASSERT_THAT(units_[serial]->TakeOut(), IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return !runtime_->board().Get(static_cast<int>(out->slot()))->occupied; }));
  clock_.Advance(absl::Hours(2));
  ASSERT_THAT(units_[serial]->PutIn(Socket(static_cast<int>(out->slot()))), IsOk());
  ASSERT_TRUE(WaitFor([&] { return HasEvent(DockEvent::Kind::kCameraReturned, serial); }));
  // B200 checks out too and keeps it.
  absl::StatusOr<dockctl::v1::CheckoutResponse> out2 = Checkout("B200");
  ASSERT_THAT(out2, IsOk());
  ASSERT_THAT(units_[out2->serial()]->TakeOut(), IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return !runtime_->board().Get(static_cast<int>(out2->slot()))->occupied; }));
  EXPECT_GT(Backlog(), 5);

  ASSERT_THAT(server_->Restart(), IsOk());
  admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
  RestartAgent();  // the test server comes back on another port
  ASSERT_TRUE(WaitFor([&] { return runtime_->sync().state().connected && Backlog() == 0; }))
      << "backlog " << Backlog();

  // Both sides count the same rows: every reading once, every item applied once.
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM health_readings"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_TELEMETRY)));
  EXPECT_EQ(ServerRows("SELECT applied FROM sync_positions WHERE lane = 1"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_CUSTODY)));
  EXPECT_EQ(ServerRows("SELECT applied FROM sync_positions WHERE lane = 2"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_TELEMETRY)));

  // The offline check-outs are assignments at the server with the dock as the actor.
  v1::GetCustodyTrailRequest req;
  req.set_serial(serial);
  absl::StatusOr<v1::GetCustodyTrailResponse> trail =
      admin_->Fleet(&v1::FleetService::Stub::GetCustodyTrail, req);
  ASSERT_THAT(trail, IsOk());
  ASSERT_EQ(trail->assignments_size(), 1);
  EXPECT_EQ(trail->assignments(0).holder_badge(), "B100");
  EXPECT_THAT(trail->assignments(0).issued_by(), HasSubstr(kDockId));
  EXPECT_TRUE(trail->assignments(0).has_return_time());
  absl::StatusOr<v1::Camera> held = admin_->GetCamera(out2->serial());
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(held->state(), v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(held->holder_badge(), "B200");
}

// The server takes a batch and never acknowledges it (its store's writer is held, as by a disk
// that stopped answering): after the stall timeout on the dock's clock the dock tears the
// stream down and reopens it, and once the server moves again everything arrives exactly once.
TEST_F(DockRuntimeTest, StreamWithoutAnAckForTheStallTimeoutIsReopenedAndNothingIsLostOrDoubled) {
  StartAgent();
  WaitUntilSynced();

  absl::Notification held;
  absl::Notification release;
  absl::Cleanup always_release = [&] {
    if (!release.HasBeenNotified()) release.Notify();
  };
  server_->server().store().Write(
      [&](storage::WriteTx&) {
        held.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      [](absl::Status) {});
  ASSERT_TRUE(held.WaitForNotificationWithTimeout(kWait));

  // A check-out goes up in a batch the server cannot apply: no ack comes back.
  absl::StatusOr<dockctl::v1::CheckoutResponse> out = Checkout("B100");
  ASSERT_THAT(out, IsOk());
  absl::SleepFor(absl::Milliseconds(500));  // real time for the batch to be sent
  ASSERT_TRUE(runtime_->sync().state().connected);
  EXPECT_GT(Backlog(), 0);

  // Just under the stall timeout nothing happens; past it the stream is torn down.
  clock_.Advance(absl::Seconds(50));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(runtime_->sync().state().connected);
  clock_.Advance(absl::Seconds(20));
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(runtime_->sync().state().last_error.message(), "no acknowledgement");
  })) << runtime_->sync().state().last_error;

  // The server moves again; the dock reconnects (after its backoff, on its clock) and resends.
  release.Notify();
  ASSERT_TRUE(WaitFor([&] {
    clock_.Advance(absl::Seconds(1));
    return runtime_->sync().state().connected && Backlog() == 0;
  })) << "backlog "
      << Backlog() << "\n"
      << EventsText();
  EXPECT_GE(runtime_->sync().state().streams_opened, 2);

  EXPECT_EQ(ServerRows("SELECT applied FROM sync_positions WHERE lane = 1"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_CUSTODY)));
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM health_readings"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_TELEMETRY)));
  v1::GetCustodyTrailRequest req;
  req.set_serial(out->serial());
  absl::StatusOr<v1::GetCustodyTrailResponse> trail =
      admin_->Fleet(&v1::FleetService::Stub::GetCustodyTrail, req);
  ASSERT_THAT(trail, IsOk());
  ASSERT_EQ(trail->assignments_size(), 1);  // the check-out once, not once per stream
  EXPECT_EQ(trail->assignments(0).holder_badge(), "B100");
}

// The control plane is put back to an older copy of its database (a restore, or a disk
// replaced from last night's copy): its positions are behind what the dock had acknowledged.
// The dock resends from the server's position out of what it keeps after acks, and the server
// ends with every item once, the check-out made after the copy included.
TEST_F(DockRuntimeTest, ServerPutBackToAnOlderCopyGetsWhatItLostResentOnce) {
  StartAgent();
  WaitUntilSynced();
  const std::string db = server_->paths().Database();
  const std::string copy = dir_.File("fleet-copy.db");
  // The copy: the stopped server's files (database and write-ahead log).
  server_->Shutdown();
  for (const char* suffix : {"", "-wal"}) {
    if (std::filesystem::exists(db + suffix)) {
      std::filesystem::copy_file(db + suffix, copy + suffix);
    }
  }
  ASSERT_THAT(server_->Restart(), IsOk());
  admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
  RestartAgent();
  WaitUntilSynced();

  absl::StatusOr<dockctl::v1::CheckoutResponse> out = Checkout("B100");
  ASSERT_THAT(out, IsOk());
  clock_.Advance(absl::Minutes(5));  // a round of readings
  ASSERT_TRUE(WaitFor([&] {
    return runtime_->sync().state().connected && Backlog() == 0 &&
           ServerRows("SELECT applied FROM sync_positions WHERE lane = 1") ==
               static_cast<int64_t>(LastSequence(v1::SYNC_LANE_CUSTODY));
  })) << "backlog "
      << Backlog();

  server_->Shutdown();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  for (const char* suffix : {"", "-wal"}) {
    if (std::filesystem::exists(copy + suffix)) {
      std::filesystem::copy_file(copy + suffix, db + suffix);
    }
  }
  ASSERT_LT(ServerRows("SELECT applied FROM sync_positions WHERE lane = 1"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_CUSTODY)));
  ASSERT_THAT(server_->Restart(), IsOk());
  admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
  RestartAgent();
  ASSERT_TRUE(WaitFor([&] {
    clock_.Advance(absl::Seconds(1));
    return runtime_->sync().state().connected && Backlog() == 0 &&
           ServerRows("SELECT applied FROM sync_positions WHERE lane = 1") ==
               static_cast<int64_t>(LastSequence(v1::SYNC_LANE_CUSTODY));
  })) << "backlog "
      << Backlog() << "\n"
      << EventsText();

  EXPECT_EQ(ServerRows("SELECT applied FROM sync_positions WHERE lane = 2"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_TELEMETRY)));
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM health_readings"),
            static_cast<int64_t>(LastSequence(v1::SYNC_LANE_TELEMETRY)));
  v1::GetCustodyTrailRequest req;
  req.set_serial(out->serial());
  absl::StatusOr<v1::GetCustodyTrailResponse> trail =
      admin_->Fleet(&v1::FleetService::Stub::GetCustodyTrail, req);
  ASSERT_THAT(trail, IsOk());
  ASSERT_EQ(trail->assignments_size(), 1);
  EXPECT_EQ(trail->assignments(0).holder_badge(), "B100");
}

TEST_F(DockRuntimeTest, CheckoutOfACameraLostCentrallyIsAConflictAndRefusedAfterTheNextView) {
  StartAgent();
  WaitUntilSynced();
  // CAM-0002 is out on patrol (with nobody, for this test): only CAM-0001 is in the dock.
  ASSERT_THAT(units_[kCam2]->TakeOut(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return !runtime_->board().Get(2)->occupied && Backlog() == 0; }));
  // The dock is cut off (the server moves to another port) ...
  ASSERT_THAT(server_->Restart(), IsOk());
  admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
  // ... and a quartermaster marks CAM-0001 lost; the dock does not know and checks it out.
  ASSERT_THAT(admin_->ReportLost(kCam1), IsOk());
  absl::StatusOr<dockctl::v1::CheckoutResponse> out = Checkout("B100");
  ASSERT_THAT(out, IsOk());
  ASSERT_EQ(out->serial(), kCam1);
  ASSERT_THAT(units_[kCam1]->TakeOut(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return !runtime_->board().Get(1)->occupied; }));

  RestartAgent();
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<v1::SiteCamera> c = runtime_->site_view().FindCamera(kCam1);
    return Backlog() == 0 && c.ok() && c->state() == v1::CAMERA_STATE_LOST;
  })) << "backlog "
      << Backlog();
  // The server kept both facts: a conflict, and the camera stays LOST.
  absl::StatusOr<v1::Camera> camera = admin_->GetCamera(kCam1);
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_LOST);
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM conflicts"), 1);
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM assignments"), 0);

  // Brought back, it is refused with an alert and never offered.
  ASSERT_THAT(units_[kCam1]->PutIn(Socket(1)), IsOk());
  ASSERT_TRUE(WaitFor([&] { return HasEvent(DockEvent::Kind::kCameraRefused, kCam1); }));
  // Lost means revoked: the CRL the stream brought refuses it as well as the site view.
  EXPECT_THAT(runtime_->board().Get(1)->refused_reason,
              ::testing::AnyOf(HasSubstr("LOST"), HasSubstr("revoked")));
  EXPECT_THAT(Checkout("B200"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("refused")));
  ASSERT_TRUE(WaitFor([&] { return Backlog() == 0; }));
  EXPECT_GE(ServerRows("SELECT COUNT(*) FROM alerts"), 2);
}

TEST_F(DockRuntimeTest, IdleDockLearnsOfACameraMarkedLostWithinSecondsAndRefusesIt) {
  StartAgent();
  WaitUntilSynced();
  // CAM-0002 is out on patrol: only CAM-0001 is in the dock, and the stream goes idle (the
  // dock clock stands still, so no reading falls due; nothing is inserted or removed).
  ASSERT_THAT(units_[kCam2]->TakeOut(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return !runtime_->board().Get(2)->occupied && Backlog() == 0; }));
  const uint64_t custody = LastSequence(v1::SYNC_LANE_CUSTODY);
  const uint64_t telemetry = LastSequence(v1::SYNC_LANE_TELEMETRY);
  const int64_t batches = runtime_->sync().state().batches_acked;

  ASSERT_THAT(admin_->ReportLost(kCam1), IsOk());
  const absl::Time marked = absl::Now();
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::SiteCamera> c = runtime_->site_view().FindCamera(kCam1);
        return c.ok() && c->state() == v1::CAMERA_STATE_LOST;
      },
      absl::Seconds(10)))
      << EventsText();
  // Pushed, not carried by the next batch (at most every 60 s); room for a loaded machine.
  EXPECT_LT(absl::Now() - marked, absl::Seconds(20));
  // No reading fell due and nothing was docked or undocked: the server pushed the view (before
  // this change a view went down only after a batch, at most every 60 s, or on connect). The
  // refusal alert below is the dock's first item since, so at most one batch was acked.
  EXPECT_EQ(LastSequence(v1::SYNC_LANE_TELEMETRY), telemetry);
  EXPECT_LE(runtime_->sync().state().batches_acked, batches + 1);
  // The docked camera is refused and not offered at check-out.
  ASSERT_TRUE(WaitFor([&] { return HasEvent(DockEvent::Kind::kCameraRefused, kCam1); }));
  EXPECT_THAT(Checkout("B100"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("refused")));
  EXPECT_GT(LastSequence(v1::SYNC_LANE_CUSTODY), custody) << "the refusal alert is queued";
}

TEST_F(DockRuntimeTest, StatusShowsSlotsBacklogAndSync) {
  StartAgent();
  WaitUntilSynced();
  absl::StatusOr<dockctl::v1::GetStatusResponse> status =
      CallStatus(ControlSocketPath(DockPaths{dock_dir_}));
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->dock_id(), kDockId);
  EXPECT_EQ(status->site_code(), kSite);
  ASSERT_EQ(status->slots_size(), 2);
  EXPECT_EQ(status->slots(0).serial(), kCam1);
  EXPECT_TRUE(status->slots(0).has_health());
  EXPECT_TRUE(status->sync().connected());
  ASSERT_EQ(Cli({"status", "--dir", dock_dir_}), 0);
  EXPECT_THAT(cli_out_, HasSubstr(kCam2));
  EXPECT_THAT(cli_out_, HasSubstr("sync: connected"));
  // One line per slot with its columns apart: "1  CAM-0001  AVAILABLE  100%".
  EXPECT_THAT(cli_out_, ::testing::ContainsRegex(std::string(kCam1) + " +AVAILABLE +[0-9]+%"))
      << cli_out_;
  EXPECT_THAT(cli_out_, ::testing::Not(HasSubstr("CAMERA_STATE_"))) << cli_out_;
  ASSERT_EQ(Cli({"status", "--dir", dock_dir_, "--json"}), 0);
  EXPECT_THAT(cli_out_, HasSubstr("\"dock_id\": \"post-1-dock-1\""));
}

TEST_F(DockRuntimeTest, RevokedDockStopsSyncingSaysWhyAndKeepsWorkingLocally) {
  StartAgent();
  WaitUntilSynced();
  absl::StatusOr<provisioning::CredentialBundle> bundle =
      provisioning::LoadCredentialBundle(DockPaths{dock_dir_}.Credentials());
  ASSERT_THAT(bundle, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> cert =
      provisioning::ParseCertificate(bundle->cert_pem);
  ASSERT_THAT(cert, IsOk());
  ASSERT_THAT(admin_->RevokeCertificate(cert->serial_hex, v1::REVOCATION_REASON_KEY_COMPROMISE),
              IsOk());
  RestartAgent();
  ASSERT_TRUE(WaitFor([&] { return runtime_->sync().state().refused; }));
  EXPECT_TRUE(HasEvent(DockEvent::Kind::kSyncRefused));
  EXPECT_THAT(runtime_->sync().state().last_error,
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  // It does not hammer: it tried once, and an hour passes before it tries again.
  EXPECT_EQ(runtime_->sync().state().attempts, 1);
  clock_.Advance(absl::Minutes(59));
  EXPECT_FALSE(
      WaitFor([&] { return runtime_->sync().state().attempts > 1; }, absl::Milliseconds(200)));
  clock_.Advance(absl::Minutes(2));
  EXPECT_TRUE(WaitFor([&] { return runtime_->sync().state().attempts > 1; }));
  // The post goes on: check-outs from the stored site view.
  EXPECT_THAT(Checkout("B100"), IsOk());
}

TEST_F(DockRuntimeTest, StockCheckAtTheDockWorksWithTheLinkDown) {
  // A third camera of the site that never comes to this dock.
  ASSERT_THAT(admin_->RegisterCamera("CAM-0003", kSite), IsOk());
  ASSERT_THAT(admin_->Commission("CAM-0003", ""), IsOk());
  StartAgent();
  WaitUntilSynced();
  ASSERT_TRUE(WaitFor([&] { return runtime_->site_view().FindCamera("CAM-0003").ok(); }));
  // The link goes down (the server moves to another port); an officer checks out meanwhile.
  ASSERT_THAT(server_->Restart(), IsOk());
  absl::StatusOr<dockctl::v1::CheckoutResponse> out = Checkout("B100");
  ASSERT_THAT(out, IsOk());
  ASSERT_THAT(units_[out->serial()]->TakeOut(), IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return !runtime_->board().Get(static_cast<int>(out->slot()))->occupied; }));
  const std::string left = out->serial() == kCam1 ? kCam2 : kCam1;

  absl::StatusOr<dockctl::v1::CheckStockResponse> check =
      CallCheckStock(ControlSocketPath(DockPaths{dock_dir_}));
  ASSERT_THAT(check, IsOk());
  EXPECT_EQ(check->site_code(), kSite);
  EXPECT_EQ(check->expected_size(), 3);
  ASSERT_EQ(check->in_slots_size(), 1);
  EXPECT_EQ(check->in_slots(0).serial(), left);
  // The check-out made here with the link down counts, though the server has not heard of it.
  ASSERT_EQ(check->issued_size(), 1);
  EXPECT_EQ(check->issued(0).serial(), out->serial());
  EXPECT_EQ(check->issued(0).holder_badge(), "B100");
  EXPECT_TRUE(check->issued(0).local_change());
  ASSERT_EQ(check->missing_size(), 1);
  EXPECT_EQ(check->missing(0).serial(), "CAM-0003");
  EXPECT_THAT(check->unexpected(), ::testing::IsEmpty());

  ASSERT_EQ(Cli({"stock-check", "--dir", dock_dir_}), 0);
  EXPECT_THAT(cli_out_, HasSubstr("expected 3, in slots here 1, issued 1, missing 1"));
  EXPECT_THAT(cli_out_, HasSubstr("CAM-0003"));
  // The view still says AVAILABLE; the dock knows better and says why.
  EXPECT_THAT(cli_out_,
              ::testing::ContainsRegex(out->serial() + " +AVAILABLE +- +B100.*not yet synced"))
      << cli_out_;
}

// Issue 11, item 7: a CRL past its grace is raised at the dock as DOCK_ALERT_KIND_CRL_STALE, and
// that alert reaches the control plane over the sync stream (the alerts table that `camfleet
// alert list` reads) once the link is back.
TEST_F(DockRuntimeTest, StaleCrlAlertRaisedAtTheDockReachesTheServerOverTheSyncStream) {
  // SetUp's keeper pass fetched a CRL (nextUpdate 7 days on). Then the post is cut off for
  // 45 days: 38 past nextUpdate, beyond the 37-day grace.
  server_->Shutdown();
  clock_.Advance(absl::Hours(24 * 45));
  keeper_interval_ = absl::Hours(24 * 30);
  StartAgent();
  ASSERT_TRUE(WaitFor([&] { return HasEventSaying("is stale"); }, kWait)) << EventsText();
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM alerts WHERE kind LIKE '%CRL_STALE%'"), 0);

  ASSERT_THAT(server_->Restart(), IsOk());
  RestartAgent();
  ASSERT_TRUE(WaitFor(
      [&] { return ServerRows("SELECT COUNT(*) FROM alerts WHERE kind LIKE '%CRL_STALE%'") == 1; },
      kWait))
      << EventsText();
  EXPECT_EQ(ServerRows("SELECT COUNT(*) FROM alerts WHERE kind LIKE '%CRL_STALE%' AND dock_id = "
                       "(SELECT id FROM docks WHERE dock_id = 'post-1-dock-1')"),
            1);
}

}  // namespace
}  // namespace camfleet::agent
