// Request field checks: every refusal is INVALID_ARGUMENT and names the field.

#include "services/rpc/validation.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "camfleet/v1/fleet.pb.h"
#include "common/utf8.h"
#include "gmock/gmock.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "services/rpc/canonical_codes.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::rpc {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

MATCHER_P(HoldsValue, value, "is OK and holds " + ::testing::PrintToString(value)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == value;
}

std::string Repeat(absl::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) absl::StrAppend(&out, s);
  return out;
}

// ---------------------------------------------------------------------------- serials

TEST(ValidateSerialTest, AcceptsUpperCaseDigitsAndInnerDashes) {
  EXPECT_THAT(ValidateSerial("serial", "CAM-0001"), IsOk());
  EXPECT_THAT(ValidateSerial("serial", "A1B2"), IsOk());
}

TEST(ValidateSerialTest, AcceptsFourAndThirtyTwoCharacters) {
  EXPECT_THAT(ValidateSerial("serial", "ABCD"), IsOk());
  EXPECT_THAT(ValidateSerial("serial", std::string(32, 'Z')), IsOk());
}

TEST(ValidateSerialTest, EmptyIsRequiredNamingTheField) {
  EXPECT_THAT(ValidateSerial("camera_serial", ""),
              StatusIs(kInvalid, HasSubstr("camera_serial is required")));
}

TEST(ValidateSerialTest, ThreeCharactersIsTooShortNamingTheField) {
  EXPECT_THAT(ValidateSerial("camera_serial", "ABC"),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("3 characters"),
                                       HasSubstr("4 to 32"))));
}

TEST(ValidateSerialTest, ThirtyThreeCharactersIsTooLongNamingTheField) {
  EXPECT_THAT(ValidateSerial("camera_serial", std::string(33, 'A')),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("33 characters"))));
}

TEST(ValidateSerialTest, LowerCaseIsRefusedWithAHint) {
  EXPECT_THAT(ValidateSerial("camera_serial", "CAMx001"),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("'x'"),
                                       HasSubstr("position 4"), HasSubstr("upper case"))));
}

TEST(ValidateSerialTest, SpaceIsRefusedNamingIt) {
  EXPECT_THAT(ValidateSerial("camera_serial", "AB 12"),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("a space"),
                                       HasSubstr("position 3"))));
}

TEST(ValidateSerialTest, ControlByteIsRefusedInHex) {
  EXPECT_THAT(ValidateSerial("camera_serial", std::string("AB\x01"
                                                          "12",
                                                          5)),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("0x01"))));
}

// Counted in characters, quoted whole characters: 30 euro signs are 90 bytes but a serial's
// length, so the character is what is refused; 40 are too long, and the quote of their first
// 64 bytes stops before the 22nd (a cut character would make the message unreadable in a
// protobuf string field).
TEST(ValidateSerialTest, ManyByteCharactersAreCountedAndQuotedWhole) {
  std::string euros30;
  for (int i = 0; i < 30; ++i) euros30 += "\xe2\x82\xac";
  EXPECT_THAT(ValidateSerial("serial", euros30),
              StatusIs(kInvalid, AllOf(HasSubstr("'\xe2\x82\xac' at position 1"),
                                       HasSubstr("only A-Z, 0-9"))));
  const std::string euros40 = euros30 + euros30.substr(0, 30);
  absl::Status s = ValidateSerial("serial", euros40);
  EXPECT_THAT(s, StatusIs(kInvalid, AllOf(HasSubstr("has 40 characters"),
                                          HasSubstr(euros40.substr(0, 63) + "...'"))));
  EXPECT_EQ(common::FirstInvalidUtf8(s.message()), std::nullopt) << s.message();
}

TEST(ValidateSerialTest, UnderscoreIsRefused) {
  EXPECT_THAT(ValidateSerial("camera_serial", "CAM_0001"),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("'_'"))));
}

TEST(ValidateSerialTest, LeadingDashIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateSerial("camera_serial", "-CAM0001"),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("'-'"))));
}

TEST(ValidateSerialTest, TrailingDashIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateSerial("camera_serial", "CAM0001-"),
              StatusIs(kInvalid, AllOf(HasSubstr("camera_serial"), HasSubstr("'-'"))));
}

// ------------------------------------------------------------------------------ sites

TEST(ValidateSiteCodeTest, AcceptsUnderscoreAndDash) {
  EXPECT_THAT(ValidateSiteCode("site_code", "HQ_NORTH-2"), IsOk());
  EXPECT_THAT(ValidateSiteCode("site_code", "X"), IsOk());
  EXPECT_THAT(ValidateSiteCode("site_code", std::string(32, 'S')), IsOk());
}

TEST(ValidateSiteCodeTest, EmptyIsRequiredNamingTheField) {
  EXPECT_THAT(ValidateSiteCode("home_site_code", ""),
              StatusIs(kInvalid, HasSubstr("home_site_code is required")));
}

