// The camfleet-dock binary and its simulated camera disturbed at random points of firmware
// installs, 50 times, with the link to camfleetd down (the dock installs from its cache) and the
// camera in slot 1: each round one release is planned and the install is cut by one of
//  - SIGKILL of the agent (then it is started again),
//  - the camera pulled out of its slot, then put back (the link server goes: UNAVAILABLE),
//  - the link dropping the answers of the next calls after the camera did the work,
//  - the camera pulled and the agent killed while it is out;
// the point is drawn at random over the first 80 % of the time an undisturbed install takes on
// this machine (measured in a first round), so cuts land before, during and after staging and
// booting (the test prints where they landed).
// After every round: the camera boots a good image (right after the cut and once the agent is
// let finish), it runs the round's release, and the outbox holds exactly one outcome for every
// install so far, SUCCEEDED, and one INSTALLING step: never an install reported twice.
// Real clocks: the child runs on its own.

#include <algorithm>
#include <iostream>
#include <map>
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
#include "agent/firmware_cache.h"
#include "agent/outbox_item.h"
#include "agent/outbox_store.h"
#include "agent/sim/camera_unit.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/firmware/signed_release.h"
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
constexpr char kSerial[] = "CAM-0001";
// Disturbed rounds, after one undisturbed round that measures how long an install takes.
constexpr int kRounds = 50;

enum class Cut { kKillAgent, kPullCamera, kDropLink, kPullAndKill };

const char* CutName(Cut c) {
  switch (c) {
    case Cut::kKillAgent:
      return "agent killed";
    case Cut::kPullCamera:
      return "camera pulled";
    case Cut::kDropLink:
      return "link answers dropped";
    case Cut::kPullAndKill:
      return "camera pulled, agent killed";
  }
  return "?";
}

// Where the install was when the cut came, from the camera's side and the outbox's.
std::string PhaseOf(const camsim::FirmwareStatus& s, const std::string& version, bool outcome) {
  if (outcome) return "after the outcome";
  if (s.running_version == version) return "booted, not yet reported";
  if (s.staged_version != version) return "before staging";
  if (s.staged_bytes < s.staged_size) return "mid-staging";
  return "staged, before boot";
}

struct Outcomes {
  std::map<std::string, int> succeeded;
  std::map<std::string, int> installing;
  std::vector<std::string> bad;  // FAILED or ROLLED_BACK, with why
};

Outcomes ReadOutbox(OutboxStore& outbox) {
  Outcomes out;
  absl::StatusOr<std::vector<v1::OutboxItem>> items = outbox.NextBatch(1'000'000, int64_t{1} << 40);
  EXPECT_THAT(items, IsOk());
  if (!items.ok()) return out;
  for (const v1::OutboxItem& item : *items) {
    if (!item.has_firmware()) continue;
    const v1::FirmwareProgress& p = item.firmware();
    switch (p.state()) {
      case v1::FIRMWARE_INSTALL_STATE_SUCCEEDED:
        ++out.succeeded[p.rollout_id()];
        break;
      case v1::FIRMWARE_INSTALL_STATE_INSTALLING:
        ++out.installing[p.rollout_id()];
        break;
      case v1::FIRMWARE_INSTALL_STATE_FAILED:
      case v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK:
        out.bad.push_back(absl::StrCat(p.rollout_id(), ": ",
                                       v1::FirmwareInstallState_Name(p.state()), ": ", p.error()));
        break;
      default:
        break;
    }
  }
  return out;
}

