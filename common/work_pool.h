#pragma once
// A fixed set of threads for slow, CPU-bound work (signing certificates) that must not run on
// gRPC's callback threads: gRPC 1.51 gives its callback API one thread per CPU, and a handler
// that holds one for a millisecond of signing stalls every other call's I/O behind it.
//
// Tasks start in the order scheduled (with one thread, they also finish in that order). The
// queue is unbounded: callers bound what they schedule (queued()). The destructor runs what is
// queued, then joins.

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace camfleet::common {

class WorkPool {
 public:
  // `threads` <= 0 means one per CPU. The threads are called `name` (at most 15 characters:
  // what `top -H`, perf and /proc/PID/task/TID/comm show); empty keeps the process's name.
  explicit WorkPool(int threads, const std::string& name = "");
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void Schedule(absl::AnyInvocable<void() &&> task);
  // Tasks waiting for a thread now (for a caller's own bound on the work it queues).
  size_t queued() const;
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace camfleet::common
