#include "tests/firmware/dock_post_fleet.h"

#include <sys/stat.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "agent/firmware_cache.h"
#include "provisioning/file_io.h"
#include "tests/testing/dock_run.h"

namespace camfleet::testing {

std::string DockPostFleet::SiteOf(int dock) { return absl::StrFormat("POST-%02d", dock); }
std::string DockPostFleet::DockIdOf(int dock) { return absl::StrFormat("post-%02d-dock", dock); }
std::string DockPostFleet::SerialOf(int dock, int slot) {
  return absl::StrFormat("CAM-%02d%02d", dock, slot);
}

std::string DockPostFleet::DockDir(int dock) const {
  return provisioning::JoinPath(options_.dir, absl::StrFormat("dock-%02d", dock));
}

std::string DockPostFleet::SocketOf(int dock, int slot) const {
  // Short: a unix socket path has at most 107 bytes.
  return provisioning::JoinPath(options_.dir, absl::StrFormat("s/%02d-%02d", dock, slot));
}

absl::StatusOr<std::unique_ptr<DockPostFleet>> DockPostFleet::Start(DockPostFleetOptions o) {
  std::unique_ptr<DockPostFleet> fleet(new DockPostFleet(std::move(o)));
  const DockPostFleetOptions& opt = fleet->options_;
  const common::Clock* clock = opt.clock != nullptr ? opt.clock : &fleet->real_clock_;
  ::mkdir(provisioning::JoinPath(opt.dir, "s").c_str(), 0700);
  const std::string ca_file = provisioning::JoinPath(opt.dir, "fleet-ca.pem");
  if (!provisioning::PathExists(ca_file)) {
    if (absl::Status s = provisioning::WriteNewFile(ca_file, opt.ca_pem, 0644); !s.ok()) return s;
  }

  for (int d = 1; d <= opt.docks; ++d) {
    const std::string dir = fleet->DockDir(d);
    if (!provisioning::PathExists(agent::DockPaths{dir}.Credentials())) {
      absl::StatusOr<std::string> token = opt.token_for(SiteOf(d));
      if (!token.ok()) return token.status();
      const testing::CliResult enrolled = testing::RunDockCli(
          {"enroll", "--server", opt.server_target, "--server-name", opt.server_name, "--ca-file",
           ca_file, "--token", *token, "--dock-id", DockIdOf(d), "--dir", dir, "--slot-count",
           absl::StrCat(opt.cameras_per_dock)},
          *clock);
      if (enrolled.code != agent::kExitOk) {
        return absl::InternalError(absl::StrCat("enrolling ", DockIdOf(d), ": exit ", enrolled.code,
                                                "\n", enrolled.out, enrolled.err));
      }
    }
    absl::StatusOr<std::unique_ptr<agent::FirmwareCache>> cache =
        agent::FirmwareCache::Open(agent::DockPaths{dir}.Firmware());
    if (!cache.ok()) return cache.status();
    for (const std::string& pem : opt.firmware_keys_pem) {
      if (absl::StatusOr<std::string> id = (*cache)->TrustKey(pem); !id.ok()) return id.status();
    }
  }

  for (int d = 1; d <= opt.docks; ++d) {
    for (int s = 1; s <= opt.cameras_per_dock; ++s) {
      camsim::CameraSimulatorOptions c;
      c.state_dir = provisioning::JoinPath(opt.dir, absl::StrCat("camera-", SerialOf(d, s)));
      c.serial = SerialOf(d, s);
      c.model = opt.model;
      c.firmware_version = opt.firmware_version;
      c.clock = clock;
      c.firmware_keys_pem = opt.firmware_keys_pem;
      absl::StatusOr<std::unique_ptr<camsim::CameraUnit>> unit =
          camsim::CameraUnit::Open(c, fleet->SocketOf(d, s));
      if (!unit.ok()) return unit.status();
      fleet->cameras_.push_back(*std::move(unit));
    }
  }

  DockPostFleet* self = fleet.get();
  for (int d = 1; d <= opt.docks; ++d) {
    agent::DockRuntimeOptions r;
    r.paths = agent::DockPaths{fleet->DockDir(d)};
    r.endpoint = agent::ServerEndpoint{opt.server_target, opt.server_name};
    for (int s = 1; s <= opt.cameras_per_dock; ++s) r.sockets[s] = fleet->SocketOf(d, s);
    r.clock = clock;
    r.identify_interval = opt.identify_interval;
    // One reading when a camera is put in is all the installer needs.
    r.health_interval = absl::Hours(1);
    r.keeper_interval = absl::ZeroDuration();
    r.firmware_interval = opt.firmware_interval;
    r.sync.seed = static_cast<uint64_t>(d);
    r.events = [self, d](const agent::DockEvent& e) {
      using Kind = agent::DockEvent::Kind;
      if (e.kind != Kind::kFailed && e.kind != Kind::kSlotFailed && e.kind != Kind::kSyncEnded) {
        return;
      }
      absl::MutexLock lock(&self->failures_mu_);
      if (self->failures_.size() >= 200) self->failures_.erase(self->failures_.begin());
      self->failures_.push_back(absl::StrCat(DockIdOf(d), ": ", agent::FormatEvent(e)));
    };
    absl::StatusOr<std::unique_ptr<agent::DockRuntime>> runtime =
        agent::DockRuntime::Start(std::move(r));
    if (!runtime.ok()) return runtime.status();
    fleet->docks_.push_back(*std::move(runtime));
  }
  return fleet;
}

DockPostFleet::~DockPostFleet() { Stop(); }

void DockPostFleet::Stop() {
  for (auto& d : docks_) d->Stop();
  docks_.clear();
  cameras_.clear();
}

bool DockPostFleet::WaitReady(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    bool ready = true;
    for (auto& d : docks_) {
      if (!d->sync().state().connected) {
        ready = false;
        break;
      }
      for (int s = 1; ready && s <= options_.cameras_per_dock; ++s) {
        std::optional<agent::SlotInfo> info = d->board().Get(s);
        ready = info.has_value() && info->occupied && info->health.has_value();
      }
      if (!ready) break;
    }
    if (ready) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

std::string DockPostFleet::FailuresText() {
  absl::MutexLock lock(&failures_mu_);
  std::string out;
  for (const std::string& line : failures_) absl::StrAppend(&out, line, "\n");
  return out;
}

}  // namespace camfleet::testing
