// The camfleet-dock binary killed with SIGKILL mid-sync, again and again, against a real
// camfleetd and simulated cameras: afterwards every item the dock ever stored is applied at the
// server exactly once (the server's positions equal the dock's last sequences, and the server
// holds exactly one health row per telemetry item). Real clocks: the child runs on its own.

#include <signal.h>
#include <sys/wait.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "agent/dock_runtime.h"
#include "agent/local_control.h"
#include "agent/outbox_store.h"
#include "agent/sim/camera_unit.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/db_query.h"
#include "tests/testing/dock_run.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::ChildProcess;
using ::camfleet::testing::IsOk;
using ::camfleet::testing::QueryInt;
using ::camfleet::testing::TempDir;
using ::camfleet::testing::TlsClient;
using ::camfleet::testing::TlsTestServer;
using ::camfleet::testing::WaitFor;

constexpr char kSite[] = "POST-1";
// How many times the agent is killed. Each round lets it sync a little first.
constexpr int kKills = 20;

// A value from the server's database over a read-only connection; a failed read fails the test.
int64_t ServerValue(const std::string& db_path, const std::string& sql) {
  absl::StatusOr<int64_t> value = QueryInt(db_path, sql);
  EXPECT_THAT(value, IsOk()) << sql;
  return value.ok() ? *value : -1;
}

