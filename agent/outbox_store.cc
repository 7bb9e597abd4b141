#include "agent/outbox_store.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/migrations.h"
#include "common/migration.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::agent {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kMicrosPerHour = int64_t{3600} * 1000 * 1000;

int LaneNumber(v1::SyncLane lane) { return static_cast<int>(lane); }

absl::string_view LaneName(v1::SyncLane lane) {
  return lane == v1::SYNC_LANE_CUSTODY ? "custody" : "telemetry";
}

absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

absl::string_view KindName(const v1::OutboxItem& item) {
  switch (item.kind_case()) {
    case v1::OutboxItem::kHealth:
      return "health reading";
    case v1::OutboxItem::kInserted:
      return "insertion";
    case v1::OutboxItem::kRemoved:
      return "removal";
    case v1::OutboxItem::kCheckout:
      return "check-out";
    case v1::OutboxItem::kDockReturn:
      return "return";
    case v1::OutboxItem::kAlert:
      return "alert";
    case v1::OutboxItem::kThinned:
      return "thinned range";
    case v1::OutboxItem::kFirmware:
      return "firmware progress";
    case v1::OutboxItem::KIND_NOT_SET:
      break;
  }
  return "item without a kind";
}

// The stub a ThinnedRange row carries; its size is what thinning estimates a new stub at.
v1::OutboxItem StubItem(v1::SyncLane lane, uint64_t first, uint64_t last, absl::Time now) {
  v1::OutboxItem stub;
  stub.set_lane(lane);
  stub.set_sequence(first);
  *stub.mutable_record_time() = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(now));
  stub.mutable_thinned()->set_thinned_through(last);
  stub.mutable_thinned()->set_readings_dropped(last - first + 1);
  return stub;
}

// An upper bound for a stub's size: varints at their longest.
int64_t StubSizeBound() {
  static const int64_t kBound = [] {
    constexpr uint64_t kBig = std::numeric_limits<uint64_t>::max();
    return static_cast<int64_t>(
        StubItem(v1::SYNC_LANE_TELEMETRY, kBig, kBig, absl::FromUnixSeconds(253402300799))
            .ByteSizeLong());
  }();
  return kBound;
}

absl::Status ValidateLimits(const OutboxLimits& l) {
  if (l.max_items < 1 || l.max_bytes < 1 || l.max_item_bytes < 1) {
    return absl::InvalidArgumentError("outbox limits must be positive");
  }
  if (l.hard_max_bytes < l.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("outbox hard_max_bytes (", l.hard_max_bytes,
                                                   ") is below max_bytes (", l.max_bytes, ")"));
  }
  if (l.max_item_bytes > l.max_bytes) {
    return absl::InvalidArgumentError("outbox max_item_bytes is above max_bytes");
  }
  if (!(l.make_room_to > 0.0 && l.make_room_to <= 1.0)) {
    return absl::InvalidArgumentError("outbox make_room_to must be in (0, 1]");
  }
  if (l.retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("outbox retention must not be negative");
  }
  if (l.max_file_pages < 0) return absl::InvalidArgumentError("max_file_pages is negative");
  return absl::OkStatus();
}

}  // namespace

struct OutboxStore::LaneRow {
  uint64_t last_sequence = 0;
  uint64_t acked_through = 0;
  uint64_t pruned_through = 0;
  int64_t unacked_count = 0;
};

struct OutboxStore::RoomMade {
  int64_t readings_thinned = 0;
  int64_t acked_dropped = 0;
};

OutboxStore::OutboxStore(std::unique_ptr<common::Database> db, std::string path, std::string epoch,
                         const OutboxLimits& limits, const common::Clock* clock)
    : path_(std::move(path)),
      epoch_(std::move(epoch)),
      limits_(limits),
      clock_(clock),
      db_(std::move(db)) {}

absl::StatusOr<std::unique_ptr<OutboxStore>> OutboxStore::Open(const std::string& path,
                                                               const OutboxLimits& limits,
                                                               const common::Clock* clock) {
  RETURN_IF_ERROR(ValidateLimits(limits));
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(path));
  if (limits.max_file_pages > 0) {
    RETURN_IF_ERROR(db->Exec(absl::StrCat("PRAGMA max_page_count = ", limits.max_file_pages)));
  }
  RETURN_IF_ERROR(common::Annotate(common::ApplyMigrations(*db, outbox_schema::Migrations()),
                                   absl::StrCat("outbox ", path)));
  std::string epoch;
  {
    ASSIGN_OR_RETURN(common::Statement s, db->Prepare("SELECT epoch FROM outbox_epoch"));
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return absl::InternalError(absl::StrCat("outbox ", path, " has no epoch row"));
    epoch = s.ColumnText(0);
  }
  return std::unique_ptr<OutboxStore>(
      new OutboxStore(std::move(db), path, std::move(epoch), limits, clock));
}

