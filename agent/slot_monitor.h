#pragma once
// One slot's work, on a thread of its own so that one slow or hung camera never stalls the
// others (every call to a camera is bounded by the link's deadline, and only its own slot
// waits for it).
//
// Every `identify_interval` (real time: it is the dock polling its hardware) the monitor asks
// the slot who is there:
//  - a camera answering where none (or another) was: CameraInserted; then, against the site
//    view and the CRL, a camera the control plane calls LOST or RETIRED, or whose certificate
//    is revoked, is refused (DockAlert with slot and time; never offered for check-out); one the
//    view does not list raises UNKNOWN_CAMERA; one the dock believes is out with an officer (the
//    view says ISSUED, or it was checked out here) is a DockReturn; a camera clock off from
//    server time by more than `clock_skew_bound` raises CLOCK_SKEW and is then set to server
//    time; then a health reading;
//  - no answer (UNAVAILABLE) where a camera was: CameraRemoved;
//  - the same camera: a health reading every `health_interval` (dock clock), stored with
//    AppendOptions::keep when it crosses a threshold (battery <= 10 %, temperature >= 45.0 C,
//    an error counter grew), so thinning never drops it.
// Everything goes to the outbox before the dock acts on it (sets a clock, marks a slot refused,
// records a return); when the append fails nothing is done and the next poll tries again.
//
// The clock-skew bound: 2 minutes by default, the same bound the control plane alerts on
// (services/dock/README.md): footage timestamps are evidence, and a camera RTC drifting 20 ppm
// for a week is ~12 s off, so 2 minutes means a reset or a fault, not drift.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/camera_link.h"
#include "agent/clock_offset.h"
#include "agent/crl_store.h"
#include "agent/dock_events.h"
#include "agent/dock_state.h"
#include "agent/outbox_store.h"
#include "agent/site_view_store.h"
#include "common/clock.h"
#include "provisioning/certificate_verifier.h"

namespace camfleet::agent {

inline constexpr absl::Duration kDefaultClockSkewBound = absl::Minutes(2);
inline constexpr uint32_t kLowBatteryPercent = 10;
inline constexpr int32_t kHighTemperatureDecicelsius = 450;

struct SlotMonitorOptions {
  int slot = 0;
  // Makes a fresh link to the slot (after the slot was empty, so that a channel still backing
  // off from failed connects does not hide a camera just put in).
  std::function<std::unique_ptr<CameraLink>()> make_link;
  // Not owned; must outlive the monitor. `crl` and `ca` may be null (no CRL checks).
  OutboxStore* outbox = nullptr;
  SiteViewStore* site_view = nullptr;
  CrlStore* crl = nullptr;
  const provisioning::CertificateVerifier* ca = nullptr;
  ClockOffset* clock_offset = nullptr;
  SlotBoard* board = nullptr;
  CustodyLedger* ledger = nullptr;
  const common::Clock* clock = nullptr;
  absl::Duration identify_interval = absl::Seconds(2);
  absl::Duration health_interval = absl::Minutes(5);
  absl::Duration clock_skew_bound = kDefaultClockSkewBound;
  // Called after every append (to wake the sync stream). May be empty.
  std::function<void()> appended;
  EventSink events;
};

class SlotMonitor {
 public:
  explicit SlotMonitor(SlotMonitorOptions options);
  ~SlotMonitor();
  SlotMonitor(const SlotMonitor&) = delete;
  SlotMonitor& operator=(const SlotMonitor&) = delete;

  // Starts the slot's thread. Call once.
  void Start();
  // Stops it and waits for the call in progress (bounded by the link's deadline).
  void Stop();

  // One poll, on the caller's thread (Start's thread does this in a loop). Returns the first
  // error (a camera call or an append); the slot's state stays consistent either way.
  absl::Status PollOnce();

  // The site view or the CRL changed: the camera in the slot is judged again on the next poll.
  void Recheck();

 private:
  absl::Status OnInserted(const CameraIdentity& id);
  absl::Status OnRemoved(const std::string& serial);
  absl::Status Judge(const CameraIdentity& id);
  absl::Status ReadHealth(const std::string& serial);
  absl::StatusOr<uint64_t> Append(v1::OutboxItem item, bool keep = false);
  absl::Status Alert(v1::DockAlertKind kind, const std::string& serial, const std::string& text);
  void Emit(DockEvent::Kind kind, const std::string& serial, std::string message,
            absl::Status status = absl::OkStatus());

  SlotMonitorOptions options_;
  // Only the poll thread touches these.
  std::unique_ptr<CameraLink> link_;
  std::string serial_;       // the camera the monitor has recorded as inserted; empty: none
  CameraIdentity identity_;  // its last identity
  absl::Time next_health_;
  bool judged_ = false;
  absl::Status last_failure_;  // said once, not every poll

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool recheck_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace camfleet::agent
