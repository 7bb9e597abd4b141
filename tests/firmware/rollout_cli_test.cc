// `camfleet rollout ...` command lines run in-process against the real server (real SQLite
// file, real gRPC on 127.0.0.1:0, the plaintext development listener), with a release signed
// by camfleet-sign's code and uploaded by `camfleet firmware upload`.

#include <sstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "cli/app.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "services/server/server.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

using Result = ::camfleet::testing::CliResult;

class RolloutCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.db_path = dir_.File("fleet.db");
    options.listen = {"127.0.0.1:0"};
    options.insecure_dev = true;
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
    ASSERT_THAT(server.status(), IsOk());
    server_ = std::move(*server);
    absl::StatusOr<testing::TestSigningKey> key = testing::MakeSigningKey(dir_.File("keys"));
    ASSERT_THAT(key.status(), IsOk());
    Ok({"site", "create", "POST-7", "--name", "Border post 7"});
    Ok({"site", "create", "POST-8", "--name", "Border post 8"});
    for (const char* serial : {"CAM-0001", "CAM-0002", "CAM-0003", "CAM-0004"}) {
      Ok({"camera", "register", serial, "--model", "BWC-4", "--site", "POST-7"});
    }
    Ok({"camera", "register", "CAM-0801", "--model", "BWC-4", "--site", "POST-8"});
    Ok({"firmware", "key", "add", "release-2027", key->files.public_key_path});
    absl::StatusOr<testing::ReleaseFiles> r = testing::SignImage(
        dir_.path(), "bwc4", testing::RandomImage(64 * 1024, 3), *key, {"BWC-4"}, "2.1.0");
    ASSERT_THAT(r.status(), IsOk());
    ASSERT_THAT(sign::WriteRelease(r->release, r->image_path + ".manifest", r->image_path + ".sig"),
                IsOk());
    Ok({"firmware", "upload", r->image_path, "--manifest", r->image_path + ".manifest",
        "--signature", r->image_path + ".sig"});
    release_ = provisioning::ToHex(provisioning::Sha256(r->release.manifest_bytes)).substr(0, 12);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  Result Run(const std::vector<std::string>& args) {
    common::RealClock clock;
    return testing::RunCli(testing::DevCliArgs(server_->target(), "fw-admin", 20, args), clock);
  }
  std::string Ok(std::vector<std::string> args) {
    Result r = Run(std::move(args));
    EXPECT_EQ(r.code, 0) << r;
    return r.out;
  }

  testing::TempDir dir_;
  std::unique_ptr<server::Server> server_;
  std::string release_;
};

TEST_F(RolloutCliTest, CreateShowsWavesAndSitesWithProgressBars) {
  const std::string created =
      Ok({"rollout", "create", release_, "--model", "BWC-4", "--waves", "25,100", "--canary",
          "POST-8", "--max-failures", "20%", "--window", "POST-7=22:00-05:00@Asia/Bishkek",
          "--silence-timeout", "48h", "--note", "spring update"});
  EXPECT_THAT(created, HasSubstr("rollout 1 started"));
  EXPECT_THAT(created, HasSubstr("RUNNING"));
  const std::string shown = Ok({"rollout", "show", "1", "--cameras"});
  EXPECT_THAT(shown, HasSubstr("canary POST-8"));
  EXPECT_THAT(shown, HasSubstr("more than 20% failed per wave"));
  EXPECT_THAT(shown, HasSubstr("22:00-05:00 Asia/Bishkek"));
  EXPECT_THAT(shown, HasSubstr("[....................]   0%"));
  EXPECT_THAT(shown, HasSubstr("48h"));
  EXPECT_THAT(shown, HasSubstr("CAM-0004"));
  const std::string list = Ok({"rollout", "list"});
  EXPECT_THAT(list, HasSubstr("2.1.0"));
  EXPECT_THAT(list, HasSubstr("1/3"));
  EXPECT_THAT(Ok({"rollout", "show", "1", "--json"}), HasSubstr("\"wave_count\": 3"));
}

