// WorkPool: the threads slow handler work (signing) runs on instead of gRPC's.

#include "common/work_pool.h"

#include <pthread.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace camfleet::common {
namespace {

TEST(WorkPoolTest, RunsTasksOffTheSchedulingThread) {
  WorkPool pool(2);
  absl::Notification ran;
  std::thread::id where;
  pool.Schedule([&] {
    where = std::this_thread::get_id();
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_NE(where, std::this_thread::get_id());
}

TEST(WorkPoolTest, ThreadsCarryThePoolsNameForTopAndPerf) {
  WorkPool pool(1, "signer");
  absl::Notification ran;
  char name[16] = {};
  pool.Schedule([&] {
    pthread_getname_np(pthread_self(), name, sizeof(name));
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_STREQ(name, "signer");
}

TEST(WorkPoolTest, DestructionRunsEverythingAlreadyQueued) {
  std::atomic<int> done{0};
  {
    WorkPool pool(2);
    for (int i = 0; i < 500; ++i) pool.Schedule([&done] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 500);
}

TEST(WorkPoolTest, OneThreadRunsTasksInTheOrderScheduled) {
  std::vector<int> order;
  {
    WorkPool pool(1);
    for (int i = 0; i < 100; ++i) pool.Schedule([&order, i] { order.push_back(i); });
  }
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(WorkPoolTest, QueuedCountsTasksWaitingForAThread) {
  WorkPool pool(1);
  absl::Notification started;
  absl::Notification release;
  pool.Schedule([&] {
    started.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(20)));
  pool.Schedule([] {});
  pool.Schedule([] {});
  EXPECT_EQ(pool.queued(), 2u);
  release.Notify();
}

TEST(WorkPoolTest, ZeroThreadsMeansOnePerCpu) {
  WorkPool pool(0);
  EXPECT_GE(pool.size(), 1);
}

}  // namespace
}  // namespace camfleet::common
