#include "provisioning/digest.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::testing::IsOk;

TEST(DigestTest, Sha256OfAbcIsTheFips180TestVector) {
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, Sha256OfEmptyInputIsTheKnownValue) {
  EXPECT_EQ(ToHex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DigestTest, HmacSha256MatchesRfc4231TestCase2) {
  EXPECT_EQ(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(DigestTest, RandomBytesHaveTheRequestedLengthAndDiffer) {
  absl::StatusOr<std::string> a = RandomBytes(32);
  absl::StatusOr<std::string> b = RandomBytes(32);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
}

TEST(DigestTest, ToHexIsLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(ToHex(std::string("\x00\x0f\xa0\xff", 4)), "000fa0ff");
}

TEST(DigestTest, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("token", "token"));
  EXPECT_FALSE(ConstantTimeEquals("token", "tokem"));
  EXPECT_FALSE(ConstantTimeEquals("token", "token2"));
}

}  // namespace
}  // namespace camfleet::provisioning
