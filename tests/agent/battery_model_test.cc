// The simulated battery: charges in a few hours (slower near full), records about 12 h, counts
// cycles, wears to below 80 % of design in some hundreds of cycles, faster when hot; and gives
// the same numbers however the time is cut into Advance calls.

#include "agent/sim/battery_model.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace camfleet::camsim {
namespace {

constexpr bool kDocked = true;
constexpr bool kOut = false;

BatteryModel EmptyBattery(BatteryParams params = {}) {
  BatteryModel battery(params);
  battery.Advance(absl::Hours(13), kOut);
  return battery;
}

// Advances in one-minute pieces until `done`, at most `limit`; returns the time it took.
template <typename Pred>
absl::Duration TimeUntil(BatteryModel& battery, bool docked, Pred done, absl::Duration limit) {
  absl::Duration t = absl::ZeroDuration();
  while (!done(battery) && t < limit) {
    battery.Advance(absl::Minutes(1), docked);
    t += absl::Minutes(1);
  }
  return t;
}

// One day of a patrol camera: a 13 h shift out (it runs flat at 12 h), then back in the dock.
void Cycle(BatteryModel& battery, int days) {
  for (int i = 0; i < days; ++i) {
    battery.Advance(absl::Hours(13), kOut);
    battery.Advance(absl::Hours(11), kDocked);
  }
}

TEST(BatteryModelTest, NewBatteryIsFullAtDesignCapacity) {
  BatteryModel battery(BatteryParams{});
  EXPECT_DOUBLE_EQ(battery.state().state_of_charge, 1.0);
  EXPECT_DOUBLE_EQ(battery.FullChargeCapacityMah(), 3400);
  EXPECT_EQ(battery.CycleCount(), 0u);
  EXPECT_FALSE(battery.Charging(kDocked));
}

TEST(BatteryModelTest, ChargesFromEmptyInAFewHoursSlowerNearFull) {
  BatteryModel battery = EmptyBattery();
  ASSERT_TRUE(battery.Empty());
  EXPECT_TRUE(battery.Charging(kDocked));
  const absl::Duration to_80 = TimeUntil(
      battery, kDocked, [](const BatteryModel& b) { return b.state().state_of_charge >= 0.8; },
      absl::Hours(10));
  const absl::Duration to_full = TimeUntil(
      battery, kDocked, [](const BatteryModel& b) { return b.state().charge_complete; },
      absl::Hours(10));
  // CC at 0.5 C: 80 % in 1.6 h; CV: the last 20 % takes most of another hour.
  EXPECT_GE(to_80, absl::Minutes(90));
  EXPECT_LE(to_80, absl::Minutes(100));
  EXPECT_GE(to_full, absl::Minutes(45));
  EXPECT_LE(to_80 + to_full, absl::Hours(3));
  // The last fifth of the charge goes in at well under half the rate of the first four fifths.
  EXPECT_GT(absl::FDivDuration(to_full, to_80), 0.2 / 0.8 * 2);
  EXPECT_DOUBLE_EQ(battery.state().state_of_charge, 1.0);
  EXPECT_FALSE(battery.Charging(kDocked));
}

TEST(BatteryModelTest, FullNewBatteryRecordsAboutTwelveHours) {
  BatteryModel battery(BatteryParams{});
  EXPECT_EQ(battery.Advance(absl::Hours(11.5), kOut), absl::Hours(11.5));
  EXPECT_FALSE(battery.Empty());
  EXPECT_LT(battery.state().state_of_charge, 0.05);
  const absl::Duration more = battery.Advance(absl::Hours(2), kOut);
  EXPECT_TRUE(battery.Empty());
  // A hair under 12 h: the cell loses a little capacity in its very first cycle already.
  EXPECT_NEAR(absl::ToDoubleHours(absl::Hours(11.5) + more), 12.0, 0.1);
}

TEST(BatteryModelTest, DockedFullBatteryDoesNotDrain) {
  BatteryModel battery(BatteryParams{});
  battery.Advance(absl::Hours(24 * 7), kDocked);
  EXPECT_DOUBLE_EQ(battery.state().state_of_charge, 1.0);
  EXPECT_EQ(battery.CycleCount(), 0u);
}

TEST(BatteryModelTest, PartialDischargesAddUpToCycles) {
  BatteryModel battery(BatteryParams{});
  for (int i = 0; i < 4; ++i) {
    battery.Advance(absl::Hours(3), kOut);  // a quarter of a charge
    battery.Advance(absl::Hours(3), kDocked);
  }
  EXPECT_EQ(battery.CycleCount(), 1u);
}

TEST(BatteryModelTest, FiveHundredDailyCyclesWearItBelowEightyPercentAndAreCounted) {
  BatteryModel battery(BatteryParams{});
  Cycle(battery, 520);
  EXPECT_EQ(battery.CycleCount(), 520u);
  EXPECT_LT(battery.StateOfHealth(), 0.80);
  // Worn as a real cell is, not dead.
  EXPECT_GT(battery.StateOfHealth(), 0.65);
  EXPECT_LT(battery.FullChargeCapacityMah(), 0.80 * 3400);
}

TEST(BatteryModelTest, HealthFallsSteadilyOverALife) {
  BatteryModel battery(BatteryParams{});
  double previous = battery.StateOfHealth();
  for (int year = 0; year < 3; ++year) {
    Cycle(battery, 250);
    EXPECT_LT(battery.StateOfHealth(), previous) << "after year " << year + 1;
    previous = battery.StateOfHealth();
  }
}

TEST(BatteryModelTest, HeatWearsItFaster) {
  BatteryModel cool(BatteryParams{.ambient_celsius = 20});
  BatteryModel hot(BatteryParams{.ambient_celsius = 40});
  Cycle(cool, 200);
  Cycle(hot, 200);
  EXPECT_EQ(cool.CycleCount(), hot.CycleCount());
  // At least half as much wear again.
  EXPECT_GT(1 - hot.StateOfHealth(), 1.5 * (1 - cool.StateOfHealth()));
}

TEST(BatteryModelTest, HeatWearsItFasterAlsoOnTheShelf) {
  BatteryModel cool(BatteryParams{.ambient_celsius = 25});
  BatteryModel hot(BatteryParams{.ambient_celsius = 45});
  cool.Advance(absl::Hours(24 * 365), kDocked);
  hot.Advance(absl::Hours(24 * 365), kDocked);
  EXPECT_NEAR(cool.StateOfHealth(), 0.97, 0.005);
  EXPECT_LT(hot.StateOfHealth(), 0.93);
}

TEST(BatteryModelTest, TemperatureRisesWhileChargingAndSettlesWhenFull) {
  BatteryModel battery = EmptyBattery();
  battery.Advance(absl::Hours(1), kOut);  // cool down from recording
  battery.Advance(absl::Hours(1), kDocked);
  EXPECT_GT(battery.state().temperature_celsius, 22 + 7);
  battery.Advance(absl::Hours(6), kDocked);
  EXPECT_NEAR(battery.state().temperature_celsius, 22, 0.5);
}

TEST(BatteryModelTest, VoltageFollowsCharge) {
  BatteryModel battery(BatteryParams{});
  EXPECT_NEAR(battery.VoltageMv(kDocked), 4180, 5);
  double previous = battery.VoltageMv(kOut);
  for (int hour = 0; hour < 12; ++hour) {
    battery.Advance(absl::Hours(1), kOut);
    EXPECT_LT(battery.VoltageMv(kOut), previous) << "after hour " << hour + 1;
    previous = battery.VoltageMv(kOut);
  }
  battery.Advance(absl::Hours(1), kOut);
  EXPECT_NEAR(battery.VoltageMv(kOut), 3000, 1);
  // Charging lifts the terminal voltage above the cell's own, up to the CV limit.
  EXPECT_GT(battery.VoltageMv(kDocked), 3000 + 50);
  battery.Advance(absl::Hours(1.8), kDocked);
  EXPECT_LE(battery.VoltageMv(kDocked), 4200);
}

TEST(BatteryModelTest, WornBatteryStartsAtTheGivenHealthAndRecordsLess) {
  BatteryModel battery(BatteryParams{});
  battery.SetStateOfHealth(0.70);
  EXPECT_NEAR(battery.StateOfHealth(), 0.70, 1e-9);
  EXPECT_GT(battery.CycleCount(), 500u);
  const absl::Duration recorded = battery.Advance(absl::Hours(13), kOut);
  EXPECT_NEAR(absl::ToDoubleHours(recorded), 0.70 * 12, 0.1);
}

TEST(BatteryModelTest, OneLongAdvanceEqualsManyShortOnes) {
  BatteryModel at_once(BatteryParams{});
  BatteryModel in_pieces(BatteryParams{});
  at_once.Advance(absl::Hours(7), kOut);
  in_pieces.Advance(absl::Hours(7), kOut);
  at_once.Advance(absl::Hours(24 * 30), kDocked);
  for (int i = 0; i < 24 * 30; ++i) in_pieces.Advance(absl::Hours(1), kDocked);
  EXPECT_DOUBLE_EQ(at_once.state().calendar_stress_days, in_pieces.state().calendar_stress_days);
  EXPECT_DOUBLE_EQ(at_once.state().state_of_charge, in_pieces.state().state_of_charge);
  EXPECT_DOUBLE_EQ(at_once.state().temperature_celsius, in_pieces.state().temperature_celsius);
}

}  // namespace
}  // namespace camfleet::camsim
