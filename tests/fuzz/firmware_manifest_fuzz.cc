// libFuzzer harness for the signed firmware manifest (firmware/manifest.h): ParseManifest,
// ParseSignatureFile and ParseVersion, each given the whole input. A manifest reaches
// camfleetd from an admin's upload and reaches docks and cameras from the server, so any bytes
// must give an answer, never a crash, and the answer must be self-consistent:
//   - a refusal is INVALID_ARGUMENT with a message (ParseVersion's names its field);
//   - an accepted manifest re-encodes to exactly the input (one release has one encoding),
//     NormalizeManifest accepts it unchanged, and it covers each of its models;
//   - an accepted signature file is 64 bytes whose EncodeSignatureFile parses back to them,
//     and the input differs from that file only in what absl's base64 decoder tolerates
//     (whitespace, padding, unused bits: the file is parsed by the CLI and camfleet-sign, and
//     only the 64 bytes travel, so other spellings of the same bytes change nothing);
//   - an accepted version formats back to the input;
//   - and the other way round: a manifest built from the input that NormalizeManifest accepts
//     encodes to bytes ParseManifest accepts, giving the same manifest back (what
//     camfleet-sign signs, every party can read).
// Runs in CI for a bounded time under ASan and UBSan (ctest: fuzz_firmware_manifest).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "firmware/manifest.h"
#include "tests/fuzz/fuzz_checks.h"

namespace {

using camfleet::fuzz::Require;
namespace fw = camfleet::firmware;

bool SameManifest(const fw::Manifest& a, const fw::Manifest& b) {
  return a.models == b.models && a.version == b.version && a.image_size == b.image_size &&
         a.image_sha256 == b.image_sha256 && a.min_battery_percent == b.min_battery_percent &&
         a.allow_downgrade == b.allow_downgrade && a.signed_at == b.signed_at &&
         a.signing_key_id == b.signing_key_id && a.release_notes == b.release_notes;
}

void RequireRefusal(const absl::Status& s) {
  Require(s.code() == absl::StatusCode::kInvalidArgument, "a refusal is INVALID_ARGUMENT");
  Require(!s.message().empty(), "a refusal says why");
}

void CheckManifest(absl::string_view bytes) {
  absl::StatusOr<fw::Manifest> parsed = fw::ParseManifest(bytes);
  if (!parsed.ok()) {
    RequireRefusal(parsed.status());
    return;
  }
  Require(bytes.size() <= fw::kMaxManifestBytes, "an accepted manifest is within the size cap");
  Require(fw::EncodeManifest(*parsed) == bytes, "an accepted manifest is its own encoding");
  fw::Manifest normalized = *parsed;
  Require(fw::NormalizeManifest(normalized).ok(), "an accepted manifest normalizes");
  Require(SameManifest(normalized, *parsed), "normalizing an accepted manifest changes nothing");
  for (const std::string& model : parsed->models) {
    Require(fw::ManifestCovers(*parsed, model), "a manifest covers its models");
  }
}

void CheckSignatureFile(absl::string_view text) {
  absl::StatusOr<std::string> signature = fw::ParseSignatureFile(text);
  if (!signature.ok()) {
    RequireRefusal(signature.status());
    return;
  }
  Require(signature->size() == 64, "an accepted signature is 64 bytes");
  const std::string file = fw::EncodeSignatureFile(*signature);
  absl::StatusOr<std::string> again = fw::ParseSignatureFile(file);
  Require(again.ok() && *again == *signature, "a signature file parses back to its signature");
  Require(camfleet::fuzz::SameBase64UpToSpelling(text, file, camfleet::fuzz::kBase64Alphabet),
          "an accepted signature file is the encoder's file up to whitespace, padding and "
          "unused bits");
}

void CheckVersion(absl::string_view text) {
  absl::StatusOr<fw::Version> version = fw::ParseVersion("fuzzed version", text);
  if (!version.ok()) {
    RequireRefusal(version.status());
    Require(absl::StrContains(version.status().message(), "fuzzed version"),
            "a version refusal names its field");
    return;
  }
  Require(fw::FormatVersion(*version) == text, "an accepted version is its own spelling");
}

// Builds a manifest from the input's bytes (FuzzedDataProvider) and, if NormalizeManifest
// accepts it, requires its encoding to parse back to it.
void CheckEncodeParses(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  fw::Manifest m;
  const size_t models = in.ConsumeIntegralInRange<size_t>(0, 17);
  for (size_t i = 0; i < models; ++i) m.models.push_back(in.ConsumeRandomLengthString(70));
  m.version.major = in.ConsumeIntegralInRange<uint32_t>(0, 1'000'000'000);
  m.version.minor = in.ConsumeIntegralInRange<uint32_t>(0, 1'000'000'000);
  m.version.patch = in.ConsumeIntegral<uint32_t>();
  m.image_size = in.ConsumeIntegralInRange<uint64_t>(0, fw::kMaxImageBytes + 1);
  // Hex from bytes, so the parser's own hex checks are what the parse direction fuzzes.
  m.image_sha256 = absl::BytesToHexString(in.ConsumeBytesAsString(32));
  m.signing_key_id = absl::BytesToHexString(in.ConsumeBytesAsString(32));
  m.min_battery_percent = in.ConsumeIntegralInRange<uint32_t>(0, 101);
  m.allow_downgrade = in.ConsumeBool();
  m.signed_at = absl::FromUnixSeconds(in.ConsumeIntegralInRange<int64_t>(-1, 253402300800)) +
                absl::Nanoseconds(in.ConsumeBool() ? 0 : in.ConsumeIntegral<uint32_t>());
  m.release_notes = in.ConsumeRandomLengthString(fw::kMaxReleaseNotesBytes + 1);
  if (absl::Status s = fw::NormalizeManifest(m); !s.ok()) {
    RequireRefusal(s);
    return;
  }
  const std::string bytes = fw::EncodeManifest(m);
  absl::StatusOr<fw::Manifest> parsed = fw::ParseManifest(bytes);
  Require(parsed.ok(), "what NormalizeManifest accepts, EncodeManifest writes readably");
  Require(SameManifest(*parsed, m), "a manifest's encoding parses back to it");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckManifest(bytes);
  CheckSignatureFile(bytes);
  CheckVersion(bytes);
  CheckEncodeParses(data, size);
  return 0;
}
