// camfleetd's own certificate renews itself (issue 11, item 4): from 2/3 of its validity the
// server re-issues its serving certificate from the CA it holds, serves it to new connections
// without dropping open ones, says so in its health status when a renewal is overdue, and
// `camfleetd renew-server-cert` does the same by hand.
//
// The server runs on a FakeClock. gRPC's own check of the server's certificate would use the
// real clock, so the clients here check it themselves at the fake clock's time (chain to the
// fleet CA, validity, server role), as a dock whose clock moves with the server's would, and
// record which certificate each handshake saw.

#include "services/server/server_certificate.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using ::testing::Ne;
using HealthStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

constexpr absl::Duration kDay = absl::Hours(24);

// An OK absl::StatusOr whose value equals `expected`.
MATCHER_P(Holds, expected, "is OK and holds " + ::testing::PrintToString(expected)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == expected;
}

// The serials of the server certificates handshakes saw, newest last.
class SeenCertificates {
 public:
  void Add(const std::string& serial) {
    absl::MutexLock lock(&mu_);
    serials_.push_back(serial);
  }
  std::string Last() const {
    absl::MutexLock lock(&mu_);
    return serials_.empty() ? "" : serials_.back();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> serials_ ABSL_GUARDED_BY(mu_);
};

// Trusts a server certificate that chains to the fleet CA, is a server certificate, and is valid
// at the fake clock's time.
class FakeTimeServerCheck final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  FakeTimeServerCheck(provisioning::CertificateVerifier ca, const common::Clock* clock,
                      std::shared_ptr<SeenCertificates> seen)
      : ca_(std::move(ca)), clock_(clock), seen_(std::move(seen)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    const std::string pem(request->peer_cert().data(), request->peer_cert().size());
    absl::StatusOr<provisioning::CertificateInfo> info = ca_.VerifyChain(pem, clock_->Now());
    if (!info.ok()) {
      *sync_status =
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(info.status().message()));
    } else if (info->role != provisioning::Role::kServer) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "not a server certificate");
    } else {
      seen_->Add(info->serial_hex);
      *sync_status = grpc::Status::OK;
    }
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  provisioning::CertificateVerifier ca_;
  const common::Clock* clock_;
  std::shared_ptr<SeenCertificates> seen_;
};

class ServerCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    options.server_certificate.check_interval = absl::Milliseconds(20);
    options.server_certificate.reload_interval = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    absl::StatusOr<provisioning::CertificateVerifier> ca =
        provisioning::CertificateVerifier::FromCaPem(server_->ca_pem());
    ASSERT_THAT(ca, IsOk());
    ca_ = std::make_unique<provisioning::CertificateVerifier>(*std::move(ca));
  }

  // A dedicated connection presenting `bundle` (none when its key is empty) that checks the
  // server at the fake clock's time and records the certificate it saw in `seen`.
  std::shared_ptr<grpc::Channel> FakeTimeChannel(const provisioning::CredentialBundle& bundle,
                                                 std::shared_ptr<SeenCertificates> seen) {
    std::vector<grpc::experimental::IdentityKeyCertPair> identity;
    if (!bundle.key_pem.empty()) identity.push_back({bundle.key_pem, bundle.cert_pem});
    auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        server_->ca_pem(), identity);
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_certificate_provider(provider);
    tls.watch_root_certs();
    if (!identity.empty()) tls.watch_identity_key_cert_pairs();
    tls.set_verify_server_certs(false);
    tls.set_check_call_host(false);
    tls.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<FakeTimeServerCheck>(
            *ca_, &clock_, std::move(seen)));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kServerName);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server_->target(), grpc::experimental::TlsCredentials(tls),
                                     args);
  }

  // The serial of the certificate a new connection is served, or "" if the handshake failed.
  std::string ServedSerial() {
    auto seen = std::make_shared<SeenCertificates>();
    std::shared_ptr<grpc::Channel> channel = FakeTimeChannel({}, seen);
    if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5)))) return "";
    return seen->Last();
  }

  std::string BundleSerial() {
    absl::StatusOr<provisioning::CertificateInfo> info =
        server::ReadServerCertificate(server_->paths().ServerCredentials());
    return info.ok() ? info->serial_hex : "";
  }

  absl::StatusOr<HealthStatus> Health(const std::shared_ptr<grpc::Channel>& channel,
                                      const std::string& service) {
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(TlsContext().get(), req, &resp);
    if (!s.ok()) return ToAbslStatus(s);
    return resp.status();
  }

  common::FakeClock clock_{absl::Now()};
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<provisioning::CertificateVerifier> ca_;
};

