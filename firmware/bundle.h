#pragma once
// A signed release bundle: one file that carries a release to a post the network does not reach
// (`camfleet firmware export` writes it, `camfleet-dock import-release` takes it). It adds no
// trust of its own: whoever reads it checks the manifest's signature and the image exactly as
// for a download (a bundle is only a container).
//
// The format, byte for byte:
//
//   camfleet-release-bundle 1\n
//   manifest <decimal length>\n<the canonical manifest bytes (manifest.h)>\n
//   signature <decimal length>\n<the raw 64-byte Ed25519 signature>\n
//   image <decimal length>\n<the image bytes>\n
//
// Lengths are decimal without leading zeros; nothing follows the last LF. The sections come in
// this order, once each. A reader refuses anything else (INVALID_ARGUMENT naming what is wrong).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::firmware {

inline constexpr char kBundleMagic[] = "camfleet-release-bundle 1\n";

struct Bundle {
  std::string manifest;
  std::string signature;
  std::string image;
};

// Everything before the image's bytes, for a writer that streams the image after it.
std::string BundlePrefix(absl::string_view manifest, absl::string_view signature,
                         uint64_t image_size);
// What follows the image's bytes.
inline constexpr char kBundleSuffix[] = "\n";

// The whole bundle in memory.
std::string EncodeBundle(const Bundle& bundle);
// Parses a bundle. INVALID_ARGUMENT naming the section that is wrong.
absl::StatusOr<Bundle> ParseBundle(absl::string_view bytes);

}  // namespace camfleet::firmware
