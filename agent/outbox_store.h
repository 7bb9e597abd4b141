#pragma once
// The dock's outbox: everything the dock must tell the control plane, stored durably before the
// dock acts on it and sent by the sync stream (proto/camfleet/v1/dock_sync.proto) in sequence
// order per lane. One SQLite file (WAL, synchronous=FULL), schema in agent/migrations/outbox/.
//
// Lanes and numbers. Each lane (custody, telemetry) numbers its items from 1 without gaps; the
// number is assigned in the transaction that stores the item, so a crash never leaves a hole or
// a number used twice. The epoch is made with the database file (128 random bits, hex): a
// rebuilt database starts a new epoch and the server never mistakes its items for old ones.
//
// Bounds. The outbox is bounded by item count and by payload bytes (OutboxLimits). When an
// append does not fit, the store makes room in this order, down to `make_room_to` of each bound:
//  1. acknowledged items past their retention are pruned;
//  2. acknowledged items still retained are dropped, oldest first (the server has them; they are
//     kept only for a server restored from a backup, and unsent facts matter more);
//  3. telemetry is thinned: per camera and hour of reading, the first and last reading and every
//     reading appended with `keep` stay; other unacknowledged readings are dropped, oldest first,
//     and each run of consecutive dropped sequences becomes one ThinnedRange stub at the run's
//     first sequence (adjacent stubs are coalesced), so the lane stays gap-free for the server.
// Custody items are never dropped or thinned. A telemetry item that still does not fit is
// refused; a custody item is still stored while the total stays under `hard_max_bytes`. So
// telemetry is refused before custody is.
//
// Retention. Acknowledged items stay for `retention` (7 days by default) before they are pruned:
// a control plane restored from a backup announces a new database generation and lacks what it
// acknowledged after the backup was taken; the dock resends those (ResendFrom). A week covers a
// restore from the previous night's backup with days to spare for noticing and restoring.
//
// Thread-safe: one connection behind a mutex.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/clock.h"
#include "common/sqlite.h"

namespace camfleet::agent {

struct OutboxLimits {
  // Soft bounds: telemetry is refused beyond them once room cannot be made.
  int64_t max_items = 250'000;
  int64_t max_bytes = int64_t{48} << 20;
  // Custody items are stored beyond max_items/max_bytes up to this many payload bytes in all.
  int64_t hard_max_bytes = int64_t{64} << 20;
  // Largest single item accepted; the server rejects larger ones anyway.
  int64_t max_item_bytes = int64_t{64} << 10;
  // When room must be made, make it down to this fraction of each soft bound, so that a full
  // outbox thins once per many appends instead of on every one.
  double make_room_to = 0.9;
  // How long acknowledged items are kept for a restored server (see above).
  absl::Duration retention = absl::Hours(24 * 7);
  // Caps the database file at this many pages (0: no cap). SQLite answers a write beyond it
  // exactly as it answers a full disk, which is how the tests simulate one.
  int64_t max_file_pages = 0;
};

struct AppendOptions {
  // For telemetry: the reading crossed a threshold (battery low, temperature high, ...) and is
  // never thinned. Ignored for custody, which is never thinned.
  bool keep = false;
};

struct AppendResult {
  v1::SyncLane lane = v1::SYNC_LANE_UNSPECIFIED;
  uint64_t sequence = 0;
  // The outbox was at its bounds: room was made for this item, or it is a custody item stored
  // above the soft bounds. The agent raises DOCK_ALERT_KIND_OUTBOX_FULL.
  bool outbox_full = false;
  // Of which: unacknowledged telemetry readings replaced by ThinnedRange stubs.
  int64_t readings_thinned = 0;
  // Of which: acknowledged items dropped before their retention ended.
  int64_t acked_dropped = 0;
  // A custody item stored beyond the soft bounds (under the hard ceiling).
  bool above_soft_bounds = false;
};

// Items and payload bytes.
struct OutboxCount {
  int64_t items = 0;
  int64_t bytes = 0;
};

struct OutboxBacklog {
  OutboxCount custody;    // unacknowledged
  OutboxCount telemetry;  // unacknowledged
  OutboxCount total;      // unacknowledged, both lanes: SyncHello.backlog_items/backlog_bytes
  OutboxCount stored;     // everything in the file, acknowledged or not (what the bounds count)
};

// Since the store was opened, except readings_thinned_total, which is kept in the database.
struct OutboxCounters {
  int64_t appends_when_full = 0;
  int64_t readings_thinned = 0;
  int64_t acked_dropped = 0;
  int64_t telemetry_refused = 0;
  int64_t custody_refused = 0;
  int64_t readings_thinned_total = 0;
};

// Where the dock stands in one lane.
struct LaneState {
  uint64_t last_sequence = 0;   // last number assigned
  uint64_t acked_through = 0;   // highest acknowledged by the server
  uint64_t pruned_through = 0;  // every sequence at or below it is no longer held
};

// Sequences first..last, inclusive.
struct SequenceRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

struct ResendResult {
  // Items of the lane (rows; a ThinnedRange stub counts once) now waiting to be sent.
  int64_t items_to_send = 0;
  // Acknowledged items the server now lacks that were already pruned here (see ResendFrom).
  std::optional<SequenceRange> lost;
  // With `lost`: the custody sequence of the DOCK_ALERT_KIND_ITEMS_LOST alert the store
  // recorded for it.
  std::optional<uint64_t> alert_sequence;
};

// Per lane, send only items above these sequences (those up to them are in flight).
struct LanePositions {
  uint64_t custody = 0;
  uint64_t telemetry = 0;
};

class OutboxStore {
 public:
  // Opens or creates the outbox at `path` and applies the migrations (a new file gets a new
  // epoch). `clock` must outlive the store.
  // Errors: INVALID_ARGUMENT for inconsistent limits; FAILED_PRECONDITION for a database newer
  // than this binary; DATA_LOSS for a file that is not a database; UNAVAILABLE/INTERNAL from
  // SQLite, with the path.
  static absl::StatusOr<std::unique_ptr<OutboxStore>> Open(const std::string& path,
                                                           const OutboxLimits& limits,
                                                           const common::Clock* clock);
  OutboxStore(const OutboxStore&) = delete;
  OutboxStore& operator=(const OutboxStore&) = delete;

