#include "common/work_pool.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

namespace camfleet::common {

WorkPool::WorkPool(int threads, const std::string& name) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Loop(); });
    // Linux refuses names over 15 characters; cut rather than leave the thread unnamed.
    if (!name.empty()) {
      pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
    }
  }
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WorkPool::Schedule(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

size_t WorkPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void WorkPool::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkPool* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stopping_ || !p->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping, and everything queued has run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace camfleet::common