struct Dock {
  std::string id;
  provisioning::CredentialBundle bundle;
  std::shared_ptr<SeenCertificates> seen = std::make_shared<SeenCertificates>();
  std::shared_ptr<grpc::Channel> channel;
};

TEST_F(ServerCertificateTest, ServerRunningPastItsFirstCertificateKeepsServingEveryDock) {
  TlsClient admin(server_->AdminChannel());
  ASSERT_THAT(admin.CreateSite("POST-1"), IsOk());
  absl::StatusOr<provisioning::CertificateInfo> first =
      server::ReadServerCertificate(server_->paths().ServerCredentials());
  ASSERT_THAT(first, IsOk());

  std::vector<Dock> docks;
  for (int i = 1; i <= 3; ++i) {
    const std::string id = absl::StrCat("post-1-dock-", i);
    absl::StatusOr<EnrolledDock> enrolled = server_->EnrollDock("POST-1", id);
    ASSERT_THAT(enrolled, IsOk());
    Dock dock;
    dock.id = id;
    dock.bundle = enrolled->credentials.bundle;
    dock.channel = FakeTimeChannel(dock.bundle, dock.seen);
    ASSERT_THAT(
        TlsClient(dock.channel).Prov(&v1::ProvisioningService::Stub::GetCrl, v1::GetCrlRequest()),
        IsOk());
    EXPECT_EQ(dock.seen->Last(), first->serial_hex);
    docks.push_back(std::move(dock));
  }

  // A stream opened on the first certificate and held open for the whole year: a connection
  // the server dropped would end it with UNAVAILABLE.
  std::shared_ptr<grpc::Channel> watcher =
      FakeTimeChannel({}, std::make_shared<SeenCertificates>());
  auto health = grpc::health::v1::Health::NewStub(watcher);
  grpc::ClientContext watch_ctx;
  grpc::health::v1::HealthCheckRequest watch_req;
  watch_req.set_service(server::kServerCertificateHealthService);
  std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>> watch =
      health->Watch(&watch_ctx, watch_req);
  grpc::health::v1::HealthCheckResponse watched;
  ASSERT_TRUE(watch->Read(&watched));
  EXPECT_EQ(watched.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // Six steps of 61 days: each dock renews on the connection it already has (made before the
  // step), then connects anew with its new certificate, as the dock agent does.
  std::string renewed_serial;
  for (int step = 1; step <= 6; ++step) {
    SCOPED_TRACE(absl::StrCat("day ", step * 61));
    clock_.Advance(61 * kDay);
    if (clock_.Now() >= provisioning::RenewalDueAt(first->not_before, first->not_after) &&
        renewed_serial.empty()) {
      ASSERT_TRUE(WaitFor([&] { return BundleSerial() != first->serial_hex; }))
          << "camfleetd did not renew its certificate once it was due";
      renewed_serial = BundleSerial();
      ASSERT_TRUE(WaitFor([&] { return ServedSerial() == renewed_serial; }))
          << "new connections are not served the renewed certificate";
    }
    for (Dock& dock : docks) {
      absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(dock.id);
      ASSERT_THAT(next, IsOk());
      v1::RenewDockCertificateRequest req;
      req.set_csr_pem(next->csr_pem);
      absl::StatusOr<v1::RenewDockCertificateResponse> renewed =
          TlsClient(dock.channel).Dock(&v1::DockService::Stub::RenewDockCertificate, req);
      ASSERT_THAT(renewed, IsOk()) << dock.id << " on its existing connection";
      dock.bundle = {next->key_pem, renewed->certificate().certificate_pem(),
                     renewed->ca_certificate_pem()};
      dock.channel = FakeTimeChannel(dock.bundle, dock.seen);
      ASSERT_THAT(
          TlsClient(dock.channel).Prov(&v1::ProvisioningService::Stub::GetCrl, v1::GetCrlRequest()),
          IsOk())
          << dock.id << " on a new connection";
    }
  }

  // A year and a day on: the first certificate has expired; every dock is served, on the
  // renewed one.
  ASSERT_GT(clock_.Now(), first->not_after);
  ASSERT_THAT(renewed_serial, Ne(""));
  for (Dock& dock : docks) {
    EXPECT_EQ(dock.seen->Last(), renewed_serial) << dock.id;
    EXPECT_THAT(
        TlsClient(dock.channel).Prov(&v1::ProvisioningService::Stub::GetCrl, v1::GetCrlRequest()),
        IsOk());
  }
  EXPECT_EQ(ServedSerial(), renewed_serial);
  EXPECT_THAT(Health(watcher, server::kServerCertificateHealthService),
              Holds(grpc::health::v1::HealthCheckResponse::SERVING));

  // The stream opened a year ago is still open: cancelling it is what ends it.
  watch_ctx.TryCancel();
  while (watch->Read(&watched)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);

  absl::StatusOr<int64_t> audited = QueryInt(
      server_->paths().Database(),
      absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE action = 'server.renew_certificate' "
                   "AND actor = 'camfleetd' AND details LIKE '%",
                   renewed_serial, "%'"));
  EXPECT_THAT(audited, Holds(1));
}

