#pragma once
// The dock's firmware work (DESIGN.md, "Dock agent"; issue 12 item 5): the latest FirmwarePlan
// the control plane sent, kept in the outbox's database so the dock goes on from its cache while
// the link is down, and one pass (RunOnce) that fetches and installs what the plan asks for.
//
// A pass, per job not yet finished (no SUCCEEDED, FAILED or ROLLED_BACK reported for its
// rollout, serial and attempt):
//  - a release the plan lists as withdrawn is never installed (and never fetched);
//  - the release is checked with the dock's own keys (FirmwareCache::Verify); a refusal (bad
//    signature, a key not trusted here or retired) fails every job of the release;
//  - a release not in the cache is fetched once, whatever the number of jobs that need it
//    (DOWNLOADING is reported for each job); with no downloader (link down) the job waits;
//  - it is installed only on a camera that is in a slot, not issued (the custody ledger and the
//    site view), at or above the release's minimum battery (the slot's last reading), inside
//    the job's install window (InstallWindow, local time of the site's zone), and that the
//    installer could take from the check-out desk (SlotBoard::BeginUpdate: never one being
//    released to an officer, and none is released while it is being installed);
//  - the dock refuses a release for another model or an unsigned downgrade
//    (firmware::CheckInstallable) before it sends a byte; the camera checks again;
//  - INSTALLING is reported, the image is staged into the camera's inactive slot from where the
//    camera says it holds it, the camera boots it and confirms or falls back: SUCCEEDED,
//    ROLLED_BACK (with the camera's reason) or FAILED (a flash write error, a refusal).
// Every step goes to the outbox through OutboxStore::AppendFirmwareProgress, once per (rollout,
// serial, attempt, state), so results reach the server however late the link comes back and
// none is reported twice, also when the agent is killed mid-install: the next pass asks the
// camera what it runs and reports the outcome it finds.
// A camera that stops answering (pulled, rebooting, power cut) leaves the job pending; it is
// picked up at the next pass.
//
// Not thread-safe: one thread runs the passes.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/camera_link.h"
#include "agent/clock_offset.h"
#include "agent/dock_state.h"
#include "agent/firmware_cache.h"
#include "agent/firmware_downloader.h"
#include "agent/outbox_store.h"
#include "agent/site_view_store.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/clock.h"

namespace camfleet::agent {

struct FirmwareInstallerOptions {
  // Not owned; must outlive the installer. `ledger`, `site_view`, `downloader` and
  // `clock_offset` may be null (no custody checks beyond the slot board; install only from the
  // cache; server time = dock time).
  OutboxStore* outbox = nullptr;
  FirmwareCache* cache = nullptr;
  SlotBoard* board = nullptr;
  CustodyLedger* ledger = nullptr;
  SiteViewStore* site_view = nullptr;
  FirmwareDownloader* downloader = nullptr;
  ClockOffset* clock_offset = nullptr;
  const common::Clock* clock = nullptr;
  // A link to the camera in `slot`, used for one install.
  std::function<std::unique_ptr<CameraLink>(int slot)> link_for_slot;
  // Called after every append (to wake the sync stream). May be empty.
  std::function<void()> appended;
};

// What a pass did, for `status`, logs and tests.
struct InstallPass {
  int succeeded = 0;
  int failed = 0;
  int rolled_back = 0;
  int fetched = 0;
  // One line per job left waiting, and why ("CAM-0001: battery 12% below 30%").
  std::vector<std::string> waiting;
};

// Whether `now` is inside `window` (local minutes of its zone; end < start wraps past
// midnight; start == end is all day). INVALID_ARGUMENT for an unknown zone or minutes >= 1440.
absl::StatusOr<bool> InsideWindow(const v1::InstallWindow& window, absl::Time now);

class FirmwareInstaller {
 public:
  explicit FirmwareInstaller(FirmwareInstallerOptions options) : options_(std::move(options)) {}

  // Keeps `plan` as the dock's plan unless the one held is newer. Returns whether it was kept.
  absl::StatusOr<bool> SetPlan(const v1::FirmwarePlan& plan);
  // One pass over the plan held (see the header comment). Errors: only the outbox's (a step
  // that could not be stored is not acted on); a camera's or a download's failure is a job's.
  absl::StatusOr<InstallPass> RunOnce();

 private:
  absl::Status Report(const v1::FirmwareJob& job, v1::FirmwareInstallState state,
                      const std::string& error, const std::string& running_version);
  absl::Status InstallOne(const v1::FirmwareJob& job, const CachedRelease& release, int slot,
                          InstallPass& pass);

  FirmwareInstallerOptions options_;
};

}  // namespace camfleet::agent
