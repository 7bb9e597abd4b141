#pragma once
// Opaque page tokens. A token carries the cursor (the last key of the page) and a fingerprint
// of the query it belongs to, sealed with an HMAC under a key kept in the store, so a token
// that was altered, or used with a different filter, is refused rather than silently
// returning the wrong page.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::rpc {

class PageTokens {
 public:
  explicit PageTokens(std::string key) : key_(std::move(key)) {}

  // `query` identifies the method and its filters; `cursor` is opaque to callers.
  std::string Encode(absl::string_view query, absl::string_view cursor) const;
  // The cursor; empty for an empty token. Errors: INVALID_ARGUMENT naming page_token when the
  // token is malformed, altered, or from a different query.
  absl::StatusOr<std::string> Decode(absl::string_view query, absl::string_view token) const;

 private:
  std::string key_;
};

}  // namespace camfleet::rpc
