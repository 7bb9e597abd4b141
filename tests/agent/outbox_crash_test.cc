// The outbox killed with SIGKILL in the middle of appending loses nothing it acknowledged: a
// child process appends in a loop (both lanes) and reports every Append that returned OK on a
// pipe; the test kills it 20 times at different points, on the same file, and after each kill
// every reported item is there with its content, and both lanes are numbered without gaps.
// The pipe is the synchronisation: the test blocks on it (with a deadline), never sleeps.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/outbox_store.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::TempDir;

constexpr int kRounds = 20;
constexpr int kPollTimeoutMs = 60'000;

// What the child reports for each acknowledged Append.
struct Record {
  uint64_t lane;
  uint64_t sequence;
  uint64_t round;
  uint64_t index;
};

std::string Serial(uint64_t round, uint64_t index) { return absl::StrCat("R", round, "-", index); }

// The child: appends until killed, `telemetry_per_custody` readings after each custody item.
// Only _exit, never a return into the test framework.
[[noreturn]] void AppendForever(const std::string& path, const OutboxLimits& limits,
                                int telemetry_per_custody, int fd, uint64_t round) {
  common::RealClock clock;
  absl::StatusOr<std::unique_ptr<OutboxStore>> store = OutboxStore::Open(path, limits, &clock);
  if (!store.ok()) _exit(2);
  const auto cycle = static_cast<uint64_t>(telemetry_per_custody + 1);
  for (uint64_t i = 0;; ++i) {
    v1::OutboxItem item;
    if (i % cycle == 0) {
      item.mutable_inserted()->set_serial(Serial(round, i));
      item.mutable_inserted()->set_slot(1);
    } else {
      // One camera, so that readings share hours and can be thinned; the reading's identity
      // travels in a field the store does not look at.
      item.mutable_health()->set_serial("CAM-0001");
      item.mutable_health()->set_firmware_version(Serial(round, i));
      item.mutable_health()->set_battery_percent(50);
    }
    absl::StatusOr<AppendResult> r = (*store)->Append(std::move(item));
    if (!r.ok()) _exit(3);
    const Record rec{static_cast<uint64_t>(r->lane), r->sequence, round, i};
    // Smaller than PIPE_BUF: written whole or not at all.
    if (write(fd, &rec, sizeof(rec)) != static_cast<ssize_t>(sizeof(rec))) _exit(4);
  }
}

