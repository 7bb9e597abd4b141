// agent::OutboxStore against real SQLite files in temp dirs: numbering, order, acks, retention,
// resending to a restored server, thinning, bounds and a full disk.

#include "agent/outbox_store.h"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// On the hour, so the readings of a test fall into the hours it means.
const absl::Time kStart = absl::FromUnixSeconds(int64_t{497'222} * 3600);

v1::OutboxItem Inserted(const std::string& serial, uint32_t slot = 1) {
  v1::OutboxItem item;
  item.mutable_inserted()->set_serial(serial);
  item.mutable_inserted()->set_slot(slot);
  return item;
}

v1::OutboxItem Alert(const std::string& text) {
  v1::OutboxItem item;
  item.mutable_alert()->set_kind(v1::DOCK_ALERT_KIND_CLOCK_SKEW);
  item.mutable_alert()->set_message(text);
  return item;
}

v1::OutboxItem Reading(const std::string& serial, absl::Time at, uint32_t battery = 80) {
  v1::OutboxItem item;
  item.mutable_health()->set_serial(serial);
  item.mutable_health()->set_slot(1);
  item.mutable_health()->set_battery_percent(battery);
  *item.mutable_record_time() = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(at));
  return item;
}

// A compact picture of what a batch holds: "c3" custody 3, "t5" reading 5, "t6-9" a stub.
std::string Describe(const v1::OutboxItem& item) {
  std::string lane = item.lane() == v1::SYNC_LANE_CUSTODY ? "c" : "t";
  if (item.has_thinned()) {
    return absl::StrCat(lane, item.sequence(), "-", item.thinned().thinned_through());
  }
  return absl::StrCat(lane, item.sequence());
}

std::vector<std::string> DescribeAll(const std::vector<v1::OutboxItem>& items) {
  std::vector<std::string> out;
  for (const v1::OutboxItem& i : items) out.push_back(Describe(i));
  return out;
}

// Every row of a lane, read from the file itself, as (first, last) sequence pairs in order.
std::vector<std::pair<uint64_t, uint64_t>> Rows(const std::string& path, v1::SyncLane lane) {
  std::vector<std::pair<uint64_t, uint64_t>> rows;
  auto db = common::Database::Open(path);
  EXPECT_THAT(db, IsOk());
  if (!db.ok()) return rows;
  auto s = (*db)->Prepare(
      "SELECT sequence, COALESCE(thinned_through, sequence) FROM outbox_item WHERE lane = ?1 "
      "ORDER BY sequence");
  EXPECT_THAT(s, IsOk());
  if (!s.ok()) return rows;
  s->Bind(1, int64_t{static_cast<int>(lane)});
  while (true) {
    auto row = s->Step();
    EXPECT_THAT(row, IsOk());
    if (!row.ok() || !*row) break;
    rows.emplace_back(static_cast<uint64_t>(s->ColumnInt(0)),
                      static_cast<uint64_t>(s->ColumnInt(1)));
  }
  return rows;
}

// The lane is gap-free: its rows cover (pruned_through, last_sequence] exactly once.
void ExpectGapFree(OutboxStore& store, v1::SyncLane lane) {
  absl::StatusOr<LaneState> state = store.Lane(lane);
  ASSERT_THAT(state, IsOk());
  uint64_t next = state->pruned_through + 1;
  for (const auto& [first, last] : Rows(store.path(), lane)) {
    ASSERT_EQ(first, next) << "lane " << lane << " has a gap or an overlap at " << next;
    next = last + 1;
  }
  EXPECT_EQ(next, state->last_sequence + 1) << "lane " << lane;
}

// The totals the schema's triggers keep (what the bounds and the backlog use) agree with the
// rows themselves.
void ExpectCountsMatchRows(OutboxStore& store) {
  absl::StatusOr<OutboxBacklog> backlog = store.Backlog();
  ASSERT_THAT(backlog, IsOk());
  auto db = common::Database::Open(store.path());
  ASSERT_THAT(db, IsOk());
  auto s = (*db)->Prepare(
      "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0), "
      "COALESCE(SUM(CASE WHEN acked_us IS NULL AND lane = 1 THEN 1 ELSE 0 END), 0), "
      "COALESCE(SUM(CASE WHEN acked_us IS NULL AND lane = 1 THEN size_bytes ELSE 0 END), 0), "
      "COALESCE(SUM(CASE WHEN acked_us IS NULL AND lane = 2 THEN 1 ELSE 0 END), 0), "
      "COALESCE(SUM(CASE WHEN acked_us IS NULL AND lane = 2 THEN size_bytes ELSE 0 END), 0) "
      "FROM outbox_item");
  ASSERT_THAT(s, IsOk());
  auto row = s->Step();
  ASSERT_THAT(row, IsOk());
  ASSERT_TRUE(*row);
  EXPECT_EQ(backlog->stored.items, s->ColumnInt(0));
  EXPECT_EQ(backlog->stored.bytes, s->ColumnInt(1));
  EXPECT_EQ(backlog->custody.items, s->ColumnInt(2));
  EXPECT_EQ(backlog->custody.bytes, s->ColumnInt(3));
  EXPECT_EQ(backlog->telemetry.items, s->ColumnInt(4));
  EXPECT_EQ(backlog->telemetry.bytes, s->ColumnInt(5));
}

MATCHER_P(IsOkAndHolds, value, "is OK and holds " + ::testing::PrintToString(value)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == value;
}

class OutboxStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<OutboxStore> Open(const OutboxLimits& limits = {}) {
    absl::StatusOr<std::unique_ptr<OutboxStore>> store = OutboxStore::Open(path_, limits, &clock_);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::vector<v1::OutboxItem> All(OutboxStore& store) {
    absl::StatusOr<std::vector<v1::OutboxItem>> batch = store.NextBatch(1'000'000, INT64_MAX);
    EXPECT_THAT(batch, IsOk());
    return batch.ok() ? *batch : std::vector<v1::OutboxItem>{};
  }

  uint64_t AppendOk(OutboxStore& store, v1::OutboxItem item, AppendOptions options = {}) {
    absl::StatusOr<AppendResult> r = store.Append(std::move(item), options);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? r->sequence : 0;
  }

  TempDir dir_;
  std::string path_ = dir_.File("outbox.db");
  common::FakeClock clock_{kStart};
};

TEST_F(OutboxStoreTest, SequencesStartAtOneWithoutGapsPerLane) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(AppendOk(*store, Inserted("CAM-0001")), 1u);
  EXPECT_EQ(AppendOk(*store, Reading("CAM-0001", kStart)), 1u);
  EXPECT_EQ(AppendOk(*store, Alert("skew")), 2u);
  EXPECT_EQ(AppendOk(*store, Reading("CAM-0001", kStart)), 2u);
  EXPECT_EQ(AppendOk(*store, Inserted("CAM-0002")), 3u);
  EXPECT_THAT(DescribeAll(All(*store)), ElementsAre("c1", "c2", "c3", "t1", "t2"));
  std::vector<v1::OutboxItem> items = All(*store);
  EXPECT_EQ(items[0].inserted().serial(), "CAM-0001");
  EXPECT_EQ(common::FromMicros(TimeUtil::TimestampToMicroseconds(items[0].record_time())), kStart);
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  ExpectCountsMatchRows(*store);
}

