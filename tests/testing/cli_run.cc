#include "tests/testing/cli_run.h"

#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/app.h"

namespace camfleet::testing {

CliResult RunCli(const std::vector<std::string>& argv, const common::Clock& clock) {
  std::ostringstream out, err;
  cli::Environment env{.out = &out,
                       .err = &err,
                       .getenv = [](absl::string_view) { return std::optional<std::string>(); },
                       .clock = &clock};
  const int code = cli::RunCamfleet(argv, env);
  return {code, out.str(), err.str()};
}

std::vector<std::string> DevCliArgs(const std::string& target, const std::string& op,
                                    int timeout_seconds, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "camfleet",   "--server", target,      "--insecure",
      "--operator", op,         "--timeout", absl::StrCat(timeout_seconds)};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> TlsCliArgs(const std::string& target, const std::string& credentials_dir,
                                    int timeout_seconds, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"camfleet",
                                   "--server",
                                   target,
                                   "--credentials",
                                   credentials_dir,
                                   "--timeout",
                                   absl::StrCat(timeout_seconds)};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace camfleet::testing
