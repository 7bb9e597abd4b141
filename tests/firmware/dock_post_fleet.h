#pragma once
// Posts in the field for the firmware tests and the firmware benchmark: N docks, each the real
// agent (agent::DockRuntime: slot monitors, sync stream, firmware installer and downloader) in
// this process, each with M simulated cameras (camsim::CameraUnit, each serving its slot's
// unix socket), against a camfleetd the caller started.
//
// Dock d (from 1) is "post-DD-dock" at site "POST-DD"; the camera in its slot s (from 1) is
// "CAM-DDSS". The caller creates the sites and registers the cameras (with its own admin client:
// tests and benchmarks each have theirs) before Start; Start enrolls every dock the way
// `camfleet-dock enroll` does (with a token from `token_for`), has each dock and camera trust
// the firmware keys, opens the cameras in their slots and starts the agents.
//
// No gtest here: the benchmark links it too.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/dock_runtime.h"
#include "agent/sim/camera_unit.h"
#include "common/clock.h"

namespace camfleet::testing {

struct DockPostFleetOptions {
  // Scratch directory (must exist): the docks' and cameras' state and the slot sockets.
  std::string dir;
  // camfleetd's host:port, the name its certificate is checked against, and the fleet CA.
  std::string server_target;
  std::string server_name = "localhost";
  std::string ca_pem;
  int docks = 10;
  int cameras_per_dock = 10;
  std::string model = "AXON-4";
  std::string firmware_version = "1.0.0";
  // Firmware signing keys (Ed25519 PEM) the docks and the cameras trust.
  std::vector<std::string> firmware_keys_pem;
  // An enrollment token for `site`, made by the caller's admin.
  std::function<absl::StatusOr<std::string>(const std::string& site)> token_for;
  // Slot polling (real time): 100 cameras polled every 20 ms would be 5,000 calls a second.
  absl::Duration identify_interval = absl::Milliseconds(500);
  // Between firmware passes when no new plan arrives (a camera that was not ready is retried).
  absl::Duration firmware_interval = absl::Seconds(1);
  // Null: the real clock.
  const common::Clock* clock = nullptr;
};

class DockPostFleet {
 public:
  static std::string SiteOf(int dock);
  static std::string DockIdOf(int dock);
  static std::string SerialOf(int dock, int slot);

  // Errors: enrollment's (with the dock's output), the cameras' and the agents' start.
  static absl::StatusOr<std::unique_ptr<DockPostFleet>> Start(DockPostFleetOptions options);
  ~DockPostFleet();
  DockPostFleet(const DockPostFleet&) = delete;
  DockPostFleet& operator=(const DockPostFleet&) = delete;

  // True once every dock's sync stream was welcomed and every slot has a health reading (the
  // installer's precondition), within `timeout`.
  bool WaitReady(absl::Duration timeout);
  // Stops the agents, then closes the cameras. Idempotent.
  void Stop();

  agent::DockRuntime& dock(int dock) { return *docks_[static_cast<size_t>(dock - 1)]; }
  camsim::CameraUnit& camera(int dock, int slot) {
    return *cameras_[static_cast<size_t>((dock - 1) * options_.cameras_per_dock + slot - 1)];
  }
  const DockPostFleetOptions& options() const { return options_; }
  // The last lines each agent reported that were failures (kFailed, kSlotFailed, kSyncEnded),
  // for a failure message.
  std::string FailuresText();

 private:
  explicit DockPostFleet(DockPostFleetOptions options) : options_(std::move(options)) {}
  std::string DockDir(int dock) const;
  std::string SocketOf(int dock, int slot) const;

  DockPostFleetOptions options_;
  common::RealClock real_clock_;
  std::vector<std::unique_ptr<camsim::CameraUnit>> cameras_;
  std::vector<std::unique_ptr<agent::DockRuntime>> docks_;
  absl::Mutex failures_mu_;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(failures_mu_);
};

}  // namespace camfleet::testing