TEST_F(OutboxStoreTest, SequencesContinueAfterReopen) {
  std::string epoch;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    epoch = store->epoch();
    AppendOk(*store, Inserted("CAM-0001"));
    AppendOk(*store, Inserted("CAM-0002"));
    AppendOk(*store, Reading("CAM-0001", kStart));
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->epoch(), epoch);
  EXPECT_EQ(AppendOk(*store, Inserted("CAM-0003")), 3u);
  EXPECT_EQ(AppendOk(*store, Reading("CAM-0001", kStart)), 2u);
  EXPECT_THAT(DescribeAll(All(*store)), ElementsAre("c1", "c2", "c3", "t1", "t2"));
}

TEST_F(OutboxStoreTest, ConcurrentAppendsGetDistinctSequencesWithoutGaps) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::vector<AppendResult>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<AppendResult> r =
            i % 2 == 0 ? store->Append(Inserted(absl::StrCat("CAM-", t, "-", i)))
                       : store->Append(Reading(absl::StrCat("CAM-", t), kStart));
        if (r.ok()) results[static_cast<size_t>(t)].push_back(*r);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::pair<int, uint64_t>> seen;
  for (const auto& per_thread : results) {
    ASSERT_EQ(per_thread.size(), static_cast<size_t>(kPerThread));
    for (const AppendResult& r : per_thread) {
      EXPECT_TRUE(seen.insert({r.lane, r.sequence}).second) << "sequence given twice";
    }
  }
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  auto lane = store->Lane(v1::SYNC_LANE_CUSTODY);
  ASSERT_THAT(lane, IsOk());
  EXPECT_EQ(lane->last_sequence, uint64_t{kThreads} * 13);
}

