#include "agent/outbox_item.h"

#include "google/protobuf/util/time_util.h"

namespace camfleet::agent {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(ts));
}

google::protobuf::Duration ToDurationProto(absl::Duration d) {
  return TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(d));
}

absl::Duration FromDurationProto(const google::protobuf::Duration& d) {
  return absl::Microseconds(TimeUtil::DurationToMicroseconds(d));
}

void StampItem(v1::OutboxItem& item, absl::Time now,
               std::optional<absl::Duration> server_minus_dock) {
  *item.mutable_record_time() = ToTimestamp(now);
  if (server_minus_dock.has_value()) {
    *item.mutable_clock_offset() = ToDurationProto(-*server_minus_dock);
  }
}

}  // namespace camfleet::agent