TEST(ValidateSiteCodeTest, ThirtyThreeCharactersIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateSiteCode("home_site_code", std::string(33, 'S')),
              StatusIs(kInvalid, AllOf(HasSubstr("home_site_code"), HasSubstr("site code"),
                                       HasSubstr("1 to 32"))));
}

TEST(ValidateSiteCodeTest, LowerCaseIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateSiteCode("home_site_code", "post-1"),
              StatusIs(kInvalid, AllOf(HasSubstr("home_site_code"), HasSubstr("upper case"))));
}

TEST(CanonicalCodesTest, CodesOfAFleetRequestAreUpperCasedAndTextIsNot) {
  v1::ListCamerasRequest req;
  req.set_site_code("batken-post-01");
  req.set_holder_badge("b-100");
  req.set_model("Axon Body 4");
  v1::ListCamerasRequest canonical = WithCanonicalCodes(req);
  EXPECT_EQ(canonical.site_code(), "BATKEN-POST-01");
  EXPECT_EQ(canonical.holder_badge(), "B-100");
  EXPECT_EQ(canonical.model(), "Axon Body 4");
  // A bad character is still there for validation to name.
  v1::RegisterCameraRequest bad;
  bad.set_serial("cam 01");
  bad.set_site_code("post_1");
  v1::RegisterCameraRequest checked = WithCanonicalCodes(bad);
  EXPECT_EQ(checked.serial(), "CAM 01");
  EXPECT_THAT(ValidateSerial("serial", checked.serial()), StatusIs(kInvalid, HasSubstr("a space")));
  EXPECT_EQ(checked.site_code(), "POST_1");
  EXPECT_THAT(ValidateSiteCode("site_code", checked.site_code()), IsOk());
}

TEST(ValidateSiteCodeTest, DotIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateSiteCode("home_site_code", "POST.1"),
              StatusIs(kInvalid, AllOf(HasSubstr("home_site_code"), HasSubstr("'.'"))));
}

// ----------------------------------------------------------------------------- badges

TEST(ValidateBadgeTest, AcceptsDigitsLettersAndDash) {
  EXPECT_THAT(ValidateBadge("badge", "B-1234"), IsOk());
  EXPECT_THAT(ValidateBadge("badge", "7"), IsOk());
}

TEST(ValidateBadgeTest, EmptyIsRequiredNamingTheField) {
  EXPECT_THAT(ValidateBadge("holder_badge", ""),
              StatusIs(kInvalid, HasSubstr("holder_badge is required")));
}

TEST(ValidateBadgeTest, UnderscoreIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateBadge("holder_badge", "B_1"),
              StatusIs(kInvalid, AllOf(HasSubstr("holder_badge"), HasSubstr("'_'"),
                                       HasSubstr("badge number"))));
}

TEST(ValidateBadgeTest, ThirtyThreeCharactersIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateBadge("holder_badge", std::string(33, '9')),
              StatusIs(kInvalid, AllOf(HasSubstr("holder_badge"), HasSubstr("33 characters"))));
}

// ------------------------------------------------------------------------------- text

TEST(ValidateTextTest, AcceptsTextWithinBounds) {
  EXPECT_THAT(ValidateText("note", "back at 18:00", 0, 1024), IsOk());
  EXPECT_THAT(ValidateText("note", "", 0, 1024), IsOk());
}

TEST(ValidateTextTest, AcceptsNewlineAndTab) {
  EXPECT_THAT(ValidateText("note", "line one\n\tline two", 1, 1024), IsOk());
}

TEST(ValidateTextTest, AcceptsMultiByteUtf8) {
  EXPECT_THAT(ValidateText("name", "Zoë Ångström – Ж 警察 🚓", 1, 128), IsOk());
}

TEST(ValidateTextTest, EmptyRequiredTextIsRequiredNamingTheField) {
  EXPECT_THAT(ValidateText("reason", "", 1, 1024),
              StatusIs(kInvalid, HasSubstr("reason is required")));
}

TEST(ValidateTextTest, TooShortNamesTheFieldAndTheMinimum) {
  EXPECT_THAT(ValidateText("reason", "ab", 3, 1024),
              StatusIs(kInvalid, AllOf(HasSubstr("reason"), HasSubstr("at least 3"))));
}

TEST(ValidateTextTest, TooLongNamesTheFieldAndTheMaximum) {
  EXPECT_THAT(ValidateText("note", std::string(1025, 'x'), 0, 1024),
              StatusIs(kInvalid, AllOf(HasSubstr("note"), HasSubstr("1024"))));
}

TEST(ValidateTextTest, ControlCharacterIsRefusedNamingTheField) {
  EXPECT_THAT(ValidateText("note", "bell\a", 0, 1024),
              StatusIs(kInvalid, AllOf(HasSubstr("note"), HasSubstr("control character"),
                                       HasSubstr("0x07"))));
}