absl::Status OutboxStore::DiskAware(absl::Status status) {
  // SQLite says "database or disk is full" for a full disk (ENOSPC) and for max_page_count;
  // common::SqliteStatus files both under RESOURCE_EXHAUSTED (UNAVAILABLE before); here the
  // message names the outbox, and the dock must tell someone.
  if ((absl::IsUnavailable(status) || absl::IsResourceExhausted(status)) &&
      absl::StrContains(status.message(), sqlite3_errstr(SQLITE_FULL))) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the disk holding the outbox ", path_,
        " is full; nothing was stored and what the outbox held is kept. Free space on that disk "
        "(old logs, cached firmware); the next write works once there is room (",
        status.message(), ")"));
  }
  return status;
}

template <typename Fn>
auto OutboxStore::InTransaction(Fn body) -> decltype(body()) {
  // IMMEDIATE: take the write lock up front, so a read-then-write never loses a race with
  // another connection (a second process on the file) half way.
  if (absl::Status s = db_->Exec("BEGIN IMMEDIATE"); !s.ok()) return DiskAware(std::move(s));
  auto result = body();
  absl::Status s = StatusOf(result);
  if (s.ok()) {
    s = db_->Exec("COMMIT");
    if (s.ok()) return result;
  }
  s = DiskAware(std::move(s));
  // SQLite may already have rolled back on its own (SQLITE_FULL can do that); then this fails
  // harmlessly.
  db_->Exec("ROLLBACK").IgnoreError();
  return s;
}

absl::StatusOr<OutboxStore::LaneRow> OutboxStore::ReadLaneLocked(v1::SyncLane lane) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT last_sequence, acked_through, pruned_through, "
                                "unacked_count FROM outbox_lane WHERE lane = ?1"));
  s.Bind(1, int64_t{LaneNumber(lane)});
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::InternalError(
        absl::StrCat("outbox ", path_, " has no row for lane ", LaneName(lane)));
  }
  LaneRow r;
  r.last_sequence = static_cast<uint64_t>(s.ColumnInt(0));
  r.acked_through = static_cast<uint64_t>(s.ColumnInt(1));
  r.pruned_through = static_cast<uint64_t>(s.ColumnInt(2));
  r.unacked_count = s.ColumnInt(3);
  return r;
}

absl::StatusOr<OutboxCount> OutboxStore::StoredLocked() {
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT COALESCE(SUM(item_count), 0), "
                                "COALESCE(SUM(item_bytes), 0) FROM outbox_lane"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  OutboxCount c;
  if (row) {
    c.items = s.ColumnInt(0);
    c.bytes = s.ColumnInt(1);
  }
  return c;
}

absl::StatusOr<AppendResult> OutboxStore::Append(v1::OutboxItem item,
                                                 const AppendOptions& options) {
  v1::SyncLane lane = v1::SYNC_LANE_UNSPECIFIED;
  switch (item.kind_case()) {
    case v1::OutboxItem::KIND_NOT_SET:
      return absl::InvalidArgumentError("outbox item has no kind; set what happened");
    case v1::OutboxItem::kThinned:
      return absl::InvalidArgumentError(
          "outbox item is a thinned range; only the outbox itself makes those");
    case v1::OutboxItem::kHealth:
      lane = v1::SYNC_LANE_TELEMETRY;
      if (item.health().serial().empty()) {
        return absl::InvalidArgumentError("health reading has no camera serial");
      }
      break;
    default:
      lane = v1::SYNC_LANE_CUSTODY;
      break;
  }
  if (item.lane() != v1::SYNC_LANE_UNSPECIFIED && item.lane() != lane) {
    return absl::InvalidArgumentError(absl::StrCat("the ", KindName(item), " travels in the ",
                                                   LaneName(lane), " lane, not in ",
                                                   v1::SyncLane_Name(item.lane())));
  }
  item.set_lane(lane);
  if (!item.has_record_time()) {
    *item.mutable_record_time() =
        TimeUtil::MicrosecondsToTimestamp(common::ToMicros(clock_->Now()));
  }
  // Checked with the longest sequence it could get, so the stored item never exceeds it.
  item.set_sequence(std::numeric_limits<uint64_t>::max());
  const int64_t size_bound = static_cast<int64_t>(item.ByteSizeLong());
  if (size_bound > limits_.max_item_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("the ", KindName(item), " is ", size_bound,
                                                   " bytes; the outbox takes at most ",
                                                   limits_.max_item_bytes, " per item"));
  }

  absl::MutexLock lock(&mu_);
  absl::StatusOr<AppendResult> result =
      InTransaction([&]() { return AppendLocked(item, lane, options); });
  if (result.ok()) {
    if (result->outbox_full) {
      ++counters_.appends_when_full;
      counters_.readings_thinned += result->readings_thinned;
      counters_.acked_dropped += result->acked_dropped;
    }
  } else if (absl::IsResourceExhausted(result.status())) {
    ++(lane == v1::SYNC_LANE_CUSTODY ? counters_.custody_refused : counters_.telemetry_refused);
  }
  return result;
}