  // The epoch id of this database: 32 characters of [0-9a-f].
  const std::string& epoch() const { return epoch_; }
  const std::string& path() const { return path_; }

  // Stores `item` durably (committed and synced) before it returns; the dock acts only after.
  // The lane follows the item's kind (health: telemetry; everything else: custody); the store
  // assigns the sequence and sets record_time to now if the caller left it unset. A caller
  // lane that disagrees with the kind is refused.
  // Errors: INVALID_ARGUMENT for an item without a kind, a ThinnedRange (the store makes those),
  // a lane that disagrees with the kind, a reading without a serial, an item over
  // max_item_bytes; RESOURCE_EXHAUSTED when no room can be made (telemetry beyond the soft
  // bounds, custody beyond hard_max_bytes) or the disk is full, with what to do; UNAVAILABLE
  // when the file stays locked or on an I/O error. Nothing is stored on error.
  absl::StatusOr<AppendResult> Append(v1::OutboxItem item, const AppendOptions& options = {});

  // Unacknowledged items to send: custody first, each lane in sequence order, skipping items at
  // or below `after` in their lane. At most `max_items`, and at most `max_bytes` of payload,
  // except that a non-empty outbox always yields at least one item (items are bounded by
  // max_item_bytes), so one large item cannot block the lane.
  // Errors: INVALID_ARGUMENT for max_items < 1; INTERNAL for a row that does not parse.
  absl::StatusOr<std::vector<v1::OutboxItem>> NextBatch(int max_items, int64_t max_bytes,
                                                        const LanePositions& after = {});

  // The server applied `lane` through `applied_through`: those items are acknowledged and kept
  // for the retention window; items acknowledged longer ago than it are pruned. An ack at or
  // below what is already acknowledged changes nothing (a late or repeated ack). An ack inside a
  // ThinnedRange stub (the server applied the first readings before they were thinned) splits
  // the stub so the rest of it is still sent. On a full disk, where marking needs pages the
  // disk does not have, the acknowledged items are deleted at once instead (counted in
  // OutboxCounters::acked_dropped): that frees the space the next Append needs.
  // Errors: INVALID_ARGUMENT for an unspecified lane; FAILED_PRECONDITION when applied_through
  // is beyond the last sequence assigned in this epoch (the server is confused about the
  // epoch); UNAVAILABLE from SQLite; RESOURCE_EXHAUSTED only if even deleting fails.
  absl::Status Acknowledge(v1::SyncLane lane, uint64_t applied_through);

