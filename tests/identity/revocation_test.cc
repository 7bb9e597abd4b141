// Revoking a principal revokes the principal (issue 11, items 1 and 3): every certificate an
// operator or dock ever held is refused on the next call, however many it collected and
// whether or not the revocation pass found it; renewal waits for its window and supersedes the
// certificate it replaces; a lost, retired or reset camera loses every certificate it had, and
// a compromised dock every camera certificate it relayed.
//
// The server runs on a FakeClock that starts at the real time (clients check the server's own
// certificate against the real clock), moved forward to reach renewal windows.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/role.h"
#include "services/storage/store.h"
#include "tests/identity/crl_listing.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

constexpr char kDockId[] = "post-1-dock-1";
constexpr absl::Duration kWait = absl::Seconds(30);

class RevocationTest : public ::testing::Test {
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

  // Renews the operator or dock holding `current` with a fresh key; the new credentials.
  absl::StatusOr<ClientCredentials> Renew(const ClientCredentials& current, Role role) {
    absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(current.name);
    if (!next.ok()) return next.status();
    TlsClient client(server_->Channel(current.bundle));
    std::string cert_pem;
    std::string ca_pem;
    if (role == Role::kDock) {
      absl::StatusOr<v1::RenewDockCertificateResponse> r = client.RenewDock(next->csr_pem);
      if (!r.ok()) return r.status();
      cert_pem = r->certificate().certificate_pem();
      ca_pem = r->ca_certificate_pem();
    } else {
      v1::RenewOperatorCertificateRequest req;
      req.set_csr_pem(next->csr_pem);
      absl::StatusOr<v1::RenewOperatorCertificateResponse> r =
          client.Prov(&v1::ProvisioningService::Stub::RenewOperatorCertificate, req);
      if (!r.ok()) return r.status();
      cert_pem = r->certificate().certificate_pem();
      ca_pem = r->ca_certificate_pem();
    }
    return ClientCredentials{current.name, {next->key_pem, cert_pem, ca_pem}};
  }

  // A renewal that loses the race with its principal's revocation: the revocation's write is
  // queued first, then the renewal's (its caller passed the authenticator and its precheck, the
  // principal not being revoked yet, and its certificate is signed), while a write of the
  // test's holds the store's writer; then the writer goes on. `revoke` and `renew` make the
  // calls (each on a thread of its own); their answers.
  struct RaceResult {
    absl::Status revoke;
    absl::Status renew;
  };
  RaceResult RevokeWhileRenewalWaits(const std::function<absl::Status()>& revoke,
                                     const std::function<absl::Status()>& renew) {
    storage::Store& store = server_->server().store();
    absl::Notification entered;
    absl::Notification release;
    store.Write(
        [&](storage::WriteTx&) {
          entered.Notify();
          release.WaitForNotificationWithTimeout(kWait);
          return absl::OkStatus();
        },
        [](absl::Status) {});
    RaceResult result{absl::UnknownError("not run"), absl::UnknownError("not run")};
    const bool held = entered.WaitForNotificationWithTimeout(kWait);
    std::thread revoking([&] { result.revoke = revoke(); });
    const bool revoke_queued = held && WaitFor([&] { return store.stats().queued >= 1; }, kWait);
    std::thread renewing;
    bool renew_queued = false;
    if (revoke_queued) {
      renewing = std::thread([&] { result.renew = renew(); });
      renew_queued = WaitFor([&] { return store.stats().queued >= 2; }, kWait);
    }
    release.Notify();
    revoking.join();
    if (renewing.joinable()) renewing.join();
    EXPECT_TRUE(held && revoke_queued && renew_queued)
        << "held " << held << ", revocation queued " << revoke_queued << ", renewal queued "
        << renew_queued;
    return result;
  }

  // The audit events with `action` (at most 1000).
  absl::StatusOr<std::vector<v1::AuditEvent>> EventsOf(const std::string& action) {
    v1::ListAuditEventsRequest filter;
    filter.set_action(action);
    return admin_->AuditEvents(filter);
  }

