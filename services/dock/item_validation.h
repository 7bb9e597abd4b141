#pragma once
// The checks of what a dock sends before anything of it is stored: the fields of a sync item
// (ValidateItem) and the pieces the hello shares with it. INVALID_ARGUMENT naming the field and
// the fix, e.g. "health.battery_percent is 130; give 0-100". Internal to services/dock.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "camfleet/v1/dock_sync.pb.h"

namespace camfleet::dock {

// INVALID_ARGUMENT: "<field> <what>".
absl::Status Invalid(absl::string_view field, absl::string_view what);
// A slot number against the dock's `slot_count` (0: any of 1-256).
absl::Status ValidateSlot(absl::string_view field, uint32_t slot, int slot_count);
// A version or certificate serial as a dock reports it: short printable text.
absl::Status ValidateVersion(absl::string_view field, const std::string& version);

// "custody" or "telemetry".
std::string LaneName(v1::SyncLane lane);

// The checks of one item, without the store: every field of its kind, the lane its kind
// travels in, the slot against `slot_count` (0: 1-256) and its size. INVALID_ARGUMENT naming
// the field, e.g. "health.battery_percent is 130; give 0-100".
absl::Status ValidateItem(const v1::OutboxItem& item, int slot_count, size_t max_item_bytes);

}  // namespace camfleet::dock