TEST_F(ServerCertificateTest, OverdueRenewalTurnsTheCertificateHealthNotServing) {
  std::shared_ptr<grpc::Channel> monitor =
      FakeTimeChannel({}, std::make_shared<SeenCertificates>());
  EXPECT_THAT(Health(monitor, server::kServerCertificateHealthService),
              Holds(grpc::health::v1::HealthCheckResponse::SERVING));
  const std::string first = BundleSerial();

  // A directory where the bundle's swap makes its temporary link: every renewal fails to
  // publish its new version (running as root, permissions would not stop it).
  const std::string blocker = absl::StrCat(server_->paths().ServerCredentials(), "/",
                                           provisioning::kBundleCurrentLink, ".tmp");
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0) << blocker;
  clock_.Advance(250 * kDay);  // due at ~243 days; 115 days left

  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<HealthStatus> s = Health(monitor, server::kServerCertificateHealthService);
    return s.ok() && *s == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  })) << "an overdue renewal must show in the health status";
  // The server itself still serves, on its old certificate.
  EXPECT_THAT(Health(monitor, ""), Holds(grpc::health::v1::HealthCheckResponse::SERVING));
  EXPECT_EQ(BundleSerial(), first);
  EXPECT_EQ(ServedSerial(), first);

  // The cause fixed, the next check renews and the status recovers.
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<HealthStatus> s = Health(monitor, server::kServerCertificateHealthService);
    return s.ok() && *s == grpc::health::v1::HealthCheckResponse::SERVING;
  }));
  EXPECT_NE(BundleSerial(), first);
}

TEST_F(ServerCertificateTest, RenewByHandIsServedWithoutDroppingConnections) {
  TlsClient admin(server_->AdminChannel());
  ASSERT_THAT(admin.CreateSite("POST-1"), IsOk());
  absl::StatusOr<EnrolledDock> enrolled = server_->EnrollDock("POST-1", "post-1-dock-1");
  ASSERT_THAT(enrolled, IsOk());
  auto seen = std::make_shared<SeenCertificates>();
  std::shared_ptr<grpc::Channel> dock = FakeTimeChannel(enrolled->credentials.bundle, seen);
  ASSERT_THAT(TlsClient(dock).Prov(&v1::ProvisioningService::Stub::GetCrl, v1::GetCrlRequest()),
              IsOk());
  const std::string first = seen->Last();
  ASSERT_EQ(first, BundleSerial());

  // Not due for months: by hand it is renewed all the same (`camfleetd renew-server-cert`).
  absl::StatusOr<provisioning::IssuedCertificate> renewed =
      server::RenewServerCertificateInHome(server_->home(), clock_.Now());
  ASSERT_THAT(renewed, IsOk());
  EXPECT_NE(renewed->info.serial_hex, first);
  EXPECT_EQ(BundleSerial(), renewed->info.serial_hex);
  absl::StatusOr<provisioning::ServerNames> names = provisioning::ReadServerNames(renewed->pem);
  ASSERT_THAT(names, IsOk());
  EXPECT_THAT(names->dns_names, ::testing::ElementsAre("localhost"));
  EXPECT_THAT(names->ip_addresses, ::testing::ElementsAre("127.0.0.1", "::1"));

  EXPECT_TRUE(WaitFor([&] { return ServedSerial() == renewed->info.serial_hex; }));
  // The dock's connection from before the renewal still works, on the session it made.
  EXPECT_THAT(TlsClient(dock).Prov(&v1::ProvisioningService::Stub::GetCrl, v1::GetCrlRequest()),
              IsOk());
  EXPECT_EQ(seen->Last(), first);
  EXPECT_THAT(QueryInt(server_->paths().Database(),
                       absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE action = "
                                    "'server.renew_certificate' AND actor = 'camfleetd "
                                    "renew-server-cert' AND details LIKE '%",
                                    renewed->info.serial_hex, "%'")),
              Holds(1));
}

TEST(ServerCertificateByHandTest, HomeWithoutStoreIsRefused) {
  EXPECT_THAT(server::RenewServerCertificateInHome("/nonexistent/camfleet-home", absl::Now()),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace camfleet::testing
