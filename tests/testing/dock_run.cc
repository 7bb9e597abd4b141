#include "tests/testing/dock_run.h"

#include <sstream>
#include <utility>

#include "agent/dock_cli.h"

namespace camfleet::testing {

CliResult RunDockCli(std::vector<std::string> args, const common::Clock& clock,
                     const DockRunOptions& options) {
  args.insert(args.begin(), "camfleet-dock");
  std::ostringstream out, err;
  agent::DockEnvironment env{.out = &out,
                             .err = &err,
                             .clock = &clock,
                             .stop = options.stop,
                             .retry_sleep = options.retry_sleep};
  const int code = agent::RunDock(args, env);
  return {code, out.str(), err.str()};
}

}  // namespace camfleet::testing