absl::StatusOr<AppendResult> OutboxStore::AppendLocked(v1::OutboxItem& item, v1::SyncLane lane,
                                                       const AppendOptions& options) {
  ASSIGN_OR_RETURN(LaneRow lane_row, ReadLaneLocked(lane));
  AppendResult result;
  result.lane = lane;
  result.sequence = lane_row.last_sequence + 1;
  item.set_sequence(result.sequence);
  std::string payload;
  if (!item.SerializeToString(&payload)) {
    return absl::InternalError(absl::StrCat("serializing the ", KindName(item), " failed"));
  }
  const int64_t size = static_cast<int64_t>(payload.size());

  ASSIGN_OR_RETURN(OutboxCount stored, StoredLocked());
  auto fits_soft = [&] {
    return stored.items + 1 <= limits_.max_items && stored.bytes + size <= limits_.max_bytes;
  };
  if (!fits_soft()) {
    ASSIGN_OR_RETURN(RoomMade room, MakeRoomLocked(1, size));
    result.outbox_full = true;
    result.readings_thinned = room.readings_thinned;
    result.acked_dropped = room.acked_dropped;
    ASSIGN_OR_RETURN(stored, StoredLocked());
  }
  if (!fits_soft()) {
    if (lane == v1::SYNC_LANE_TELEMETRY) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the dock's outbox ", path_, " is full (", stored.items, " items, ", stored.bytes,
          " bytes; at most ", limits_.max_items, " items, ", limits_.max_bytes,
          " bytes) even after thinning telemetry: the health reading of ", item.health().serial(),
          " was not stored. Restore the link to camfleetd so the outbox drains, or raise the "
          "outbox limits"));
    }
    if (stored.bytes + size > limits_.hard_max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the dock's outbox ", path_, " is full: ", stored.bytes, " bytes held, ",
          limits_.hard_max_bytes, " at most even for custody; the ", KindName(item),
          " was NOT stored and the dock must not act on it. Restore the link to camfleetd so "
          "the outbox drains, or raise the hard ceiling if the disk allows"));
    }
    result.above_soft_bounds = true;
    result.outbox_full = true;
  }

  ASSIGN_OR_RETURN(
      common::Statement insert,
      db_->Prepare("INSERT INTO outbox_item (lane, sequence, record_us, size_bytes, payload, "
                   "serial, reading_us, keep) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  const int64_t record_us = TimeUtil::TimestampToMicroseconds(item.record_time());
  insert.Bind(1, int64_t{LaneNumber(lane)})
      .Bind(2, static_cast<int64_t>(result.sequence))
      .Bind(3, record_us)
      .Bind(4, size)
      .BindBlob(5, payload);
  if (lane == v1::SYNC_LANE_TELEMETRY) {
    // Readings are grouped by the dock's clock, not the camera's: a camera with a skewed clock
    // would otherwise land in the wrong hour, and the dock's clock is the one timeline all
    // cameras share.
    insert.Bind(6, absl::string_view(item.health().serial()))
        .Bind(7, record_us)
        .Bind(8, int64_t{options.keep ? 1 : 0});
  } else {
    insert.BindNull(6).BindNull(7).Bind(8, int64_t{0});
  }
  RETURN_IF_ERROR(insert.Run());
  ASSIGN_OR_RETURN(common::Statement bump,
                   db_->Prepare("UPDATE outbox_lane SET last_sequence = ?2 WHERE lane = ?1"));
  bump.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(result.sequence));
  RETURN_IF_ERROR(bump.Run());
  return result;
}

absl::StatusOr<OutboxStore::RoomMade> OutboxStore::MakeRoomLocked(int64_t need_items,
                                                                  int64_t need_bytes) {
  RoomMade room;
  const int64_t target_items =
      static_cast<int64_t>(static_cast<double>(limits_.max_items) * limits_.make_room_to) -
      need_items;
  const int64_t target_bytes =
      static_cast<int64_t>(static_cast<double>(limits_.max_bytes) * limits_.make_room_to) -
      need_bytes;
  // Items past retention would be pruned anyway; only what goes earlier counts as dropped.
  RETURN_IF_ERROR(PruneLocked(common::ToMicros(clock_->Now() - limits_.retention)).status());

  ASSIGN_OR_RETURN(OutboxCount stored, StoredLocked());
  if (stored.items > target_items || stored.bytes > target_bytes) {
    // Acknowledged items the server already has, oldest acknowledgement first, only as many as
    // needed: they are kept only against a restore of the server.
    std::map<int64_t, int64_t> through;  // lane -> highest sequence to drop
    {
      ASSIGN_OR_RETURN(common::Statement s,
                       db_->Prepare("SELECT lane, sequence, size_bytes FROM outbox_item WHERE "
                                    "acked_us IS NOT NULL ORDER BY acked_us, lane, sequence"));
      int64_t items = stored.items;
      int64_t bytes = stored.bytes;
      while (items > target_items || bytes > target_bytes) {
        ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        int64_t& t = through[s.ColumnInt(0)];
        t = std::max(t, s.ColumnInt(1));
        --items;
        bytes -= s.ColumnInt(2);
      }
    }  // the read is finished before anything is deleted
    for (const auto& [lane, sequence] : through) {
      ASSIGN_OR_RETURN(int64_t dropped,
                       DropAckedPrefixLocked(static_cast<v1::SyncLane>(lane), sequence));
      room.acked_dropped += dropped;
    }
    ASSIGN_OR_RETURN(stored, StoredLocked());
  }
  if (stored.items > target_items || stored.bytes > target_bytes) {
    ASSIGN_OR_RETURN(room.readings_thinned, ThinLocked(target_items, target_bytes));
  }
  return room;
}

