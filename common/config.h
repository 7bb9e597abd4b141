#pragma once
// A config file of `key = value` lines; '#' starts a comment. Used by camfleetd and the CLI,
// so settings can come from a file as well as flags and the environment.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::common {

using ConfigValues = std::map<std::string, std::string>;

// Parses config text. Errors: INVALID_ARGUMENT naming the line of a line without '=' or with an
// empty key, or a key given twice.
absl::StatusOr<ConfigValues> ParseConfig(absl::string_view text);

// Reads and parses the file at `path`. Errors: NOT_FOUND if it does not exist; as ParseConfig.
absl::StatusOr<ConfigValues> LoadConfigFile(const std::string& path);

}  // namespace camfleet::common