TEST_F(OutboxStoreTest, NewDatabaseHasNewEpoch) {
  auto first = Open();
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<OutboxStore>> second =
      OutboxStore::Open(dir_.File("rebuilt.db"), {}, &clock_);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(first->epoch(), ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_THAT((*second)->epoch(), ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(first->epoch(), (*second)->epoch());
}

TEST_F(OutboxStoreTest, AppendRefusesMalformedItems) {
  OutboxLimits limits;
  limits.max_item_bytes = 200;
  auto store = Open(limits);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->Append(v1::OutboxItem()), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::OutboxItem thinned;
  thinned.mutable_thinned()->set_thinned_through(3);
  EXPECT_THAT(store->Append(thinned), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::OutboxItem wrong_lane = Inserted("CAM-0001");
  wrong_lane.set_lane(v1::SYNC_LANE_TELEMETRY);
  EXPECT_THAT(store->Append(wrong_lane),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("custody lane")));
  EXPECT_THAT(store->Append(Reading("", kStart)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial")));
  EXPECT_THAT(store->Append(Alert(std::string(300, 'x'))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 200")));
  // Nothing refused took a number.
  EXPECT_EQ(AppendOk(*store, Inserted("CAM-0001")), 1u);
}

TEST_F(OutboxStoreTest, NextBatchSendsCustodyBeforeTelemetry) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AppendOk(*store, Reading("CAM-0001", kStart));
  AppendOk(*store, Inserted("CAM-0001"));
  AppendOk(*store, Reading("CAM-0001", kStart));
  AppendOk(*store, Inserted("CAM-0002"));
  auto batch = store->NextBatch(3, INT64_MAX);
  ASSERT_THAT(batch, IsOk());
  EXPECT_THAT(DescribeAll(*batch), ElementsAre("c1", "c2", "t1"));
  // Items in flight are skipped.
  batch = store->NextBatch(10, INT64_MAX, LanePositions{2, 1});
  ASSERT_THAT(batch, IsOk());
  EXPECT_THAT(DescribeAll(*batch), ElementsAre("t2"));
}

TEST_F(OutboxStoreTest, NextBatchKeepsToBytesButAlwaysYieldsOneItem) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AppendOk(*store, Alert(std::string(100, 'a')));
  AppendOk(*store, Alert(std::string(100, 'b')));
  AppendOk(*store, Reading("CAM-0001", kStart));
  auto batch = store->NextBatch(10, 10);
  ASSERT_THAT(batch, IsOk());
  EXPECT_THAT(DescribeAll(*batch), ElementsAre("c1"));
  batch = store->NextBatch(10, 250);
  ASSERT_THAT(batch, IsOk());
  EXPECT_THAT(DescribeAll(*batch), ElementsAre("c1", "c2"));
  EXPECT_THAT(store->NextBatch(0, 250), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(OutboxStoreTest, AcknowledgedItemsAreNotSentAndArePrunedAfterRetention) {
  auto store = Open();  // retention 7 days
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 3; ++i) AppendOk(*store, Inserted(absl::StrCat("CAM-000", i)));
  AppendOk(*store, Reading("CAM-0001", kStart));
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 2), IsOk());
  EXPECT_THAT(DescribeAll(All(*store)), ElementsAre("c3", "t1"));
  auto backlog = store->Backlog();
  ASSERT_THAT(backlog, IsOk());
  EXPECT_EQ(backlog->custody.items, 1);
  EXPECT_EQ(backlog->telemetry.items, 1);
  EXPECT_EQ(backlog->total.items, 2);
  EXPECT_EQ(backlog->stored.items, 4);  // the acknowledged two are retained
  EXPECT_GT(backlog->total.bytes, 0);

  clock_.Advance(absl::Hours(24 * 7) - absl::Seconds(1));
  EXPECT_THAT(store->PruneExpired(), IsOkAndHolds(0));
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(store->PruneExpired(), IsOkAndHolds(2));
  auto lane = store->Lane(v1::SYNC_LANE_CUSTODY);
  ASSERT_THAT(lane, IsOk());
  EXPECT_EQ(lane->acked_through, 2u);
  EXPECT_EQ(lane->pruned_through, 2u);
  EXPECT_EQ(lane->last_sequence, 3u);
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  // Pruning never restarts the numbering.
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 3), IsOk());
  clock_.Advance(absl::Hours(24 * 8));
  EXPECT_THAT(store->PruneExpired(), IsOkAndHolds(1));
  EXPECT_EQ(AppendOk(*store, Inserted("CAM-0009")), 4u);
}

TEST_F(OutboxStoreTest, AcknowledgeBeyondLastSequenceIsRefusedAndALateAckChangesNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AppendOk(*store, Inserted("CAM-0001"));
  AppendOk(*store, Inserted("CAM-0002"));
  EXPECT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 3),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(store->epoch())));
  EXPECT_THAT(store->Acknowledge(v1::SYNC_LANE_UNSPECIFIED, 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 2), IsOk());
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 1), IsOk());
  auto lane = store->Lane(v1::SYNC_LANE_CUSTODY);
  ASSERT_THAT(lane, IsOk());
  EXPECT_EQ(lane->acked_through, 2u);
  EXPECT_TRUE(All(*store).empty());
}

