// The audit trail names who acted as their certificate says: an operator by name, a dock as
// "dock:<id>". Nothing the client sends (such as the development mode's `camfleet-operator`
// header) changes that.

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using ::testing::ElementsAre;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kDockId[] = "post-1-dock-1";

class AuditActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite("POST-1"), IsOk());
  }

  // The actors of the events with `action` on `object_id`, in order.
  std::vector<std::string> Actors(const std::string& object_id, const std::string& action) {
    v1::ListAuditEventsRequest filter;
    filter.set_object_id(object_id);
    filter.set_action(action);
    absl::StatusOr<std::vector<v1::AuditEvent>> events = admin_->AuditEvents(filter);
    EXPECT_THAT(events, IsOk());
    std::vector<std::string> out;
    if (events.ok()) {
      for (const v1::AuditEvent& e : *events) out.push_back(e.actor());
    }
    return out;
  }

  std::unique_ptr<TlsClient> Operator(const std::string& name, Role role) {
    absl::StatusOr<ClientCredentials> op = server_->IssueOperator(name, role);
    EXPECT_THAT(op, IsOk());
    if (!op.ok()) return nullptr;
    return std::make_unique<TlsClient>(server_->Channel(op->bundle));
  }

  // Moved forward only to reach a renewal window.
  common::FakeClock clock_{absl::Now()};
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
};

TEST_F(AuditActorTest, OperatorActionIsRecordedUnderItsCertificateName) {
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  ASSERT_THAT(qm->CreateHolder("B-001", "POST-1"), IsOk());
  EXPECT_THAT(Actors("B-001", "holder.create"), ElementsAre("qm-alice"));
}

TEST_F(AuditActorTest, ForgedOperatorHeaderIsIgnored) {
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  qm->set_forged_operator("someone-else");
  ASSERT_THAT(qm->CreateHolder("B-001", "POST-1"), IsOk());
  ASSERT_THAT(qm->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  EXPECT_THAT(Actors("B-001", "holder.create"), ElementsAre("qm-alice"));
  EXPECT_THAT(Actors("CAM-0001", ""), ElementsAre("qm-alice"));
  v1::ListAuditEventsRequest by_forged;
  by_forged.set_actor("someone-else");
  absl::StatusOr<std::vector<v1::AuditEvent>> forged = admin_->AuditEvents(by_forged);
  ASSERT_THAT(forged, IsOk());
  EXPECT_THAT(*forged, SizeIs(0));
}

TEST_F(AuditActorTest, AdminActionIsRecordedUnderTheAdminsName) {
  ASSERT_THAT(admin_->CreateSite("POST-2"), IsOk());
  EXPECT_THAT(Actors("POST-2", "site.create"), ElementsAre(kRootAdmin));
}

TEST_F(AuditActorTest, IssuedOperatorCertificateNamesTheIssuingAdmin) {
  ASSERT_NE(Operator("qm-alice", Role::kQuartermaster), nullptr);
  EXPECT_THAT(Actors("qm-alice", "operator.issue_certificate"), ElementsAre(kRootAdmin));
}

TEST_F(AuditActorTest, InitIsRecordedAsInit) {
  EXPECT_THAT(Actors(kRootAdmin, "operator.issue_certificate"), ElementsAre("camfleetd-init"));
}

TEST_F(AuditActorTest, DockEnrollmentIsRecordedAsTheDock) {
  ASSERT_THAT(server_->EnrollDock("POST-1", kDockId), IsOk());
  EXPECT_THAT(Actors(kDockId, "dock.enroll"), ElementsAre(std::string("dock:") + kDockId));
}

TEST_F(AuditActorTest, CameraEnrollmentIsRecordedAsTheDock) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  TlsClient dock_client(server_->Channel(dock->credentials.bundle));
  ASSERT_THAT(dock_client.EnrollNewCamera("CAM-0001"), IsOk());
  EXPECT_THAT(Actors("CAM-0001", "camera.enroll"), ElementsAre(std::string("dock:") + kDockId));
}

TEST_F(AuditActorTest, DockRenewalIsRecordedAsTheDock) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  TlsClient dock_client(server_->Channel(dock->credentials.bundle));
  dock_client.set_forged_operator(kRootAdmin);
  clock_.Advance(absl::Hours(24 * 61));  // into the dock certificate's renewal window
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(kDockId);
  ASSERT_THAT(next, IsOk());
  ASSERT_THAT(dock_client.RenewDock(next->csr_pem), IsOk());
  // root-admin's 30-day certificate has expired by now: read the trail as a fresh admin.
  absl::StatusOr<ClientCredentials> admin =
      server_->IssueDirect(Role::kAdmin, "admin-2", clock_.Now());
  ASSERT_THAT(admin, IsOk());
  admin_ = std::make_unique<TlsClient>(server_->Channel(admin->bundle));
  EXPECT_THAT(Actors(kDockId, "dock.renew_certificate"),
              ElementsAre(std::string("dock:") + kDockId));
}

TEST_F(AuditActorTest, RevocationOfALostCameraIsRecordedUnderTheReportingOperator) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  TlsClient dock_client(server_->Channel(dock->credentials.bundle));
  absl::StatusOr<v1::EnrollCameraResponse> enrolled = dock_client.EnrollNewCamera("CAM-0001");
  ASSERT_THAT(enrolled, IsOk());
  std::unique_ptr<TlsClient> qm = Operator("qm-alice", Role::kQuartermaster);
  ASSERT_NE(qm, nullptr);
  ASSERT_THAT(qm->ReportLost("CAM-0001"), IsOk());
  EXPECT_THAT(Actors(enrolled->certificate().serial(), "certificate.revoke"),
              ElementsAre("qm-alice"));
  EXPECT_THAT(Actors("CAM-0001", "camera.lost"), ElementsAre("qm-alice"));
}

TEST_F(AuditActorTest, AuditChainStaysIntactThroughIdentityActions) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  ASSERT_NE(Operator("qm-alice", Role::kQuartermaster), nullptr);
  ASSERT_THAT(admin_->RevokeOperator("qm-alice"), IsOk());
  ASSERT_THAT(admin_->GetCrl(), IsOk());
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = admin_->VerifyAuditChain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact()) << chain->problem();
}

TEST_F(AuditActorTest, NoAuditEventHoldsTheEnrollmentToken) {
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(kDockId);
  ASSERT_THAT(made, IsOk());
  TlsClient installer(server_->ChannelWithoutCertificate());
  ASSERT_THAT(installer.EnrollDock(token->token(), made->csr_pem), IsOk());
  absl::StatusOr<std::vector<v1::AuditEvent>> events =
      admin_->AuditEvents(v1::ListAuditEventsRequest());
  ASSERT_THAT(events, IsOk());
  ASSERT_THAT(*events, Not(SizeIs(0)));
  for (const v1::AuditEvent& e : *events) {
    EXPECT_EQ(e.details_json().find(token->token()), std::string::npos) << e.DebugString();
  }
}

}  // namespace
}  // namespace camfleet::testing
