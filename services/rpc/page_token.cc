#include "services/rpc/page_token.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "provisioning/digest.h"

namespace camfleet::rpc {
namespace {
constexpr size_t kMacSize = 16;

std::string Mac(const std::string& key, absl::string_view query, absl::string_view cursor) {
  // The query is bound into the MAC but not carried in the token.
  std::string message = absl::StrCat(query.size(), ":", query, cursor);
  provisioning::Sha256Digest d = provisioning::HmacSha256(key, message);
  return std::string(reinterpret_cast<const char*>(d.data()), kMacSize);
}
}  // namespace

std::string PageTokens::Encode(absl::string_view query, absl::string_view cursor) const {
  return absl::WebSafeBase64Escape(absl::StrCat(Mac(key_, query, cursor), cursor));
}

absl::StatusOr<std::string> PageTokens::Decode(absl::string_view query,
                                               absl::string_view token) const {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kMacSize) {
    return absl::InvalidArgumentError(
        "page_token is malformed; pass the next_page_token of the previous response unchanged");
  }
  absl::string_view mac = absl::string_view(raw).substr(0, kMacSize);
  absl::string_view cursor = absl::string_view(raw).substr(kMacSize);
  if (!provisioning::ConstantTimeEquals(mac, Mac(key_, query, cursor))) {
    return absl::InvalidArgumentError(
        "page_token was altered or belongs to a different query; repeat the first request with "
        "the same filters and use its next_page_token");
  }
  return std::string(cursor);
}

}  // namespace camfleet::rpc
