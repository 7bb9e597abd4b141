#include "services/monitoring/health_retention.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "services/storage/dock_sync_repository.h"

namespace camfleet::monitoring {

absl::StatusOr<int64_t> HealthRetention::RunOnce(absl::Time now) {
  // Whole hours only, so that an hour is never thinned while part of it is still raw.
  constexpr int64_t kHourUs = int64_t{3600} * 1000 * 1000;
  int64_t cutoff_us = common::ToMicros(now - options_.raw_for);
  cutoff_us -= ((cutoff_us % kHourUs) + kHourUs) % kHourUs;
  int64_t total = 0;
  while (true) {
    int64_t deleted = 0;
    RETURN_IF_ERROR(store_.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(deleted, storage::ThinHealthReadings(tx, cutoff_us, options_.batch));
      return absl::OkStatus();
    }));
    total += deleted;
    if (deleted < options_.batch) return total;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return total;
    }
  }
}

void HealthRetention::Start() {
  if (options_.interval <= absl::ZeroDuration() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    // The first run waits a while after start: a control plane just (re)started is busy with
    // docks reconnecting and draining, and thinning can wait for a quieter moment.
    const absl::Duration first_delay = std::min(options_.interval, absl::Minutes(10));
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + first_delay;
      while (!stop_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
      if (stop_) return;
    }
    while (true) {
      absl::StatusOr<int64_t> thinned = RunOnce(store_.clock().Now());
      if (!thinned.ok()) {
        common::LogWarning("health retention: ", thinned.status().ToString());
      } else if (*thinned > 0) {
        common::LogInfo("health retention: thinned ", *thinned, " old health readings");
      }
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + options_.interval;
      while (!stop_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
      if (stop_) return;
    }
  });
}

void HealthRetention::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace camfleet::monitoring
