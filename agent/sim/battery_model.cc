#include "agent/sim/battery_model.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace camfleet::camsim {
namespace {

// The numbers of the model, explained in the header.
constexpr double kChargeRateC = 0.5;          // CC current, in units of design capacity per hour
constexpr double kCvStartCharge = 0.8;        // where CC gives way to CV
constexpr double kCutOffRateC = 0.05;         // the charger stops when the CV current is C/20
constexpr double kRestartBelowCharge = 0.97;  // a complete charger starts again below this
constexpr double kRecordingHours = 12;        // a new full cell records this long
constexpr double kCycleFadePerSqrtCycle = 0.0085;
constexpr double kCalendarFadePerYear = 0.03;  // at 25 C, growing as t^0.75
constexpr double kCalendarExponent = 0.75;
constexpr double kCalendarActivationJPerMol = 50000;
constexpr double kCycleActivationJPerMol = 35000;
constexpr double kGasConstant = 8.314;
constexpr double kReferenceKelvin = 298.15;  // 25 C
constexpr double kChargingRiseCelsius = 10;  // at full CC current
constexpr double kRecordingRiseCelsius = 4;
constexpr double kThermalTimeConstantHours = 20.0 / 60;
constexpr double kInternalResistanceOhm = 0.060;  // new cell; grows with wear
constexpr double kMaxChargeVoltageMv = 4200;
constexpr double kMinStateOfHealth = 0.05;  // keeps a cell worn out by a fault usable as a number

// Open-circuit voltage of a typical NMC/graphite cell against state of charge.
constexpr struct {
  double charge;
  double millivolts;
} kOcv[] = {{0.00, 3000}, {0.05, 3450}, {0.10, 3550}, {0.20, 3620}, {0.30, 3670}, {0.40, 3720},
            {0.50, 3780}, {0.60, 3850}, {0.70, 3930}, {0.80, 4020}, {0.90, 4100}, {1.00, 4180}};

double OpenCircuitMv(double charge) {
  charge = std::clamp(charge, 0.0, 1.0);
  for (size_t i = 1; i < std::size(kOcv); ++i) {
    if (charge <= kOcv[i].charge) {
      const double f = (charge - kOcv[i - 1].charge) / (kOcv[i].charge - kOcv[i - 1].charge);
      return kOcv[i - 1].millivolts + f * (kOcv[i].millivolts - kOcv[i - 1].millivolts);
    }
  }
  return kOcv[std::size(kOcv) - 1].millivolts;
}

// Arrhenius factor relative to 25 C.
double Arrhenius(double activation_j_per_mol, double celsius) {
  return std::exp(activation_j_per_mol / kGasConstant *
                  (1 / kReferenceKelvin - 1 / (celsius + 273.15)));
}

}  // namespace

BatteryModel::BatteryModel(BatteryParams params) : BatteryModel(params, BatteryState{}) {
  state_.temperature_celsius = params_.ambient_celsius;
}

BatteryModel::BatteryModel(BatteryParams params, BatteryState state)
    : params_(params), state_(state) {}

double BatteryModel::StateOfHealth() const {
  const double cycle_fade = kCycleFadePerSqrtCycle * std::sqrt(std::max(0.0, state_.cycle_stress));
  const double calendar_fade =
      kCalendarFadePerYear *
      std::pow(std::max(0.0, state_.calendar_stress_days) / 365.0, kCalendarExponent);
  return std::max(kMinStateOfHealth, 1 - cycle_fade - calendar_fade);
}

double BatteryModel::FullChargeCapacityMah() const {
  return params_.design_capacity_mah * StateOfHealth();
}

uint32_t BatteryModel::CycleCount() const {
  // The sum of many small steps of one full discharge can land a hair under 1.
  return static_cast<uint32_t>(std::floor(state_.equivalent_full_cycles + 1e-6));
}

