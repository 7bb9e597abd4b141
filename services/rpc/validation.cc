#include "services/rpc/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::rpc {
namespace {

std::string Describe(char c) {
  if (c == ' ') return "a space";
  if (absl::ascii_isprint(static_cast<unsigned char>(c))) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrFormat("byte 0x%02x", static_cast<unsigned char>(c));
}

// Checks length and that every character is an upper-case letter, a digit or in `extra`.
absl::Status ValidateKey(absl::string_view field, absl::string_view what, absl::string_view value,
                         size_t min, size_t max, absl::string_view extra) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  if (value.size() < min || value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " '", value.substr(0, 64), "' has ",
                                                   value.size(), " characters; a ", what,
                                                   " has ", min, " to ", max));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) ||
        absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
        extra.find(c) != absl::string_view::npos) {
      continue;
    }
    std::string hint = absl::ascii_islower(static_cast<unsigned char>(c))
                           ? "; write letters in upper case"
                           : "";
    return absl::InvalidArgumentError(absl::StrCat(
        field, " '", value, "' has ", Describe(c), " at position ", i + 1, "; a ", what,
        " may hold only A-Z, 0-9", extra.empty() ? "" : absl::StrCat(" and '", extra, "'"),
        hint));
  }
  return absl::OkStatus();
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

absl::Status ValidateSerial(absl::string_view field, absl::string_view serial) {
  if (absl::Status s = ValidateKey(field, "serial", serial, 4, 32, "-"); !s.ok()) return s;
  if (serial.front() == '-' || serial.back() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " '", serial, "' starts or ends with '-'; remove it"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSiteCode(absl::string_view field, absl::string_view code) {
  return ValidateKey(field, "site code", code, 1, 32, "-_");
}

absl::Status ValidateBadge(absl::string_view field, absl::string_view badge) {
  return ValidateKey(field, "badge number", badge, 1, 32, "-");
}

absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t min,
                          size_t max) {
  if (text.size() < min) {
    return absl::InvalidArgumentError(
        min == 1 ? absl::StrCat(field, " is required")
                 : absl::StrCat(field, " needs at least ", min, " characters"));
  }
  if (text.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", text.size(), " bytes; at most ", max, " are allowed"));
  }
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8"));
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " holds a control character (", Describe(c), "); remove it"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ResolvePageSize(int32_t page_size) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size is ", page_size, "; give 0 for the default or 1 to 1000"));
  }
  if (page_size == 0) return 100;
  return page_size > 1000 ? 1000 : static_cast<int>(page_size);
}

absl::StatusOr<int64_t> TimestampMicros(absl::string_view field, bool has,
                                        const google::protobuf::Timestamp& ts) {
  using google::protobuf::util::TimeUtil;
  if (!has) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (ts.seconds() < TimeUtil::kTimestampMinSeconds ||
      ts.seconds() > TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is out of range; give a time between years 0001 and 9999"));
  }
  return TimeUtil::TimestampToMicroseconds(ts);
}

}  // namespace camfleet::rpc
