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

TEST(ParseOperatorRoleTest, AcceptsTheThreeOperatorRolesInAnyCase) {
  EXPECT_EQ(*ParseOperatorRole("admin"), v1::ROLE_ADMIN);
  EXPECT_EQ(*ParseOperatorRole("Quartermaster"), v1::ROLE_QUARTERMASTER);
  EXPECT_EQ(*ParseOperatorRole("AUDITOR"), v1::ROLE_AUDITOR);
}

TEST(ParseOperatorRoleTest, AcceptsTheProtoEnumName) {
  EXPECT_EQ(*ParseOperatorRole("ROLE_QUARTERMASTER"), v1::ROLE_QUARTERMASTER);
}

TEST(ParseOperatorRoleTest, RefusesMachineRolesNamingTheOperatorRoles) {
  for (const char* text : {"dock", "camera", "server", "unspecified", ""}) {
    EXPECT_THAT(ParseOperatorRole(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("use one of: admin, quartermaster, auditor")))
        << text;
  }
}

TEST(ParseRoleTest, AcceptsDockAndCameraToo) {
  EXPECT_EQ(*ParseRole("dock"), v1::ROLE_DOCK);
  EXPECT_EQ(*ParseRole("Camera"), v1::ROLE_CAMERA);
  EXPECT_EQ(*ParseRole("admin"), v1::ROLE_ADMIN);
  EXPECT_THAT(ParseRole("server"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("admin, quartermaster, auditor, dock, camera")));
}

TEST(RoleNameTest, IsLowerCaseWithoutThePrefix) {
  EXPECT_EQ(RoleName(v1::ROLE_QUARTERMASTER), "quartermaster");
  EXPECT_EQ(RoleName(v1::ROLE_UNSPECIFIED), "");
  EXPECT_EQ(RoleName(static_cast<v1::Role>(42)), "UNKNOWN(42)");
}

TEST(ParseRevocationReasonTest, AcceptsEveryReasonWithHyphens) {
  EXPECT_EQ(*ParseRevocationReason("key-compromise"), v1::REVOCATION_REASON_KEY_COMPROMISE);
  EXPECT_EQ(*ParseRevocationReason("affiliation-changed"),
            v1::REVOCATION_REASON_AFFILIATION_CHANGED);
  EXPECT_EQ(*ParseRevocationReason("superseded"), v1::REVOCATION_REASON_SUPERSEDED);
  EXPECT_EQ(*ParseRevocationReason("cessation-of-operation"),
            v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  EXPECT_EQ(*ParseRevocationReason("privilege-withdrawn"),
            v1::REVOCATION_REASON_PRIVILEGE_WITHDRAWN);
}

TEST(ParseRevocationReasonTest, IgnoresCaseAndAcceptsUnderscores) {
  EXPECT_EQ(*ParseRevocationReason("KEY_COMPROMISE"), v1::REVOCATION_REASON_KEY_COMPROMISE);
  EXPECT_EQ(*ParseRevocationReason("Cessation_Of-Operation"),
            v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
}

TEST(ParseRevocationReasonTest, AcceptsTheRfcAndProtoSpellings) {
  EXPECT_EQ(*ParseRevocationReason("keyCompromise"), v1::REVOCATION_REASON_KEY_COMPROMISE);
  EXPECT_EQ(*ParseRevocationReason("REVOCATION_REASON_PRIVILEGE_WITHDRAWN"),
            v1::REVOCATION_REASON_PRIVILEGE_WITHDRAWN);
}

TEST(ParseRevocationReasonTest, UnknownReasonNamesTheAllowedOnes) {
  for (const char* text : {"lost", "unspecified", "", "--", "ca-compromise"}) {
    EXPECT_THAT(ParseRevocationReason(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("key-compromise, affiliation-changed, superseded, "
                                   "cessation-of-operation, privilege-withdrawn")))
        << text;
  }
}

TEST(RevocationReasonNameTest, IsLowerCaseWithHyphens) {
  EXPECT_EQ(RevocationReasonName(v1::REVOCATION_REASON_CESSATION_OF_OPERATION),
            "cessation-of-operation");
  EXPECT_EQ(RevocationReasonName(v1::REVOCATION_REASON_UNSPECIFIED), "");
}

}  // namespace
}  // namespace camfleet::cli
