#pragma once
// How long raw health readings are kept (services/dock/README.md, "Health retention"): every
// reading for `raw_for` (30 days) after its device time; older ones are thinned to the first
// and last reading per camera and hour of device time (plus the one the camera's latest
// snapshot points at), which keeps the shape of the battery's day and its trend over the
// unit's life at 48 rows a day instead of 288. Thinning runs as a periodic job on the store's
// writer in bounded batches (`batch` rows per transaction, never one giant transaction), so
// docks' batches interleave with it.

#include <cstdint>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/storage/store.h"

namespace camfleet::monitoring {

struct HealthRetentionOptions {
  // Raw readings are kept this long after their device time.
  absl::Duration raw_for = absl::Hours(24 * 30);
  // Most rows deleted per write transaction.
  int batch = 1000;
  // How often the job runs (real time); zero: never on its own (RunOnce only).
  absl::Duration interval = absl::Hours(1);
};

class HealthRetention {
 public:
  HealthRetention(storage::Store& store, HealthRetentionOptions options = {})
      : store_(store), options_(options) {}
  ~HealthRetention() { Stop(); }
  HealthRetention(const HealthRetention&) = delete;
  HealthRetention& operator=(const HealthRetention&) = delete;

  // One run as of `now` (the store's clock in the periodic job): thins readings whose device
  // time is before the start of the hour `raw_for` before `now`, batch by batch. Returns how
  // many readings were deleted.
  absl::StatusOr<int64_t> RunOnce(absl::Time now);

  // Runs RunOnce every `interval` on a thread of its own until Stop.
  void Start();
  void Stop();

 private:
  storage::Store& store_;
  const HealthRetentionOptions options_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace camfleet::monitoring
