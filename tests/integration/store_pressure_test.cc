// The server under a slow disk, over a real socket: a write whose caller gave up is not done
// later, and calls that need no disk are answered while reads wait for it.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

TEST(StorePressureTest, WriteWhoseCallerGaveUpIsNotDoneLater) {
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start();
  ASSERT_THAT(server, IsOk());
  // Hold the store's writer, as a long write or a slow disk would.
  absl::Notification entered;
  absl::Notification release;
  (*server)->server().store().Write(
      [&](storage::WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      [](absl::Status) {});
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));

  v1::CreateSiteRequest req;
  req.set_code("LATE");
  req.set_name("Given up on");
  v1::CreateSiteResponse resp;
  std::unique_ptr<grpc::ClientContext> ctx =
      NewClientContext(kTestOperator, absl::Milliseconds(300));
  grpc::Status status = (*server)->fleet().CreateSite(ctx.get(), req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's deadline runs from when the call reached it, which on a loaded machine can be
  // well after the client sent it (CI saw the write done: its deadline had not passed yet at
  // the release). The write is queued only after the call arrived, so once it is seen queued
  // its deadline is at most the call's 300 ms away.
  ASSERT_TRUE(WaitFor([&] { return (*server)->server().store().stats().queued >= 1; }, kWait));
  absl::SleepFor(absl::Milliseconds(300));
  release.Notify();

  // The writer reaches the queued write after its deadline: it is dropped, not done.
  ASSERT_THAT(
      (*server)->server().store().WriteAndWait([](storage::WriteTx&) { return absl::OkStatus(); }),
      IsOk());
  v1::GetSiteRequest get;
  get.set_code("LATE");
  v1::GetSiteResponse got;
  grpc::Status read = (*server)->fleet().GetSite(TestServer::Context().get(), get, &got);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::NOT_FOUND) << read.error_message();
  EXPECT_EQ((*server)->server().store().stats().deadline_drops, 1);
}

TEST(StorePressureTest, CallsAreAnsweredWhileReadsWaitForTheDisk) {
  // A disk whose fsync the test holds: reads that may have seen a committed write wait for it.
  absl::Mutex mu;
  bool hold = false;
  TestServerOptions options;
  options.store.sync_wal = [&](int) {
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(
                            +[](bool* h) { return !*h; }, &hold),
                        kWait);
    return absl::OkStatus();
  };
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(std::move(options));
  ASSERT_THAT(server, IsOk());
  {
    absl::MutexLock lock(&mu);
    hold = true;
  }
  // A write that is committed but not durable: every read now waits for the held fsync.
  v1::CreateSiteRequest create;
  create.set_code("HQ");
  create.set_name("Headquarters");
  v1::CreateSiteResponse created;
  std::unique_ptr<grpc::ClientContext> create_ctx = TestServer::Context();
  std::atomic<int> finished{0};
  const int64_t commits_before = (*server)->server().store().stats().commits;
  (*server)->fleet().async()->CreateSite(create_ctx.get(), &create, &created,
                                         [&](grpc::Status) { ++finished; });
  while ((*server)->server().store().stats().commits == commits_before) {
    absl::SleepFor(absl::Milliseconds(5));
  }

  // More waiting reads than gRPC has callback threads (one per CPU).
  constexpr int kReads = 8;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<v1::ListSitesRequest> reqs(kReads);
  std::vector<v1::ListSitesResponse> resps(kReads);
  for (int i = 0; i < kReads; ++i) {
    contexts.push_back(TestServer::Context());
    (*server)->fleet().async()->ListSites(contexts.back().get(), &reqs[i], &resps[i],
                                          [&](grpc::Status) { ++finished; });
  }
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(finished.load(), 0);

  // A call refused on its input needs no disk: it is answered at once.
  v1::CreateSiteRequest bad;
  bad.set_code("not a code!");
  bad.set_name("x");
  v1::CreateSiteResponse bad_resp;
  const absl::Time start = absl::Now();
  grpc::Status refused = (*server)->fleet().CreateSite(TestServer::Context().get(), bad, &bad_resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The disk stays stalled until this test lets it go: any answer before that needed no disk.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));

  {
    absl::MutexLock lock(&mu);
    hold = false;
  }
  const absl::Time deadline = absl::Now() + kWait;
  while (finished.load() < kReads + 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(finished.load(), kReads + 1);
  for (const v1::ListSitesResponse& r : resps) EXPECT_EQ(r.sites_size(), 1);
}

}  // namespace
}  // namespace camfleet::testing
