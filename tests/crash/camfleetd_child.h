#pragma once
// camfleetd as a real child process for the crash tests: `camfleetd serve --insecure-dev` on a
// loopback port it picks itself, on a database file that outlives it, so a test can kill it
// with SIGKILL and start it again on the same file.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/process.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {

class CamfleetdChild {
 public:
  // Starts `binary` serving `db` (created if missing), its log in `dir` as camfleetd-RUN.log,
  // and waits up to `timeout` for it to report its port. Calls without the operator header act
  // as `dev_operator`. Errors: UNAVAILABLE with the log's tail if it did not come up.
  static absl::StatusOr<std::unique_ptr<CamfleetdChild>> Start(
      const std::string& binary, const TempDir& dir, const std::string& db, int run,
      absl::Duration timeout = absl::Seconds(60), const std::string& dev_operator = "crash-test");

  ChildProcess& process() { return *process_; }
  // host:port to dial.
  const std::string& target() const { return target_; }

 private:
  CamfleetdChild() = default;
  std::unique_ptr<ChildProcess> process_;
  std::string target_;
};

}  // namespace camfleet::testing
