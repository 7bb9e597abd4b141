// Nothing heavy before authentication (issue 11, item 6): a request larger than its method takes
// is refused before anyone looks at it, whoever sends it; certificate-less enrollments wait in a
// small queue of their own, so a flood of bad tokens and oversized garbage does not push docks
// that renew into UNAVAILABLE.
//
// The server runs on a FakeClock that starts at the real time (clients check the server's own
// certificate against the real clock), moved 61 days on so the docks' renewal window is open.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "services/rpc/message_limits.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kDay = absl::Hours(24);
constexpr char kEnrollDock[] = "/camfleet.v1.DockService/EnrollDock";

class PreauthLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(TlsClient(server_->AdminChannel()).CreateSite("POST-1"), IsOk());
  }

  common::FakeClock clock_{absl::Now()};
  std::unique_ptr<TlsTestServer> server_;
};

// Codes of finished calls, counted.
class Outcomes {
 public:
  void Add(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    ++counts_[code];
  }
  std::map<grpc::StatusCode, int> counts() const {
    absl::MutexLock lock(&mu_);
    return counts_;
  }
  std::string Describe() const {
    std::string out;
    for (const auto& [code, n] : counts()) absl::StrAppend(&out, " code ", code, ": ", n, ";");
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<grpc::StatusCode, int> counts_ ABSL_GUARDED_BY(mu_);
};

grpc::ByteBuffer Garbage(size_t bytes) {
  absl::StatusOr<std::string> random = provisioning::RandomBytes(bytes);
  std::string data = random.ok() ? *std::move(random) : std::string(bytes, '\xff');
  grpc::Slice slice(data);
  return grpc::ByteBuffer(&slice, 1);
}

TEST_F(PreauthLimitsTest, OversizedRequestIsRefusedBeforeTokenOrCertificateIsLookedAt) {
  auto anonymous = v1::DockService::NewStub(server_->ChannelWithoutCertificate());
  v1::EnrollDockRequest req;
  req.set_token(std::string(100 << 10, 't'));
  absl::StatusOr<KeyAndCsr> csr = MakeKeyAndCsr("post-1-dock-1");
  ASSERT_THAT(csr, IsOk());
  req.set_csr_pem(csr->csr_pem);
  v1::EnrollDockResponse resp;
  EXPECT_THAT(anonymous->EnrollDock(TlsContext().get(), req, &resp),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("camfleet.v1.DockService/EnrollDock takes at most 65536 bytes")));

  // A method that needs a certificate: the size is refused first, whoever calls.
  auto fleet = v1::FleetService::NewStub(server_->ChannelWithoutCertificate());
  v1::ListCamerasRequest list;
  list.set_page_token(std::string(100 << 10, 'p'));
  v1::ListCamerasResponse cameras;
  EXPECT_THAT(fleet->ListCameras(TlsContext().get(), list, &cameras),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("ListCameras")));

  // Past every method's limit: gRPC does not read it at all.
  grpc::GenericStub generic(server_->ChannelWithoutCertificate());
  grpc::ByteBuffer huge = Garbage(16 << 20);
  grpc::ByteBuffer out;
  grpc::Status garbage;
  absl::BlockingCounter done(1);
  std::unique_ptr<grpc::ClientContext> garbage_ctx = TlsContext();
  generic.UnaryCall(garbage_ctx.get(), kEnrollDock, grpc::StubOptions(), &huge, &out,
                    [&](grpc::Status s) {
                      garbage = std::move(s);
                      done.DecrementCount();
                    });
  done.Wait();
  EXPECT_EQ(garbage.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << garbage.error_message();

  // What a method needs still goes through: an admin's 1 MiB manifest is read (and judged on
  // its content, not its size).
  v1::ImportManifestRequest manifest;
  std::string csv = "serial,model\n";
  while (csv.size() < (1 << 20)) absl::StrAppend(&csv, "CAM-", csv.size(), ",BW-1\n");
  manifest.set_csv(csv);
  v1::ImportManifestResponse imported;
  auto admin = v1::FleetService::NewStub(server_->AdminChannel());
  EXPECT_THAT(admin->ImportManifest(TlsContext().get(), manifest, &imported),
              Not(StatusIs(absl::StatusCode::kResourceExhausted)));
}

