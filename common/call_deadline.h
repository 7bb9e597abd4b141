#pragma once
// The deadline of the RPC being handled on this thread, for code below the handler that queues
// work on the caller's behalf (the store's writer drops a write whose caller gave up before it
// was started, so that the caller's retry does not do the work twice). The gRPC edge sets it
// around the synchronous part of a handler (rpc::HandleWrite); everywhere else it is infinite.

#include "absl/time/time.h"

namespace camfleet::common {

namespace internal {
inline thread_local absl::Time call_deadline = absl::InfiniteFuture();
}  // namespace internal

// The deadline set by the innermost ScopedCallDeadline on this thread, or InfiniteFuture.
inline absl::Time CurrentCallDeadline() { return internal::call_deadline; }

// Sets the thread's call deadline for its lifetime; restores the previous one after.
class ScopedCallDeadline {
 public:
  explicit ScopedCallDeadline(absl::Time deadline) : previous_(internal::call_deadline) {
    internal::call_deadline = deadline;
  }
  ~ScopedCallDeadline() { internal::call_deadline = previous_; }
  ScopedCallDeadline(const ScopedCallDeadline&) = delete;
  ScopedCallDeadline& operator=(const ScopedCallDeadline&) = delete;

 private:
  absl::Time previous_;
};

}  // namespace camfleet::common