absl::StatusOr<int64_t> OutboxStore::DropAckedPrefixLocked(v1::SyncLane lane,
                                                           int64_t through_sequence) {
  // The acknowledged items of a lane are always a prefix of what it holds, so this removes a
  // prefix and the lane stays covered from pruned_through on.
  int64_t covered = 0;
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("SELECT MAX(COALESCE(thinned_through, sequence)) FROM "
                                  "outbox_item WHERE lane = ?1 AND sequence <= ?2 AND "
                                  "acked_us IS NOT NULL"));
    s.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, through_sequence);
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.ColumnIsNull(0)) return 0;
    covered = s.ColumnInt(0);
  }
  ASSIGN_OR_RETURN(common::Statement del,
                   db_->Prepare("DELETE FROM outbox_item WHERE lane = ?1 AND sequence <= ?2 "
                                "AND acked_us IS NOT NULL"));
  del.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, through_sequence);
  RETURN_IF_ERROR(del.Run());
  const int64_t dropped = db_->Changes();
  ASSIGN_OR_RETURN(common::Statement up,
                   db_->Prepare("UPDATE outbox_lane SET pruned_through = MAX(pruned_through, ?2) "
                                "WHERE lane = ?1"));
  up.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, covered);
  RETURN_IF_ERROR(up.Run());
  return dropped;
}

absl::StatusOr<int64_t> OutboxStore::PruneLocked(int64_t acked_before_us) {
  std::vector<std::pair<int64_t, int64_t>> through;  // lane, highest sequence
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("SELECT lane, MAX(sequence) FROM outbox_item WHERE acked_us "
                                  "IS NOT NULL AND acked_us <= ?1 GROUP BY lane"));
    s.Bind(1, acked_before_us);
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      through.emplace_back(s.ColumnInt(0), s.ColumnInt(1));
    }
  }
  int64_t pruned = 0;
  for (const auto& [lane, sequence] : through) {
    ASSIGN_OR_RETURN(int64_t n, DropAckedPrefixLocked(static_cast<v1::SyncLane>(lane), sequence));
    pruned += n;
  }
  return pruned;
}

