#pragma once
// A closed-loop load generator: N clients, each with exactly one call in flight, each starting
// its next call as soon as the previous one ends. Throughput and latency come only from calls
// that end inside the measured window, which opens after a warm-up, so connection setup and
// ramp-up are not counted and every client is busy for the whole window.

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace camfleet::bench {

// Nanoseconds on a monotonic clock.
int64_t MonotonicNanos();
// Seconds since `start_ns` (a MonotonicNanos() reading).
double SecondsSince(int64_t start_ns);

// One client's calls. Start is called only when the client has no call in flight and must
// lead to exactly one call of `done`, from any thread. `done` starts the client's next call on
// the thread it runs on, so a caller whose completion runs where starting a call is not allowed
// (the store's writer thread) hops to another thread before calling `done`.
class Caller {
 public:
  virtual ~Caller() = default;
  virtual void Start(std::function<void(absl::Status)> done) = 0;
};

struct LatencySummary {
  int64_t count = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  double mean_ms = 0;
};
// Nearest-rank percentiles of `nanos`.
LatencySummary Summarize(std::vector<int64_t> nanos);

struct LoadOptions {
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(4);
  // How long to wait, after the window, for every client's last call to end.
  absl::Duration drain_timeout = absl::Seconds(60);
};

// Called by the thread that runs the load, as the window opens and as it closes (for snapshots
// of counters that belong to the same window, e.g. the store's commits).
struct WindowHooks {
  absl::AnyInvocable<void()> begin = [] {};
  absl::AnyInvocable<void()> end = [] {};
};

struct LoadResult {
  double window_s = 0;
  int64_t calls = 0;        // calls that ended inside the window
  int64_t errors = 0;       // of those, the ones that failed
  int64_t total_calls = 0;  // including warm-up and drain
  std::string first_error;  // first failure seen at any time, empty if none
  LatencySummary latency;   // of the calls that ended inside the window
  bool drained = true;      // every client stopped before drain_timeout
  double calls_per_s() const { return window_s > 0 ? static_cast<double>(calls) / window_s : 0; }
};

// Runs `callers` (one per client) in a closed loop and blocks until the window has closed and
// every client's last call has ended. If a client never finishes (drained == false) the loop's
// state is leaked on purpose: a late completion must not touch freed memory.
LoadResult RunClosedLoop(const std::vector<Caller*>& callers, const LoadOptions& options,
                         WindowHooks hooks = {});

// One thread that runs posted functions in order. Used by callers whose completion arrives on
// a thread that must not start the next call.
class SerialExecutor {
 public:
  SerialExecutor();
  // Runs everything already posted, then stops.
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  void Post(absl::AnyInvocable<void()> fn);

 private:
  void Loop();

  absl::Mutex mu_;
  std::vector<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace camfleet::bench
