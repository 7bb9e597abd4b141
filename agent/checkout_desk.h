#pragma once
// The check-out desk: an officer badges in at the dock and is given a camera, with or without
// the link to camfleetd.
//
// Checkout(badge):
//  - the badge must be in the site view (NOT_FOUND naming it otherwise), and the officer must
//    not hold a camera already, by the site view and by the check-outs and returns made here
//    since (CustodyLedger) (FAILED_PRECONDITION naming the camera held);
//  - the desk picks, among its slots, the best-charged camera that is AVAILABLE as far as the
//    dock knows (the view says AVAILABLE and it was not checked out here since, or it was
//    returned here since), not refused (lost, retired, revoked), not revoked in the view, not
//    being updated, not already released to someone, with a health reading at or above the
//    site's minimum charge (CheckoutRules); none: FAILED_PRECONDITION saying why for each
//    occupied slot;
//  - a DockCheckout goes to the outbox (durable) before the answer, then the ledger and the slot
//    record it. Due back: server time now (dock clock + measured offset) + the site's check-out
//    duration.
// Errors besides: INVALID_ARGUMENT for an empty or over-long badge; FAILED_PRECONDITION before
// the first site view (no holders, no rules); the outbox's RESOURCE_EXHAUSTED/UNAVAILABLE.
//
// Thread-safe: check-outs are serialised, so two officers never get the same camera.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/clock_offset.h"
#include "agent/dock_events.h"
#include "agent/dock_state.h"
#include "agent/outbox_store.h"
#include "agent/site_view_store.h"
#include "common/clock.h"

namespace camfleet::agent {

struct CheckoutResult {
  int slot = 0;
  std::string serial;
  uint32_t battery_percent = 0;
  absl::Time due_back;
  uint64_t outbox_sequence = 0;
  std::string holder_name;
};

struct CheckoutDeskOptions {
  // Not owned; must outlive the desk.
  OutboxStore* outbox = nullptr;
  SiteViewStore* site_view = nullptr;
  SlotBoard* board = nullptr;
  CustodyLedger* ledger = nullptr;
  ClockOffset* clock_offset = nullptr;  // may be null: server time = dock time
  const common::Clock* clock = nullptr;
  std::function<void()> appended;
  EventSink events;
};

class CheckoutDesk {
 public:
  explicit CheckoutDesk(CheckoutDeskOptions options) : options_(std::move(options)) {}

  absl::StatusOr<CheckoutResult> Checkout(absl::string_view badge);

 private:
  absl::StatusOr<CheckoutResult> CheckoutLocked(absl::string_view badge)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  CheckoutDeskOptions options_;
  absl::Mutex mu_;
};

}  // namespace camfleet::agent
