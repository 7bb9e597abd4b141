#include "agent/checkout_desk.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/outbox_item.h"
#include "common/status_macros.h"

namespace camfleet::agent {
namespace {

constexpr size_t kMaxBadgeLength = 64;

const v1::SiteCamera* FindIn(const v1::SiteView& view, const std::string& serial) {
  for (const v1::SiteCamera& c : view.cameras()) {
    if (c.serial() == serial) return &c;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<CheckoutResult> CheckoutDesk::Checkout(absl::string_view badge) {
  absl::StatusOr<CheckoutResult> result;
  {
    absl::MutexLock lock(&mu_);
    result = CheckoutLocked(badge);
  }
  if (options_.events) {
    DockEvent event;
    event.time = options_.clock->Now();
    if (result.ok()) {
      event.kind = DockEvent::Kind::kCheckout;
      event.slot = result->slot;
      event.serial = result->serial;
      event.message =
          absl::StrCat("checked out to badge ", badge, " (battery ", result->battery_percent, "%)");
    } else {
      event.kind = DockEvent::Kind::kCheckoutRefused;
      event.message = absl::StrCat("check-out for badge ", badge, " refused");
      event.status = result.status();
    }
    options_.events(event);
  }
  return result;
}

absl::StatusOr<CheckoutResult> CheckoutDesk::CheckoutLocked(absl::string_view badge_view) {
  const std::string badge(badge_view);
  if (badge.empty() || badge.size() > kMaxBadgeLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("a badge is 1-", kMaxBadgeLength, " characters"));
  }
  ASSIGN_OR_RETURN(std::optional<v1::SiteView> view, options_.site_view->View());
  if (!view.has_value()) {
    return absl::FailedPreconditionError(
        "the dock has no site view yet (it has never synced): no holders or rules to check out "
        "by");
  }
  const v1::SiteHolder* holder = nullptr;
  for (const v1::SiteHolder& h : view->holders()) {
    if (h.badge() == badge) holder = &h;
  }
  if (holder == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("badge ", badge, " is not a holder of site ", view->site_code()));
  }
  const std::string held = options_.ledger->HeldBy(badge, &*view);
  if (!held.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("badge ", badge, " already holds camera ",
                                                      held, "; return it before taking another"));
  }
  const uint32_t minimum = view->rules().minimum_battery_percent();

  std::optional<SlotInfo> best;
  std::vector<std::string> why_not;
  for (const SlotInfo& slot : options_.board->Snapshot()) {
    if (!slot.occupied) continue;
    std::string reason;
    const v1::SiteCamera* camera = FindIn(*view, slot.serial);
    const std::optional<bool> out = options_.ledger->LocallyOut(slot.serial);
    if (!slot.refused_reason.empty()) {
      reason = absl::StrCat("refused (", slot.refused_reason, ")");
    } else if (camera == nullptr) {
      reason = "not in the site view";
    } else if (camera->revoked()) {
      reason = "certificate revoked";
    } else if (out.value_or(false)) {
      reason = "checked out here";
    } else if (!out.has_value() && camera->state() != v1::CAMERA_STATE_AVAILABLE) {
      reason = absl::StrCat("state ", v1::CameraState_Name(camera->state()));
    } else if (out.has_value() && camera->state() != v1::CAMERA_STATE_AVAILABLE &&
               camera->state() != v1::CAMERA_STATE_ISSUED) {
      reason = absl::StrCat("state ", v1::CameraState_Name(camera->state()));
    } else if (slot.updating) {
      reason = "being updated";
    } else if (slot.released) {
      reason = "released to another officer";
    } else if (!slot.health.has_value()) {
      reason = "no health reading yet";
    } else if (slot.health->battery_percent < minimum) {
      reason = absl::StrCat("battery ", slot.health->battery_percent, "% below the site's ",
                            minimum, "%");
    }
    if (!reason.empty()) {
      why_not.push_back(absl::StrCat("slot ", slot.slot, " ", slot.serial, ": ", reason));
      continue;
    }
    if (!best.has_value() || slot.health->battery_percent > best->health->battery_percent) {
      best = slot;
    }
  }
  if (!best.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no camera can be checked out to badge ", badge, ": ",
                     why_not.empty() ? "no camera in the slots" : absl::StrJoin(why_not, "; ")));
  }

  const absl::Time now = options_.clock->Now();
  std::optional<absl::Duration> offset;
  if (options_.clock_offset != nullptr && options_.clock_offset->Latest().has_value()) {
    offset = options_.clock_offset->Offset();
  }
  const absl::Time due = now + offset.value_or(absl::ZeroDuration()) +
                         FromDurationProto(view->rules().checkout_duration());
  v1::OutboxItem item;
  v1::DockCheckout* checkout = item.mutable_checkout();
  checkout->set_serial(best->serial);
  checkout->set_slot(static_cast<uint32_t>(best->slot));
  checkout->set_badge(badge);
  *checkout->mutable_due_back_time() = ToTimestamp(due);
  checkout->set_battery_percent(best->health->battery_percent);
  StampItem(item, now, offset);
  ASSIGN_OR_RETURN(AppendResult appended, options_.outbox->Append(std::move(item)));
  options_.ledger->RecordCheckout(badge, best->serial, appended.sequence);
  options_.board->Release(best->slot, best->serial);
  if (options_.appended) options_.appended();
  return CheckoutResult{best->slot, best->serial,      best->health->battery_percent,
                        due,        appended.sequence, holder->name()};
}

}  // namespace camfleet::agent
