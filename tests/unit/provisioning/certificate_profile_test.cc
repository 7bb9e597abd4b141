#include "provisioning/certificate_profile.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "provisioning/role.h"

namespace camfleet::provisioning {
namespace {

constexpr absl::Duration kDay = absl::Hours(24);
// DESIGN.md: a post cut off this long must come back without anyone touching it.
constexpr absl::Duration kLongestOutage = absl::Hours(24 * 30);

TEST(CertificateProfileTest, EveryRoleHasItsOwnProfile) {
  for (Role role : kAllRoles) {
    EXPECT_EQ(ProfileFor(role).role, role) << RoleName(role);
    EXPECT_GT(ProfileFor(role).validity, absl::ZeroDuration()) << RoleName(role);
  }
}

TEST(CertificateProfileTest, RenewalIsDueAtTwoThirdsOfValidity) {
  const absl::Time start = absl::UnixEpoch();
  EXPECT_EQ(RenewalDueAt(start, start + 90 * kDay), start + 60 * kDay);
}

// Renewal opens at 2/3 of validity; an outage starting then must end before the certificate is
// past its grace, for every role whose holder renews itself over the network.
TEST(CertificateProfileTest, AThirtyDayOutageNeverStrandsAFieldCertificate) {
  for (Role role : kAllRoles) {
    if (role == Role::kServer) continue;
    const CertificateProfile& profile = ProfileFor(role);
    const absl::Duration left_when_renewal_opens = profile.validity / 3;
    EXPECT_GE(left_when_renewal_opens + profile.renewal_grace, kLongestOutage) << RoleName(role);
  }
}

TEST(CertificateProfileTest, MachinesRideOutAThirtyDayOutageWithoutTheGrace) {
  for (Role role : {Role::kDock, Role::kCamera}) {
    EXPECT_GE(ProfileFor(role).validity / 3, kLongestOutage) << RoleName(role);
  }
}

TEST(CertificateProfileTest, OnlyTheServerAndDocksMayServe) {
  for (Role role : kAllRoles) {
    const CertificateProfile& profile = ProfileFor(role);
    const bool may_serve = profile.server_auth || profile.server_auth_optional;
    EXPECT_EQ(may_serve, role == Role::kServer || role == Role::kDock) << RoleName(role);
  }
}

}  // namespace
}  // namespace camfleet::provisioning
