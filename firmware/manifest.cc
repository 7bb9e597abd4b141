#include "firmware/manifest.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/utf8.h"

namespace camfleet::firmware {
namespace {

constexpr char kMagic[] = "camfleet-firmware-manifest 1";
constexpr size_t kMaxModels = 16;
constexpr uint32_t kMaxVersionPart = 999'999'999;

bool IsModelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool IsLowerHex64(absl::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A decimal number without sign or leading zeros.
bool ParseDecimal(absl::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return absl::SimpleAtoi(text, out);
}

// Valid UTF-8 (no overlongs, no surrogates).
bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::Status CheckNotes(absl::string_view notes) {
  if (notes.size() > kMaxReleaseNotesBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("release notes: ", notes.size(), " bytes; at most ", kMaxReleaseNotesBytes));
  }
  if (!IsUtf8(notes)) return absl::InvalidArgumentError("release notes: not valid UTF-8");
  for (char c : notes) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) {
      return absl::InvalidArgumentError(
          "release notes: control characters other than newline and tab are not allowed");
    }
  }
  return absl::OkStatus();
}

std::string EscapeNotes(absl::string_view notes) {
  std::string out;
  for (char c : notes) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> UnescapeNotes(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 == text.size()) return absl::InvalidArgumentError("release-notes: ends in '\\'");
    const char next = text[++i];
    if (next == '\\') {
      out += '\\';
    } else if (next == 'n') {
      out += '\n';
    } else if (next == 't') {
      out += '\t';
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("release-notes: unknown escape '\\", std::string(1, next), "'"));
    }
  }
  return out;
}

std::string FormatSignedAt(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<Version> ParseVersion(absl::string_view field, absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  Version v;
  uint32_t* out[] = {&v.major, &v.minor, &v.patch};
  bool ok = parts.size() == 3;
  for (size_t i = 0; ok && i < 3; ++i) {
    uint64_t n = 0;
    ok = ParseDecimal(parts[i], &n) && n <= kMaxVersionPart;
    if (ok) *out[i] = static_cast<uint32_t>(n);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", text, "' is not a version like 2.1.0 (MAJOR.MINOR.PATCH, no leading zeros)"));
  }
  return v;
}

std::string FormatVersion(const Version& v) {
  return absl::StrCat(v.major, ".", v.minor, ".", v.patch);
}

absl::Status ValidateModelName(absl::string_view field, absl::string_view model) {
  constexpr absl::string_view kRule =
      "a model name has 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-' (firmware releases "
      "name models this way)";
  if (model.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  // Quoted in whole characters: the message may travel in a protobuf string field (a manifest
  // import's row errors).
  const std::string quoted = common::QuoteUtf8(model, kMaxModelNameBytes);
  if (model.size() > kMaxModelNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", quoted, " has ", model.size(), " bytes; ", kRule));
  }
  for (size_t i = 0; i < model.size(); ++i) {
    if (IsModelChar(model[i])) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", quoted, " has ", common::DescribeCharAt(model, i), " at position ", i + 1, "; ",
        kRule, model[i] == ' ' ? "; write it with '-' or '_' instead" : ""));
  }
  return absl::OkStatus();
}

absl::Status NormalizeManifest(Manifest& m) {
  if (m.models.empty() || m.models.size() > kMaxModels) {
    return absl::InvalidArgumentError(
        absl::StrCat("models: give 1-", kMaxModels, " camera models, e.g. BWC-4"));
  }
  std::sort(m.models.begin(), m.models.end());
  for (size_t i = 0; i < m.models.size(); ++i) {
    const std::string& model = m.models[i];
    if (absl::Status valid = ValidateModelName("models", model); !valid.ok()) return valid;
    if (i > 0 && m.models[i - 1] == model) {
      return absl::InvalidArgumentError(absl::StrCat("models: '", model, "' is given twice"));
    }
  }
  if (m.version.major > kMaxVersionPart || m.version.minor > kMaxVersionPart ||
      m.version.patch > kMaxVersionPart) {
    return absl::InvalidArgumentError("version: each part must be below 10^9");
  }
  if (m.image_size == 0 || m.image_size > kMaxImageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("image size: ", m.image_size, " bytes; give 1 byte to 2 GiB"));
  }
  if (!IsLowerHex64(m.image_sha256)) {
    return absl::InvalidArgumentError("image sha256: give 64 lower-case hex digits");
  }
  if (m.min_battery_percent > 100) {
    return absl::InvalidArgumentError("minimum battery: give a percentage, 0-100");
  }
  if (m.signed_at < absl::UnixEpoch() || m.signed_at >= absl::FromUnixSeconds(253402300800) ||
      absl::FromUnixSeconds(absl::ToUnixSeconds(m.signed_at)) != m.signed_at) {
    return absl::InvalidArgumentError("signed at: give a time in whole seconds, 1970-9999");
  }
  if (!IsLowerHex64(m.signing_key_id)) {
    return absl::InvalidArgumentError("signing key: give the key id, 64 lower-case hex digits");
  }
  return CheckNotes(m.release_notes);
}