// Reads one record; false on EOF. Fails the test if nothing comes within the deadline.
bool ReadRecord(int fd, Record* rec) {
  size_t got = 0;
  auto* bytes = reinterpret_cast<char*>(rec);
  while (got < sizeof(*rec)) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, kPollTimeoutMs);
    if (ready == 0) {
      ADD_FAILURE() << "the appending child reported nothing for " << kPollTimeoutMs << " ms";
      return false;
    }
    if (ready < 0 && errno == EINTR) continue;
    const ssize_t n = read(fd, bytes + got, sizeof(*rec) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// Kills an appending child kRounds times on one file and checks after each kill that every
// reported append is there (a telemetry item possibly as part of a ThinnedRange stub, when
// the limits make the store thin) and both lanes are covered from 1 without a gap.
class OutboxCrashTest : public ::testing::Test {
 protected:
  void RunKillRounds(const OutboxLimits& limits, int telemetry_per_custody) {
    std::map<std::pair<uint64_t, uint64_t>, std::string> acknowledged;  // (lane, seq) -> serial
    for (int round = 0; round < kRounds; ++round) {
      int fds[2];
      ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
      const pid_t parent = getpid();
      const pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(5);
        AppendForever(path_, limits, telemetry_per_custody, fds[1], static_cast<uint64_t>(round));
      }
      close(fds[1]);
      // Kill at different points: right after the open (rounds 0, 5, ...) or after some appends.
      const int before_kill = round % 5 == 0 ? 1 : 2 + (round * 7) % 19;
      Record rec;
      int reported = 0;
      bool child_alive = true;
      while (reported < before_kill) {
        if (!ReadRecord(fds[0], &rec)) {
          child_alive = false;
          break;
        }
        acknowledged[{rec.lane, rec.sequence}] = Serial(rec.round, rec.index);
        ++reported;
      }
      kill(pid, SIGKILL);
      // What the child wrote before it died is still in the pipe.
      while (ReadRecord(fds[0], &rec)) {
        acknowledged[{rec.lane, rec.sequence}] = Serial(rec.round, rec.index);
      }
      close(fds[0]);
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(child_alive) << "round " << round << ": the child stopped by itself, status "
                               << status;
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "round " << round;

      // Reopened in the parent and closed again before the next fork: a SQLite connection must
      // not cross a fork.
      absl::StatusOr<std::unique_ptr<OutboxStore>> store =
          OutboxStore::Open(path_, limits, &clock_);
      ASSERT_THAT(store, IsOk()) << "round " << round;
      absl::StatusOr<std::vector<v1::OutboxItem>> items = (*store)->NextBatch(1'000'000, INT64_MAX);
      ASSERT_THAT(items, IsOk());
      std::map<std::pair<uint64_t, uint64_t>, std::string> held;
      std::map<uint64_t, uint64_t> thinned;  // telemetry: first sequence -> last
      std::map<uint64_t, uint64_t> expected_next = {{1, 1}, {2, 1}};
      for (const v1::OutboxItem& item : *items) {
        const auto lane = static_cast<uint64_t>(item.lane());
        ASSERT_EQ(item.sequence(), expected_next[lane]) << "round " << round << " lane " << lane;
        if (item.has_thinned()) {
          ASSERT_EQ(item.lane(), v1::SYNC_LANE_TELEMETRY) << "custody was thinned";
          thinned[item.sequence()] = item.thinned().thinned_through();
          expected_next[lane] = item.thinned().thinned_through() + 1;
          continue;
        }
        expected_next[lane] = item.sequence() + 1;
        held[{lane, item.sequence()}] =
            item.has_inserted() ? item.inserted().serial() : item.health().firmware_version();
      }
      for (const auto& [key, serial] : acknowledged) {
        auto it = held.find(key);
        if (it != held.end()) {
          EXPECT_EQ(it->second, serial);
          continue;
        }
        auto stub = thinned.upper_bound(key.second);
        const bool in_stub =
            key.first == 2 && stub != thinned.begin() && std::prev(stub)->second >= key.second;
        ASSERT_TRUE(in_stub) << "round " << round << ": lane " << key.first << " sequence "
                             << key.second << " (" << serial << ") was acknowledged but is gone";
      }
      for (uint64_t lane : {uint64_t{1}, uint64_t{2}}) {
        absl::StatusOr<LaneState> state = (*store)->Lane(static_cast<v1::SyncLane>(lane));
        ASSERT_THAT(state, IsOk());
        EXPECT_EQ(state->last_sequence + 1, expected_next[lane]) << "round " << round;
      }
    }
    EXPECT_GT(acknowledged.size(), static_cast<size_t>(kRounds));
    absl::StatusOr<std::unique_ptr<OutboxStore>> store = OutboxStore::Open(path_, limits, &clock_);
    ASSERT_THAT(store, IsOk());
    absl::StatusOr<OutboxBacklog> backlog = (*store)->Backlog();
    ASSERT_THAT(backlog, IsOk());
    absl::StatusOr<OutboxCounters> counters = (*store)->Counters();
    ASSERT_THAT(counters, IsOk());
    readings_thinned_ = counters->readings_thinned_total;
    // Appends that committed but were killed before they could report are kept too; that is
    // allowed (the dock had not acted on them yet). Say how many, as the server's kill test does.
    std::cout << acknowledged.size() << " appends acknowledged over " << kRounds << " kills; "
              << backlog->total.items << " items held; " << readings_thinned_
              << " readings thinned\n";
    store->reset();

    auto db = common::Database::Open(path_);
    ASSERT_THAT(db, IsOk());
    auto check = (*db)->Prepare("PRAGMA integrity_check");
    ASSERT_THAT(check, IsOk());
    auto row = check->Step();
    ASSERT_THAT(row, IsOk());
    ASSERT_TRUE(*row);
    EXPECT_EQ(check->ColumnText(0), "ok");
  }

  TempDir dir_;
  const std::string path_ = dir_.File("outbox.db");
  common::RealClock clock_;
  int64_t readings_thinned_ = 0;
};

TEST_F(OutboxCrashTest, EveryAcknowledgedAppendSurvivesSigkill) {
  RunKillRounds(OutboxLimits{}, /*telemetry_per_custody=*/1);
}

// Small bounds, mostly readings: the store thins every few appends, so kills land inside
// thinning transactions (many deletes, stub inserts) too.
TEST_F(OutboxCrashTest, EveryAcknowledgedAppendSurvivesSigkillWhileThinning) {
  OutboxLimits limits;
  limits.max_items = 40;
  limits.make_room_to = 0.75;
  RunKillRounds(limits, /*telemetry_per_custody=*/6);
  EXPECT_GT(readings_thinned_, 0);
}

}  // namespace
}  // namespace camfleet::agent
