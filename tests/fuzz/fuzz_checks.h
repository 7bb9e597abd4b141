#pragma once
// Checks the libFuzzer harnesses share.
//
// Require: a broken invariant is a finding; abort() makes libFuzzer save the input.
//
// SameBase64UpToSpelling, for the harnesses whose input is base64 (firmware signature files,
// page tokens): absl's Base64Unescape and WebSafeBase64Unescape accept more than one spelling
// of the same bytes (ASCII whitespace anywhere; padding with '=', '.' or a mix of them, or
// none; set bits in the unused low bits of the last character). It checks that an accepted
// text differs from the encoder's output for the bytes it decoded to in those ways only: a
// decoder that accepted any other spelling (a character of the other alphabet, a misplaced
// padding character, a dropped or extra character) would break it.

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace camfleet::fuzz {

inline void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

inline constexpr absl::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
inline constexpr absl::string_view kWebSafeBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// `canonical` is the encoder's text (with or without padding and a final newline); `text` is
// what the decoder accepted. Both are in `alphabet`.
inline bool SameBase64UpToSpelling(absl::string_view text, absl::string_view canonical,
                                   absl::string_view alphabet) {
  auto compact = [](absl::string_view s) {
    std::string out;
    for (char c : s) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) out += c;
    }
    while (!out.empty() && (out.back() == '=' || out.back() == '.')) out.pop_back();
    return out;
  };
  const std::string got = compact(text);
  const std::string want = compact(canonical);
  if (got.size() != want.size()) return false;
  if (got.empty()) return true;
  const size_t last = got.size() - 1;
  if (got.compare(0, last, want, 0, last) != 0) return false;
  // The last character carries 6 bits when the length is a multiple of 4, else 2 (one byte
  // left over) or 4 (two bytes left over); the rest are unused.
  const size_t pos = alphabet.find(got[last]);
  const size_t want_pos = alphabet.find(want[last]);
  if (pos == absl::string_view::npos || want_pos == absl::string_view::npos) return false;
  const int unused = got.size() % 4 == 2 ? 4 : got.size() % 4 == 3 ? 2 : 0;
  return (pos >> unused) == (want_pos >> unused);
}

}  // namespace camfleet::fuzz