TEST_F(RolloutCliTest, PauseResumeAbortAndTheirRefusals) {
  Ok({"rollout", "create", release_, "--site", "POST-7", "--stop-after-each-wave"});
  EXPECT_THAT(Ok({"rollout", "pause", "1", "--reason", "holiday"}),
              HasSubstr("paused by fw-admin: holiday"));
  EXPECT_THAT(Ok({"rollout", "list", "--state", "paused"}), HasSubstr("PAUSED"));
  EXPECT_THAT(Ok({"rollout", "resume", "1"}), HasSubstr("RUNNING"));
  Result next = Run({"rollout", "next-wave", "1"});
  EXPECT_EQ(next.code, 1) << next;
  EXPECT_THAT(next.err, HasSubstr("FAILED_PRECONDITION"));
  Result retry = Run({"rollout", "retry", "1"});
  EXPECT_EQ(retry.code, 1) << retry;
  EXPECT_THAT(retry.err, HasSubstr("no FAILED or ROLLED_BACK camera"));
  EXPECT_THAT(Ok({"rollout", "abort", "1", "--reason", "wrong build"}), HasSubstr("ABORTED"));
  Result again = Run({"rollout", "abort", "1", "--reason", "twice"});
  EXPECT_EQ(again.code, 1) << again;
  EXPECT_THAT(again.err, HasSubstr("ABORTED"));
  EXPECT_THAT(Ok({"rollout", "list", "--json"}), HasSubstr("ROLLOUT_STATE_ABORTED"));
}

TEST_F(RolloutCliTest, WatchRefreshesUntilTheRolloutFinishes) {
  Ok({"rollout", "create", release_, "--site", "POST-7"});
  Result watched;
  std::thread watcher([&] {
    watched = Run({"rollout", "show", "1", "--watch", "--interval", "100ms"});
  });
  // The watcher keeps refreshing a running rollout; abort it and the watch ends by itself.
  Ok({"rollout", "show", "1"});
  Ok({"rollout", "abort", "1", "--reason", "stop watching"});
  watcher.join();
  EXPECT_EQ(watched.code, 0) << watched;
  EXPECT_THAT(watched.out, HasSubstr("ABORTED"));
  EXPECT_THAT(watched.out, HasSubstr("aborted by fw-admin: stop watching"));
}

TEST_F(RolloutCliTest, BadFlagsAreUsageErrorsAndNothingIsSent) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"rollout", "create", release_, "--site", "POST-7", "--waves", "5,x"},
           {"rollout", "create", release_, "--site", "POST-7", "--window", "POST-7=25:00-01:00"},
           {"rollout", "create", release_, "--site", "POST-7", "--max-failures", "lots"},
           {"rollout", "create", release_, "--site", "POST-7", "--silence-timeout", "soon"},
           {"rollout", "list", "--state", "sleeping"},
           {"rollout", "show", "1", "--watch", "--interval", "1ms"}}) {
    Result r = Run(args);
    EXPECT_EQ(r.code, 2) << r;
  }
  // The server's refusal of a bad request names the field.
  Result r = Run({"rollout", "create", release_, "--site", "POST-7", "--waves", "25,50"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("wave_percents"));
  EXPECT_THAT(Ok({"rollout", "list"}), HasSubstr("no rollouts"));
}

TEST_F(RolloutCliTest, EveryRolloutCommandAnswersHelp) {
  for (const char* sub :
       {"create", "list", "show", "pause", "resume", "next-wave", "abort", "retry"}) {
    Result r = Run({"rollout", sub, "--help"});
    EXPECT_EQ(r.code, 0) << r;
  }
  Result top = Run({"rollout", "--help"});
  EXPECT_EQ(top.code, 0) << top;
  EXPECT_THAT(top.out, HasSubstr("next-wave"));
}

}  // namespace
}  // namespace camfleet::cli
