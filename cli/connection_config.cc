#include "cli/connection_config.h"

#include <cstdlib>
#include <fstream>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace camfleet::cli {
namespace {

const std::vector<std::string>& KnownKeys() {
  static const std::vector<std::string> keys = {"server", "credentials", "server_name", "operator",
                                                "timeout"};
  return keys;
}

// First of the given layers that has a value.
std::optional<std::string> FirstOf(std::initializer_list<std::optional<std::string>> layers) {
  for (const auto& layer : layers) {
    if (layer.has_value()) return layer;
  }
  return std::nullopt;
}

std::optional<std::string> Lookup(const std::map<std::string, std::string>& values,
                                  const std::string& key) {
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

absl::Status CheckOperatorName(const std::string& name) {
  if (name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("operator name is ", name.size(), " characters; at most 64 are allowed"));
  }
  for (char c : name) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "operator name must be printable ASCII (it travels as a gRPC metadata header)");
    }
  }
  return absl::OkStatus();
}

// CAMFLEET_INSECURE: unset or empty is off.
absl::StatusOr<bool> ParseInsecureVariable(const std::optional<std::string>& value) {
  if (!value.has_value() || value->empty()) return false;
  const std::string lower = absl::AsciiStrToLower(*value);
  if (lower == "1" || lower == "true" || lower == "yes") return true;
  if (lower == "0" || lower == "false" || lower == "no") return false;
  return absl::InvalidArgumentError(absl::StrCat("CAMFLEET_INSECURE is '", *value,
                                                 "'; set it to 1 (plaintext) or 0, or unset it"));
}

// "~/x" under $HOME: a config file cannot rely on the shell to expand it.
std::string ExpandHome(const std::string& path, const GetEnv& getenv) {
  if (!absl::StartsWith(path, "~/")) return path;
  std::optional<std::string> home = getenv("HOME");
  if (!home.has_value() || home->empty()) return path;
  return absl::StrCat(*home, path.substr(1));
}

// Picks the transport from the highest layer that names one.
absl::Status ResolveTransport(const ConnectionFlags& flags, const GetEnv& getenv,
                              const std::map<std::string, std::string>& config,
                              ConnectionOptions& options) {
  std::optional<std::string> env_credentials = getenv("CAMFLEET_CREDENTIALS");
  if (env_credentials.has_value() && env_credentials->empty()) env_credentials.reset();
  ASSIGN_OR_RETURN(bool env_insecure, ParseInsecureVariable(getenv("CAMFLEET_INSECURE")));
  std::optional<std::string> config_credentials = Lookup(config, "credentials");

  if (std::optional<std::string> dir =
          FirstOf({flags.credentials_dir, env_credentials, config_credentials})) {
    if (dir->empty()) {
      return absl::InvalidArgumentError(
          "the credentials directory is empty; give --credentials DIR");
    }
    options.credentials_dir = ExpandHome(*dir, getenv);
  }
  if (flags.credentials_dir.has_value() || flags.insecure) {
    if (flags.credentials_dir.has_value() && flags.insecure) {
      return absl::InvalidArgumentError(
          "--credentials and --insecure exclude each other: TLS with your credentials, or "
          "plaintext to a development server");
    }
    options.transport = flags.insecure ? Transport::kInsecure : Transport::kTls;
  } else if (env_credentials.has_value() || env_insecure) {
    if (env_credentials.has_value() && env_insecure) {
      return absl::InvalidArgumentError(
          "CAMFLEET_CREDENTIALS and CAMFLEET_INSECURE=1 exclude each other; unset one");
    }
    options.transport = env_insecure ? Transport::kInsecure : Transport::kTls;
  } else if (config_credentials.has_value()) {
    options.transport = Transport::kTls;
  }

  if (std::optional<std::string> name = FirstOf(
          {flags.server_name, getenv("CAMFLEET_SERVER_NAME"), Lookup(config, "server_name")})) {
    if (name->empty()) {
      return absl::InvalidArgumentError(
          "the server name is empty; give --server-name HOST as the server's certificate "
          "names it, or leave it out");
    }
    options.server_name = *name;
  }
  return absl::OkStatus();
}

}  // namespace

GetEnv ProcessEnvironment() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const std::string variable(name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<std::map<std::string, std::string>> ReadConfigFile(const std::string& path) {
  std::ifstream input(path);
  if (!input.good()) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  }
  std::vector<CLI::ConfigItem> items;
  // CLI11 reports syntax errors by throwing; they stop here.
  try {
    items = CLI::ConfigTOML().from_config(input);
  } catch (const CLI::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", e.what()));
  }
  std::map<std::string, std::string> values;
  for (const CLI::ConfigItem& item : items) {
    // CLI11 emits a marker item for every [section] header; its entries carry it as a parent.
    if (item.name == "++" || item.name == "--") continue;
    if (!item.parents.empty() ||
        std::find(KnownKeys().begin(), KnownKeys().end(), item.name) == KnownKeys().end()) {
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": unknown key '",
                                                     item.fullname(), "'; the known keys are ",
                                                     absl::StrJoin(KnownKeys(), ", ")));
    }
    if (item.inputs.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path, ": key '", item.name, "' needs exactly one value"));
    }
    values[item.name] = item.inputs.front();
  }
  return values;
}

absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionFlags& flags,
                                                    const GetEnv& getenv) {
  std::map<std::string, std::string> config;
  if (std::optional<std::string> path = FirstOf({flags.config_path, getenv("CAMFLEET_CONFIG")})) {
    ASSIGN_OR_RETURN(config, ReadConfigFile(*path));
  } else if (std::optional<std::string> home = getenv("HOME"); home && !home->empty()) {
    std::string default_path = absl::StrCat(*home, "/.config/camfleet/config.toml");
    if (std::ifstream(default_path).good()) {
      ASSIGN_OR_RETURN(config, ReadConfigFile(default_path));
    }
  }

  ConnectionOptions options;
  if (std::optional<std::string> server =
          FirstOf({flags.server, getenv("CAMFLEET_SERVER"), Lookup(config, "server")})) {
    options.server = *server;
  }
  if (options.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the server address is empty; give --server like ", kDefaultServer));
  }

  RETURN_IF_ERROR(ResolveTransport(flags, getenv, config, options));

  options.operator_name = FirstOf({flags.operator_name, getenv("CAMFLEET_OPERATOR"),
                                   Lookup(config, "operator"), getenv("USER"), getenv("LOGNAME")})
                              .value_or("");
  // Only a plaintext call carries the name; with TLS an odd $USER must not stop anyone.
  if (options.transport == Transport::kInsecure) {
    RETURN_IF_ERROR(CheckOperatorName(options.operator_name));
  }

  if (std::optional<std::string> timeout =
          FirstOf({flags.timeout_seconds, getenv("CAMFLEET_TIMEOUT"), Lookup(config, "timeout")})) {
    double seconds = 0;
    if (!absl::SimpleAtod(*timeout, &seconds) || !(seconds > 0) || seconds > 86400) {
      return absl::InvalidArgumentError(absl::StrCat(
          "timeout '", *timeout, "' must be a number of seconds above 0 and at most 86400"));
    }
    options.timeout = absl::Seconds(seconds);
  }
  return options;
}

}  // namespace camfleet::cli
