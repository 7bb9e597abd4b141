#pragma once
// Where the CLI connects and as whom, from flags, environment and a config file.
//
// Precedence, highest first: command-line flag, environment variable, config file, built-in
// default. (CLI11's own config handling lets the file beat the environment; a CAMFLEET_SERVER
// exported for one shell must win over the file, so the layers are merged here instead.)
//
//   flag         env                 config key  default
//   --server     CAMFLEET_SERVER     server      127.0.0.1:7443
//   --operator   CAMFLEET_OPERATOR   operator    $USER (or $LOGNAME)
//   --timeout    CAMFLEET_TIMEOUT    timeout     30 (seconds)
//   --config     CAMFLEET_CONFIG                 ~/.config/camfleet/config.toml if it exists

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/client.h"

namespace camfleet::cli {

// Looks up an environment variable; tests pass a map instead of the real environment.
using GetEnv = std::function<std::optional<std::string>(absl::string_view name)>;
// The process environment.
GetEnv ProcessEnvironment();

// What the command line said; nullopt when a flag was not given.
struct ConnectionFlags {
  std::optional<std::string> server;
  std::optional<std::string> operator_name;
  std::optional<std::string> timeout_seconds;
  std::optional<std::string> config_path;
};

// Reads a TOML/INI config file of top-level `key = value` lines (server, operator, timeout).
// Errors: NOT_FOUND if the file cannot be read; INVALID_ARGUMENT for a syntax error, a section
// or an unknown key (naming the known ones).
absl::StatusOr<std::map<std::string, std::string>> ReadConfigFile(const std::string& path);

// Merges the layers described above and checks the result. A config file named by --config or
// CAMFLEET_CONFIG must exist; the default one is used only if it does.
// Errors: INVALID_ARGUMENT for a bad timeout, an operator name gRPC cannot carry (1-64
// printable ASCII characters), or an empty server; ReadConfigFile's errors.
absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionFlags& flags,
                                                    const GetEnv& getenv);

}  // namespace camfleet::cli
