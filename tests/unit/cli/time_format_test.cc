#include "cli/time_format.h"

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(ParseDurationTest, AcceptsEachUnit) {
  EXPECT_EQ(*ParseDuration("30m"), absl::Minutes(30));
  EXPECT_EQ(*ParseDuration("12h"), absl::Hours(12));
  EXPECT_EQ(*ParseDuration("7d"), absl::Hours(7 * 24));
  EXPECT_EQ(*ParseDuration("90s"), absl::Seconds(90));
}

TEST(ParseDurationTest, AddsCombinedUnits) {
  EXPECT_EQ(*ParseDuration("1d12h"), absl::Hours(36));
  EXPECT_EQ(*ParseDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDuration("2d3h4m5s"), absl::Hours(51) + absl::Minutes(4) + absl::Seconds(5));
}

TEST(ParseDurationTest, IgnoresCaseOfUnits) { EXPECT_EQ(*ParseDuration("12H"), absl::Hours(12)); }

TEST(ParseDurationTest, RejectsMalformedText) {
  for (const char* bad : {"", "12", "h", "12x", "1.5h", "-3h", "12h ", " 12h", "1h1d", "1h1h",
                          "1d 12h", "1234567890h"}) {
    EXPECT_THAT(ParseDuration(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(ParseDurationTest, RejectsZero) {
  EXPECT_THAT(ParseDuration("0m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than zero")));
}

TEST(ParseDurationTest, RejectsMoreThanAHundredYears) {
  EXPECT_THAT(ParseDuration("40000d"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("100 years")));
}

TEST(ParseTimeArgTest, DurationPointsIntoTheFutureForDeadlines) {
  absl::Time now = Utc(2026, 11, 22, 20, 0);
  EXPECT_EQ(*ParseTimeArg("12h", now, Relative::kFuture), Utc(2026, 11, 23, 8, 0));
}

TEST(ParseTimeArgTest, DurationPointsIntoThePastForFilters) {
  absl::Time now = Utc(2026, 11, 22, 20, 0);
  EXPECT_EQ(*ParseTimeArg("7d", now, Relative::kPast), Utc(2026, 11, 15, 20, 0));
}

TEST(ParseTimeArgTest, DurationCountsFromTheWholeSecond) {
  absl::Time now = Utc(2026, 11, 22, 20, 0, 5) + absl::Milliseconds(381);
  EXPECT_EQ(*ParseTimeArg("12h", now, Relative::kFuture), Utc(2026, 11, 23, 8, 0, 5));
}

TEST(ParseTimeArgTest, AcceptsRfc3339InUtc) {
  EXPECT_EQ(*ParseTimeArg("2026-11-23T08:00:00Z", absl::UnixEpoch(), Relative::kFuture),
            Utc(2026, 11, 23, 8, 0));
}

TEST(ParseTimeArgTest, AcceptsRfc3339WithOffset) {
  EXPECT_EQ(*ParseTimeArg("2026-11-23T09:00:00+01:00", absl::UnixEpoch(), Relative::kFuture),
            Utc(2026, 11, 23, 8, 0));
}

TEST(ParseTimeArgTest, ErrorShowsBothAcceptedForms) {
  for (const char* bad : {"tomorrow", "2026-11-23", "2026-11-23 08:00", "12"}) {
    EXPECT_THAT(ParseTimeArg(bad, absl::UnixEpoch(), Relative::kFuture),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("12h"), HasSubstr("2026-11-23T08:00:00Z"))))
        << bad;
  }
}

TEST(FormatTimeTest, PrintsUtcToTheMinute) {
  EXPECT_EQ(FormatUtc(Utc(2026, 11, 22, 20, 15, 59)), "2026-11-22 20:15Z");
}

TEST(FormatTimeTest, SecondsVariantKeepsSeconds) {
  EXPECT_EQ(FormatUtcSeconds(Utc(2026, 11, 22, 20, 15, 7)), "2026-11-22 20:15:07Z");
}

TEST(FormatTimestampTest, UnsetFieldIsAnEmptyCell) {
  EXPECT_EQ(FormatTimestamp(google::protobuf::Timestamp(), false), "");
}

TEST(TimestampTest, RoundTripsThroughProto) {
  absl::Time t = Utc(2026, 11, 22, 20, 15, 7) + absl::Microseconds(250);
  EXPECT_EQ(FromTimestamp(ToTimestamp(t)), t);
}

TEST(TimestampTest, HandlesTimesBeforeTheEpoch) {
  absl::Time t = absl::UnixEpoch() - absl::Milliseconds(1500);
  google::protobuf::Timestamp ts = ToTimestamp(t);
  EXPECT_GE(ts.nanos(), 0);
  EXPECT_EQ(FromTimestamp(ts), t);
}

TEST(HumanizeDurationTest, ShowsTheTwoLargestUnits) {
  EXPECT_EQ(HumanizeDuration(absl::Hours(3) + absl::Minutes(12) + absl::Seconds(40)), "3h12m");
  EXPECT_EQ(HumanizeDuration(absl::Hours(52) + absl::Minutes(59)), "2d4h");
}

TEST(HumanizeDurationTest, DropsAZeroSecondUnit) {
  EXPECT_EQ(HumanizeDuration(absl::Hours(3)), "3h");
  EXPECT_EQ(HumanizeDuration(absl::Hours(48)), "2d");
}

TEST(HumanizeDurationTest, ShowsShortDurationsInOneUnit) {
  EXPECT_EQ(HumanizeDuration(absl::Minutes(12) + absl::Seconds(59)), "12m");
  EXPECT_EQ(HumanizeDuration(absl::Seconds(45)), "45s");
  EXPECT_EQ(HumanizeDuration(absl::ZeroDuration()), "0s");
}

TEST(HumanizeDurationTest, MarksNegativeDurations) {
  EXPECT_EQ(HumanizeDuration(-absl::Minutes(90)), "-1h30m");
}

}  // namespace
}  // namespace camfleet::cli
