#pragma once
// The simulated camera's battery: one Li-ion cell (NMC/graphite, the common chemistry in small
// devices), modelled just well enough that what a dock reports over months looks like what a
// real fleet reports. Pure and deterministic: the state moves only through Advance, in steps of
// at most kMaxStep, so the same calls give the same numbers, and a test can age a cell through
// hundreds of cycles (months of simulated time) in well under a second.
//
// The model, and where its numbers come from:
//  - Charging is CC/CV, as every Li-ion charger does: constant current of 0.5 C (of the design
//    capacity) up to 80 % charge, then constant voltage, the current tapering in proportion to
//    the charge still missing, until it falls to C/20 and the charger stops. From empty that is
//    1.6 h of CC plus about 0.9 h of CV: full in about 2.5 h, the last 20 % taking over a third of
//    it. Charge rates of 0.5-0.7 C with a C/20 cut-off are what cell datasheets specify as
//    "standard charge". The charger starts again when the charge drops below 97 %.
//  - Recording out of the dock draws a constant current of design capacity / 12 h: a new cell
//    records for 12 h from full (a patrol shift); a worn one for proportionally less. In the dock
//    the camera runs from dock power and does not drain the cell. Self-discharge is ignored.
//  - Cycle count is accumulated discharge divided by the full-charge capacity at the time, as a
//    fuel gauge counts it; partial discharges add up.
//  - Capacity fade has the two terms of the semi-empirical models fitted to aged cells (e.g.
//    Schmalstieg et al., "A holistic aging model for Li(NiMnCo)O2 based 18650 lithium-ion
//    batteries", J. Power Sources 257 (2014) 325-334): a calendar term growing as t^0.75 and a
//    cycle term growing as the square root of charge throughput, each sped up by temperature
//    following Arrhenius. Our constants are chosen, not fitted: the calendar term loses 3 % in a
//    year at 25 C (activation energy 50 kJ/mol: about twice as fast at 35 C, 3.5x at 45 C); the
//    cycle term loses 0.85 % x sqrt(cycles) at up to 25 C (19 % after 500 cycles; activation
//    energy 35 kJ/mol above 25 C, 1.6x at 35 C, 2.4x at 45 C; no slowing below 25 C, since cold
//    charging wears a cell by plating instead, which this model leaves out). Together, for a
//    camera cycled daily (13 h out, 11 h docked) at 22 C: 90 % after 100 cycles, 80 % after
//    about 370, 76 % after 500; 80 % is the end-of-life point cell datasheets rate their cycle
//    life to (IEC 61960 style tests: 300-500 cycles to 80 %). At 40 C: 77 % after 200 cycles,
//    61 % after 500.
//  - Temperature relaxes (time constant 20 min) towards ambient plus the heat of use: up to
//    +10 C while charging at full CC current (less as the CV current tapers), +4 C while
//    recording.
//  - Voltage is the open-circuit voltage of a typical NMC cell at that charge (3.0 V empty,
//    ~3.7 V at 40 %, 4.18 V full), plus (charging) or minus (recording) the drop across an
//    internal resistance of 60 mOhm that grows as the cell wears; never above the 4.2 V the CV
//    phase holds.

#include <cstdint>

#include "absl/time/time.h"

namespace camfleet::camsim {

struct BatteryParams {
  // A 12 h body-worn camera carries about this much.
  double design_capacity_mah = 3400;
  // Where the camera lives; a dock in a vehicle in summer is 40 C.
  double ambient_celsius = 22;
};

// Everything that changes, so that it can be stored and loaded unchanged.
struct BatteryState {
  // Fraction of the present full-charge capacity, 0..1.
  double state_of_charge = 1.0;
  // Accumulated discharge in units of the full-charge capacity at the time: the cycle count.
  double equivalent_full_cycles = 0;
  // Cycles weighted by the temperature factor of the cycle term (each half cycle, charge and
  // discharge, counts half).
  double cycle_stress = 0;
  // Days weighted by the temperature factor of the calendar term.
  double calendar_stress_days = 0;
  double temperature_celsius = 22;
  // The charger stopped at full; it starts again below 97 %.
  bool charge_complete = true;
};

class BatteryModel {
 public:
  // Longest time one integration step covers.
  static constexpr absl::Duration kMaxStep = absl::Seconds(60);

  explicit BatteryModel(BatteryParams params);
  BatteryModel(BatteryParams params, BatteryState state);

  // Moves the battery `elapsed` ahead, docked (charging or holding full) or out (recording until
  // empty). Non-positive `elapsed` does nothing. Returns how long the camera ran on the cell
  // (out and not empty) within `elapsed`.
  absl::Duration Advance(absl::Duration elapsed, bool docked);

  // The fault "worn battery": sets the wear so that the full-charge capacity is `fraction`
  // (clamped to 0.05..1) of design, as if the cell had done that many cycles at 25 C (the cycle
  // count says so too) and no calendar ageing.
  void SetStateOfHealth(double fraction);

  const BatteryState& state() const { return state_; }
  const BatteryParams& params() const { return params_; }

  // Full-charge capacity / design capacity.
  double StateOfHealth() const;
  double FullChargeCapacityMah() const;
  uint32_t CycleCount() const;
  // True while the charger puts charge in: docked and not yet complete.
  bool Charging(bool docked) const { return docked && !state_.charge_complete; }
  // Terminal voltage, mV, with the camera docked or out.
  double VoltageMv(bool docked) const;
  bool Empty() const { return state_.state_of_charge <= 0; }

 private:
  void Step(double dt_hours, bool docked);
  // Current into (positive) or out of (negative) the cell in the present state, mA.
  double CurrentMa(bool docked) const;

  BatteryParams params_;
  BatteryState state_;
};

}  // namespace camfleet::camsim