  absl::Status ListSitesWith(const ClientCredentials& c) {
    return TlsClient(server_->Channel(c.bundle)).ListSites().status();
  }

  // Registers `serial` at POST-1 and enrolls it through `dock`.
  absl::StatusOr<v1::EnrollCameraResponse> RegisterAndEnroll(TlsClient& dock,
                                                             const std::string& serial) {
    absl::StatusOr<v1::RegisterCameraResponse> registered =
        admin_->RegisterCamera(serial, "POST-1");
    if (!registered.ok()) return registered.status();
    return dock.EnrollNewCamera(serial);
  }

  absl::StatusOr<v1::RenewCameraCertificateResponse> RenewCamera(TlsClient& dock,
                                                                 const std::string& serial) {
    return dock.RenewCameraWithProof(serial);
  }

  // The serials on the server's current CRL, as openssl reads them.
  absl::StatusOr<CrlListing> CurrentCrl(const std::string& file_name) {
    absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
    if (!crl.ok()) return crl.status();
    return ReadCrlWithOpenssl(crl->crl_pem(), files_.path(), file_name);
  }

  common::FakeClock clock_{absl::Now()};
  TempDir files_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
};

// ------------------------------------------------------------------------------ principals

// The review's attack: collect more certificates than the revocation pass reaches, get
// revoked, keep working with the oldest. Each renewal is made from the first certificate, in
// its window (21 days on; an operator certificate is good for 30, renewable after 20).
TEST_F(RevocationTest, InsiderWhoRenewed1001TimesHasEveryCertificateRefusedOnceRevoked) {
  absl::StatusOr<ClientCredentials> first =
      server_->IssueOperator("qm-insider", Role::kQuartermaster);
  ASSERT_THAT(first, IsOk());
  clock_.Advance(absl::Hours(24 * 21));
  std::vector<ClientCredentials> held = {*first};
  for (int i = 0; i < 1001; ++i) {
    absl::StatusOr<ClientCredentials> next = Renew(*first, Role::kQuartermaster);
    ASSERT_THAT(next, IsOk()) << "renewal " << i;
    held.push_back(*std::move(next));
  }
  ASSERT_THAT(admin_->RevokeOperator("qm-insider"), IsOk());

  int accepted = 0;
  for (size_t i = 0; i < held.size(); ++i) {
    absl::Status s = ListSitesWith(held[i]);
    if (s.code() != absl::StatusCode::kUnauthenticated) {
      ++accepted;
      ADD_FAILURE() << "certificate " << i << " of " << held.size() << ": " << s;
    }
  }
  EXPECT_EQ(accepted, 0);
}