TEST_F(PreauthLimitsTest, FloodOfBadEnrollmentsAndGarbageDoesNotStopDocksRenewing) {
  constexpr int kDocks = 50;
  constexpr int kBadEnrollments = 10'000;
  constexpr int kGarbageRequests = 16;
  constexpr int kFloodChannels = 8;

  std::vector<EnrolledDock> docks;
  for (int i = 0; i < kDocks; ++i) {
    absl::StatusOr<EnrolledDock> dock =
        server_->EnrollDock("POST-1", absl::StrCat("post-1-dock-", i));
    ASSERT_THAT(dock, IsOk());
    docks.push_back(*std::move(dock));
  }
  clock_.Advance(61 * kDay);  // the docks' renewal window is open

  // The flood: bad tokens with a well-formed CSR (so each one reaches the token check), and
  // 16 MiB of garbage, over connections without a certificate, all sent at once.
  absl::StatusOr<KeyAndCsr> attacker = MakeKeyAndCsr("rogue-dock");
  ASSERT_THAT(attacker, IsOk());
  std::vector<std::shared_ptr<grpc::Channel>> flood_channels;
  std::vector<std::unique_ptr<v1::DockService::Stub>> flood_stubs;
  for (int i = 0; i < kFloodChannels; ++i) {
    flood_channels.push_back(server_->ChannelWithoutCertificate());
    flood_stubs.push_back(v1::DockService::NewStub(flood_channels.back()));
  }
  struct BadCall {
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::EnrollDockRequest req;
    v1::EnrollDockResponse resp;
  };
  std::vector<BadCall> bad(kBadEnrollments);
  Outcomes flood;
  absl::BlockingCounter flood_done(kBadEnrollments + kGarbageRequests);
  const absl::Time flood_start = absl::Now();
  for (int i = 0; i < kBadEnrollments; ++i) {
    bad[i].ctx = TlsContext(absl::Minutes(4));
    bad[i].req.set_token(absl::StrCat("not-a-token-", i));
    bad[i].req.set_csr_pem(attacker->csr_pem);
    flood_stubs[i % kFloodChannels]->async()->EnrollDock(bad[i].ctx.get(), &bad[i].req,
                                                         &bad[i].resp, [&](grpc::Status s) {
                                                           flood.Add(s.error_code());
                                                           flood_done.DecrementCount();
                                                         });
  }
  grpc::ByteBuffer garbage = Garbage(16 << 20);
  std::vector<std::unique_ptr<grpc::ClientContext>> garbage_ctx;
  std::vector<grpc::ByteBuffer> garbage_out(kGarbageRequests);
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  Outcomes garbage_outcomes;
  for (int i = 0; i < kGarbageRequests; ++i) {
    generic.push_back(std::make_unique<grpc::GenericStub>(flood_channels[i % kFloodChannels]));
    garbage_ctx.push_back(TlsContext(absl::Minutes(4)));
    generic.back()->UnaryCall(garbage_ctx.back().get(), kEnrollDock, grpc::StubOptions(), &garbage,
                              &garbage_out[i], [&](grpc::Status s) {
                                garbage_outcomes.Add(s.error_code());
                                flood_done.DecrementCount();
                              });
  }

  // Meanwhile every dock renews, once, on its own connection.
  struct Renewal {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::DockService::Stub> stub;
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::RenewDockCertificateRequest req;
    v1::RenewDockCertificateResponse resp;
    grpc::Status status;
    absl::Duration took;
  };
  std::vector<Renewal> renewals(kDocks);
  absl::BlockingCounter renewed(kDocks);
  for (int i = 0; i < kDocks; ++i) {
    absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr(docks[i].credentials.name);
    ASSERT_THAT(next, IsOk());
    Renewal& r = renewals[i];
    r.channel = server_->Channel(docks[i].credentials.bundle);
    r.stub = v1::DockService::NewStub(r.channel);
    r.ctx = TlsContext(absl::Minutes(2));
    r.req.set_csr_pem(next->csr_pem);
    const absl::Time start = absl::Now();
    r.stub->async()->RenewDockCertificate(r.ctx.get(), &r.req, &r.resp,
                                          [&r, &renewed, start](grpc::Status s) {
                                            r.status = std::move(s);
                                            r.took = absl::Now() - start;
                                            renewed.DecrementCount();
                                          });
  }
  renewed.Wait();
  const absl::Duration renewals_took = absl::Now() - flood_start;
  absl::Duration slowest;
  for (int i = 0; i < kDocks; ++i) {
    EXPECT_TRUE(renewals[i].status.ok())
        << docks[i].credentials.name << ": " << renewals[i].status.error_code() << " "
        << renewals[i].status.error_message();
    EXPECT_TRUE(renewals[i].resp.has_certificate());
    slowest = std::max(slowest, renewals[i].took);
  }
  flood_done.Wait();
  const absl::Duration flood_took = absl::Now() - flood_start;
  std::cout << "50 renewals under the flood: all done after " << renewals_took << ", slowest "
            << slowest << "; flood of " << kBadEnrollments << " bad enrollments and "
            << kGarbageRequests << " x 16 MiB done after " << flood_took
            << "; bad enrollments:" << flood.Describe()
            << " garbage:" << garbage_outcomes.Describe() << "\n";

  // Nothing in the flood got through, and the garbage was never read.
  EXPECT_EQ(flood.counts().count(grpc::StatusCode::OK), 0u);
  EXPECT_EQ(garbage_outcomes.counts()[grpc::StatusCode::RESOURCE_EXHAUSTED], kGarbageRequests)
      << garbage_outcomes.Describe();
  // The flood was answered (refused), not left hanging until its deadline.
  EXPECT_EQ(flood.counts().count(grpc::StatusCode::DEADLINE_EXCEEDED), 0u) << flood.Describe();
}

}  // namespace
}  // namespace camfleet::testing