TEST_F(OutboxStoreTest, ResendFromMakesRetainedItemsUnacknowledgedAgain) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 1; i <= 5; ++i) AppendOk(*store, Inserted(absl::StrCat("CAM-000", i)));
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 5), IsOk());
  EXPECT_TRUE(All(*store).empty());
  // A server restored from last night's backup has custody through 2 only.
  absl::StatusOr<ResendResult> resend = store->ResendFrom(v1::SYNC_LANE_CUSTODY, 2);
  ASSERT_THAT(resend, IsOk());
  EXPECT_EQ(resend->items_to_send, 3);
  EXPECT_FALSE(resend->lost.has_value());
  EXPECT_THAT(DescribeAll(All(*store)), ElementsAre("c3", "c4", "c5"));
  EXPECT_THAT(store->ResendFrom(v1::SYNC_LANE_CUSTODY, 6),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A welcome ahead of the acks (an ack lost in a crash) counts those items as acknowledged.
  resend = store->ResendFrom(v1::SYNC_LANE_CUSTODY, 4);
  ASSERT_THAT(resend, IsOk());
  EXPECT_EQ(resend->items_to_send, 1);
  EXPECT_THAT(DescribeAll(All(*store)), ElementsAre("c5"));
}

TEST_F(OutboxStoreTest, ResendFromReportsPrunedItemsAsLostAndCoversThem) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 1; i <= 5; ++i) AppendOk(*store, Inserted(absl::StrCat("CAM-000", i)));
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 5), IsOk());
  clock_.Advance(absl::Hours(24 * 8));
  ASSERT_THAT(store->PruneExpired(), IsOkAndHolds(5));
  AppendOk(*store, Inserted("CAM-0006"));
  absl::StatusOr<ResendResult> resend = store->ResendFrom(v1::SYNC_LANE_CUSTODY, 2);
  ASSERT_THAT(resend, IsOk());
  ASSERT_TRUE(resend->lost.has_value());
  EXPECT_EQ(resend->lost->first, 3u);
  EXPECT_EQ(resend->lost->last, 5u);
  // The server gets a range it counts as applied instead of a gap it would refuse forever,
  // and the alert that says what was lost, recorded with it.
  std::vector<v1::OutboxItem> items = All(*store);
  EXPECT_THAT(DescribeAll(items), ElementsAre("c3-5", "c6", "c7"));
  EXPECT_EQ(items[0].thinned().readings_dropped(), 3u);
  EXPECT_EQ(resend->alert_sequence, std::optional<uint64_t>(7));
  EXPECT_EQ(resend->items_to_send, 3);
  EXPECT_EQ(items[2].alert().kind(), v1::DOCK_ALERT_KIND_ITEMS_LOST);
  EXPECT_THAT(items[2].alert().message(),
              ::testing::AllOf(HasSubstr("custody items 3 to 5"), HasSubstr(store->epoch())));
  // The same welcome again (the dock restarted before it stored the new generation): nothing
  // more is lost, no second alert.
  resend = store->ResendFrom(v1::SYNC_LANE_CUSTODY, 2);
  ASSERT_THAT(resend, IsOk());
  EXPECT_FALSE(resend->lost.has_value());
  EXPECT_EQ(All(*store).size(), 3u);
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  ExpectCountsMatchRows(*store);
}

