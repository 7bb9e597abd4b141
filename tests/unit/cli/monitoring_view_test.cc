// Alert kinds, battery state of health and its trend as the CLI shows them.

#include "cli/monitoring_view.h"

#include <google/protobuf/util/time_util.h>

#include "cli/time_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camfleet::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(AlertKindTest, ParsesEveryWayPeopleTypeIt) {
  for (const char* text : {"lost-camera-docked", "LOST_CAMERA_DOCKED", "Lost-Camera-Docked",
                           "ALERT_KIND_LOST_CAMERA_DOCKED"}) {
    absl::StatusOr<v1::AlertKind> kind = ParseAlertKind(text);
    ASSERT_TRUE(kind.ok()) << text << ": " << kind.status();
    EXPECT_EQ(*kind, v1::ALERT_KIND_LOST_CAMERA_DOCKED) << text;
  }
}

TEST(AlertKindTest, UnknownAndUnspecifiedAreRefusedNamingTheKinds) {
  for (const char* text : {"stolen", "", "unspecified", "ALERT_KIND_"}) {
    absl::StatusOr<v1::AlertKind> kind = ParseAlertKind(text);
    ASSERT_FALSE(kind.ok()) << text;
    EXPECT_THAT(kind.status().message(),
                AllOf(HasSubstr("worn-battery"), HasSubstr("conflict"), HasSubstr("dock")));
  }
  EXPECT_THAT(AlertKindChoices(), Not(HasSubstr("unspecified")));
}

TEST(AlertKindTest, DockAlertsShowTheDocksOwnKind) {
  v1::Alert alert;
  alert.set_kind(v1::ALERT_KIND_DOCK);
  alert.set_dock_alert_kind(v1::DOCK_ALERT_KIND_REVOKED_CAMERA);
  EXPECT_EQ(AlertKindLabel(alert), "dock: revoked-camera");
  alert.set_kind(v1::ALERT_KIND_CLOCK_SKEW);
  alert.set_dock_alert_kind(v1::DOCK_ALERT_KIND_UNSPECIFIED);
  EXPECT_EQ(AlertKindLabel(alert), "clock-skew");
}

v1::HealthReading Reading(absl::Time at, uint32_t full_mah, uint32_t design_mah = 3000) {
  v1::HealthReading r;
  *r.mutable_device_time() = ToTimestamp(at);
  r.set_full_charge_capacity_mah(full_mah);
  r.set_design_capacity_mah(design_mah);
  r.set_cycle_count(full_mah / 10);
  return r;
}

TEST(StateOfHealthTest, IsFullChargeOverDesignRoundedDownSoWornNeverReadsHealthy) {
  EXPECT_EQ(FormatStateOfHealth(StateOfHealth(Reading(absl::Now(), 2550))), "85.0%");
  // 2399/3000 = 79.966...: must not read as 80.0%.
  EXPECT_EQ(FormatStateOfHealth(StateOfHealth(Reading(absl::Now(), 2399))), "79.9%");
  EXPECT_FALSE(StateOfHealth(Reading(absl::Now(), 2550, 0)).has_value());
  EXPECT_EQ(FormatStateOfHealth(std::nullopt), "");
}

TEST(BatteryTrendTest, TakesTheReadingsNearestBeforeThirtyAndNinetyDaysAgo) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const absl::Duration day = absl::Hours(24);
  BatteryTrend trend(now);
  // Newest first, as ListHealthReadings returns them.
  trend.Add(Reading(now - absl::Hours(1), 2550));
  trend.Add(Reading(now - 29 * day, 2600));
  EXPECT_FALSE(trend.day30().has_value());
  trend.Add(Reading(now - 31 * day, 2700));
  trend.Add(Reading(now - 60 * day, 2750));
  EXPECT_FALSE(trend.Complete());
  trend.Add(Reading(now - 91 * day, 2850));
  EXPECT_TRUE(trend.Complete());
  trend.Add(Reading(now - 200 * day, 2990));

  ASSERT_TRUE(trend.latest().has_value());
  EXPECT_DOUBLE_EQ(trend.latest()->soh, 85.0);
  EXPECT_DOUBLE_EQ(trend.day30()->soh, 90.0);
  EXPECT_DOUBLE_EQ(trend.day90()->soh, 95.0);
  auto fields = trend.Fields();
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].first, "health 30d ago");
  EXPECT_THAT(fields[0].second,
              AllOf(HasSubstr("90.0%"), HasSubstr("-5.0 points"), HasSubstr("270 cycles")));
  EXPECT_THAT(fields[1].second, AllOf(HasSubstr("95.0%"), HasSubstr("-10.0 points")));
}

TEST(BatteryTrendTest, ShortHistorySaysWhereItStarts) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  BatteryTrend trend(now);
  trend.Add(Reading(now - absl::Hours(1), 2550));
  trend.Add(Reading(now - absl::Hours(24 * 10), 2580));
  auto fields = trend.Fields();
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_THAT(fields[0].second,
              AllOf(HasSubstr("no reading that old"),
                    HasSubstr(FormatUtc(now - absl::Hours(24 * 10))), HasSubstr("86.0%")));
}

TEST(BatteryTrendTest, NoReadingsNoFields) {
  BatteryTrend trend(absl::Now());
  trend.Add(Reading(absl::Now(), 2500, 0));  // no design capacity: nothing to say
  EXPECT_TRUE(trend.Fields().empty());
}

}  // namespace
}  // namespace camfleet::cli
