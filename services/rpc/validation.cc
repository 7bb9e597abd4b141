#include "services/rpc/validation.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::rpc {
namespace {

// A value quoted in a message, whole characters only (it may travel in a protobuf string field).
std::string Quote(absl::string_view value) { return common::QuoteUtf8(value, 64); }

// "N characters" when `value` is UTF-8, else "N bytes".
std::string Length(absl::string_view value) {
  if (std::optional<size_t> chars = common::CountUtf8(value)) {
    return absl::StrCat(*chars, " characters");
  }
  return absl::StrCat(value.size(), " bytes");
}

// Checks length and that every character is an upper-case letter, a digit or in `extra`.
absl::Status ValidateKey(absl::string_view field, absl::string_view what, absl::string_view value,
                         size_t min, size_t max, absl::string_view extra) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  // In characters: a value of few but many-byte characters is refused for its characters below.
  if (const size_t length = common::CountUtf8(value).value_or(value.size());
      length < min || length > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " ", Quote(value), " has ", Length(value),
                                                   "; a ", what, " has ", min, " to ", max));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) ||
        absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
        extra.find(c) != absl::string_view::npos) {
      continue;
    }
    std::string hint =
        absl::ascii_islower(static_cast<unsigned char>(c)) ? "; write letters in upper case" : "";
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Quote(value), " has ", common::DescribeCharAt(value, i),
                     " at position ", i + 1, "; a ", what, " may hold only A-Z, 0-9",
                     extra.empty() ? "" : absl::StrCat(" and '", extra, "'"), hint));
  }
  return absl::OkStatus();
}

// Checks length and that every character is a lower-case letter, a digit or in `extra`.
absl::Status ValidateLowerKey(absl::string_view field, absl::string_view what,
                              absl::string_view value, size_t min, size_t max,
                              absl::string_view extra) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  // In characters: a value of few but many-byte characters is refused for its characters below.
  if (const size_t length = common::CountUtf8(value).value_or(value.size());
      length < min || length > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " ", Quote(value), " has ", Length(value),
                                                   "; a ", what, " has ", min, " to ", max));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
        extra.find(value[i]) != absl::string_view::npos) {
      continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Quote(value), " has ", common::DescribeCharAt(value, i),
                     " at position ", i + 1, "; a ", what, " may hold only a-z, 0-9 and '", extra,
                     "'", absl::ascii_isupper(c) ? "; write letters in lower case" : ""));
  }
  return absl::OkStatus();
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

absl::Status ValidateText(absl::string_view field, absl::string_view text, size_t min, size_t max) {
  // Bytes first, so a huge value is refused before it is scanned.
  if (text.size() > 4 * max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " has ", text.size(), " bytes; at most ",
                                                   max, " characters are allowed"));
  }
  const std::optional<size_t> counted = common::CountUtf8(text);
  if (!counted.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8 (byte ",
                                                   *common::FirstInvalidUtf8(text) + 1,
                                                   "); give it as UTF-8 text"));
  }
  const size_t chars = *counted;
  if (chars < min) {
    return absl::InvalidArgumentError(
        min == 1 ? absl::StrCat(field, " is required")
                 : absl::StrCat(field, " needs at least ", min, " characters"));
  }
  if (chars > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", chars, " characters; at most ", max, " are allowed"));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " holds a control character (", common::DescribeCharAt(text, i), "); remove it"));
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
      ts.seconds() > TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 || ts.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is out of range; give a time between years 0001 and 9999"));
  }
  return TimeUtil::TimestampToMicroseconds(ts);
}

absl::Status ValidateOperatorName(absl::string_view field, absl::string_view name) {
  return ValidateLowerKey(field, "operator name", name, 1, 64, "._-");
}

absl::Status ValidateDockId(absl::string_view field, absl::string_view id) {
  return ValidateLowerKey(field, "dock id", id, 3, 64, "-");
}

}  // namespace camfleet::rpc