class ThinningTest : public OutboxStoreTest {
 protected:
  // A store that holds 30 items, bytes no object, and thins down to half when full.
  std::unique_ptr<OutboxStore> OpenThirtyItemStore() {
    OutboxLimits limits;
    limits.max_items = 30;
    limits.max_bytes = int64_t{1} << 30;
    limits.hard_max_bytes = int64_t{1} << 30;
    limits.make_room_to = 0.5;  // down to 15 items, the new one included
    return Open(limits);
  }

  // CAM-0001's readings at kStart + first..last minutes, the one at minute 10 flagged (kept,
  // e.g. battery low). Returns how many appends found the outbox full.
  int AppendReadings(OutboxStore& store, int first, int last) {
    int full = 0;
    for (int i = first; i <= last; ++i) {
      AppendOptions options;
      options.keep = i == 10;
      absl::StatusOr<AppendResult> r =
          store.Append(Reading("CAM-0001", kStart + absl::Minutes(i)), options);
      EXPECT_THAT(r, IsOk()) << "minute " << i;
      if (r.ok() && r->outbox_full) ++full;
    }
    return full;
  }
};

TEST_F(ThinningTest, ThinsOldestReadingsIntoStubsAroundKeptOnes) {
  auto store = OpenThirtyItemStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(AppendReadings(*store, 1, 30), 0);
  absl::StatusOr<AppendResult> r = store->Append(Reading("CAM-0001", kStart + absl::Minutes(31)));
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->outbox_full);
  EXPECT_EQ(r->readings_thinned, 18);
  EXPECT_EQ(r->sequence, 31u);
  // The first reading of the hour, the flagged one and the newest stay; the oldest others went.
  std::vector<std::string> expected = {"t1", "t2-9", "t10", "t11-20"};
  for (int i = 21; i <= 31; ++i) expected.push_back(absl::StrCat("t", i));
  std::vector<v1::OutboxItem> items = All(*store);
  EXPECT_THAT(DescribeAll(items), ::testing::ElementsAreArray(expected));
  EXPECT_EQ(items[1].thinned().readings_dropped(), 8u);
  EXPECT_EQ(items[1].lane(), v1::SYNC_LANE_TELEMETRY);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  auto counters = store->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->appends_when_full, 1);
  EXPECT_EQ(counters->readings_thinned, 18);
  EXPECT_EQ(counters->readings_thinned_total, 18);

  // An ack inside a stub (the server had the first readings before they were thinned) leaves
  // the rest of the stub to send.
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_TELEMETRY, 5), IsOk());
  items = All(*store);
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(Describe(items[0]), "t6-9");
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  ExpectCountsMatchRows(*store);
}