absl::StatusOr<int64_t> OutboxStore::ThinLocked(int64_t target_items, int64_t target_bytes) {
  ASSIGN_OR_RETURN(const OutboxCount stored, StoredLocked());
  struct Row {
    uint64_t sequence;
    std::optional<uint64_t> thinned_through;
    int64_t size;
    std::string serial;
    int64_t reading_us;
    bool keep;
  };
  std::vector<Row> rows;
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("SELECT sequence, thinned_through, size_bytes, serial, "
                                  "reading_us, keep FROM outbox_item WHERE lane = ?1 AND "
                                  "acked_us IS NULL ORDER BY sequence"));
    s.Bind(1, int64_t{LaneNumber(v1::SYNC_LANE_TELEMETRY)});
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      Row r;
      r.sequence = static_cast<uint64_t>(s.ColumnInt(0));
      if (!s.ColumnIsNull(1)) r.thinned_through = static_cast<uint64_t>(s.ColumnInt(1));
      r.size = s.ColumnInt(2);
      r.serial = s.ColumnText(3);
      r.reading_us = s.ColumnInt(4);
      r.keep = s.ColumnInt(5) != 0;
      rows.push_back(std::move(r));
    }
  }

  // The first and the last reading of each camera in each hour stay, whatever else goes: the
  // server still sees every camera's state at least twice an hour.
  struct FirstLast {
    size_t first;
    size_t last;
  };
  std::map<std::pair<absl::string_view, int64_t>, FirstLast> hours;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (r.thinned_through.has_value()) continue;
    // Floor division, so readings before 1970 (a dock with a reset clock) group sensibly too.
    int64_t hour = r.reading_us / kMicrosPerHour;
    if (r.reading_us < 0 && r.reading_us % kMicrosPerHour != 0) --hour;
    auto [it, inserted] = hours.try_emplace({r.serial, hour}, FirstLast{i, i});
    if (inserted) continue;
    auto earlier = [&](size_t a, size_t b) {
      return std::pair(rows[a].reading_us, rows[a].sequence) <
             std::pair(rows[b].reading_us, rows[b].sequence);
    };
    if (earlier(i, it->second.first)) it->second.first = i;
    if (earlier(it->second.last, i)) it->second.last = i;
  }
  std::vector<bool> protect(rows.size(), false);
  for (const auto& [key, fl] : hours) {
    protect[fl.first] = true;
    protect[fl.last] = true;
  }

  // Walk oldest first. A run is a stretch of consecutive sequences made only of dropped
  // readings and existing stubs; each run that drops something becomes one stub.
  struct Run {
    uint64_t first = 0;
    uint64_t last = 0;
    int64_t rows = 0;
    int64_t bytes = 0;
    int64_t dropped = 0;
    int64_t stubs = 0;
  };
  std::vector<Run> runs;
  std::optional<Run> open;
  int64_t freed_items = 0;
  int64_t freed_bytes = 0;
  const int64_t stub_size = StubSizeBound();
  auto run_frees = [&](const Run& r) {
    const bool rewrite = r.dropped > 0 || r.stubs > 1;
    return rewrite ? std::pair(r.rows - 1, r.bytes - stub_size) : std::pair(int64_t{0}, int64_t{0});
  };
  auto satisfied = [&] {
    int64_t items = freed_items;
    int64_t bytes = freed_bytes;
    if (open.has_value()) {
      auto [i, b] = run_frees(*open);
      items += i;
      bytes += b;
    }
    return stored.items - items <= target_items && stored.bytes - bytes <= target_bytes;
  };
  auto close_run = [&] {
    if (!open.has_value()) return;
    auto [i, b] = run_frees(*open);
    freed_items += i;
    freed_bytes += b;
    if (open->dropped > 0 || open->stubs > 1) runs.push_back(*open);
    open.reset();
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const bool is_stub = r.thinned_through.has_value();
    const bool contiguous = open.has_value() && r.sequence == open->last + 1;
    if (!is_stub && (r.keep || protect[i] || satisfied())) {
      close_run();
      if (satisfied()) break;
      continue;
    }
    if (!contiguous) {
      close_run();
      open = Run{};
      open->first = r.sequence;
    }
    open->last = is_stub ? *r.thinned_through : r.sequence;
    ++open->rows;
    open->bytes += r.size;
    ++(is_stub ? open->stubs : open->dropped);
  }
  close_run();

  int64_t thinned = 0;
  for (const Run& run : runs) {
    ASSIGN_OR_RETURN(common::Statement del,
                     db_->Prepare("DELETE FROM outbox_item WHERE lane = ?1 AND sequence "
                                  "BETWEEN ?2 AND ?3"));
    del.Bind(1, int64_t{LaneNumber(v1::SYNC_LANE_TELEMETRY)})
        .Bind(2, static_cast<int64_t>(run.first))
        .Bind(3, static_cast<int64_t>(run.last));
    RETURN_IF_ERROR(del.Run());
    if (db_->Changes() != run.rows) {
      return absl::InternalError(absl::StrCat("thinning telemetry ", run.first, "..", run.last,
                                              " in ", path_, ": expected ", run.rows,
                                              " rows, found ", db_->Changes()));
    }
    RETURN_IF_ERROR(WriteStubLocked(v1::SYNC_LANE_TELEMETRY, run.first, run.last, std::nullopt));
    thinned += run.dropped;
  }
  if (thinned > 0) {
    ASSIGN_OR_RETURN(common::Statement up,
                     db_->Prepare("UPDATE outbox_lane SET readings_thinned = readings_thinned + "
                                  "?2 WHERE lane = ?1"));
    up.Bind(1, int64_t{LaneNumber(v1::SYNC_LANE_TELEMETRY)}).Bind(2, thinned);
    RETURN_IF_ERROR(up.Run());
  }
  return thinned;
}

absl::Status OutboxStore::WriteStubLocked(v1::SyncLane lane, uint64_t first, uint64_t last,
                                          std::optional<int64_t> acked_us) {
  const absl::Time now = clock_->Now();
  std::string payload;
  if (!StubItem(lane, first, last, now).SerializeToString(&payload)) {
    return absl::InternalError("serializing a thinned range failed");
  }
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("INSERT INTO outbox_item (lane, sequence, thinned_through, "
                                "record_us, size_bytes, payload, acked_us) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  s.Bind(1, int64_t{LaneNumber(lane)})
      .Bind(2, static_cast<int64_t>(first))
      .Bind(3, static_cast<int64_t>(last))
      .Bind(4, common::ToMicros(now))
      .Bind(5, static_cast<int64_t>(payload.size()))
      .BindBlob(6, payload)
      .BindOptional(7, acked_us);
  return s.Run();
}

absl::Status OutboxStore::SplitStubAtLocked(v1::SyncLane lane, uint64_t position) {
  // Every sequence held is covered by exactly one row, so the row covering `position` is the
  // last one starting at or before it.
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<int64_t> acked_us;
  {
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("SELECT sequence, thinned_through, acked_us FROM outbox_item "
                                  "WHERE lane = ?1 AND sequence <= ?2 ORDER BY sequence DESC "
                                  "LIMIT 1"));
    s.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(position));
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.ColumnIsNull(1)) return absl::OkStatus();
    first = static_cast<uint64_t>(s.ColumnInt(0));
    last = static_cast<uint64_t>(s.ColumnInt(1));
    acked_us = s.ColumnOptionalInt(2);
  }
  if (last <= position) return absl::OkStatus();
  ASSIGN_OR_RETURN(common::Statement del,
                   db_->Prepare("DELETE FROM outbox_item WHERE lane = ?1 AND sequence = ?2"));
  del.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(first));
  RETURN_IF_ERROR(del.Run());
  RETURN_IF_ERROR(WriteStubLocked(lane, first, position, acked_us));
  return WriteStubLocked(lane, position + 1, last, acked_us);
}