TEST(ValidateTextTest, CarriageReturnIsRefused) {
  EXPECT_THAT(ValidateText("note", "a\r\nb", 0, 1024),
              StatusIs(kInvalid, HasSubstr("control character")));
}

TEST(ValidateTextTest, NulByteIsRefused) {
  EXPECT_THAT(ValidateText("note", std::string("a\0b", 3), 0, 1024),
              StatusIs(kInvalid, AllOf(HasSubstr("note"), HasSubstr("0x00"))));
}

TEST(ValidateTextTest, TruncatedUtf8IsRefusedNamingTheField) {
  EXPECT_THAT(ValidateText("note", "caf\xC3", 0, 1024),
              StatusIs(kInvalid, AllOf(HasSubstr("note"), HasSubstr("UTF-8"))));
}

TEST(ValidateTextTest, StrayContinuationByteIsRefused) {
  EXPECT_THAT(ValidateText("note", "a\x80z", 0, 1024), StatusIs(kInvalid, HasSubstr("UTF-8")));
}

TEST(ValidateTextTest, OverlongEncodingOfNulIsRefused) {
  // C0 80 is a non-shortest form of U+0000: not UTF-8, and a classic way past a NUL check.
  EXPECT_THAT(ValidateText("note", "a\xC0\x80z", 0, 1024), StatusIs(kInvalid, HasSubstr("UTF-8")));
}

TEST(ValidateTextTest, EncodedSurrogateIsRefused) {
  // ED A0 80 would be U+D800, a UTF-16 surrogate; UTF-8 excludes surrogates.
  EXPECT_THAT(ValidateText("note", "a\xED\xA0\x80z", 0, 1024),
              StatusIs(kInvalid, HasSubstr("UTF-8")));
}

TEST(ValidateTextTest, CodePointAboveU10FFFFIsRefused) {
  // F4 90 80 80 would be U+110000, past the last Unicode code point.
  EXPECT_THAT(ValidateText("note", "a\xF4\x90\x80\x80z", 0, 1024),
              StatusIs(kInvalid, HasSubstr("UTF-8")));
}

TEST(ValidateTextTest, MaximumCountsCharactersNotBytes) {
  // The contract (and the schema's length() CHECKs) count characters: a 100-letter Cyrillic
  // name is 200 bytes and must fit a 128-character field.
  EXPECT_THAT(ValidateText("name", Repeat("Ж", 100), 1, 128), IsOk());
}

// ------------------------------------------------------------------------- page sizes

TEST(ResolvePageSizeTest, ZeroMeansTheDefaultOfOneHundred) {
  EXPECT_THAT(ResolvePageSize(0), HoldsValue(100));
}

TEST(ResolvePageSizeTest, SizesUpToOneThousandAreKept) {
  EXPECT_THAT(ResolvePageSize(1), HoldsValue(1));
  EXPECT_THAT(ResolvePageSize(250), HoldsValue(250));
  EXPECT_THAT(ResolvePageSize(1000), HoldsValue(1000));
}

TEST(ResolvePageSizeTest, SizesAboveOneThousandAreLowered) {
  EXPECT_THAT(ResolvePageSize(1001), HoldsValue(1000));
  EXPECT_THAT(ResolvePageSize(std::numeric_limits<int32_t>::max()), HoldsValue(1000));
}

TEST(ResolvePageSizeTest, NegativeIsRefusedNamingPageSize) {
  EXPECT_THAT(ResolvePageSize(-1), StatusIs(kInvalid, HasSubstr("page_size")));
  EXPECT_THAT(ResolvePageSize(std::numeric_limits<int32_t>::min()),
              StatusIs(kInvalid, HasSubstr("page_size")));
}

// ------------------------------------------------------------------------- timestamps

TEST(TimestampMicrosTest, UnsetIsRequiredNamingTheField) {
  EXPECT_THAT(TimestampMicros("due_back_time", false, google::protobuf::Timestamp()),
              StatusIs(kInvalid, HasSubstr("due_back_time is required")));
}

TEST(TimestampMicrosTest, ConvertsToMicroseconds) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(123456789);
  EXPECT_THAT(TimestampMicros("due_back_time", true, ts), HoldsValue(int64_t{1700000000123456}));
}

TEST(TimestampMicrosTest, SecondsPastYear9999AreRefusedNamingTheField) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(google::protobuf::util::TimeUtil::kTimestampMaxSeconds + 1);
  EXPECT_THAT(TimestampMicros("due_back_time", true, ts),
              StatusIs(kInvalid, AllOf(HasSubstr("due_back_time"), HasSubstr("out of range"))));
}

TEST(TimestampMicrosTest, NegativeNanosAreRefusedNamingTheField) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(-1);
  EXPECT_THAT(TimestampMicros("not_seen_since", true, ts),
              StatusIs(kInvalid, HasSubstr("not_seen_since")));
}

}  // namespace
}  // namespace camfleet::rpc