TEST_F(ThinningTest, ASecondPassCoalescesWithTheStubsOfTheFirst) {
  auto store = OpenThirtyItemStore();
  ASSERT_NE(store, nullptr);
  AppendReadings(*store, 1, 46);
  // The first pass (at 31) left t1, t2-9, t10, t11-20, t21..t31; 32..46 came after.
  absl::StatusOr<AppendResult> r = store->Append(Reading("CAM-0001", kStart + absl::Minutes(47)));
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->outbox_full);
  EXPECT_EQ(r->readings_thinned, 16);
  std::vector<std::string> expected = {"t1", "t2-9", "t10", "t11-36"};
  for (int i = 37; i <= 47; ++i) expected.push_back(absl::StrCat("t", i));
  std::vector<v1::OutboxItem> items = All(*store);
  EXPECT_THAT(DescribeAll(items), ::testing::ElementsAreArray(expected));
  ASSERT_GE(items.size(), 4u);
  EXPECT_EQ(items[3].thinned().readings_dropped(), 26u);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  ExpectCountsMatchRows(*store);
}

TEST_F(ThinningTest, ResendFromInsideAStubSendsTheRestOfIt) {
  auto store = OpenThirtyItemStore();
  ASSERT_NE(store, nullptr);
  AppendReadings(*store, 1, 31);
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_TELEMETRY, 31), IsOk());
  // A restored server that had telemetry through 14 (sent before the readings were thinned).
  absl::StatusOr<ResendResult> resend = store->ResendFrom(v1::SYNC_LANE_TELEMETRY, 14);
  ASSERT_THAT(resend, IsOk());
  EXPECT_FALSE(resend->lost.has_value());
  std::vector<std::string> expected = {"t15-20"};
  for (int i = 21; i <= 31; ++i) expected.push_back(absl::StrCat("t", i));
  EXPECT_THAT(DescribeAll(All(*store)), ::testing::ElementsAreArray(expected));
  EXPECT_EQ(resend->items_to_send, 12);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  ExpectCountsMatchRows(*store);
}

TEST_F(ThinningTest, KeepsFirstAndLastPerCameraPerHourAndFlaggedReadingsAndCoalescesStubs) {
  OutboxLimits limits;
  limits.max_items = 24;
  limits.max_bytes = int64_t{1} << 30;
  limits.hard_max_bytes = int64_t{1} << 30;
  limits.make_room_to = 0.05;  // thin everything that may go
  auto store = Open(limits);
  ASSERT_NE(store, nullptr);
  // Two cameras, a reading each every 10 minutes for two hours: 24 readings, alternating.
  std::set<uint64_t> must_stay;
  std::map<uint64_t, std::string> who;
  uint64_t seq = 0;
  for (int hour = 0; hour < 2; ++hour) {
    for (int k = 0; k < 6; ++k) {
      for (const std::string& serial : std::vector<std::string>{"CAM-A", "CAM-B"}) {
        const absl::Time at = kStart + absl::Hours(hour) + absl::Minutes(10 * k + 1);
        AppendOptions options;
        options.keep = serial == "CAM-B" && hour == 0 && k == 3;  // temperature high
        seq = AppendOk(*store, Reading(serial, at), options);
        who[seq] = serial;
        if (k == 0 || k == 5 || options.keep) must_stay.insert(seq);
      }
    }
  }
  ASSERT_EQ(seq, 24u);
  absl::StatusOr<AppendResult> r = store->Append(Reading("CAM-A", kStart + absl::Hours(2)));
  ASSERT_THAT(r, IsOk());
  must_stay.insert(r->sequence);
  EXPECT_EQ(r->readings_thinned, 24 - 9);

  std::set<uint64_t> readings;
  uint64_t dropped = 0;
  bool previous_stub = false;
  for (const v1::OutboxItem& item : All(*store)) {
    if (item.has_thinned()) {
      EXPECT_FALSE(previous_stub) << "adjacent stubs at " << item.sequence();
      dropped += item.thinned().readings_dropped();
      for (uint64_t s = item.sequence(); s <= item.thinned().thinned_through(); ++s) {
        EXPECT_FALSE(must_stay.contains(s)) << "reading " << s << " was thinned";
      }
      previous_stub = true;
    } else {
      readings.insert(item.sequence());
      previous_stub = false;
    }
  }
  EXPECT_EQ(readings, must_stay);
  EXPECT_EQ(dropped, 15u);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  ExpectCountsMatchRows(*store);
}

