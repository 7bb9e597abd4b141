// Page tokens: round trips, and every kind of tampering or misuse is INVALID_ARGUMENT naming
// page_token.

#include "services/rpc/page_token.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::rpc {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kQuery[] = "cameras|2|POST-1|BWC-7||-1";

class PageTokenTest : public ::testing::Test {
 protected:
  PageTokens tokens_{std::string("0123456789abcdef0123456789abcdef")};
};

MATCHER(IsBadPageToken, "is INVALID_ARGUMENT naming page_token") {
  const absl::Status& s = arg.status();
  *result_listener << "status is " << s;
  return s.code() == absl::StatusCode::kInvalidArgument &&
         std::string(s.message()).find("page_token") != std::string::npos;
}

TEST_F(PageTokenTest, TokenRoundTripsTheCursor) {
  const std::string token = tokens_.Encode(kQuery, "CAM-0042");
  absl::StatusOr<std::string> cursor = tokens_.Decode(kQuery, token);
  ASSERT_THAT(cursor, IsOk());
  EXPECT_EQ(*cursor, "CAM-0042");
}

TEST_F(PageTokenTest, BinaryCursorRoundTrips) {
  const std::string raw("\0\x01\xff:17:\n", 8);
  absl::StatusOr<std::string> cursor = tokens_.Decode(kQuery, tokens_.Encode(kQuery, raw));
  ASSERT_THAT(cursor, IsOk());
  EXPECT_EQ(*cursor, raw);
}

TEST_F(PageTokenTest, EmptyTokenMeansTheFirstPage) {
  absl::StatusOr<std::string> cursor = tokens_.Decode(kQuery, "");
  ASSERT_THAT(cursor, IsOk());
  EXPECT_EQ(*cursor, "");
}

TEST_F(PageTokenTest, TokenIsUrlSafeText) {
  const std::string token = tokens_.Encode(kQuery, std::string(40, '\xff'));
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos)
      << token;
}

TEST_F(PageTokenTest, TokenDoesNotShowTheCursorInClear) {
  const std::string token = tokens_.Encode(kQuery, "CAM-0042");
  EXPECT_EQ(token.find("CAM-0042"), std::string::npos);
}

TEST_F(PageTokenTest, EveryFlippedByteIsRefused) {
  const std::string token = tokens_.Encode(kQuery, "CAM-0042");
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string altered = raw;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    EXPECT_THAT(tokens_.Decode(kQuery, absl::WebSafeBase64Escape(altered)), IsBadPageToken())
        << "byte " << i;
  }
}

TEST_F(PageTokenTest, EveryChangedCharacterIsRefused) {
  const std::string token = tokens_.Encode(kQuery, "CAM-0042");
  for (size_t i = 0; i < token.size(); ++i) {
    std::string altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_THAT(tokens_.Decode(kQuery, altered), IsBadPageToken()) << "character " << i;
  }
}

TEST_F(PageTokenTest, EveryTruncationIsRefused) {
  const std::string token = tokens_.Encode(kQuery, "CAM-0042");
  for (size_t len = 1; len < token.size(); ++len) {
    EXPECT_THAT(tokens_.Decode(kQuery, token.substr(0, len)), IsBadPageToken()) << "length " << len;
  }
}

TEST_F(PageTokenTest, TokenShorterThanTheMacIsRefused) {
  EXPECT_THAT(tokens_.Decode(kQuery, absl::WebSafeBase64Escape("short")), IsBadPageToken());
}

TEST_F(PageTokenTest, GarbageBase64IsRefused) {
  EXPECT_THAT(tokens_.Decode(kQuery, "!!! not a token !!!"), IsBadPageToken());
}

TEST_F(PageTokenTest, TokenFromAnotherQueryIsRefused) {
  const std::string token = tokens_.Encode(kQuery, "CAM-0042");
  EXPECT_THAT(tokens_.Decode("cameras|2|POST-2|BWC-7||-1", token), IsBadPageToken());
}

TEST_F(PageTokenTest, QueryAndCursorCannotTradeBytes) {
  // The query is length-prefixed in the MAC, so ("ab", "c") and ("a", "bc") differ.
  const std::string token = tokens_.Encode("a", "bc");
  EXPECT_THAT(tokens_.Decode("ab", token), IsBadPageToken());
}

TEST_F(PageTokenTest, TokenUnderAnotherKeyIsRefused) {
  PageTokens other(std::string("fedcba9876543210fedcba9876543210"));
  EXPECT_THAT(tokens_.Decode(kQuery, other.Encode(kQuery, "CAM-0042")), IsBadPageToken());
}

}  // namespace
}  // namespace camfleet::rpc
