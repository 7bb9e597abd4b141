#pragma once
// The rules of staged rollouts (README.md here), as functions over the store's transaction or
// a read snapshot, so that the RolloutService, the dock sync stream (progress from the custody
// lane) and firmware withdrawal apply them inside their own transactions, with their own audit
// events. No SQL here: storage/rollout_repository.h holds it.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/rollout.pb.h"
#include "common/sqlite.h"
#include "services/storage/rollout_repository.h"
#include "services/storage/store.h"

namespace camfleet::rollout {

// The actor of transitions nobody asked for (silence, late joiners) when no dock caused them.
inline constexpr char kSystemActor[] = "camfleetd";

// "7" -> 7. INVALID_ARGUMENT naming `field` for anything but a positive decimal number.
absl::StatusOr<int64_t> ParseRolloutId(absl::string_view field, absl::string_view id);

v1::RolloutState RolloutStateFromName(const std::string& name);
std::string RolloutStateName(v1::RolloutState state);  // "RUNNING"
v1::RolloutUnitState UnitStateFromName(const std::string& name);
std::string UnitStateName(v1::RolloutUnitState state);  // "PENDING"
bool UnitTerminal(const std::string& state);            // SUCCEEDED, FAILED, ROLLED_BACK

// Wave k (1-based, canary first if any) of `n` cameras in serial order: the wave of the
// camera at `index`. Percentages are cumulative: wave k ends at ceil(n * p_k / 100).
int64_t WaveOfIndex(const std::vector<uint32_t>& percents, int64_t n, int64_t index);

// The cameras `target` selects among those the release (of `release_models`) is for, in serial
// order. Sites include their subtrees. Serials are matched as given (checked by the caller).
absl::StatusOr<std::vector<storage::RolloutCandidate>> MatchTarget(
    common::Database& db, const std::vector<std::string>& release_models,
    const std::vector<storage::RolloutTargetRow>& target);

// Applies what is due for rollout `id` at tx.now(): late-matching cameras join the last wave,
// silent cameras fail, finished waves open the next one (or wait, or complete the rollout),
// failures over the threshold pause it. Each change is audited as `actor`.
absl::Status Advance(storage::WriteTx& tx, int64_t id, const std::string& actor);
// Advance for every active rollout.
absl::Status AdvanceAll(storage::WriteTx& tx, const std::string& actor);
// Whether Advance would change anything by time or by new cameras alone (silence, late
// joiners) at `now`. Reads only: a precheck before queuing AdvanceAll.
absl::StatusOr<bool> AnythingDue(common::Database& db, absl::Time now);

// INVALID_ARGUMENT naming the field ("firmware.attempt is 0; ...").
absl::Status ValidateProgress(const v1::FirmwareProgress& p);
// Applies a dock's FirmwareProgress for a camera of `site_id`. Rejections: NOT_FOUND for an
// unknown rollout, camera, or a camera the rollout does not target; PERMISSION_DENIED for a
// camera of another site. Progress for another attempt or release, for an aborted rollout, or
// for a camera already finished, is audited ("rollout.progress.ignore") and changes nothing.
absl::Status ApplyProgress(storage::WriteTx& tx, const std::string& actor, int64_t site_id,
                           const v1::FirmwareProgress& p);

// Aborts every unfinished rollout of the release (row id) because it was withdrawn; audited.
absl::Status StopRolloutsOfRelease(storage::WriteTx& tx, int64_t release_row,
                                   const std::string& actor, const std::string& reason);

// The firmware plan for the docks of `site_id`: a job per camera of the site in an open wave of
// a RUNNING or AWAITING_NEXT_WAVE rollout that is not finished, the releases they name, and
// the withdrawn releases of the site's rollouts. `unsent` gets the jobs not yet marked sent.
absl::StatusOr<v1::FirmwarePlan> BuildPlan(common::Database& db, int64_t site_id, absl::Time now,
                                           std::vector<storage::PlannedUnit>* unsent);

// The rollout as the API shows it, with progress per wave and per site, and per camera if
// `include_units`. NOT_FOUND naming the id.
absl::StatusOr<v1::Rollout> LoadRollout(common::Database& db, int64_t id, bool include_units);
// `row` as the API shows it with counts only.
absl::StatusOr<v1::Rollout> SummarizeRollout(common::Database& db, const storage::RolloutRow& row);

// "wave 2: 3 of 10 failed (threshold 20%)".
std::string ThresholdText(const storage::RolloutRow& r, int64_t wave, int64_t failed,
                          int64_t size);

}  // namespace camfleet::rollout
