#pragma once
// A child process for tests that need a real binary they can kill: started with fork/exec,
// its output sent to a log file, killed with SIGKILL and reaped when the test is done with it.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace camfleet::testing {

class ChildProcess {
 public:
  // Runs `argv[0]` (a path, not looked up on PATH) with `argv`, stdout and stderr appended to
  // `log_path`. The child gets SIGKILL if the thread that spawned it dies, so a crashed test
  // leaves no server behind. Errors: INVALID_ARGUMENT for an empty argv; INTERNAL if fork fails.
  // A binary that cannot be executed shows up as an exit with status 127.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const std::string& log_path);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `signal`. Safe from any thread while the child has not been reaped.
  // Errors: FAILED_PRECONDITION once the child has been reaped; INTERNAL if kill(2) fails.
  absl::Status Signal(int signal);
  // Waits up to `timeout` for the child to exit and reaps it; returns the raw wait status
  // (use WIFEXITED and friends). Errors: DEADLINE_EXCEEDED if it is still running.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGKILL and reap. Returns the wait status.
  absl::StatusOr<int> Kill(absl::Duration timeout = absl::Seconds(30));
  // True while the child has not exited (reaps it if it has).
  bool Running();

  // The last `max_bytes` of the log, for failure messages.
  std::string LogTail(size_t max_bytes = 4096) const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  std::string log_path_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// Polls until `path` exists and holds a complete line, then returns its contents without the
// trailing newline. With `writer`, gives up as soon as that process has exited.
// Errors: DEADLINE_EXCEEDED naming the path; UNAVAILABLE if `writer` exited first.
absl::StatusOr<std::string> WaitForFileLine(const std::string& path, absl::Duration timeout,
                                            ChildProcess* writer = nullptr);

}  // namespace camfleet::testing
