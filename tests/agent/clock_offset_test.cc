// The dock clock's offset to server time: measured at the midpoint of a call, kept on disk
// across restarts, written again only when it moves, and described for people.

#include "agent/clock_offset.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/file_io.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::HasSubstr;

const absl::Time kDockTime = absl::FromUnixSeconds(1'800'000'000);

TEST(ClockOffsetTest, UnmeasuredIsZero) {
  ClockOffset offset("");
  EXPECT_EQ(offset.Offset(), absl::ZeroDuration());
  EXPECT_FALSE(offset.Latest().has_value());
  EXPECT_EQ(offset.ToServerTime(kDockTime), kDockTime);
}

TEST(ClockOffsetTest, TheServerIsAssumedToAnswerAtTheMidpointOfTheCall) {
  ClockOffset offset("");
  // Sent at T, answered at T+2s, the server said T+1s+7m12s: the dock is 7m12s slow.
  ASSERT_THAT(offset.Record(kDockTime, kDockTime + absl::Seconds(2),
                            kDockTime + absl::Seconds(1) + absl::Minutes(7) + absl::Seconds(12)),
              IsOk());
  EXPECT_EQ(offset.Offset(), absl::Minutes(7) + absl::Seconds(12));
  ASSERT_TRUE(offset.Latest().has_value());
  EXPECT_EQ(offset.Latest()->round_trip, absl::Seconds(2));
  EXPECT_EQ(offset.ToServerTime(kDockTime), kDockTime + absl::Minutes(7) + absl::Seconds(12));
}

TEST(ClockOffsetTest, AClockSetBackDuringTheCallIsNotAMeasurement) {
  ClockOffset offset("");
  EXPECT_THAT(offset.Record(kDockTime, kDockTime - absl::Seconds(1), kDockTime),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(offset.Latest().has_value());
}

TEST(ClockOffsetTest, TheOffsetSurvivesARestart) {
  TempDir dir;
  const std::string path = dir.File("clock-offset");
  {
    ClockOffset offset(path);
    ASSERT_THAT(offset.Load(), IsOk());  // no file yet
    ASSERT_THAT(offset.Record(kDockTime, kDockTime, kDockTime + absl::Minutes(10)), IsOk());
  }
  ClockOffset reopened(path);
  ASSERT_THAT(reopened.Load(), IsOk());
  EXPECT_EQ(reopened.Offset(), absl::Minutes(10));
  ASSERT_TRUE(reopened.Latest().has_value());
  EXPECT_EQ(reopened.Latest()->measured_at, kDockTime);
}

TEST(ClockOffsetTest, SmallMovesAreNotWrittenAgain) {
  TempDir dir;
  const std::string path = dir.File("clock-offset");
  ClockOffset offset(path);
  ASSERT_THAT(offset.Record(kDockTime, kDockTime, kDockTime + absl::Minutes(10)), IsOk());
  ASSERT_THAT(
      offset.Record(kDockTime, kDockTime, kDockTime + absl::Minutes(10) + absl::Milliseconds(300)),
      IsOk());
  EXPECT_EQ(offset.Offset(), absl::Minutes(10) + absl::Milliseconds(300));  // in force at once
  ClockOffset stored(path);
  ASSERT_THAT(stored.Load(), IsOk());
  EXPECT_EQ(stored.Offset(), absl::Minutes(10));
}

TEST(ClockOffsetTest, ADamagedFileIsReportedAndLeavesTheOffsetUnmeasured) {
  TempDir dir;
  const std::string path = dir.File("clock-offset");
  ASSERT_THAT(provisioning::WriteNewFile(path, "offset_us=12x\n", 0644), IsOk());
  ClockOffset offset(path);
  EXPECT_THAT(offset.Load(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path)));
  EXPECT_EQ(offset.Offset(), absl::ZeroDuration());
  // The next measurement replaces it.
  ASSERT_THAT(offset.Record(kDockTime, kDockTime, kDockTime + absl::Seconds(30)), IsOk());
  ClockOffset reopened(path);
  ASSERT_THAT(reopened.Load(), IsOk());
  EXPECT_EQ(reopened.Offset(), absl::Seconds(30));
}

TEST(ClockOffsetTest, DescribesSlowFastAndInStep) {
  EXPECT_EQ(
      DescribeClockOffset("dock", absl::Minutes(7) + absl::Seconds(12) + absl::Milliseconds(400)),
      "dock clock is 7m12s slow against the server");
  EXPECT_EQ(DescribeClockOffset("camera", -absl::Hours(2)),
            "camera clock is 2h fast against the server");
  EXPECT_EQ(DescribeClockOffset("dock", absl::Milliseconds(400)),
            "dock clock is in step with the server");
}

}  // namespace
}  // namespace camfleet::agent
