#pragma once
// What the running agent knows right now, shared by its pieces: what sits in each slot (the
// slot monitors write it, the check-out desk and `status` read it) and the custody changes the
// dock made itself since the control plane last told it who holds what (the custody ledger).
//
// Why a ledger: the site view is the control plane's word on who holds which camera, but it
// lags the dock's own acts by a sync round trip at least, and by days when the link is down.
// A check-out made here must count at once (the officer cannot take a second camera; the
// camera is no longer AVAILABLE), and so must a return. Each entry carries the custody sequence
// of its outbox item; once the server has acknowledged that sequence and a site view received
// after that acknowledgement has replaced the old one, the view includes the act and the entry
// goes (PruneAcknowledged). On start the ledger is rebuilt from the unacknowledged items of the
// outbox (the durable record), so a restart forgets nothing the view does not yet show.
//
// Thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/camera_link.h"
#include "camfleet/v1/dock_sync.pb.h"

namespace camfleet::agent {

// One slot as the monitors last saw it.
struct SlotInfo {
  int slot = 0;
  bool occupied = false;
  std::string serial;
  std::optional<HealthSnapshot> health;
  // Dock clock of the last reading.
  absl::Time health_time;
  // Why the dock refuses this camera (lost, retired, revoked); empty when it does not.
  std::string refused_reason;
  // Released to an officer by the desk and not yet taken out of the slot.
  bool released = false;
  // Firmware being staged or installed (FirmwareInstaller): not to be released.
  bool updating = false;
};

class SlotBoard {
 public:
  explicit SlotBoard(const std::vector<int>& slots);

  std::vector<SlotInfo> Snapshot() const;
  std::optional<SlotInfo> Get(int slot) const;
  // Serials by slot, occupied slots only (SyncHello.slots).
  std::vector<v1::SlotOccupant> Occupants() const;

  // A camera (new or the same) answers in `slot`; a different serial resets the slot.
  void SetOccupant(int slot, const std::string& serial);
  void SetEmpty(int slot);
  void SetHealth(int slot, const HealthSnapshot& health, absl::Time at);
  void SetRefused(int slot, const std::string& reason);
  // The desk released the camera in `slot` if it is still `serial` and not being updated;
  // false otherwise.
  bool Release(int slot, const std::string& serial);
  // The installer takes the camera in `slot` for an update if it is still `serial` and was not
  // released to an officer; false otherwise. Release and BeginUpdate exclude each other, so a
  // camera being installed is never handed out and one being checked out is never installed.
  bool BeginUpdate(int slot, const std::string& serial);
  void EndUpdate(int slot);

 private:
  mutable absl::Mutex mu_;
  std::map<int, SlotInfo> slots_ ABSL_GUARDED_BY(mu_);
};

class CustodyLedger {
 public:
  // `serial` was checked out to `badge` here, recorded as custody item `sequence`.
  void RecordCheckout(const std::string& badge, const std::string& serial, uint64_t sequence);
  // `serial` came back into a slot here (DockReturn `sequence`).
  void RecordReturn(const std::string& serial, uint64_t sequence);
  // Rebuilds from outbox items (unacknowledged custody items, in sequence order).
  void Replay(const std::vector<v1::OutboxItem>& items);

  // Whom the dock believes holds `serial`: a local check-out, else (unless returned here since)
  // the view's holder. Empty when nobody.
  std::string HolderOf(const std::string& serial, const v1::SiteView* view) const;
  // The serial the dock believes `badge` holds; empty when none.
  std::string HeldBy(const std::string& badge, const v1::SiteView* view) const;
  // Whether the dock's own acts make `serial` unavailable (checked out here) or available
  // again (returned here): nullopt when the dock did nothing with it since the view.
  std::optional<bool> LocallyOut(const std::string& serial) const;

  // A site view received after the server acknowledged custody through `acked_through`: the
  // entries it covers go.
  void PruneAcknowledged(uint64_t acked_through);

 private:
  struct Entry {
    std::string badge;  // empty for a return
    uint64_t sequence = 0;
    bool out = false;
  };
  mutable absl::Mutex mu_;
  // By serial: the latest local act.
  std::map<std::string, Entry> by_serial_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::agent
