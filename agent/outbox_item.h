#pragma once
// Building outbox items the way every piece of the agent must: stamped with the dock's clock
// and its measured offset to server time (dock_sync.proto, OutboxItem.clock_offset = dock clock
// minus server clock, unset until measured), so the server can place the item in its own time.

#include <optional>

#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"

namespace camfleet::agent {

// Sets record_time to `now` and, when `server_minus_dock` is known, clock_offset to its
// negation (the protocol's sign: dock minus server).
void StampItem(v1::OutboxItem& item, absl::Time now,
               std::optional<absl::Duration> server_minus_dock);

// Conversions between Abseil and protobuf time types.
google::protobuf::Timestamp ToTimestamp(absl::Time t);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);
google::protobuf::Duration ToDurationProto(absl::Duration d);
absl::Duration FromDurationProto(const google::protobuf::Duration& d);

}  // namespace camfleet::agent