TEST(FirmwareKillTest, InstallsCutAtRandomPointsLeaveABootableCameraAndReportEachOutcomeOnce) {
  common::RealClock clock;
  TempDir dir;
  const std::string dock_dir = dir.File("dock");
  std::string dead_server;
  {
    // camfleetd only for the dock's enrollment; then it goes, and the link with it.
    absl::StatusOr<std::unique_ptr<TlsTestServer>> started = TlsTestServer::Start();
    ASSERT_THAT(started, IsOk());
    TlsTestServer& server = **started;
    TlsClient admin(server.AdminChannel());
    ASSERT_THAT(admin.CreateSite(kSite), IsOk());
    const std::string ca_file = dir.File("fleet-ca.pem");
    ASSERT_THAT(provisioning::WriteNewFile(ca_file, server.ca_pem(), 0644), IsOk());
    absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin.CreateToken(kSite);
    ASSERT_THAT(token, IsOk());
    const testing::CliResult enrolled =
        testing::RunDockCli({"enroll", "--server", server.target(), "--server-name",
                             testing::kServerName, "--ca-file", ca_file, "--token", token->token(),
                             "--dock-id", "post-1-dock-1", "--dir", dock_dir, "--slot-count", "1"},
                            clock);
    ASSERT_EQ(enrolled.code, 0) << enrolled;
    dead_server = server.target();
    server.Shutdown(absl::Seconds(1));
  }

  absl::StatusOr<testing::TestSigningKey> key = testing::MakeSigningKey(dir.File("keys"));
  ASSERT_THAT(key, IsOk());
  camsim::CameraSimulatorOptions camera;
  camera.state_dir = dir.File("camera");
  camera.serial = kSerial;
  camera.model = "BWC-4";
  camera.firmware_version = "1.0.0";
  camera.firmware_keys_pem = {key->public_pem};
  const std::string socket = dir.File("slot1.sock");
  absl::StatusOr<std::unique_ptr<camsim::CameraUnit>> unit =
      camsim::CameraUnit::Open(camera, socket);
  ASSERT_THAT(unit, IsOk());

  // Every round's release (round 0 measures), carried in ahead (as import-release does) and
  // trusted by the dock.
  std::vector<v1::PlannedRelease> releases;
  {
    absl::StatusOr<std::unique_ptr<FirmwareCache>> cache =
        FirmwareCache::Open(DockPaths{dock_dir}.Firmware());
    ASSERT_THAT(cache, IsOk());
    ASSERT_THAT((*cache)->TrustKey(key->public_pem).status(), IsOk());
    for (int round = 0; round <= kRounds; ++round) {
      absl::StatusOr<testing::ReleaseFiles> r =
          testing::SignImage(dir.path(), absl::StrCat("r", round),
                             testing::RandomImage(1 << 20, static_cast<uint32_t>(round + 1)), *key,
                             {"BWC-4"}, absl::StrCat("1.", round + 1, ".0"));
      ASSERT_THAT(r, IsOk());
      ASSERT_THAT(
          (*cache)->Store(r->release.manifest_bytes, r->release.signature, r->image).status(),
          IsOk());
      v1::PlannedRelease p;
      p.set_release_id(ReleaseIdOf(r->release.manifest_bytes));
      p.set_manifest(r->release.manifest_bytes);
      p.set_signature(r->release.signature);
      releases.push_back(p);
    }
  }
  auto version_of = [](int round) { return absl::StrCat("1.", round + 1, ".0"); };
  auto rollout_of = [](int round) { return absl::StrCat("R-", round); };

  const std::string outbox_path = OutboxPath(DockPaths{dock_dir});
  const std::vector<std::string> argv = {CAMFLEET_DOCK_PATH,
                                         "run",
                                         "--dir",
                                         dock_dir,
                                         "--server",
                                         dead_server,
                                         "--server-name",
                                         testing::kServerName,
                                         "--interval",
                                         "1h",
                                         "--health-interval",
                                         "1s",
                                         "--identify-interval",
                                         "20ms",
                                         "--firmware-interval",
                                         "50ms",
                                         "--slot",
                                         absl::StrCat("1=", socket)};
  int spawned = 0;
  std::unique_ptr<ChildProcess> agent;
  auto spawn = [&] {
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Spawn(argv, dir.File(absl::StrCat("dock-", ++spawned, ".log")));
    ASSERT_THAT(child, IsOk());
    agent = *std::move(child);
  };
  // The test's own handle on the agent's outbox: it plans each round's install there (the link
  // is down, so no plan comes from camfleetd) and reads what the agent reported. SQLite lets
  // both processes at the file; the agent picks a new plan up at its next firmware pass.
  absl::StatusOr<std::unique_ptr<OutboxStore>> outbox = OutboxStore::Open(outbox_path, {}, &clock);
  ASSERT_THAT(outbox, IsOk());
  auto plan = [&](int round) {
    v1::FirmwarePlan p;
    *p.mutable_plan_time() = ToTimestamp(clock.Now());
    v1::FirmwareJob* job = p.add_jobs();
    job->set_rollout_id(rollout_of(round));
    job->set_serial(kSerial);
    job->set_release_id(releases[static_cast<size_t>(round)].release_id());
    job->set_attempt(1);
    *p.add_releases() = releases[static_cast<size_t>(round)];
    absl::StatusOr<bool> kept = (*outbox)->SetFirmwarePlan(p);
    ASSERT_THAT(kept, IsOk());
    ASSERT_TRUE(*kept);
  };
  auto outcome_reported = [&](int round) {
    absl::StatusOr<int64_t> n = QueryInt(
        outbox_path, absl::StrCat("SELECT COUNT(*) FROM firmware_report WHERE rollout_id = '",
                                  rollout_of(round), "' AND state IN (3, 4, 5)"));
    return n.ok() && *n == 1;
  };
  // After each round: a good image running the round's release; every install so far reported
  // SUCCEEDED once, with one INSTALLING step.
  auto check_round = [&](int round) {
    ASSERT_TRUE(WaitFor([&] { return outcome_reported(round); }, absl::Seconds(120)))
        << agent->LogTail();
    const camsim::FirmwareStatus status = (*unit)->camera().GetFirmwareStatus();
    EXPECT_TRUE(status.active_image_ok);
    EXPECT_EQ(status.running_version, version_of(round));
    const Outcomes o = ReadOutbox(**outbox);
    EXPECT_THAT(o.bad, ::testing::IsEmpty());
    for (int r = 0; r <= round; ++r) {
      EXPECT_EQ(o.succeeded.count(rollout_of(r)) ? o.succeeded.at(rollout_of(r)) : 0, 1)
          << rollout_of(r);
      EXPECT_EQ(o.installing.count(rollout_of(r)) ? o.installing.at(rollout_of(r)) : 0, 1)
          << rollout_of(r);
    }
    EXPECT_EQ(o.succeeded.size(), static_cast<size_t>(round + 1));
  };

  // Round 0, undisturbed: how long an install takes here, from the plan to the outcome.
  spawn();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(WaitFor([&] { return (*unit)->camera().InSlot() && agent->Running(); }));
  // The agent has found the camera (a health reading is in) before the clock starts.
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<int64_t> n = QueryInt(outbox_path, "SELECT COUNT(*) FROM outbox_item");
    return n.ok() && *n > 0;
  })) << agent->LogTail();
  const absl::Time t0 = absl::Now();
  plan(0);
  check_round(0);
  const absl::Duration install = absl::Now() - t0;
  ASSERT_FALSE(HasFatalFailure());

  std::mt19937 rng(20261206);
  std::map<std::string, int> phases;
  std::map<std::string, int> cuts;
  for (int round = 1; round <= kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const Cut cut = static_cast<Cut>(rng() % 4);
    const absl::Duration at = absl::Milliseconds(static_cast<int64_t>(
        rng() %
        static_cast<uint32_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(install) * 8 / 10))));
    const absl::Duration out_for = absl::Milliseconds(static_cast<int64_t>(rng() % 300));
    plan(round);
    absl::SleepFor(at);
    const std::string phase =
        PhaseOf((*unit)->camera().GetFirmwareStatus(), version_of(round), outcome_reported(round));
    ++phases[phase];
    ++cuts[CutName(cut)];
    switch (cut) {
      case Cut::kKillAgent:
        ASSERT_THAT(agent->Kill(), IsOk());
        break;
      case Cut::kPullCamera:
      case Cut::kPullAndKill:
        ASSERT_THAT((*unit)->TakeOut(), IsOk());
        if (cut == Cut::kPullAndKill) {
          ASSERT_THAT(agent->Kill(), IsOk());
        }
        break;
      case Cut::kDropLink:
        (*unit)->camera().DropLinkAnswers(1 + static_cast<int>(rng() % 3));
        break;
    }
    // Whatever was cut, the camera boots a good image.
    EXPECT_TRUE((*unit)->camera().GetFirmwareStatus().active_image_ok)
        << CutName(cut) << " " << phase;
    if (cut == Cut::kPullCamera || cut == Cut::kPullAndKill) {
      absl::SleepFor(out_for);
      EXPECT_TRUE((*unit)->camera().GetFirmwareStatus().active_image_ok);
      ASSERT_THAT((*unit)->PutIn(socket), IsOk());
    }
    if (cut == Cut::kKillAgent || cut == Cut::kPullAndKill) {
      spawn();
      ASSERT_FALSE(HasFatalFailure());
    }
    check_round(round);
    ASSERT_FALSE(HasFatalFailure()) << CutName(cut) << " " << phase;
  }
  ASSERT_THAT(agent->Kill(), IsOk());
  // What the rounds covered, for whoever reads the log.
  std::cout << "an undisturbed install took " << absl::FormatDuration(install) << "\n";
  for (const auto& [name, n] : cuts) std::cout << "cut: " << name << ": " << n << "\n";
  for (const auto& [name, n] : phases) std::cout << "cut came " << name << ": " << n << "\n";

  // At the end, from a fresh reading of the file: each install's outcome once.
  outbox->reset();
  absl::StatusOr<std::unique_ptr<OutboxStore>> reopened =
      OutboxStore::Open(outbox_path, {}, &clock);
  ASSERT_THAT(reopened, IsOk());
  const Outcomes o = ReadOutbox(**reopened);
  EXPECT_THAT(o.bad, ::testing::IsEmpty());
  ASSERT_EQ(o.succeeded.size(), static_cast<size_t>(kRounds + 1));
  for (const auto& [rollout, n] : o.succeeded) EXPECT_EQ(n, 1) << rollout;
  for (const auto& [rollout, n] : o.installing) EXPECT_EQ(n, 1) << rollout;
}

}  // namespace
}  // namespace camfleet::agent
