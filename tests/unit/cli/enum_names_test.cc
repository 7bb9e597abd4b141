#include "cli/enum_names.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseCameraStateTest, AcceptsEveryStateInAnyCase) {
  EXPECT_EQ(*ParseCameraState("registered"), v1::CAMERA_STATE_REGISTERED);
  EXPECT_EQ(*ParseCameraState("Available"), v1::CAMERA_STATE_AVAILABLE);
  EXPECT_EQ(*ParseCameraState("ISSUED"), v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(*ParseCameraState("lost"), v1::CAMERA_STATE_LOST);
  EXPECT_EQ(*ParseCameraState("faulty"), v1::CAMERA_STATE_FAULTY);
  EXPECT_EQ(*ParseCameraState("retired"), v1::CAMERA_STATE_RETIRED);
}

TEST(ParseCameraStateTest, AcceptsTheProtoEnumName) {
  EXPECT_EQ(*ParseCameraState("camera_state_lost"), v1::CAMERA_STATE_LOST);
}

TEST(ParseCameraStateTest, UnknownStateNamesTheAllowedOnes) {
  EXPECT_THAT(ParseCameraState("stolen"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("registered, available, issued, lost, faulty, retired")));
}

TEST(ParseCameraStateTest, RefusesUnspecified) {
  EXPECT_THAT(ParseCameraState("unspecified"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCameraState(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CameraStateNameTest, DropsThePrefix) {
  EXPECT_EQ(CameraStateName(v1::CAMERA_STATE_ISSUED), "ISSUED");
  EXPECT_EQ(CameraStateName(v1::CAMERA_STATE_UNSPECIFIED), "");
}

TEST(CameraStateNameTest, ShowsValuesFromANewerServer) {
  EXPECT_EQ(CameraStateName(static_cast<v1::CameraState>(42)), "UNKNOWN(42)");
}

TEST(ReturnConditionNameTest, DropsThePrefix) {
  EXPECT_EQ(ReturnConditionName(v1::RETURN_CONDITION_NOT_RETURNED), "NOT_RETURNED");
  EXPECT_EQ(ReturnConditionName(v1::RETURN_CONDITION_UNSPECIFIED), "");
}

}  // namespace
}  // namespace camfleet::cli
