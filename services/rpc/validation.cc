#include "services/rpc/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::rpc {
namespace {

std::string Describe(char c) {
  if (c == ' ') return "a space";
  if (absl::ascii_isprint(static_cast<unsigned char>(c)))
    return absl::StrCat("'", std::string(1, c), "'");
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
                                                   value.size(), " characters; a ", what, " has ",
                                                   min, " to ", max));
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
    return absl::InvalidArgumentError(absl::StrCat(
        field, " '", value, "' has ", Describe(c), " at position ", i + 1, "; a ", what,
        " may hold only A-Z, 0-9", extra.empty() ? "" : absl::StrCat(" and '", extra, "'"), hint));
  }
  return absl::OkStatus();
}

// Checks length and that every character is a lower-case letter, a digit or in `extra`.
absl::Status ValidateLowerKey(absl::string_view field, absl::string_view what,
                              absl::string_view value, size_t min, size_t max,
                              absl::string_view extra) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (value.size() < min || value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " '", value.substr(0, 64), "' has ",
                                                   value.size(), " characters; a ", what, " has ",
                                                   min, " to ", max));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
        extra.find(value[i]) != absl::string_view::npos) {
      continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat(field, " '", value, "' has ", Describe(value[i]), " at position ", i + 1,
                     "; a ", what, " may hold only a-z, 0-9 and '", extra, "'",
                     absl::ascii_isupper(c) ? "; write letters in lower case" : ""));
  }
  return absl::OkStatus();
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
// Returns the number of code points, or -1 when `s` is not valid.
int64_t CountUtf8(absl::string_view s) {
  int64_t count = 0;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return -1;
    }
    if (i + len > s.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return -1;
    }
    i += len;
    ++count;
  }
  return count;
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
  const int64_t chars = CountUtf8(text);
  if (chars < 0) return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8"));
  if (static_cast<size_t>(chars) < min) {
    return absl::InvalidArgumentError(
        min == 1 ? absl::StrCat(field, " is required")
                 : absl::StrCat(field, " needs at least ", min, " characters"));
  }
  if (static_cast<size_t>(chars) > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", chars, " characters; at most ", max, " are allowed"));
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
