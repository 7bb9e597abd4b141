#include "firmware/bundle.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "firmware/manifest.h"

namespace camfleet::firmware {
namespace {

std::string Section(absl::string_view name, uint64_t size) {
  return absl::StrCat(name, " ", size, "\n");
}

// Takes "<name> <len>\n<bytes>\n" off the front of `rest`.
absl::StatusOr<absl::string_view> TakeSection(absl::string_view& rest, absl::string_view name,
                                              uint64_t max_size) {
  const std::string prefix = absl::StrCat(name, " ");
  if (!absl::StartsWith(rest, prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("release bundle: expected the ", name, " section here; is it a bundle made "
                     "by camfleet firmware export?"));
  }
  rest.remove_prefix(prefix.size());
  const size_t eol = rest.find('\n');
  if (eol == absl::string_view::npos || eol == 0 || eol > 20) {
    return absl::InvalidArgumentError(absl::StrCat("release bundle: the ", name,
                                                   " section's length is malformed"));
  }
  const absl::string_view digits = rest.substr(0, eol);
  uint64_t size = 0;
  if ((digits.size() > 1 && digits[0] == '0') || !absl::SimpleAtoi(digits, &size) ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return absl::InvalidArgumentError(absl::StrCat("release bundle: the ", name,
                                                   " section's length is malformed"));
  }
  if (size > max_size) {
    return absl::InvalidArgumentError(absl::StrCat("release bundle: the ", name, " section is ",
                                                   size, " bytes; at most ", max_size));
  }
  rest.remove_prefix(eol + 1);
  if (rest.size() < size + 1 || rest[size] != '\n') {
    return absl::InvalidArgumentError(
        absl::StrCat("release bundle: the ", name, " section is cut short or overlong; the file "
                     "is damaged or incomplete"));
  }
  absl::string_view body = rest.substr(0, size);
  rest.remove_prefix(size + 1);
  return body;
}

}  // namespace

std::string BundlePrefix(absl::string_view manifest, absl::string_view signature,
                         uint64_t image_size) {
  return absl::StrCat(kBundleMagic, Section("manifest", manifest.size()), manifest, "\n",
                      Section("signature", signature.size()), signature, "\n",
                      Section("image", image_size));
}

std::string EncodeBundle(const Bundle& bundle) {
  return absl::StrCat(BundlePrefix(bundle.manifest, bundle.signature, bundle.image.size()),
                      bundle.image, kBundleSuffix);
}

absl::StatusOr<Bundle> ParseBundle(absl::string_view bytes) {
  if (!absl::StartsWith(bytes, kBundleMagic)) {
    return absl::InvalidArgumentError(
        "release bundle: the file does not start with \"camfleet-release-bundle 1\"; make it "
        "with camfleet firmware export");
  }
  absl::string_view rest = bytes.substr(sizeof(kBundleMagic) - 1);
  Bundle b;
  absl::StatusOr<absl::string_view> manifest = TakeSection(rest, "manifest", kMaxManifestBytes);
  if (!manifest.ok()) return manifest.status();
  absl::StatusOr<absl::string_view> signature = TakeSection(rest, "signature", 64);
  if (!signature.ok()) return signature.status();
  absl::StatusOr<absl::string_view> image = TakeSection(rest, "image", kMaxImageBytes);
  if (!image.ok()) return image.status();
  if (!rest.empty()) {
    return absl::InvalidArgumentError("release bundle: bytes follow the image section");
  }
  b.manifest = std::string(*manifest);
  b.signature = std::string(*signature);
  b.image = std::string(*image);
  return b;
}

}  // namespace camfleet::firmware
