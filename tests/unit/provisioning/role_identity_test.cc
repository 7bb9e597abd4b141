#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/identity.h"
#include "provisioning/role.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::HasSubstr;

TEST(RoleTest, EveryRoleNameParsesBackToTheRole) {
  for (Role role : kAllRoles) {
    absl::StatusOr<Role> parsed = ParseRole(RoleName(role));
    ASSERT_THAT(parsed, IsOk()) << RoleName(role);
    EXPECT_EQ(*parsed, role);
  }
}

TEST(RoleTest, NamesAreTheDocumentedLowerCaseWords) {
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
  EXPECT_EQ(RoleName(Role::kQuartermaster), "quartermaster");
  EXPECT_EQ(RoleName(Role::kAuditor), "auditor");
  EXPECT_EQ(RoleName(Role::kDock), "dock");
  EXPECT_EQ(RoleName(Role::kCamera), "camera");
  EXPECT_EQ(RoleName(Role::kServer), "server");
}

TEST(RoleTest, ParseRoleRejectsUnknownAndWrongCase) {
  EXPECT_THAT(ParseRole("root"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("root")));
  EXPECT_THAT(ParseRole("Admin"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RoleTest, OnlyPeopleAreOperators) {
  EXPECT_TRUE(IsOperator(Role::kAdmin));
  EXPECT_TRUE(IsOperator(Role::kQuartermaster));
  EXPECT_TRUE(IsOperator(Role::kAuditor));
  EXPECT_FALSE(IsOperator(Role::kDock));
  EXPECT_FALSE(IsOperator(Role::kCamera));
  EXPECT_FALSE(IsOperator(Role::kServer));
}

TEST(IdentityTest, AcceptsSerialsDockIdsUserAndHostNames) {
  for (const char* id : {"CAM-000123", "post-7-dock-1", "alice", "j.smith_2", "hq.example.org"}) {
    EXPECT_THAT(ValidateIdentity(id), IsOk()) << id;
  }
}

TEST(IdentityTest, RejectsWhatWouldMakeTheUriAmbiguous) {
  for (const char* id : {"", "a/b", "..", ".hidden", "-x", "a b", "a%2f", "caf\xc3\xa9", "a:b"}) {
    EXPECT_THAT(ValidateIdentity(id), StatusIs(absl::StatusCode::kInvalidArgument)) << id;
  }
}

TEST(IdentityTest, RejectsMoreThan64Characters) {
  EXPECT_THAT(ValidateIdentity(std::string(64, 'a')), IsOk());
  EXPECT_THAT(ValidateIdentity(std::string(65, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64")));
}

TEST(IdentityTest, UriHasTheDocumentedShape) {
  EXPECT_EQ(IdentityUri({Role::kDock, "post-7-dock-1"}), "camfleet://dock/post-7-dock-1");
  EXPECT_EQ(IdentityUri({Role::kCamera, "CAM-000123"}), "camfleet://camera/CAM-000123");
  EXPECT_EQ(IdentityUri({Role::kAdmin, "alice"}), "camfleet://admin/alice");
}

TEST(IdentityTest, UriParsesBackForEveryRole) {
  for (Role role : kAllRoles) {
    const FleetIdentity identity{role, "unit-1"};
    absl::StatusOr<FleetIdentity> parsed = ParseIdentityUri(IdentityUri(identity));
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, identity);
  }
}

TEST(IdentityTest, ParseUriRejectsOtherSchemesRolesAndExtraPath) {
  for (const char* uri :
       {"https://dock/x", "camfleet://", "camfleet://dock", "camfleet://dock/", "camfleet://root/x",
        "camfleet://dock/x/y", "CAMFLEET://dock/x", "camfleet://dock/x?a"}) {
    EXPECT_THAT(ParseIdentityUri(uri), StatusIs(absl::StatusCode::kInvalidArgument)) << uri;
  }
}

}  // namespace
}  // namespace camfleet::provisioning
