#include "agent/dock_events.h"

#include "absl/strings/str_cat.h"
#include "agent/time_text.h"

namespace camfleet::agent {

const char* EventKindName(DockEvent::Kind kind) {
  using K = DockEvent::Kind;
  switch (kind) {
    case K::kCameraInserted:
      return "CameraInserted";
    case K::kCameraRemoved:
      return "CameraRemoved";
    case K::kHealthRead:
      return "HealthRead";
    case K::kCameraRefused:
      return "CameraRefused";
    case K::kCameraReturned:
      return "CameraReturned";
    case K::kCameraClockSet:
      return "CameraClockSet";
    case K::kCameraUnknown:
      return "CameraUnknown";
    case K::kSlotFailed:
      return "SlotFailed";
    case K::kCheckout:
      return "Checkout";
    case K::kCheckoutRefused:
      return "CheckoutRefused";
    case K::kSyncWelcomed:
      return "SyncWelcomed";
    case K::kSyncAcked:
      return "SyncAcked";
    case K::kSyncEnded:
      return "SyncEnded";
    case K::kSyncRefused:
      return "SyncRefused";
    case K::kSiteViewReceived:
      return "SiteViewReceived";
    case K::kCrlUpdated:
      return "CrlUpdated";
    case K::kItemsResent:
      return "ItemsResent";
    case K::kItemsLost:
      return "ItemsLost";
    case K::kItemRejected:
      return "ItemRejected";
    case K::kCertificate:
      return "Certificate";
    case K::kFailed:
      return "Failed";
  }
  return "Unknown";
}

std::string FormatEvent(const DockEvent& event) {
  if (event.kind == DockEvent::Kind::kCertificate) {
    return absl::StrCat(FormatUtc(event.time), " ", event.message);
  }
  std::string where;
  if (event.slot > 0) {
    where = absl::StrCat("slot ", event.slot);
    if (!event.serial.empty()) absl::StrAppend(&where, " ", event.serial);
  } else if (!event.serial.empty()) {
    where = event.serial;
  } else {
    where = "dock";
  }
  std::string line = absl::StrCat(FormatUtc(event.time), " ", where, ": ", event.message);
  if (!event.status.ok()) {
    absl::StrAppend(&line, ": FAILED: ", absl::StatusCodeToString(event.status.code()), ": ",
                    event.status.message());
  }
  return line;
}

}  // namespace camfleet::agent
