// The agent's renewal decision follows provisioning/certificate_profile.h: due from 2/3 of the
// validity, renewable until the role's grace after expiry, refused after.

#include "agent/renewal_policy.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_profile.h"

namespace camfleet::agent {
namespace {

using provisioning::Role;

constexpr absl::Duration Days(int64_t n) { return absl::Hours(24 * n); }

// A certificate as the CA issues it for `role` at `issued`.
provisioning::CertificateInfo IssuedAt(Role role, absl::Time issued) {
  provisioning::CertificateInfo info;
  info.role = role;
  info.not_before = issued - provisioning::kClockSkewAllowance;
  info.not_after = issued + provisioning::ProfileFor(role).validity;
  return info;
}

const absl::Time kIssued = absl::FromUnixSeconds(1'700'000'000);

TEST(RenewalPolicyTest, DockCertificateIsNotDueBeforeTwoThirds) {
  EXPECT_EQ(DecideRenewal(IssuedAt(Role::kDock, kIssued), kIssued + Days(59)).state,
            RenewalState::kNotDue);
}

TEST(RenewalPolicyTest, DockCertificateIsDueAfterTwoThirds) {
  EXPECT_EQ(DecideRenewal(IssuedAt(Role::kDock, kIssued), kIssued + Days(61)).state,
            RenewalState::kDue);
}

TEST(RenewalPolicyTest, DueTimeIsTheProfilesRenewalTime) {
  const provisioning::CertificateInfo cert = IssuedAt(Role::kCamera, kIssued);
  const RenewalDecision d = DecideRenewal(cert, kIssued);
  EXPECT_EQ(d.due_at, provisioning::RenewalDueAt(cert.not_before, cert.not_after));
  EXPECT_EQ(DecideRenewal(cert, d.due_at - absl::Seconds(1)).state, RenewalState::kNotDue);
  EXPECT_EQ(DecideRenewal(cert, d.due_at).state, RenewalState::kDue);
}

TEST(RenewalPolicyTest, ExpiredCertificateWithinGraceIsStillRenewed) {
  const RenewalDecision d = DecideRenewal(IssuedAt(Role::kDock, kIssued), kIssued + Days(100));
  EXPECT_EQ(d.state, RenewalState::kExpiredInGrace);
  EXPECT_TRUE(ShouldRenew(d));
}

TEST(RenewalPolicyTest, LastMomentOfTheGraceStillCounts) {
  const provisioning::CertificateInfo cert = IssuedAt(Role::kDock, kIssued);
  const absl::Time end = cert.not_after + provisioning::ProfileFor(Role::kDock).renewal_grace;
  EXPECT_EQ(DecideRenewal(cert, end).state, RenewalState::kExpiredInGrace);
  EXPECT_EQ(DecideRenewal(cert, end + absl::Seconds(1)).state, RenewalState::kExpiredPastGrace);
}

TEST(RenewalPolicyTest, CertificatePastGraceIsNotRenewed) {
  const RenewalDecision d = DecideRenewal(IssuedAt(Role::kDock, kIssued), kIssued + Days(121));
  EXPECT_EQ(d.state, RenewalState::kExpiredPastGrace);
  EXPECT_FALSE(ShouldRenew(d));
}

TEST(RenewalPolicyTest, CameraCertificateIsDueAfterTwoThirdsOfAYear) {
  const provisioning::CertificateInfo cert = IssuedAt(Role::kCamera, kIssued);
  EXPECT_EQ(DecideRenewal(cert, kIssued + Days(242)).state, RenewalState::kNotDue);
  EXPECT_EQ(DecideRenewal(cert, kIssued + Days(244)).state, RenewalState::kDue);
}

}  // namespace
}  // namespace camfleet::agent
