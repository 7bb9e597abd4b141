// libFuzzer harness for the List RPCs' page tokens (services/rpc/page_token.h). Every List
// RPC hands the caller's page_token, any bytes at all, to PageTokens::Decode with a query
// built from the caller's filters, before anything else reads it; only a cursor the server
// sealed gets past the MAC. Input: the query, a newline, then the token (no newline: the
// whole input is the token, with a fixed query). Checked:
//   - a refusal is INVALID_ARGUMENT naming page_token;
//   - an empty token is the first page (an empty cursor);
//   - an accepted token carries the MAC and cursor that Encode writes for that query and
//     cursor, spelled differently at most in what absl's web-safe base64 decoder tolerates
//     (whitespace, padding, unused bits);
//   - and the other way round, with the token's bytes as a cursor: Encode's token is URL-safe
//     text that decodes to the cursor, and is refused under another query or another key.
// Runs in CI for a bounded time under ASan and UBSan (ctest: fuzz_page_token).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/rpc/page_token.h"
#include "tests/fuzz/fuzz_checks.h"

namespace {

using camfleet::fuzz::Require;

// The key and default query the seed tokens in tests/fuzz/corpus/page_token were made with.
constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
constexpr char kOtherKey[] = "fedcba9876543210fedcba9876543210";
constexpr char kQuery[] = "cameras|2|POST-1|BWC-7||-1";

void RequireRefusal(const absl::Status& s) {
  Require(s.code() == absl::StatusCode::kInvalidArgument, "a refusal is INVALID_ARGUMENT");
  Require(absl::StrContains(s.message(), "page_token"), "a refusal names page_token");
}

void CheckDecode(const camfleet::rpc::PageTokens& tokens, absl::string_view query,
                 absl::string_view token) {
  absl::StatusOr<std::string> cursor = tokens.Decode(query, token);
  if (!cursor.ok()) {
    RequireRefusal(cursor.status());
    return;
  }
  if (token.empty()) {
    Require(cursor->empty(), "an empty token is the first page");
    return;
  }
  const std::string sealed = tokens.Encode(query, *cursor);
  Require(
      camfleet::fuzz::SameBase64UpToSpelling(token, sealed, camfleet::fuzz::kWebSafeBase64Alphabet),
      "an accepted token is the encoder's token up to whitespace, padding and unused bits");
  absl::StatusOr<std::string> again = tokens.Decode(query, sealed);
  Require(again.ok() && *again == *cursor, "the re-encoded token decodes to the same cursor");
}

void CheckEncode(const camfleet::rpc::PageTokens& tokens, absl::string_view query,
                 absl::string_view cursor) {
  const std::string token = tokens.Encode(query, cursor);
  Require(!token.empty(), "a token is never empty (empty means the first page)");
  Require(absl::string_view(token).find_first_not_of(camfleet::fuzz::kWebSafeBase64Alphabet) ==
              absl::string_view::npos,
          "a token is URL-safe text");
  absl::StatusOr<std::string> decoded = tokens.Decode(query, token);
  Require(decoded.ok() && *decoded == cursor, "a token decodes to its cursor");
  absl::StatusOr<std::string> other_query = tokens.Decode(absl::StrCat(query, "|"), token);
  Require(!other_query.ok(), "a token is refused under another query");
  RequireRefusal(other_query.status());
  absl::StatusOr<std::string> other_key = camfleet::rpc::PageTokens(kOtherKey).Decode(query, token);
  Require(!other_key.ok(), "a token is refused under another key");
  RequireRefusal(other_key.status());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const camfleet::rpc::PageTokens tokens{std::string(kKey)};
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view query = kQuery;
  absl::string_view token = input;
  if (const size_t newline = input.find('\n'); newline != absl::string_view::npos) {
    query = input.substr(0, newline);
    token = input.substr(newline + 1);
  }
  CheckDecode(tokens, query, token);
  CheckEncode(tokens, query, token);
  return 0;
}