TEST_F(ThinningTest, NeverDropsCustody) {
  OutboxLimits limits;
  limits.max_items = 20;
  limits.max_bytes = int64_t{1} << 30;
  limits.hard_max_bytes = int64_t{1} << 30;
  auto store = Open(limits);
  ASSERT_NE(store, nullptr);
  int custody = 0;
  for (int i = 0; i < 200; ++i) {
    if (i % 3 == 0) {
      ASSERT_THAT(store->Append(Inserted(absl::StrCat("CAM-", i))), IsOk()) << i;
      ++custody;
    } else {
      // Refused once the outbox holds only custody and protected readings: fine here.
      store->Append(Reading("CAM-0001", kStart + absl::Minutes(i))).IgnoreError();
    }
  }
  std::vector<std::string> custody_seen;
  for (const v1::OutboxItem& item : All(*store)) {
    if (item.lane() == v1::SYNC_LANE_CUSTODY) {
      EXPECT_FALSE(item.has_thinned());
      custody_seen.push_back(item.inserted().serial());
    }
  }
  ASSERT_EQ(static_cast<int>(custody_seen.size()), custody);
  for (int k = 0; k < custody; ++k)
    EXPECT_EQ(custody_seen[static_cast<size_t>(k)], absl::StrCat("CAM-", 3 * k));
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  ExpectGapFree(*store, v1::SYNC_LANE_TELEMETRY);
  ExpectCountsMatchRows(*store);
}

TEST_F(ThinningTest, AcknowledgedItemsGoBeforeAnyReadingIsThinned) {
  OutboxLimits limits;
  limits.max_items = 10;
  limits.max_bytes = int64_t{1} << 30;
  limits.hard_max_bytes = int64_t{1} << 30;
  limits.make_room_to = 0.8;  // 8 items, the new one included
  auto store = Open(limits);
  ASSERT_NE(store, nullptr);
  for (int i = 1; i <= 4; ++i) AppendOk(*store, Inserted(absl::StrCat("CAM-000", i)));
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, 4), IsOk());
  for (int i = 1; i <= 6; ++i) AppendOk(*store, Reading("CAM-0001", kStart + absl::Minutes(i)));
  absl::StatusOr<AppendResult> r = store->Append(Reading("CAM-0001", kStart + absl::Minutes(7)));
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->outbox_full);
  EXPECT_EQ(r->acked_dropped, 3);
  EXPECT_EQ(r->readings_thinned, 0);
  auto lane = store->Lane(v1::SYNC_LANE_CUSTODY);
  ASSERT_THAT(lane, IsOk());
  EXPECT_EQ(lane->pruned_through, 3u);
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  ExpectCountsMatchRows(*store);
}

TEST_F(OutboxStoreTest, FullOutboxRefusesTelemetryBeforeCustody) {
  OutboxLimits limits;
  limits.max_items = 1000;
  limits.max_bytes = 600;
  limits.hard_max_bytes = 1000;
  limits.max_item_bytes = 200;
  auto store = Open(limits);
  ASSERT_NE(store, nullptr);
  const std::string text(100, 'x');
  // Custody up to the soft bound.
  int stored = 0;
  while (true) {
    absl::StatusOr<AppendResult> r = store->Append(Alert(text));
    ASSERT_THAT(r, IsOk());
    ++stored;
    if (r->above_soft_bounds) break;
    ASSERT_LT(stored, 100);
  }
  // Beyond it, telemetry is refused, custody still taken until the hard ceiling.
  EXPECT_THAT(store->Append(Reading("CAM-0001", kStart)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("outbox")));
  while (true) {
    absl::StatusOr<AppendResult> r = store->Append(Alert(text));
    if (!r.ok()) {
      EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted,
                              ::testing::AllOf(HasSubstr("full"), HasSubstr("NOT stored"),
                                               HasSubstr("link"))));
      break;
    }
    EXPECT_TRUE(r->above_soft_bounds);
    ++stored;
    ASSERT_LT(stored, 100);
  }
  auto backlog = store->Backlog();
  ASSERT_THAT(backlog, IsOk());
  EXPECT_LE(backlog->stored.bytes, 1000);
  EXPECT_GT(backlog->stored.bytes, 600);
  EXPECT_EQ(backlog->custody.items, stored);
  auto counters = store->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->telemetry_refused, 1);
  EXPECT_EQ(counters->custody_refused, 1);
  // Once the server acknowledges and the items age out, there is room again.
  ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, static_cast<uint64_t>(stored)), IsOk());
  EXPECT_EQ(AppendOk(*store, Reading("CAM-0001", kStart)), 1u);
}

