#ifndef CAMFLEET_TESTS_TESTING_DOCK_RUN_H_
#define CAMFLEET_TESTS_TESTING_DOCK_RUN_H_

// Runs the `camfleet-dock` command line in the test's own process, as an installer at a post
// would type it.

#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "tests/testing/cli_result.h"

namespace camfleet::testing {

struct DockRunOptions {
  // `run` without --once stops once this is notified (agent::DockEnvironment::stop).
  absl::Notification* stop = nullptr;
  // How the agent's retries wait: by default not at all, so a test never sleeps through them.
  std::function<void(absl::Duration)> retry_sleep = [](absl::Duration) {};
};

// `camfleet-dock ARGS...` (`args` without the program name), on `clock`.
CliResult RunDockCli(std::vector<std::string> args, const common::Clock& clock,
                     const DockRunOptions& options = {});

}  // namespace camfleet::testing

#endif  // CAMFLEET_TESTS_TESTING_DOCK_RUN_H_
