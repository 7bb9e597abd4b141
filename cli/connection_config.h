#pragma once
// Where the CLI connects and as whom, from flags, environment and a config file.
//
// Precedence, highest first: command-line flag, environment variable, config file, built-in
// default. (CLI11's own config handling lets the file beat the environment; a CAMFLEET_SERVER
// exported for one shell must win over the file, so the layers are merged here instead.)
//
//   flag            env                   config key   default
//   --server        CAMFLEET_SERVER       server       127.0.0.1:7443
//   --credentials   CAMFLEET_CREDENTIALS  credentials  none: give it or --insecure
//   --insecure      CAMFLEET_INSECURE=1                off
//   --server-name   CAMFLEET_SERVER_NAME  server_name  the host in --server
//   --operator      CAMFLEET_OPERATOR     operator     $USER (or $LOGNAME); sent only with
//                                                      --insecure
//   --timeout       CAMFLEET_TIMEOUT      timeout      30 (seconds)
//   --config        CAMFLEET_CONFIG                    ~/.config/camfleet/config.toml if it exists
//
// --credentials and --insecure pick the transport; the highest layer naming either decides, so
// `--insecure` on the command line beats `credentials` in the config file. `insecure` has no
// config key on purpose: plaintext is for a development server, chosen per shell or command.
// A credentials directory starting with "~/" is taken relative to $HOME.

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
  std::optional<std::string> credentials_dir;
  bool insecure = false;  // --insecure given
  std::optional<std::string> server_name;
  std::optional<std::string> operator_name;
  std::optional<std::string> timeout_seconds;
  std::optional<std::string> config_path;
};

// Reads a TOML/INI config file of top-level `key = value` lines (server, credentials,
// server_name, operator, timeout).
// Errors: NOT_FOUND if the file cannot be read; INVALID_ARGUMENT for a syntax error, a section
// or an unknown key (naming the known ones).
absl::StatusOr<std::map<std::string, std::string>> ReadConfigFile(const std::string& path);

// Merges the layers described above and checks the result. A config file named by --config or
// CAMFLEET_CONFIG must exist; the default one is used only if it does.
// The credentials are not read here (MakeChannel and whoami do that), and the transport may be
// left kUnset: commands that need no server still run.
// Errors: INVALID_ARGUMENT for a bad timeout, an empty server, server name or credentials
// directory, --credentials and --insecure both on the command line (or both in the
// environment), a CAMFLEET_INSECURE other than 1/0/true/false/yes/no, or, with --insecure, an
// operator name gRPC cannot carry (1-64 printable ASCII characters); ReadConfigFile's errors.
absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionFlags& flags,
                                                    const GetEnv& getenv);

}  // namespace camfleet::cli
