#pragma once
// The cameras' side of enrollment, done before anything is timed: each camera makes its own
// EC P-256 key and a CSR with its serial as CN. Key generation happens on the camera, not the
// server, so it is in neither the server's rate nor the OpenSSL-alone rate; the keys are thrown
// away here (a real camera keeps its key and never sends it).

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace camfleet::bench {

struct CameraCsr {
  std::string serial;
  std::string csr_pem;
};

// "EN0000001" for 1: the serials the enrollment cameras are registered under.
std::string EnrollSerial(int i);

// Makes cameras 1..count (serials EnrollSerial(i)) on `threads` threads, printing progress to
// stdout every second. Errors: the first OpenSSL failure.
absl::StatusOr<std::vector<CameraCsr>> MakeCameraCsrs(int count, int threads);

// Hands each camera out once, to any number of callers at once.
class CameraPool {
 public:
  explicit CameraPool(const std::vector<CameraCsr>& cameras) : cameras_(cameras) {}
  // The next camera not handed out yet, or null when all have been.
  const CameraCsr* Take() {
    const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    return i < cameras_.size() ? &cameras_[i] : nullptr;
  }
  size_t taken() const { return std::min(next_.load(std::memory_order_relaxed), cameras_.size()); }
  size_t left() const { return cameras_.size() - taken(); }
  size_t size() const { return cameras_.size(); }

 private:
  const std::vector<CameraCsr>& cameras_;
  std::atomic<size_t> next_{0};
};

}  // namespace camfleet::bench