TEST_F(RevocationTest, RevokedDocksSurvivingCertificateCannotFetchTheCrlOrAnythingElse) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  // A certificate for the dock the revocation pass cannot find: signed by the fleet CA but
  // never recorded (a record lost, a row the pass missed).
  absl::StatusOr<ClientCredentials> surviving =
      server_->IssueDirect(Role::kDock, kDockId, clock_.Now());
  ASSERT_THAT(surviving, IsOk());
  TlsClient survivor(server_->Channel(surviving->bundle));
  ASSERT_THAT(survivor.GetCrl(), IsOk()) << "the surviving certificate works before";

  v1::RevokeDockRequest req;
  req.set_dock_id(kDockId);
  req.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req), IsOk());

  EXPECT_THAT(survivor.GetCrl(), StatusIs(absl::StatusCode::kUnauthenticated,
                                          AllOf(HasSubstr(kDockId), HasSubstr("revoked"))));
  EXPECT_THAT(survivor.EnrollNewCamera("CAM-0001"),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(survivor.RenewDock(MakeKeyAndCsr(kDockId)->csr_pem),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));

  // Still refused after a restart: revoked principals are loaded from the store.
  ASSERT_THAT(server_->Restart(), IsOk());
  TlsClient after_restart(server_->Channel(surviving->bundle));
  EXPECT_THAT(after_restart.GetCrl(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(RevocationTest, RevokedOperatorsUnrecordedCertificateIsRefusedAfterRestart) {
  ASSERT_THAT(server_->IssueOperator("qm-alice", Role::kQuartermaster), IsOk());
  absl::StatusOr<ClientCredentials> unrecorded =
      server_->IssueDirect(Role::kQuartermaster, "qm-alice", clock_.Now());
  ASSERT_THAT(unrecorded, IsOk());
  ASSERT_THAT(ListSitesWith(*unrecorded), IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-alice"), IsOk());
  EXPECT_THAT(ListSitesWith(*unrecorded),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("qm-alice")));
  ASSERT_THAT(server_->Restart(), IsOk());
  EXPECT_THAT(ListSitesWith(*unrecorded),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

// ------------------------------------------------------------------------------- renewal

TEST_F(RevocationTest, OperatorRenewalBeforeItsWindowIsRefused) {
  absl::StatusOr<ClientCredentials> op = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(op, IsOk());
  clock_.Advance(absl::Hours(24 * 19));
  EXPECT_THAT(Renew(*op, Role::kQuartermaster),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("not due for renewal"), HasSubstr("window opens"))));
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-alice");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 1u) << "a refused renewal issues nothing";
  clock_.Advance(absl::Hours(24 * 2));
  EXPECT_THAT(Renew(*op, Role::kQuartermaster), IsOk());
}

TEST_F(RevocationTest, DockRenewalBeforeItsWindowIsRefused) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  EXPECT_THAT(Renew(dock->credentials, Role::kDock),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not due for renewal")));
  clock_.Advance(absl::Hours(24 * 61));  // a dock certificate: 90 days, renewable after 60
  EXPECT_THAT(Renew(dock->credentials, Role::kDock), IsOk());
}

// The revocation commits between the renewal's precheck and its transaction: the transaction
// reads the principal again and refuses it (its own message, not the authenticator's longer
// one), and the certificate signed for it is discarded unseen: nothing issued, nothing audited
// as a renewal.
TEST_F(RevocationTest, DockRevokedWhileItsRenewalWaitsForTheWriterIsRefusedInTheTransaction) {
  absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
  ASSERT_THAT(dock, IsOk());
  clock_.Advance(absl::Hours(24 * 61));  // into the renewal window: the precheck passes
  // root-admin's 30-day certificate has expired by now: an admin certified today acts.
  absl::StatusOr<ClientCredentials> later =
      server_->IssueDirect(Role::kAdmin, "admin-later", clock_.Now());
  ASSERT_THAT(later, IsOk());
  admin_ = std::make_unique<TlsClient>(server_->Channel(later->bundle));
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(kDockId);
  ASSERT_THAT(next, IsOk());
  TlsClient renewing(server_->Channel(dock->credentials.bundle));
  RaceResult race = RevokeWhileRenewalWaits(
      [&] {
        v1::RevokeDockRequest req;
        req.set_dock_id(kDockId);
        req.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
        return admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req).status();
      },
      [&] { return renewing.RenewDock(next->csr_pem).status(); });
  EXPECT_THAT(race.revoke, IsOk());
  EXPECT_THAT(race.renew, StatusIs(absl::StatusCode::kUnauthenticated,
                                   Eq(absl::StrCat("dock '", kDockId, "' is revoked"))));
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf(kDockId);
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 1u) << "the renewal issued nothing";
  EXPECT_TRUE(certs->front().has_revoke_time());
  absl::StatusOr<std::vector<v1::AuditEvent>> renewals = EventsOf("dock.renew_certificate");
  ASSERT_THAT(renewals, IsOk());
  EXPECT_THAT(*renewals, IsEmpty());
}

