#include "common/utf8.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace camfleet::common {

size_t Utf8CharLength(absl::string_view s) {
  if (s.empty()) return 0;
  const auto c = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  unsigned char lo = 0x80;  // range of the second byte
  unsigned char hi = 0xbf;
  if (c < 0x80) {
    return 1;
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
    return 0;
  }
  if (len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return 0;
  }
  return len;
}

std::optional<size_t> FirstInvalidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = Utf8CharLength(s.substr(i));
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

std::optional<size_t> CountUtf8(absl::string_view s) {
  size_t count = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = Utf8CharLength(s.substr(i));
    if (len == 0) return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

absl::string_view TruncateUtf8(absl::string_view s, size_t max_bytes) {
  size_t end = 0;
  while (end < s.size()) {
    const size_t len = Utf8CharLength(s.substr(end));
    if (len == 0 || end + len > max_bytes) break;
    end += len;
  }
  return s.substr(0, end);
}

std::string QuoteUtf8(absl::string_view s, size_t max_bytes) {
  const absl::string_view head = TruncateUtf8(s, max_bytes);
  return absl::StrCat("'", head, head.size() < s.size() ? "...'" : "'");
}

std::string DescribeCharAt(absl::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ') return "a space";
  if (absl::ascii_isprint(c)) return absl::StrCat("'", s.substr(i, 1), "'");
  if (const size_t len = Utf8CharLength(s.substr(i)); len > 1) {
    return absl::StrCat("'", s.substr(i, len), "'");
  }
  return absl::StrFormat("byte 0x%02x", c);
}

}  // namespace camfleet::common
