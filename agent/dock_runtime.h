#pragma once
// `camfleet-dock run`: the running agent, the post's working memory. It wires the pieces, each
// with one job, on threads of their own:
//   - SlotMonitor, one per slot: insertion, removal, health, refusal, returns, camera clocks;
//   - SyncClient: the sync stream to camfleetd (outbox up; acks, site view, CRL, time down);
//   - CheckoutDesk behind LocalControlServer on DIR/control.sock: check-out and status;
//   - the CertificateKeeper's pass (dock and camera certificates, the CRL) every
//     `keeper_interval`, as `run --once` does it once;
// over the stores in the dock directory (OutboxStore DIR/outbox.db, SiteViewStore
// DIR/site_view.db, CrlStore DIR/crl/, ClockOffset DIR/clock-offset) and the shared state
// (SlotBoard, CustodyLedger, rebuilt on start from the outbox's unacknowledged items).
//
// Stop ends them in the order that loses nothing: the desk (no new check-outs), the slot
// monitors, the keeper, then the sync stream (half-closed); whatever was appended is durable
// and goes up on the next run.

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/checkout_desk.h"
#include "agent/clock_offset.h"
#include "agent/crl_store.h"
#include "agent/dock_events.h"
#include "agent/dock_paths.h"
#include "agent/dock_state.h"
#include "agent/firmware_cache.h"
#include "agent/firmware_installer.h"
#include "agent/local_control.h"
#include "agent/outbox_store.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "agent/site_view_store.h"
#include "agent/slot_monitor.h"
#include "agent/sync_client.h"
#include "camfleet/dockctl/v1/dock_local.pb.h"
#include "common/clock.h"
#include "provisioning/certificate_verifier.h"

namespace camfleet::agent {

inline std::string OutboxPath(const DockPaths& p) {
  return provisioning::JoinPath(p.dir, "outbox.db");
}
inline std::string SiteViewPath(const DockPaths& p) {
  return provisioning::JoinPath(p.dir, "site_view.db");
}
inline std::string ControlSocketPath(const DockPaths& p) {
  return provisioning::JoinPath(p.dir, "control.sock");
}

struct DockRuntimeOptions {
  DockPaths paths;
  ServerEndpoint endpoint;
  // Slot number -> camera link socket.
  std::map<int, std::string> sockets;
  const common::Clock* clock = nullptr;
  EventSink events;
  OutboxLimits outbox_limits;
  absl::Duration identify_interval = absl::Seconds(2);
  absl::Duration health_interval = absl::Minutes(5);
  absl::Duration clock_skew_bound = kDefaultClockSkewBound;
  // Between certificate keeper passes (dock clock); zero: no keeper (tests of the rest).
  absl::Duration keeper_interval = absl::Seconds(60);
  // The keeper's retries while camfleetd is unreachable (its waits end early on Stop).
  RetryPolicy keeper_retry;
  // Between firmware passes (real time; a new plan starts one at once); zero: no firmware work.
  absl::Duration firmware_interval = absl::Seconds(60);
  // Tuning of the sync stream (endpoint, stores, clock and callbacks are filled in here).
  SyncClientOptions sync;
};

class DockRuntime {
 public:
  // Opens the stores, rebuilds the ledger, starts every piece. Errors: FAILED_PRECONDITION when
  // the dock is not enrolled (no credentials: run `camfleet-dock enroll`); the stores' errors;
  // the control socket's.
  static absl::StatusOr<std::unique_ptr<DockRuntime>> Start(DockRuntimeOptions options);
  ~DockRuntime();
  DockRuntime(const DockRuntime&) = delete;
  DockRuntime& operator=(const DockRuntime&) = delete;

  // Stops every piece (see above). Idempotent.
  void Stop();

  // What `camfleet-dock status` shows. Errors: the outbox's.
  absl::StatusOr<dockctl::v1::GetStatusResponse> Status();
  // What `camfleet-dock stock-check` shows: the site view's cameras against this dock's slots
  // and the check-outs and returns made here since the view (dock_local.proto CheckStock).
  // Errors: FAILED_PRECONDITION before the first site view.
  absl::StatusOr<dockctl::v1::CheckStockResponse> CheckStock();

  OutboxStore& outbox() { return *outbox_; }
  SiteViewStore& site_view() { return *site_view_; }
  SyncClient& sync() { return *sync_; }
  CheckoutDesk& desk() { return *desk_; }
  SlotBoard& board() { return *board_; }
  FirmwareCache& firmware_cache() { return *firmware_cache_; }
  const std::string& dock_id() const { return dock_id_; }

 private:
  explicit DockRuntime(DockRuntimeOptions options) : options_(std::move(options)) {}
  void Emit(const DockEvent& event);
  void KeeperLoop();
  // Waits `d` on the dock clock or until Stop; false if stopped.
  bool WaitOnClock(absl::Duration d);
  // Firmware passes (FirmwareInstaller::RunOnce) every firmware_interval or on a new plan.
  void FirmwareLoop();

  DockRuntimeOptions options_;
  std::string dock_id_;
  std::optional<provisioning::CertificateVerifier> ca_;
  std::unique_ptr<OutboxStore> outbox_;
  std::unique_ptr<SiteViewStore> site_view_;
  std::unique_ptr<CrlStore> crl_;
  std::unique_ptr<ClockOffset> clock_offset_;
  std::unique_ptr<SlotBoard> board_;
  std::unique_ptr<CustodyLedger> ledger_;
  std::unique_ptr<SyncClient> sync_;
  std::unique_ptr<CheckoutDesk> desk_;
  std::vector<std::unique_ptr<SlotMonitor>> monitors_;
  std::unique_ptr<LocalControlServer> control_;
  std::thread sync_thread_;
  std::thread keeper_thread_;
  std::unique_ptr<FirmwareCache> firmware_cache_;
  std::thread firmware_thread_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool firmware_due_ ABSL_GUARDED_BY(mu_) = true;  // a pass at start: the plan held
};

}  // namespace camfleet::agent