std::string EncodeManifest(const Manifest& m) {
  return absl::StrCat(kMagic, "\n",                                                //
                      "models ", absl::StrJoin(m.models, " "), "\n",               //
                      "version ", FormatVersion(m.version), "\n",                  //
                      "image-size ", m.image_size, "\n",                           //
                      "image-sha256 ", m.image_sha256, "\n",                       //
                      "min-battery-percent ", m.min_battery_percent, "\n",         //
                      "allow-downgrade ", m.allow_downgrade ? "yes" : "no", "\n",  //
                      "signed-at ", FormatSignedAt(m.signed_at), "\n",             //
                      "signing-key ", m.signing_key_id, "\n",                      //
                      "release-notes ", EscapeNotes(m.release_notes), "\n");
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view bytes) {
  if (bytes.size() > kMaxManifestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: ", bytes.size(), " bytes; at most ", kMaxManifestBytes));
  }
  if (!absl::ConsumeSuffix(&bytes, "\n")) {
    return absl::InvalidArgumentError("manifest: does not end in a newline");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(bytes, '\n');
  static constexpr const char* kNames[] = {
      "models",          "version",   "image-size",  "image-sha256", "min-battery-percent",
      "allow-downgrade", "signed-at", "signing-key", "release-notes"};
  if (lines.size() != 10 || lines[0] != kMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest: not a camfleet firmware manifest (the first line must be '", kMagic,
                     "' and there must be 10 lines)"));
  }
  std::vector<absl::string_view> values;
  for (size_t i = 0; i < 9; ++i) {
    absl::string_view line = lines[i + 1];
    if (!absl::ConsumePrefix(&line, kNames[i]) || !absl::ConsumePrefix(&line, " ")) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest line ", i + 2, ": expected '", kNames[i], " <value>'"));
    }
    values.push_back(line);
  }
  Manifest m;
  m.models = absl::StrSplit(values[0], ' ');
  auto version = ParseVersion("manifest version", values[1]);
  if (!version.ok()) return version.status();
  m.version = *version;
  uint64_t n = 0;
  if (!ParseDecimal(values[2], &n)) {
    return absl::InvalidArgumentError("manifest image-size: not a decimal number");
  }
  m.image_size = n;
  m.image_sha256 = std::string(values[3]);
  if (!ParseDecimal(values[4], &n) || n > 100) {
    return absl::InvalidArgumentError("manifest min-battery-percent: give 0-100");
  }
  m.min_battery_percent = static_cast<uint32_t>(n);
  if (values[5] != "yes" && values[5] != "no") {
    return absl::InvalidArgumentError("manifest allow-downgrade: give yes or no");
  }
  m.allow_downgrade = values[5] == "yes";
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%SZ", std::string(values[6]), absl::UTCTimeZone(),
                       &m.signed_at, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest signed-at: '", values[6], "' is not like 2026-12-06T00:30:00Z"));
  }
  m.signing_key_id = std::string(values[7]);
  auto notes = UnescapeNotes(values[8]);
  if (!notes.ok()) return notes.status();
  m.release_notes = *std::move(notes);
  Manifest normalized = m;
  if (absl::Status s = NormalizeManifest(normalized); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: ", s.message()));
  }
  if (EncodeManifest(normalized) != absl::StrCat(bytes, "\n")) {
    return absl::InvalidArgumentError(
        "manifest: not in canonical form (models unsorted, extra spaces, or another spelling "
        "of a value); sign it again with camfleet-sign");
  }
  return normalized;
}

std::string EncodeSignatureFile(absl::string_view signature) {
  return absl::StrCat(absl::Base64Escape(signature), "\n");
}

absl::StatusOr<std::string> ParseSignatureFile(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::string raw;
  if (!absl::Base64Unescape(text, &raw) || raw.size() != 64) {
    return absl::InvalidArgumentError(
        "signature: not a camfleet-sign signature file (base64 of a 64-byte Ed25519 signature)");
  }
  return raw;
}

bool ManifestCovers(const Manifest& manifest, absl::string_view model) {
  return std::find(manifest.models.begin(), manifest.models.end(), model) != manifest.models.end();
}

}  // namespace camfleet::firmware