double BatteryModel::CurrentMa(bool docked) const {
  if (docked) {
    if (state_.charge_complete) return 0;
    const double cc = kChargeRateC * params_.design_capacity_mah;
    if (state_.state_of_charge < kCvStartCharge) return cc;
    return cc * (1 - state_.state_of_charge) / (1 - kCvStartCharge);
  }
  if (Empty()) return 0;
  return -params_.design_capacity_mah / kRecordingHours;
}

double BatteryModel::VoltageMv(bool docked) const {
  const double resistance = kInternalResistanceOhm * (1 + 2 * (1 - StateOfHealth()));
  const double mv = OpenCircuitMv(state_.state_of_charge) + CurrentMa(docked) * resistance;
  return Charging(docked) ? std::min(mv, kMaxChargeVoltageMv) : mv;
}

void BatteryModel::SetStateOfHealth(double fraction) {
  fraction = std::clamp(fraction, kMinStateOfHealth, 1.0);
  const double cycles = (1 - fraction) / kCycleFadePerSqrtCycle;
  state_.cycle_stress = cycles * cycles;
  state_.equivalent_full_cycles = state_.cycle_stress;
  state_.calendar_stress_days = 0;
}

absl::Duration BatteryModel::Advance(absl::Duration elapsed, bool docked) {
  absl::Duration powered = absl::ZeroDuration();
  while (elapsed > absl::ZeroDuration()) {
    const absl::Duration step = std::min(elapsed, kMaxStep);
    const bool was_running = !docked && !Empty();
    Step(absl::ToDoubleHours(step), docked);
    // An empty cell stops the camera within the step; a minute's precision is plenty.
    if (was_running) powered += step;
    elapsed -= step;
  }
  return powered;
}

void BatteryModel::Step(double dt_hours, bool docked) {
  const double temperature = state_.temperature_celsius;
  const double current = CurrentMa(docked);
  const double capacity = FullChargeCapacityMah();
  const double cycle_factor =
      temperature <= 25 ? 1.0 : Arrhenius(kCycleActivationJPerMol, temperature);
  double heat = 0;

  if (docked) {
    if (state_.charge_complete && state_.state_of_charge < kRestartBelowCharge) {
      state_.charge_complete = false;
    }
    if (!state_.charge_complete) {
      const double before = state_.state_of_charge;
      const double cc = kChargeRateC * params_.design_capacity_mah;
      if (before < kCvStartCharge) {
        state_.state_of_charge = std::min(kCvStartCharge, before + current * dt_hours / capacity);
      } else {
        // CV: the missing charge decays exponentially; integrated exactly, so the step size
        // does not change where it ends.
        const double rate = cc / ((1 - kCvStartCharge) * capacity);
        state_.state_of_charge = 1 - (1 - before) * std::exp(-rate * dt_hours);
      }
      const double cut_off_missing =
          (1 - kCvStartCharge) * kCutOffRateC / kChargeRateC;  // where I = C/20
      if (1 - state_.state_of_charge <= cut_off_missing) {
        state_.state_of_charge = 1;
        state_.charge_complete = true;
      }
      state_.cycle_stress += 0.5 * (state_.state_of_charge - before) * cycle_factor;
      heat = kChargingRiseCelsius * current / cc;
    }
  } else if (!Empty()) {
    const double used = std::min(state_.state_of_charge, -current * dt_hours / capacity);
    state_.state_of_charge -= used;
    state_.equivalent_full_cycles += used;
    state_.cycle_stress += 0.5 * used * cycle_factor;
    state_.charge_complete = false;
    heat = kRecordingRiseCelsius;
  }

  state_.calendar_stress_days += dt_hours / 24 * Arrhenius(kCalendarActivationJPerMol, temperature);
  const double target = params_.ambient_celsius + heat;
  state_.temperature_celsius =
      target + (temperature - target) * std::exp(-dt_hours / kThermalTimeConstantHours);
}

}  // namespace camfleet::camsim
