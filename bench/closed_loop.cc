#include "bench/closed_loop.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/time/clock.h"

namespace camfleet::bench {

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(int64_t start_ns) {
  return static_cast<double>(MonotonicNanos() - start_ns) / 1e9;
}

LatencySummary Summarize(std::vector<int64_t> nanos) {
  LatencySummary out;
  out.count = static_cast<int64_t>(nanos.size());
  if (nanos.empty()) return out;
  std::sort(nanos.begin(), nanos.end());
  auto rank = [&](double p) {
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(nanos.size())));
    k = std::clamp<size_t>(k, 1, nanos.size());
    return static_cast<double>(nanos[k - 1]) / 1e6;
  };
  out.p50_ms = rank(0.50);
  out.p99_ms = rank(0.99);
  out.max_ms = static_cast<double>(nanos.back()) / 1e6;
  long double sum = 0;
  for (int64_t n : nanos) sum += static_cast<long double>(n);
  out.mean_ms = static_cast<double>(sum / static_cast<long double>(nanos.size()) / 1e6L);
  return out;
}

namespace {

// The state of one run. Each client's fields are touched only by its own chain of calls, which
// is sequential; the main thread reads them after every chain has stopped (under mu_).
class Loop {
 public:
  Loop(const std::vector<Caller*>& callers, int64_t window_begin, int64_t window_end)
      : callers_(callers), clients_(callers.size()), begin_(window_begin), end_(window_end) {}

  void StartAll() {
    for (size_t i = 0; i < callers_.size(); ++i) StartNext(i);
  }
  void Stop() { stop_.store(true, std::memory_order_release); }
  bool WaitStopped(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](Loop* l) { return l->stopped_ == l->clients_.size(); }, this),
        timeout);
  }

  LoadResult Collect() {
    absl::MutexLock lock(&mu_);
    LoadResult r;
    std::vector<int64_t> all;
    for (Client& c : clients_) {
      r.total_calls += c.total;
      r.errors += c.errors_in_window;
      if (r.first_error.empty()) r.first_error = c.first_error;
      all.insert(all.end(), c.latencies.begin(), c.latencies.end());
    }
    r.calls = static_cast<int64_t>(all.size());
    r.latency = Summarize(std::move(all));
    r.window_s = static_cast<double>(end_ - begin_) / 1e9;
    return r;
  }

 private:
  struct Client {
    int64_t start_ns = 0;
    int64_t total = 0;
    int64_t errors_in_window = 0;
    std::string first_error;
    std::vector<int64_t> latencies;
  };

  void StartNext(size_t i) {
    clients_[i].start_ns = MonotonicNanos();
    callers_[i]->Start([this, i](absl::Status s) { OnDone(i, std::move(s)); });
  }

  void OnDone(size_t i, absl::Status s) {
    const int64_t now = MonotonicNanos();
    Client& c = clients_[i];
    ++c.total;
    if (now >= begin_ && now <= end_) {
      c.latencies.push_back(now - c.start_ns);
      if (!s.ok()) ++c.errors_in_window;
    }
    if (!s.ok() && c.first_error.empty()) c.first_error = s.ToString();
    if (stop_.load(std::memory_order_acquire)) {
      absl::MutexLock lock(&mu_);
      ++stopped_;
      return;
    }
    StartNext(i);
  }

  const std::vector<Caller*> callers_;
  std::vector<Client> clients_;
  const int64_t begin_;
  const int64_t end_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  size_t stopped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

LoadResult RunClosedLoop(const std::vector<Caller*>& callers, const LoadOptions& options,
                         WindowHooks hooks) {
  const int64_t start = MonotonicNanos();
  const int64_t begin = start + absl::ToInt64Nanoseconds(options.warmup);
  const int64_t end = begin + absl::ToInt64Nanoseconds(options.duration);
  auto loop = std::make_unique<Loop>(callers, begin, end);
  loop->StartAll();
  // Sleeping is right here: the window is a span of wall time, nothing is being synchronised.
  absl::SleepFor(absl::Nanoseconds(begin - MonotonicNanos()));
  hooks.begin();
  absl::SleepFor(absl::Nanoseconds(end - MonotonicNanos()));
  hooks.end();
  loop->Stop();
  const bool drained = loop->WaitStopped(options.drain_timeout);
  LoadResult result = loop->Collect();
  result.drained = drained;
  if (!drained) (void)loop.release();  // a late completion still points at it
  return result;
}

SerialExecutor::SerialExecutor() : thread_([this] { Loop(); }) {
  // Named so per-thread CPU figures can tell it from the rest of the process.
  pthread_setname_np(thread_.native_handle(), "bench-executor");
}

SerialExecutor::~SerialExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void SerialExecutor::Post(absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
}

void SerialExecutor::Loop() {
  std::vector<absl::AnyInvocable<void()>> batch;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](SerialExecutor* e) { return e->stopping_ || !e->queue_.empty(); }, this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      batch.swap(queue_);
    }
    for (auto& fn : batch) fn();
    batch.clear();
  }
}

}  // namespace camfleet::bench