TEST_F(RevocationTest, OperatorRevokedWhileItsRenewalWaitsForTheWriterIsRefusedInTheTransaction) {
  absl::StatusOr<ClientCredentials> op = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(op, IsOk());
  clock_.Advance(absl::Hours(24 * 21));  // into the renewal window: the precheck passes
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("qm-alice");
  ASSERT_THAT(next, IsOk());
  TlsClient renewing(server_->Channel(op->bundle));
  RaceResult race = RevokeWhileRenewalWaits(
      [&] { return admin_->RevokeOperator("qm-alice").status(); },
      [&] {
        v1::RenewOperatorCertificateRequest req;
        req.set_csr_pem(next->csr_pem);
        return renewing.Prov(&v1::ProvisioningService::Stub::RenewOperatorCertificate, req)
            .status();
      });
  EXPECT_THAT(race.revoke, IsOk());
  EXPECT_THAT(race.renew,
              StatusIs(absl::StatusCode::kUnauthenticated, Eq("operator 'qm-alice' is revoked")));
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-alice");
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 1u) << "the renewal issued nothing";
  EXPECT_TRUE(certs->front().has_revoke_time());
  absl::StatusOr<std::vector<v1::AuditEvent>> renewals = EventsOf("operator.renew_certificate");
  ASSERT_THAT(renewals, IsOk());
  EXPECT_THAT(*renewals, IsEmpty());
}

// At most one overlap: the certificate a renewal was made with stays valid (the client may not
// have the new one on disk yet), every other one is superseded, so renewing again from the old
// certificate cannot pile up live certificates.
TEST_F(RevocationTest, RenewalSupersedesEveryCertificateButThePresentedOne) {
  absl::StatusOr<ClientCredentials> a = server_->IssueOperator("qm-alice", Role::kQuartermaster);
  ASSERT_THAT(a, IsOk());
  clock_.Advance(absl::Hours(24 * 21));
  absl::StatusOr<ClientCredentials> b = Renew(*a, Role::kQuartermaster);
  ASSERT_THAT(b, IsOk());
  absl::StatusOr<ClientCredentials> c = Renew(*a, Role::kQuartermaster);
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(ListSitesWith(*a), IsOk());
  EXPECT_THAT(ListSitesWith(*b),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
  EXPECT_THAT(ListSitesWith(*c), IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-alice");
  ASSERT_THAT(certs, IsOk());
  int live = 0;
  for (const v1::Certificate& cert : *certs) {
    if (!cert.has_revoke_time()) {
      ++live;
    } else {
      EXPECT_EQ(cert.revocation_reason(), v1::REVOCATION_REASON_SUPERSEDED);
    }
  }
  EXPECT_EQ(live, 2);
}

// --------------------------------------------------------------------------------- cameras

class CameraRevocationTest : public RevocationTest {
 protected:
  void SetUp() override {
    RevocationTest::SetUp();
    if (HasFatalFailure()) return;
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
    ASSERT_THAT(dock, IsOk());
    dock_ = std::make_unique<TlsClient>(server_->Channel(dock->credentials.bundle));
  }

  // Enrolls `serial` and renews it once: two certificates, both within their validity.
  void EnrollAndRenew(const std::string& serial, std::string* first, std::string* second) {
    absl::StatusOr<v1::EnrollCameraResponse> enrolled = RegisterAndEnroll(*dock_, serial);
    ASSERT_THAT(enrolled, IsOk());
    absl::StatusOr<v1::RenewCameraCertificateResponse> renewed = RenewCamera(*dock_, serial);
    ASSERT_THAT(renewed, IsOk());
    *first = enrolled->certificate().serial();
    *second = renewed->certificate().serial();
  }

  std::unique_ptr<TlsClient> dock_;
};

TEST_F(CameraRevocationTest, LostCameraHasEveryCertificateOnTheCrl) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(EnrollAndRenew("CAM-0001", &first, &second));
  ASSERT_THAT(admin_->ReportLost("CAM-0001"), IsOk());
  absl::StatusOr<CrlListing> crl = CurrentCrl("lost.pem");
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(crl->revoked, Contains(Pair(second, "Key Compromise"))) << crl->text;
  EXPECT_THAT(crl->revoked, Contains(Pair(first, "Key Compromise"))) << crl->text;
}

TEST_F(CameraRevocationTest, RetiredCameraHasEveryCertificateOnTheCrl) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(EnrollAndRenew("CAM-0001", &first, &second));
  ASSERT_THAT(admin_->Retire("CAM-0001"), IsOk());
  absl::StatusOr<CrlListing> crl = CurrentCrl("retired.pem");
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(crl->revoked, Contains(Key(first))) << crl->text;
  EXPECT_THAT(crl->revoked, Contains(Key(second))) << crl->text;
}

