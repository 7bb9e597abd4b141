#include "bench/camera_csrs.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "common/status_macros.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"

namespace camfleet::bench {

namespace {

// The key is dropped unencoded: the camera keeps it, the benchmark never needs it.
absl::StatusOr<std::string> MakeCsr(const std::string& serial) {
  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, serial));
  return csr.ToPem();
}

}  // namespace

std::string EnrollSerial(int i) { return absl::StrFormat("EN%07d", i); }

absl::StatusOr<std::vector<CameraCsr>> MakeCameraCsrs(int count, int threads) {
  std::vector<CameraCsr> out(static_cast<size_t>(count));
  std::atomic<int> next{0};
  std::atomic<int> made{0};
  absl::Mutex mu;
  absl::Status first_error;
  int finished = 0;
  auto work = [&] {
    while (true) {
      const int i = next.fetch_add(1);
      if (i >= count) break;
      absl::StatusOr<std::string> csr = MakeCsr(EnrollSerial(i + 1));
      if (!csr.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = csr.status();
        next.store(count);  // stop every worker
        break;
      }
      out[static_cast<size_t>(i)] = CameraCsr{EnrollSerial(i + 1), *std::move(csr)};
      made.fetch_add(1, std::memory_order_relaxed);
    }
    absl::MutexLock lock(&mu);
    ++finished;
  };
  const int64_t start = MonotonicNanos();
  std::vector<std::thread> workers;
  for (int t = 0; t < std::max(threads, 1); ++t) workers.emplace_back(work);
  {
    absl::MutexLock lock(&mu);
    auto all_done = [&] { return finished == static_cast<int>(workers.size()); };
    // Progress once a second while the keys are made; nothing is being synchronised by time.
    while (!mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(1))) {
      std::cout << absl::StrFormat("    %d / %d keys and CSRs (%.0f s)\n", made.load(), count,
                                   SecondsSince(start))
                << std::flush;
    }
  }
  for (std::thread& w : workers) w.join();
  if (!first_error.ok()) return first_error;
  return out;
}

}  // namespace camfleet::bench
