#pragma once
// Runs the openssl command-line tool, an implementation independent of our code paths, to check
// what provisioning/ writes.

#include <string>
#include <vector>

namespace camfleet::provisioning_test {

inline constexpr char kOpenSslBinary[] = "/usr/bin/openssl";

struct CommandResult {
  int exit_code = -1;  // -1 if it did not run or did not exit normally.
  std::string output;  // stdout and stderr together.
};

// Runs `openssl <args...>` without a shell (arguments are passed as they are) and waits for it.
CommandResult RunOpenSsl(const std::vector<std::string>& args);

}  // namespace camfleet::provisioning_test
