#pragma once
// What the running dock agent tells the person watching it: one typed event per thing that
// happened (a camera inserted, a reading stored, a check-out, the sync stream welcomed...). The
// pieces (SyncClient, SlotMonitor, CheckoutDesk) emit them through an EventSink; `camfleet-dock
// run` prints one line per event (FormatEvent), tests collect them. Events are for people and
// tests: what the control plane must learn goes through the outbox, never through here.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace camfleet::agent {

struct DockEvent {
  enum class Kind {
    // Slots.
    kCameraInserted,
    kCameraRemoved,
    kHealthRead,
    kCameraRefused,   // lost, retired or revoked: never offered for check-out
    kCameraReturned,  // an issued camera came back into a slot (DockReturn)
    kCameraClockSet,  // the camera's clock was off by more than the bound and was corrected
    kCameraUnknown,   // not in the site view
    kSlotFailed,      // a call to the camera or an outbox append failed
    // Desk.
    kCheckout,
    kCheckoutRefused,
    // Sync.
    kSyncWelcomed,
    kSyncAcked,
    kSyncEnded,    // the stream ended; `status` says why; it is reopened after a backoff
    kSyncRefused,  // the server refused the dock's credentials: no retry until the hold-off
    kSiteViewReceived,
    kCrlUpdated,
    kItemsResent,   // a restored server: acknowledged items are sent again
    kItemsLost,     // ... some of which were no longer held (an ITEMS_LOST alert is queued)
    kItemRejected,  // the server rejected an item (it raised an alert)
    // A line of the certificate keeper's pass (certificate_keeper.h, FormatAction); `message`
    // is the whole line.
    kCertificate,
    // Anything else that failed and is not about one slot.
    kFailed,
  };
  Kind kind = Kind::kFailed;
  // Dock clock.
  absl::Time time;
  // 0 when not about a slot.
  int slot = 0;
  // Camera serial, or empty.
  std::string serial;
  // For people.
  std::string message;
  // Not OK for failures (kSlotFailed, kSyncEnded, kSyncRefused, kFailed, kCheckoutRefused).
  absl::Status status;
};

// Called from the pieces' own threads, concurrently: must be thread-safe. May be empty.
using EventSink = std::function<void(const DockEvent&)>;

// "2026-12-05T22:40:00Z slot 2 CAM-0001: inserted: ..." / "... sync: welcomed: ...".
std::string FormatEvent(const DockEvent& event);
// The enumerator's name without the k, e.g. "CameraInserted".
const char* EventKindName(DockEvent::Kind kind);

}  // namespace camfleet::agent