absl::Status OutboxStore::SetPositionLocked(v1::SyncLane lane, uint64_t position, bool may_lower) {
  RETURN_IF_ERROR(SplitStubAtLocked(lane, position));
  const int64_t now_us = common::ToMicros(clock_->Now());
  ASSIGN_OR_RETURN(common::Statement ack,
                   db_->Prepare("UPDATE outbox_item SET acked_us = ?3 WHERE lane = ?1 AND "
                                "sequence <= ?2 AND acked_us IS NULL"));
  ack.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(position)).Bind(3, now_us);
  RETURN_IF_ERROR(ack.Run());
  if (may_lower) {
    ASSIGN_OR_RETURN(common::Statement unack,
                     db_->Prepare("UPDATE outbox_item SET acked_us = NULL WHERE lane = ?1 AND "
                                  "sequence > ?2 AND acked_us IS NOT NULL"));
    unack.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(position));
    RETURN_IF_ERROR(unack.Run());
  }
  ASSIGN_OR_RETURN(common::Statement up,
                   db_->Prepare("UPDATE outbox_lane SET acked_through = ?2 WHERE lane = ?1"));
  up.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(position));
  return up.Run();
}

namespace {
absl::Status CheckLane(v1::SyncLane lane) {
  if (lane != v1::SYNC_LANE_CUSTODY && lane != v1::SYNC_LANE_TELEMETRY) {
    return absl::InvalidArgumentError(
        absl::StrCat("no such outbox lane: ", static_cast<int>(lane)));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status OutboxStore::Acknowledge(v1::SyncLane lane, uint64_t applied_through) {
  RETURN_IF_ERROR(CheckLane(lane));
  absl::MutexLock lock(&mu_);
  absl::Status marked = InTransaction([&]() -> absl::Status {
    ASSIGN_OR_RETURN(LaneRow row, ReadLaneLocked(lane));
    if (applied_through > row.last_sequence) {
      return absl::FailedPreconditionError(
          absl::StrCat("the server acknowledged ", LaneName(lane), " through ", applied_through,
                       " but outbox epoch ", epoch_, " assigned only through ", row.last_sequence));
    }
    if (applied_through <= row.acked_through) return absl::OkStatus();
    RETURN_IF_ERROR(SetPositionLocked(lane, applied_through, /*may_lower=*/false));
    return PruneLocked(common::ToMicros(clock_->Now() - limits_.retention)).status();
  });
  if (!absl::IsResourceExhausted(marked)) return marked;

  // The disk is full, and marking items acknowledged needs pages (the index of acknowledged
  // items grows). Deleting them needs none and frees what the next Append needs: the server has
  // them, and keeping them for a restored server is insurance a full disk cannot afford.
  int64_t dropped = 0;
  absl::Status deleted = InTransaction([&]() -> absl::Status {
    RETURN_IF_ERROR(SplitStubAtLocked(lane, applied_through));
    ASSIGN_OR_RETURN(common::Statement del,
                     db_->Prepare("DELETE FROM outbox_item WHERE lane = ?1 AND sequence <= ?2"));
    del.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(applied_through));
    RETURN_IF_ERROR(del.Run());
    dropped = db_->Changes();
    ASSIGN_OR_RETURN(common::Statement up,
                     db_->Prepare("UPDATE outbox_lane SET acked_through = ?2, pruned_through = ?2 "
                                  "WHERE lane = ?1"));
    up.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(applied_through));
    return up.Run();
  });
  if (!deleted.ok()) return deleted;
  counters_.acked_dropped += dropped;
  return absl::OkStatus();
}

absl::StatusOr<ResendResult> OutboxStore::ResendFrom(v1::SyncLane lane, uint64_t after_sequence) {
  RETURN_IF_ERROR(CheckLane(lane));
  absl::MutexLock lock(&mu_);
  return InTransaction([&]() -> absl::StatusOr<ResendResult> {
    ASSIGN_OR_RETURN(LaneRow row, ReadLaneLocked(lane));
    if (after_sequence > row.last_sequence) {
      return absl::FailedPreconditionError(
          absl::StrCat("the server stands at ", LaneName(lane), " ", after_sequence,
                       " but outbox epoch ", epoch_, " assigned only through ", row.last_sequence));
    }
    ResendResult result;
    if (after_sequence < row.pruned_through) {
      result.lost = SequenceRange{after_sequence + 1, row.pruned_through};
      // The server refuses a gap and the items are gone: a stub over the range lets it go on
      // (it counts a thinned range as applied).
      RETURN_IF_ERROR(WriteStubLocked(lane, after_sequence + 1, row.pruned_through, std::nullopt));
      ASSIGN_OR_RETURN(common::Statement up,
                       db_->Prepare("UPDATE outbox_lane SET pruned_through = ?2 WHERE lane = ?1"));
      up.Bind(1, int64_t{LaneNumber(lane)}).Bind(2, static_cast<int64_t>(after_sequence));
      RETURN_IF_ERROR(up.Run());
    }
    RETURN_IF_ERROR(SetPositionLocked(lane, after_sequence, /*may_lower=*/true));
    if (result.lost.has_value()) {
      // The alert goes in with the stub, in this transaction: a second ResendFrom from the same
      // position finds nothing lost any more, so an alert left to the caller would be gone if
      // the dock crashed in between.
      v1::OutboxItem alert;
      alert.set_lane(v1::SYNC_LANE_CUSTODY);
      *alert.mutable_record_time() =
          TimeUtil::MicrosecondsToTimestamp(common::ToMicros(clock_->Now()));
      alert.mutable_alert()->set_kind(v1::DOCK_ALERT_KIND_ITEMS_LOST);
      alert.mutable_alert()->set_message(absl::StrCat(
          LaneName(lane), " items ", result.lost->first, " to ", result.lost->last,
          " of dock epoch ", epoch_,
          " were acknowledged by the control plane, which has since been restored from a "
          "backup without them, and were no longer kept at the dock (kept for ",
          absl::FormatDuration(limits_.retention), "): they are lost"));
      ASSIGN_OR_RETURN(AppendResult appended,
                       AppendLocked(alert, v1::SYNC_LANE_CUSTODY, AppendOptions{}));
      result.alert_sequence = appended.sequence;
    }
    ASSIGN_OR_RETURN(row, ReadLaneLocked(lane));
    result.items_to_send = row.unacked_count;
    return result;
  });
}

absl::StatusOr<int64_t> OutboxStore::PruneExpired() {
  absl::MutexLock lock(&mu_);
  return InTransaction(
      [&]() { return PruneLocked(common::ToMicros(clock_->Now() - limits_.retention)); });
}

absl::StatusOr<std::vector<v1::OutboxItem>> OutboxStore::NextBatch(int max_items, int64_t max_bytes,
                                                                   const LanePositions& after) {
  if (max_items < 1) return absl::InvalidArgumentError("a batch holds at least one item");
  absl::MutexLock lock(&mu_);
  std::vector<v1::OutboxItem> batch;
  int64_t bytes = 0;
  for (v1::SyncLane lane : {v1::SYNC_LANE_CUSTODY, v1::SYNC_LANE_TELEMETRY}) {
    const uint64_t skip = lane == v1::SYNC_LANE_CUSTODY ? after.custody : after.telemetry;
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("SELECT sequence, payload FROM outbox_item WHERE lane = ?1 AND "
                                  "acked_us IS NULL AND sequence > ?2 ORDER BY sequence "
                                  "LIMIT ?3"));
    s.Bind(1, int64_t{LaneNumber(lane)})
        .Bind(2, static_cast<int64_t>(std::min<uint64_t>(
                     skip, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))))
        .Bind(3, int64_t{max_items} - static_cast<int64_t>(batch.size()));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      const std::string payload = s.ColumnBlob(1);
      const int64_t size = static_cast<int64_t>(payload.size());
      // Custody drains first: when a custody item does not fit, no telemetry overtakes it.
      if (!batch.empty() && bytes + size > max_bytes) return batch;
      v1::OutboxItem item;
      if (!item.ParseFromString(payload)) {
        return absl::InternalError(absl::StrCat("outbox ", path_, ": ", LaneName(lane), " item ",
                                                s.ColumnInt(0), " does not parse"));
      }
      batch.push_back(std::move(item));
      bytes += size;
    }
    if (static_cast<int64_t>(batch.size()) >= max_items) return batch;
  }
  return batch;
}

