#pragma once
// RolloutService as plain C++ over the store and rollout_engine.h. Writes validate everything
// they can before queuing, re-check inside their transaction, and audit there; a refused call
// changes nothing. A background thread applies what time alone makes due (silent cameras,
// cameras that came to match a target) every `tick_interval`, after a read-only precheck so an
// idle fleet costs no writes.

#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "camfleet/v1/rollout.pb.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/storage/rollout_repository.h"
#include "services/storage/store.h"

namespace camfleet::rollout {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

struct RolloutOptions {
  // How often time-driven changes are looked for; zero: never (tests call Tick).
  absl::Duration tick_interval = absl::Milliseconds(500);
};

class RolloutManager {
 public:
  RolloutManager(storage::Store& store, const rpc::PageTokens& tokens, RolloutOptions options = {});
  ~RolloutManager();
  // Stops the background thread.
  void Shutdown();

  void CreateRollout(const rpc::Identity& who, const v1::CreateRolloutRequest& req,
                     Done<v1::CreateRolloutResponse> done);
  absl::StatusOr<v1::GetRolloutResponse> GetRollout(const v1::GetRolloutRequest& req);
  absl::StatusOr<v1::ListRolloutsResponse> ListRollouts(const v1::ListRolloutsRequest& req);
  void PauseRollout(const rpc::Identity& who, const v1::PauseRolloutRequest& req,
                    Done<v1::PauseRolloutResponse> done);
  void ResumeRollout(const rpc::Identity& who, const v1::ResumeRolloutRequest& req,
                     Done<v1::ResumeRolloutResponse> done);
  void NextWave(const rpc::Identity& who, const v1::NextWaveRequest& req,
                Done<v1::NextWaveResponse> done);
  void AbortRollout(const rpc::Identity& who, const v1::AbortRolloutRequest& req,
                    Done<v1::AbortRolloutResponse> done);
  void RetryFailed(const rpc::Identity& who, const v1::RetryFailedRequest& req,
                   Done<v1::RetryFailedResponse> done);

  // One look for time-driven changes; writes only if something is due.
  absl::Status Tick();

  // Progress of the rollouts not finished (RUNNING, PAUSED, AWAITING_NEXT_WAVE), for
  // /metrics (camfleet_rollout_cameras): for every wave of such a rollout that has cameras,
  // one count per unit state (PENDING .. ROLLED_BACK), 0 where none, so a state that empties
  // reads 0 instead of vanishing. One GROUP BY on a reader connection, never the writer; a
  // finished rollout's series end with it (its final counts: GetRollout).
  absl::StatusOr<std::vector<storage::RolloutWaveStateCount>> Progress();

 private:
  void TickLoop();

  storage::Store& store_;
  const rpc::PageTokens& tokens_;
  const RolloutOptions options_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

// The checks of a CreateRolloutRequest that need no store: INVALID_ARGUMENT naming the field,
// FAILED_PRECONDITION for waves that do not end at 100.
absl::Status ValidateCreate(const v1::CreateRolloutRequest& req);

}  // namespace camfleet::rollout