TEST_F(CameraRevocationTest, ResetCameraHasEveryCertificateOnTheCrl) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(EnrollAndRenew("CAM-0001", &first, &second));
  ASSERT_THAT(admin_->ResetEnrollment("CAM-0001"), IsOk());
  absl::StatusOr<CrlListing> crl = CurrentCrl("reset.pem");
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(crl->revoked, Contains(Key(first))) << crl->text;
  EXPECT_THAT(crl->revoked, Contains(Key(second))) << crl->text;
}

TEST_F(CameraRevocationTest, CompromisedDockTakesEveryCameraCertificateItRelayed) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(EnrollAndRenew("CAM-0001", &first, &second));
  v1::RevokeDockRequest req;
  req.set_dock_id(kDockId);
  req.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req), IsOk());
  absl::StatusOr<CrlListing> crl = CurrentCrl("dock.pem");
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(crl->revoked, Contains(Pair(first, "Key Compromise"))) << crl->text;
  EXPECT_THAT(crl->revoked, Contains(Pair(second, "Key Compromise"))) << crl->text;
}

TEST_F(CameraRevocationTest, DockRetiredWithoutCompromiseLeavesItsCamerasCertified) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(EnrollAndRenew("CAM-0001", &first, &second));
  v1::RevokeDockRequest req;
  req.set_dock_id(kDockId);
  req.set_reason(v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  ASSERT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::RevokeDock, req), IsOk());
  absl::StatusOr<CrlListing> crl = CurrentCrl("dock.pem");
  ASSERT_THAT(crl, IsOk());
  EXPECT_THAT(crl->revoked, Not(Contains(Key(second)))) << crl->text;
}

// `camfleet cert list --subject X --relayed-by DOCK` (issue 11, item 3): what an admin reviews
// before and after revoking a compromised dock.
TEST_F(CameraRevocationTest, CertificatesFilterBySubjectAndByTheDockThatRelayedThem) {
  std::string first, second;
  ASSERT_NO_FATAL_FAILURE(EnrollAndRenew("CAM-0001", &first, &second));
  absl::StatusOr<EnrolledDock> other = server_->EnrollDock("POST-1", "post-1-dock-2");
  ASSERT_THAT(other, IsOk());
  TlsClient other_dock(server_->Channel(other->credentials.bundle));
  absl::StatusOr<v1::EnrollCameraResponse> elsewhere = RegisterAndEnroll(other_dock, "CAM-0002");
  ASSERT_THAT(elsewhere, IsOk());
  auto serials = [&](const std::string& subject, const std::string& relayed_by) {
    v1::ListCertificatesRequest req;
    req.set_subject(subject);
    req.set_relayed_by(relayed_by);
    req.set_include_revoked(true);
    absl::StatusOr<v1::ListCertificatesResponse> resp =
        admin_->Prov(&v1::ProvisioningService::Stub::ListCertificates, req);
    EXPECT_THAT(resp, IsOk());
    std::vector<std::string> out;
    if (resp.ok()) {
      for (const v1::Certificate& c : resp->certificates()) out.push_back(c.serial());
    }
    return out;
  };
  EXPECT_THAT(serials("CAM-0001", ""), ElementsAre(second, first));
  EXPECT_THAT(serials("", kDockId), ElementsAre(second, first));
  EXPECT_THAT(serials("", "post-1-dock-2"), ElementsAre(elsewhere->certificate().serial()));
  EXPECT_THAT(serials("CAM-0001", "post-1-dock-2"), IsEmpty());
  v1::ListCertificatesRequest bad;
  bad.set_relayed_by("no such/dock");
  EXPECT_THAT(admin_->Prov(&v1::ProvisioningService::Stub::ListCertificates, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("relayed_by")));
}

}  // namespace
}  // namespace camfleet::testing