// A real full disk needs a tiny filesystem, which an unprivileged test cannot mount; SQLite's
// max_page_count (OutboxLimits::max_file_pages) makes SQLite answer SQLITE_FULL exactly as it
// does on ENOSPC, through the same code path.
TEST_F(OutboxStoreTest, FullDiskIsResourceExhaustedAndKeepsWhatItHas) {
  OutboxLimits limits;
  limits.max_file_pages = 40;
  const std::string text(1000, 'x');
  uint64_t last_ok = 0;
  {
    auto store = Open(limits);
    ASSERT_NE(store, nullptr);
    absl::Status failure;
    for (int i = 0; i < 10'000; ++i) {
      absl::StatusOr<AppendResult> r = store->Append(Alert(text));
      if (!r.ok()) {
        failure = r.status();
        break;
      }
      EXPECT_EQ(r->sequence, last_ok + 1);
      last_ok = r->sequence;
    }
    EXPECT_THAT(failure, StatusIs(absl::StatusCode::kResourceExhausted,
                                  ::testing::AllOf(HasSubstr("disk"), HasSubstr(path_))));
    ASSERT_GT(last_ok, 5u);
    // Still full: refused again, nothing half-written.
    EXPECT_THAT(store->Append(Alert(text)), StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_EQ(All(*store).size(), last_ok);
    // The link comes back and the server acknowledges: on the full disk the acknowledged items
    // go at once, and their pages take the next append.
    ASSERT_THAT(store->Acknowledge(v1::SYNC_LANE_CUSTODY, last_ok), IsOk());
    auto counters = store->Counters();
    ASSERT_THAT(counters, IsOk());
    EXPECT_EQ(counters->acked_dropped, static_cast<int64_t>(last_ok));
    auto lane = store->Lane(v1::SYNC_LANE_CUSTODY);
    ASSERT_THAT(lane, IsOk());
    EXPECT_EQ(lane->acked_through, last_ok);
    EXPECT_EQ(lane->pruned_through, last_ok);
    EXPECT_EQ(AppendOk(*store, Alert(text)), last_ok + 1);
    ExpectCountsMatchRows(*store);
  }
  // Space frees up on the disk (here: no cap); appends work and numbering goes on.
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(AppendOk(*store, Alert(text)), last_ok + 2);
  EXPECT_EQ(All(*store).size(), 2u);
  ExpectGapFree(*store, v1::SYNC_LANE_CUSTODY);
  auto db = common::Database::Open(path_);
  ASSERT_THAT(db, IsOk());
  auto check = (*db)->Prepare("PRAGMA integrity_check");
  ASSERT_THAT(check, IsOk());
  ASSERT_THAT(check->Step(), IsOkAndHolds(true));
  EXPECT_EQ(check->ColumnText(0), "ok");
}

TEST_F(OutboxStoreTest, OpenRefusesADatabaseNewerThanTheBinary) {
  { ASSERT_NE(Open(), nullptr); }
  {
    auto db = common::Database::Open(path_);
    ASSERT_THAT(db, IsOk());
    ASSERT_THAT((*db)->Exec("PRAGMA user_version = 99"), IsOk());
  }
  EXPECT_THAT(OutboxStore::Open(path_, {}, &clock_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("newer")));
}

TEST_F(OutboxStoreTest, OpenRefusesInconsistentLimits) {
  OutboxLimits limits;
  limits.hard_max_bytes = limits.max_bytes - 1;
  EXPECT_THAT(OutboxStore::Open(path_, limits, &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace camfleet::agent
