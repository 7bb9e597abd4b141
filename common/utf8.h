#pragma once
// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Protobuf
// refuses a `string` field that is not well formed when it parses a message, so text that goes
// into one (a request a client sends, an error message the server answers with) must be
// checked, or cut, here first: a message with one bad byte cannot be read at the other end.

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace camfleet::common {

// Bytes of the well-formed character that starts `s`; 0 if `s` is empty or does not start
// with one.
size_t Utf8CharLength(absl::string_view s);

// Offset of the first byte of `s` that does not start a well-formed character, or nullopt if
// all of `s` is well formed.
std::optional<size_t> FirstInvalidUtf8(absl::string_view s);

// Characters (code points) in `s`, or nullopt if it is not well formed.
std::optional<size_t> CountUtf8(absl::string_view s);

// The longest prefix of `s` of at most `max_bytes` bytes that holds only whole, well-formed
// characters: for quoting the start of a long value in a message without cutting a character
// (or passing on a bad byte).
absl::string_view TruncateUtf8(absl::string_view s, size_t max_bytes);

// `s` quoted for a message: '...' around at most its first `max_bytes` bytes, cut by
// TruncateUtf8, with "..." inside the closing quote when something was left out.
std::string QuoteUtf8(absl::string_view s, size_t max_bytes);

// The character at s[i] named for a message: "a space", 'x', 'é' (the whole UTF-8 character
// that starts there), or "byte 0xff" for a byte that starts none.
std::string DescribeCharAt(absl::string_view s, size_t i);

}  // namespace camfleet::common
