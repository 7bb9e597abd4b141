#include "common/config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace camfleet::common {

absl::StatusOr<ConfigValues> ParseConfig(absl::string_view text) {
  ConfigValues values;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("config line ", line_no, ": expected 'key = value'"));
    }
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("config line ", line_no, ": empty key"));
    }
    if (!values.emplace(key, value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("config line ", line_no, ": key '", key, "' is given twice"));
    }
  }
  return values;
}

absl::StatusOr<ConfigValues> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, " cannot be read"));
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<ConfigValues> values = ParseConfig(buf.str());
  if (!values.ok()) {
    return absl::Status(values.status().code(),
                        absl::StrCat(path, ": ", values.status().message()));
  }
  return values;
}

}  // namespace camfleet::common