TEST(DockKillTest, AgentKilledMidSyncLosesNothingAndAppliesNothingTwice) {
  common::RealClock clock;
  TempDir dir;
  absl::StatusOr<std::unique_ptr<TlsTestServer>> started = TlsTestServer::Start();
  ASSERT_THAT(started, IsOk());
  TlsTestServer& server = **started;
  TlsClient admin(server.AdminChannel());
  ASSERT_THAT(admin.CreateSite(kSite), IsOk());
  const std::string ca_file = dir.File("fleet-ca.pem");
  ASSERT_THAT(provisioning::WriteNewFile(ca_file, server.ca_pem(), 0644), IsOk());
  const std::string dock_dir = dir.File("dock");
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin.CreateToken(kSite);
  ASSERT_THAT(token, IsOk());
  auto cli = [&](std::vector<std::string> args) {
    const testing::CliResult r = testing::RunDockCli(std::move(args), clock);
    EXPECT_EQ(r.code, 0) << r;
    return r.code;
  };
  ASSERT_EQ(cli({"enroll", "--server", server.target(), "--server-name", testing::kServerName,
                 "--ca-file", ca_file, "--token", token->token(), "--dock-id", "post-1-dock-1",
                 "--dir", dock_dir, "--slot-count", "4"}),
            0);
  std::map<std::string, std::unique_ptr<camsim::CameraUnit>> units;
  std::vector<std::string> slot_args;
  for (int slot = 1; slot <= 2; ++slot) {
    const std::string serial = absl::StrCat("CAM-000", slot);
    ASSERT_THAT(admin.RegisterCamera(serial, kSite), IsOk());
    camsim::CameraSimulatorOptions options;
    options.state_dir = dir.File(absl::StrCat("camera-", serial));
    options.serial = serial;
    options.model = "AXON-4";
    const std::string socket = dir.File(absl::StrCat("slot", slot, ".sock"));
    absl::StatusOr<std::unique_ptr<camsim::CameraUnit>> unit =
        camsim::CameraUnit::Open(options, socket);
    ASSERT_THAT(unit, IsOk());
    units[serial] = *std::move(unit);
    slot_args.push_back("--slot");
    slot_args.push_back(absl::StrCat(slot, "=", socket));
  }
  std::vector<std::string> run = {
      "run",      "--once",        "--dir",         dock_dir,
      "--server", server.target(), "--server-name", testing::kServerName};
  run.insert(run.end(), slot_args.begin(), slot_args.end());
  ASSERT_EQ(cli(run), 0);

  std::vector<std::string> argv = {CAMFLEET_DOCK_PATH,
                                   "run",
                                   "--dir",
                                   dock_dir,
                                   "--server",
                                   server.target(),
                                   "--server-name",
                                   testing::kServerName,
                                   "--interval",
                                   "1h",
                                   "--health-interval",
                                   "30ms",
                                   "--identify-interval",
                                   "20ms"};
  argv.insert(argv.end(), slot_args.begin(), slot_args.end());
  const std::string db = server.paths().Database();
  auto telemetry_applied = [&] {
    return ServerValue(db, "SELECT COALESCE(MAX(applied), 0) FROM sync_positions WHERE lane = 2");
  };

  std::mt19937 random(20261205);
  for (int round = 0; round < kKills; ++round) {
    // Custody items too: CAM-0002 leaves and comes back between rounds.
    if (round % 2 == 1) {
      ASSERT_THAT(units["CAM-0002"]->TakeOut(), IsOk());
    } else if (round > 0) {
      ASSERT_THAT(units["CAM-0002"]->PutIn(dir.File("slot2.sock")), IsOk());
    }
    const int64_t before = telemetry_applied();
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Spawn(argv, dir.File(absl::StrCat("dock-", round, ".log")));
    ASSERT_THAT(child, IsOk());
    // Mid-sync: the server has applied some of this run's items; then a random moment more
    // (that is where the kill lands, not a synchronisation).
    ASSERT_TRUE(WaitFor([&] { return telemetry_applied() > before + 2; })) << (*child)->LogTail();
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 150)(random)));
    absl::StatusOr<int> killed = (*child)->Kill();
    ASSERT_THAT(killed, IsOk());
    ASSERT_TRUE(WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL) << (*child)->LogTail();
  }

  // A last run drains what the killed ones left, then stops cleanly.
  absl::StatusOr<std::unique_ptr<ChildProcess>> last =
      ChildProcess::Spawn(argv, dir.File("dock-last.log"));
  ASSERT_THAT(last, IsOk());
  const std::string control = ControlSocketPath(DockPaths{dock_dir});
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<dockctl::v1::GetStatusResponse> s = CallStatus(control, absl::Seconds(2));
    return s.ok() && s->sync().connected() && s->backlog_custody() == 0;
  })) << (*last)->LogTail();
  ASSERT_THAT((*last)->Signal(SIGTERM), IsOk());
  absl::StatusOr<int> exited = (*last)->Wait(absl::Seconds(30));
  ASSERT_THAT(exited, IsOk());
  EXPECT_TRUE(WIFEXITED(*exited) && WEXITSTATUS(*exited) == 0) << (*last)->LogTail();

  // The agent is gone: read its outbox. Telemetry the last run read after its final ack may
  // still wait; everything acknowledged must be at the server once, and nothing more.
  absl::StatusOr<std::unique_ptr<OutboxStore>> outbox =
      OutboxStore::Open(OutboxPath(DockPaths{dock_dir}), OutboxLimits{}, &clock);
  ASSERT_THAT(outbox, IsOk());
  absl::StatusOr<LaneState> custody = (*outbox)->Lane(v1::SYNC_LANE_CUSTODY);
  absl::StatusOr<LaneState> telemetry = (*outbox)->Lane(v1::SYNC_LANE_TELEMETRY);
  ASSERT_THAT(custody, IsOk());
  ASSERT_THAT(telemetry, IsOk());
  EXPECT_EQ(custody->acked_through, custody->last_sequence);
  EXPECT_EQ(ServerValue(db, "SELECT applied FROM sync_positions WHERE lane = 1"),
            static_cast<int64_t>(custody->last_sequence));
  const int64_t server_telemetry =
      ServerValue(db, "SELECT applied FROM sync_positions WHERE lane = 2");
  // A batch applied while the agent stopped may not have had its ack read: the server can be
  // ahead of the dock's acks, never ahead of what the dock stored.
  EXPECT_GE(server_telemetry, static_cast<int64_t>(telemetry->acked_through));
  EXPECT_LE(server_telemetry, static_cast<int64_t>(telemetry->last_sequence));
  // One health row per applied telemetry item: nothing applied twice, nothing skipped.
  EXPECT_EQ(ServerValue(db, "SELECT COUNT(*) FROM health_readings"), server_telemetry);
  EXPECT_GE(server_telemetry, 3 * kKills);
}

}  // namespace
}  // namespace camfleet::agent
