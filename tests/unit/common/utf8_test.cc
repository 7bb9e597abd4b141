// Strict UTF-8 (common/utf8.h): what protobuf accepts in a string field, so that text the
// server puts into one (an import's row errors quoting the caller's values) can always be read
// at the other end.

#include "common/utf8.h"

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camfleet::common {
namespace {

using ::testing::Optional;

TEST(Utf8Test, WellFormedTextOfOneToFourBytesPerCharacterIsCounted) {
  EXPECT_THAT(CountUtf8(""), Optional(0u));
  EXPECT_THAT(CountUtf8("BWC-4"), Optional(5u));
  EXPECT_THAT(CountUtf8("R\xc3\xa9v"), Optional(3u));        // é
  EXPECT_THAT(CountUtf8("\xe2\x82\xac 5"), Optional(3u));    // €
  EXPECT_THAT(CountUtf8("\xf0\x9f\x93\xb7"), Optional(1u));  // U+1F4F7, a camera
  EXPECT_THAT(CountUtf8("\xf4\x8f\xbf\xbf"), Optional(1u));  // U+10FFFF, the last
  EXPECT_EQ(FirstInvalidUtf8("R\xc3\xa9v \xe2\x82\xac"), std::nullopt);
}

TEST(Utf8Test, EveryMalformedSequenceIsFoundAtItsFirstByte) {
  struct Case {
    std::string text;
    size_t first_bad;
  };
  for (const Case& c : std::vector<Case>{{"R\xe9v B", 1},            // Windows-1252 é
                                         {"ab\x80", 2},              // a continuation byte alone
                                         {"\xc0\xaf", 0},            // overlong '/'
                                         {"x\xe0\x80\xaf", 1},       // overlong, three bytes
                                         {"\xed\xa0\x80", 0},        // a surrogate, U+D800
                                         {"ok\xf4\x90\x80\x80", 2},  // above U+10FFFF
                                         {"\xf5\x80\x80\x80", 0},    // never a lead byte
                                         {"end\xe2\x82", 3},         // cut short at the end
                                         {"\xe2\x82x", 0},           // cut short by an ASCII byte
                                         {"\xff", 0}}) {
    EXPECT_THAT(FirstInvalidUtf8(c.text), Optional(c.first_bad)) << c.text;
    EXPECT_EQ(CountUtf8(c.text), std::nullopt) << c.text;
    EXPECT_EQ(Utf8CharLength(absl::string_view(c.text).substr(c.first_bad)), 0u) << c.text;
  }
}

TEST(Utf8Test, TruncationNeverCutsACharacterNorPassesABadByte) {
  const std::string euros = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";  // three 3-byte characters
  EXPECT_EQ(TruncateUtf8(euros, 9), euros);
  EXPECT_EQ(TruncateUtf8(euros, 8), euros.substr(0, 6));
  EXPECT_EQ(TruncateUtf8(euros, 7), euros.substr(0, 6));
  EXPECT_EQ(TruncateUtf8(euros, 2), "");
  EXPECT_EQ(TruncateUtf8("CAM\xff"
                         "01",
                         64),
            "CAM");
  EXPECT_EQ(TruncateUtf8("short", 64), "short");
  // Whatever the cut, what is left is well formed.
  const std::string mixed = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xb7z";
  for (size_t n = 0; n <= mixed.size(); ++n) {
    EXPECT_EQ(FirstInvalidUtf8(TruncateUtf8(mixed, n)), std::nullopt) << n;
    EXPECT_LE(TruncateUtf8(mixed, n).size(), n);
  }
}

TEST(Utf8Test, MessagesQuoteWholeCharactersAndNameTheOneAtAPosition) {
  const std::string euros = "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";
  EXPECT_EQ(QuoteUtf8(euros, 9), "'" + euros + "'");
  EXPECT_EQ(QuoteUtf8(euros, 8), "'" + euros.substr(0, 6) + "...'");
  EXPECT_EQ(QuoteUtf8("CAM\xff"
                      "01",
                      64),
            "'CAM...'");
  EXPECT_EQ(DescribeCharAt("a b", 1), "a space");
  EXPECT_EQ(DescribeCharAt("a/b", 1), "'/'");
  EXPECT_EQ(DescribeCharAt("R\xc3\xa9v", 1), "'\xc3\xa9'");
  EXPECT_EQ(DescribeCharAt("R\xe9v", 1), "byte 0xe9");
  EXPECT_EQ(DescribeCharAt("a\x01", 1), "byte 0x01");
}

}  // namespace
}  // namespace camfleet::common