absl::StatusOr<OutboxBacklog> OutboxStore::Backlog() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT lane, unacked_count, unacked_bytes, item_count, "
                                "item_bytes FROM outbox_lane"));
  OutboxBacklog b;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    OutboxCount& lane =
        s.ColumnInt(0) == LaneNumber(v1::SYNC_LANE_CUSTODY) ? b.custody : b.telemetry;
    lane.items = s.ColumnInt(1);
    lane.bytes = s.ColumnInt(2);
    b.stored.items += s.ColumnInt(3);
    b.stored.bytes += s.ColumnInt(4);
  }
  b.total.items = b.custody.items + b.telemetry.items;
  b.total.bytes = b.custody.bytes + b.telemetry.bytes;
  return b;
}

absl::StatusOr<LaneState> OutboxStore::Lane(v1::SyncLane lane) {
  RETURN_IF_ERROR(CheckLane(lane));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LaneRow row, ReadLaneLocked(lane));
  return LaneState{row.last_sequence, row.acked_through, row.pruned_through};
}

absl::StatusOr<OutboxCounters> OutboxStore::Counters() {
  absl::MutexLock lock(&mu_);
  OutboxCounters c = counters_;
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT COALESCE(SUM(readings_thinned), 0) FROM outbox_lane"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (row) c.readings_thinned_total = s.ColumnInt(0);
  return c;
}

