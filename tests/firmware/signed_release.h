#pragma once
// Signing keys and signed releases for the firmware tests, made the way camfleet-sign makes them
// (tools/sign/release_signer.h), in a test's temp dir.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "provisioning/file_io.h"
#include "tools/sign/release_signer.h"

namespace camfleet::testing {

struct TestSigningKey {
  sign::KeyPairFiles files;
  std::string public_pem;
};

inline absl::StatusOr<TestSigningKey> MakeSigningKey(const std::string& dir) {
  absl::StatusOr<sign::KeyPairFiles> files = sign::GenerateKeyPair(dir);
  if (!files.ok()) return files.status();
  absl::StatusOr<provisioning::FileContents> pem =
      provisioning::ReadSmallFile(files->public_key_path, 64 * 1024);
  if (!pem.ok()) return pem.status();
  return TestSigningKey{*files, pem->data};
}

// Deterministic pseudo-random bytes: images that compress like real firmware does (poorly).
inline std::string RandomImage(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// `base` with a few small edits: what a point release changes.
inline std::string EditedImage(std::string base, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int edit = 0; edit < 16; ++edit) {
    const size_t at = rng() % (base.size() - 64);
    for (size_t i = 0; i < 64; ++i) base[at + i] = static_cast<char>(rng() & 0xff);
  }
  return base;
}

struct ReleaseFiles {
  std::string image_path;
  std::string image;
  sign::SignedRelease release;
};

// Writes `image` to DIR/NAME.img and signs it.
inline absl::StatusOr<ReleaseFiles> SignImage(const std::string& dir, const std::string& name,
                                              const std::string& image, const TestSigningKey& key,
                                              std::vector<std::string> models,
                                              const std::string& version,
                                              bool allow_downgrade = false,
                                              uint32_t min_battery = 20) {
  ReleaseFiles out;
  out.image_path = provisioning::JoinPath(dir, absl::StrCat(name, ".img"));
  out.image = image;
  if (!provisioning::PathExists(out.image_path)) {
    if (absl::Status s = provisioning::WriteNewFile(out.image_path, image, 0644); !s.ok()) return s;
  }
  sign::ReleaseSpec spec;
  spec.image_path = out.image_path;
  spec.key_path = key.files.private_key_path;
  spec.models = std::move(models);
  spec.version = version;
  spec.allow_downgrade = allow_downgrade;
  spec.min_battery_percent = min_battery;
  spec.release_notes = absl::StrCat("Release ", version, "\n- fixes");
  absl::StatusOr<sign::SignedRelease> release = sign::SignRelease(spec);
  if (!release.ok()) return release.status();
  out.release = *std::move(release);
  return out;
}

}  // namespace camfleet::testing