  // The server stands at `after_sequence` in `lane` (SyncWelcome after a new generation: a
  // control plane restored from a backup): items above it become unacknowledged and will be
  // sent again, items at or below it count as acknowledged. Items above it already pruned are
  // lost for the server: they are reported in `lost`; one ThinnedRange stub is stored over them
  // (at after_sequence + 1), since the server refuses a gap and nothing else can fill it; and a
  // DOCK_ALERT_KIND_ITEMS_LOST alert naming the range is appended to the custody lane in the
  // same transaction (so a crash cannot separate the loss from its alert; the agent does not
  // raise another). Calling it again with the same position changes nothing.
  // Errors: INVALID_ARGUMENT for an unspecified lane; FAILED_PRECONDITION when after_sequence
  // is beyond the last sequence assigned in this epoch; RESOURCE_EXHAUSTED on a full disk, or
  // when the alert finds the outbox at its hard ceiling (nothing changed: call again once there
  // is room); UNAVAILABLE from SQLite.
  absl::StatusOr<ResendResult> ResendFrom(v1::SyncLane lane, uint64_t after_sequence);

  // Prunes acknowledged items past the retention window. Acknowledge does this too; the agent
  // calls it now and then while the link is down. Returns how many items were pruned.
  absl::StatusOr<int64_t> PruneExpired();

  // Errors: UNAVAILABLE/INTERNAL from SQLite.
  absl::StatusOr<OutboxBacklog> Backlog();
  absl::StatusOr<LaneState> Lane(v1::SyncLane lane);
  absl::StatusOr<OutboxCounters> Counters();

  // Firmware (agent/firmware_installer.h; tables in migrations/outbox/0002_firmware.sql).
  // Keeps `plan` unless the one held is newer (plan_time); returns whether it was kept.
  absl::StatusOr<bool> SetFirmwarePlan(const v1::FirmwarePlan& plan);
  // The plan held; nullopt before the first.
  absl::StatusOr<std::optional<v1::FirmwarePlan>> FirmwarePlan();
  // Appends `item` (which must carry a FirmwareProgress) unless that step (rollout, serial,
  // attempt, state) was appended before, in one transaction with the record that it was: a
  // step is reported once, also across restarts. nullopt when it was reported already.
  // Errors: Append's.
  absl::StatusOr<std::optional<AppendResult>> AppendFirmwareProgress(v1::OutboxItem item);
  // Whether that step of the job was appended.
  absl::StatusOr<bool> FirmwareStepReported(const std::string& rollout_id,
                                            const std::string& serial, uint32_t attempt,
                                            v1::FirmwareInstallState state);
  // The terminal state (SUCCEEDED, FAILED, ROLLED_BACK) reported for the job, if any.
  absl::StatusOr<std::optional<v1::FirmwareInstallState>> FirmwareOutcome(
      const std::string& rollout_id, const std::string& serial, uint32_t attempt);

 private:
  struct LaneRow;
  struct RoomMade;
  OutboxStore(std::unique_ptr<common::Database> db, std::string path, std::string epoch,
              const OutboxLimits& limits, const common::Clock* clock);

  absl::StatusOr<AppendResult> AppendLocked(v1::OutboxItem& item, v1::SyncLane lane,
                                            const AppendOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RoomMade> MakeRoomLocked(int64_t need_items, int64_t need_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> PruneLocked(int64_t acked_before_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> DropAckedPrefixLocked(v1::SyncLane lane, int64_t through_sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> ThinLocked(int64_t target_items, int64_t target_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SplitStubAtLocked(v1::SyncLane lane, uint64_t position)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteStubLocked(v1::SyncLane lane, uint64_t first, uint64_t last,
                               std::optional<int64_t> acked_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<LaneRow> ReadLaneLocked(v1::SyncLane lane) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<OutboxCount> StoredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetPositionLocked(v1::SyncLane lane, uint64_t position, bool may_lower)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `body` in one IMMEDIATE transaction; rolls back on error and maps a full disk to
  // RESOURCE_EXHAUSTED naming it.
  template <typename Fn>
  auto InTransaction(Fn body) -> decltype(body()) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status DiskAware(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const std::string epoch_;
  const OutboxLimits limits_;
  const common::Clock* const clock_;
  absl::Mutex mu_;
  std::unique_ptr<common::Database> db_ ABSL_GUARDED_BY(mu_);
  OutboxCounters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::agent