absl::StatusOr<bool> OutboxStore::SetFirmwarePlan(const v1::FirmwarePlan& plan) {
  const int64_t plan_us = TimeUtil::TimestampToMicroseconds(plan.plan_time());
  std::string bytes;
  if (!plan.SerializeToString(&bytes)) return absl::InternalError("firmware plan: cannot encode");
  absl::MutexLock lock(&mu_);
  return InTransaction([&]() -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(common::Statement q,
                     db_->Prepare("SELECT plan_us FROM firmware_plan WHERE id = 1"));
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (row && q.ColumnInt(0) > plan_us) return false;
    ASSIGN_OR_RETURN(common::Statement w,
                     db_->Prepare("INSERT INTO firmware_plan (id, plan_us, plan) VALUES (1, ?1, ?2) "
                                  "ON CONFLICT (id) DO UPDATE SET plan_us = ?1, plan = ?2"));
    w.Bind(1, plan_us).BindBlob(2, bytes);
    RETURN_IF_ERROR(w.Run());
    return true;
  });
}

absl::StatusOr<std::optional<v1::FirmwarePlan>> OutboxStore::FirmwarePlan() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement q, db_->Prepare("SELECT plan FROM firmware_plan WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<v1::FirmwarePlan>();
  v1::FirmwarePlan plan;
  if (!plan.ParseFromString(q.ColumnBlob(0))) {
    return absl::InternalError(absl::StrCat("outbox ", path_, ": the stored firmware plan does not parse"));
  }
  return plan;
}

absl::StatusOr<std::optional<AppendResult>> OutboxStore::AppendFirmwareProgress(
    v1::OutboxItem item) {
  if (!item.has_firmware()) {
    return absl::InvalidArgumentError("firmware progress item has no FirmwareProgress");
  }
  const v1::FirmwareProgress& p = item.firmware();
  if (p.state() == v1::FIRMWARE_INSTALL_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError("firmware progress has no state");
  }
  item.set_lane(v1::SYNC_LANE_CUSTODY);
  if (!item.has_record_time()) {
    *item.mutable_record_time() =
        TimeUtil::MicrosecondsToTimestamp(common::ToMicros(clock_->Now()));
  }
  absl::MutexLock lock(&mu_);
  return InTransaction([&]() -> absl::StatusOr<std::optional<AppendResult>> {
    ASSIGN_OR_RETURN(common::Statement q,
                     db_->Prepare("SELECT 1 FROM firmware_report WHERE rollout_id = ?1 AND "
                                  "serial = ?2 AND attempt = ?3 AND state = ?4"));
    q.Bind(1, p.rollout_id()).Bind(2, p.serial()).Bind(3, int64_t{p.attempt()});
    q.Bind(4, int64_t{p.state()});
    ASSIGN_OR_RETURN(bool seen, q.Step());
    if (seen) return std::optional<AppendResult>();
    ASSIGN_OR_RETURN(AppendResult result, AppendLocked(item, v1::SYNC_LANE_CUSTODY, {}));
    ASSIGN_OR_RETURN(common::Statement w,
                     db_->Prepare("INSERT INTO firmware_report (rollout_id, serial, attempt, "
                                  "state, sequence) VALUES (?1, ?2, ?3, ?4, ?5)"));
    w.Bind(1, p.rollout_id()).Bind(2, p.serial()).Bind(3, int64_t{p.attempt()});
    w.Bind(4, int64_t{p.state()}).Bind(5, static_cast<int64_t>(result.sequence));
    RETURN_IF_ERROR(w.Run());
    return std::optional<AppendResult>(result);
  });
}

absl::StatusOr<std::optional<v1::FirmwareInstallState>> OutboxStore::FirmwareOutcome(
    const std::string& rollout_id, const std::string& serial, uint32_t attempt) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement q,
                   db_->Prepare("SELECT state FROM firmware_report WHERE rollout_id = ?1 AND "
                                "serial = ?2 AND attempt = ?3 AND state IN (3, 4, 5)"));
  q.Bind(1, rollout_id).Bind(2, serial).Bind(3, int64_t{attempt});
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<v1::FirmwareInstallState>();
  return std::optional<v1::FirmwareInstallState>(
      static_cast<v1::FirmwareInstallState>(q.ColumnInt(0)));
}

absl::StatusOr<bool> OutboxStore::FirmwareStepReported(const std::string& rollout_id,
                                                       const std::string& serial,
                                                       uint32_t attempt,
                                                       v1::FirmwareInstallState state) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement q,
                   db_->Prepare("SELECT 1 FROM firmware_report WHERE rollout_id = ?1 AND "
                                "serial = ?2 AND attempt = ?3 AND state = ?4"));
  q.Bind(1, rollout_id).Bind(2, serial).Bind(3, int64_t{attempt}).Bind(4, int64_t{state});
  return q.Step();
}

}  // namespace camfleet::agent
