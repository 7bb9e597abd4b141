#pragma once
// The page's stylesheet and script, compiled into camfleetd: posts have no internet, so the page
// loads nothing from anywhere else (no CDN, no web fonts: the system's sans-serif).

#include "absl/strings/string_view.h"

namespace camfleet::web {

struct Asset {
  absl::string_view path;  // "/assets/style.css"
  absl::string_view content_type;
  absl::string_view body;
};

// Every asset, or nullptr for an unknown path.
const Asset* FindAsset(absl::string_view path);

}  // namespace camfleet::web
