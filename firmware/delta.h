#pragma once
// Binary deltas between firmware images, and compressed full images, with libzstd (Debian's
// libzstd-dev): a delta is a zstd frame compressed with the old image as its prefix ("patch-from"
// mode, ZSTD_CCtx_refPrefix with a window that spans both images), so rebuilding needs the old
// image, the delta and nothing else. A full image travels as a plain zstd frame.
//
// Why zstd: it is maintained, in Debian, already a dependency of half the system; patch-from
// makes deltas close to bsdiff's for firmware-like images at a fraction of the time and memory,
// and the same library gives the compressed full image, so whichever is smaller can be offered.
//
// A rebuilt image is trusted only after the same checks as a full download: the manifest's
// signature (Trust::Verify) and the image's size and SHA-256 (CheckImage). RebuildImage does
// that and falls back to the full image on any mismatch.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "firmware/trust.h"

namespace camfleet::firmware {

// zstd level for deltas and full images: the server compresses once per release, the docks
// decompress many times; level 12 with long-distance matching keeps a 64 MiB release to seconds
// of work while patch-from still finds the unchanged regions of the old image.
inline constexpr int kCompressionLevel = 12;

// The delta that turns `old_image` into `new_image`. INTERNAL if zstd fails.
absl::StatusOr<std::string> MakeDelta(absl::string_view old_image, absl::string_view new_image);
// Rebuilds the new image; never produces more than `max_size` bytes.
// INVALID_ARGUMENT if the delta is damaged, was made from another old image (zstd's checksum),
// or would produce more than `max_size` bytes.
absl::StatusOr<std::string> ApplyDelta(absl::string_view old_image, absl::string_view delta,
                                       uint64_t max_size);

// A full image as one zstd frame, and back (at most `max_size` bytes, else INVALID_ARGUMENT).
absl::StatusOr<std::string> Compress(absl::string_view image);
absl::StatusOr<std::string> Decompress(absl::string_view compressed, uint64_t max_size);

struct RebuiltImage {
  std::string image;
  // True if the delta gave the image; false if it came from the full image.
  bool from_delta = false;
  // Why the delta was not used, when it was not.
  std::string fallback_reason;
};

// Verifies the release (signature through `trust`), then rebuilds its image from `old_image`
// and `delta` and checks it. On any failure of the delta path (damaged delta, wrong old image,
// size or SHA-256 mismatch) calls `fetch_full` for the compressed full image and checks that
// instead. Errors: Trust::Verify's; the full image's own failure (fetch error, or INVALID_ARGUMENT
// if it does not match either).
absl::StatusOr<RebuiltImage> RebuildImage(
    const Trust& trust, absl::string_view manifest_bytes, absl::string_view signature,
    absl::string_view old_image, absl::string_view delta,
    const std::function<absl::StatusOr<std::string>()>& fetch_full);

}  // namespace camfleet::firmware
