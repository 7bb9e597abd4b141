// A rollout at the scale of a region (issue 12): 100 simulated cameras in 10 docks, each dock
// the real agent (DockRuntime) in this process against the real camfleetd over mutual TLS, each
// camera a real camsim unit on its slot's unix socket. The rollout finishes (every camera has
// booted the new image and confirmed), and each dock downloaded the release exactly once: the
// bytes the server handed each dock's DownloadRelease streams (FirmwareManager::BytesServedTo,
// counted per dock as gRPC takes them) are one compressed image for the first release and one
// delta for the next, whatever the number of cameras behind the dock.

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/firmware/dock_post_fleet.h"
#include "tests/firmware/release_upload.h"
#include "tests/firmware/signed_release.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

constexpr int kDocks = 10;
constexpr int kCamerasPerDock = 10;
constexpr char kModel[] = "AXON-4";  // what TlsClient::RegisterCamera registers
// Generous: 2 cores shared with other work, under ASan.
constexpr absl::Duration kRolloutWait = absl::Minutes(4);

class FleetRolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    firmware_ = v1::FirmwareService::NewStub(server_->AdminChannel());
    rollouts_ = v1::RolloutService::NewStub(server_->AdminChannel());
    absl::StatusOr<TestSigningKey> key = MakeSigningKey(dir_.File("keys"));
    ASSERT_THAT(key, IsOk());
    key_ = *key;
    v1::AddSigningKeyRequest add;
    add.set_name("release-2027");
    add.set_public_key_pem(key_.public_pem);
    ASSERT_THAT(TlsCall(*firmware_, &v1::FirmwareService::Stub::AddSigningKey, add), IsOk());
    for (int d = 1; d <= kDocks; ++d) {
      ASSERT_THAT(admin_->CreateSite(DockPostFleet::SiteOf(d)), IsOk());
      for (int s = 1; s <= kCamerasPerDock; ++s) {
        ASSERT_THAT(admin_->RegisterCamera(DockPostFleet::SerialOf(d, s), DockPostFleet::SiteOf(d)),
                    IsOk());
      }
    }
    DockPostFleetOptions options;
    options.dir = dir_.path();
    options.server_target = server_->target();
    options.server_name = kServerName;
    options.ca_pem = server_->ca_pem();
    options.docks = kDocks;
    options.cameras_per_dock = kCamerasPerDock;
    options.model = kModel;
    options.firmware_keys_pem = {key_.public_pem};
    options.token_for = [this](const std::string& site) -> absl::StatusOr<std::string> {
      absl::StatusOr<v1::CreateEnrollmentTokenResponse> t = admin_->CreateToken(site);
      if (!t.ok()) return t.status();
      return t->token();
    };
    absl::StatusOr<std::unique_ptr<DockPostFleet>> fleet = DockPostFleet::Start(options);
    ASSERT_THAT(fleet, IsOk());
    fleet_ = *std::move(fleet);
    ASSERT_TRUE(fleet_->WaitReady(absl::Minutes(2))) << fleet_->FailuresText();
  }

  void TearDown() override {
    if (fleet_ != nullptr) fleet_->Stop();
  }

  v1::FirmwareRelease Upload(const std::string& name, const std::string& image,
                             const std::string& version) {
    absl::StatusOr<ReleaseFiles> r = SignImage(dir_.path(), name, image, key_, {kModel}, version);
    EXPECT_THAT(r, IsOk());
    if (!r.ok()) return {};
    v1::UploadReleaseResponse resp;
    EXPECT_THAT(UploadSignedRelease(*firmware_, TlsContext(absl::Seconds(120)).get(), *r, &resp),
                IsOk());
    return resp.release();
  }

  // Rolls `release` out to every camera of the model and waits until the rollout is COMPLETED.
  v1::Rollout RollOut(const v1::FirmwareRelease& release) {
    v1::CreateRolloutRequest req;
    req.set_release_id(release.release_id());
    req.mutable_target()->add_models(kModel);
    absl::StatusOr<v1::CreateRolloutResponse> created =
        TlsCall(*rollouts_, &v1::RolloutService::Stub::CreateRollout, req);
    EXPECT_THAT(created, IsOk());
    if (!created.ok()) return {};
    EXPECT_EQ(created->rollout().counts().total(),
              static_cast<uint32_t>(kDocks * kCamerasPerDock));
    v1::GetRolloutRequest get;
    get.set_rollout_id(created->rollout().rollout_id());
    v1::Rollout last;
    EXPECT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<v1::GetRolloutResponse> r =
              TlsCall(*rollouts_, &v1::RolloutService::Stub::GetRollout, get);
          if (r.ok()) last = r->rollout();
          return r.ok() && (last.state() == v1::ROLLOUT_STATE_COMPLETED ||
                            last.state() == v1::ROLLOUT_STATE_PAUSED ||
                            last.state() == v1::ROLLOUT_STATE_ABORTED);
        },
        kRolloutWait))
        << last.DebugString() << fleet_->FailuresText();
    return last;
  }

  uint64_t Served(int dock) {
    return server_->server().firmware().BytesServedTo(DockPostFleet::DockIdOf(dock));
  }

  TempDir dir_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::unique_ptr<v1::FirmwareService::Stub> firmware_;
  std::unique_ptr<v1::RolloutService::Stub> rollouts_;
  TestSigningKey key_;
  std::unique_ptr<DockPostFleet> fleet_;
};

TEST_F(FleetRolloutTest, HundredCamerasOnTenDocksEachDockDownloadingOnce) {
  // Random bytes barely compress: the compressed image is about the image's size.
  const std::string image_v11 = RandomImage(256 * 1024, 11);
  const v1::FirmwareRelease v11 = Upload("v11", image_v11, "1.1.0");
  ASSERT_FALSE(v11.release_id().empty());

  const v1::Rollout first = RollOut(v11);
  EXPECT_EQ(first.state(), v1::ROLLOUT_STATE_COMPLETED) << first.reason();
  EXPECT_EQ(first.counts().succeeded(), static_cast<uint32_t>(kDocks * kCamerasPerDock));
  for (int d = 1; d <= kDocks; ++d) {
    // One copy per dock, for ten cameras.
    EXPECT_EQ(Served(d), v11.compressed_size_bytes()) << DockPostFleet::DockIdOf(d);
    for (int s = 1; s <= kCamerasPerDock; ++s) {
      const camsim::FirmwareStatus st = fleet_->camera(d, s).camera().GetFirmwareStatus();
      EXPECT_EQ(st.running_version, "1.1.0") << DockPostFleet::SerialOf(d, s);
      EXPECT_TRUE(st.active_image_ok) << DockPostFleet::SerialOf(d, s);
    }
  }

  // The next point release: each dock holds 1.1.0 and fetches one delta, not the image.
  const v1::FirmwareRelease v12 = Upload("v12", EditedImage(image_v11, 12), "1.2.0");
  ASSERT_EQ(v12.deltas_size(), 1);
  const uint64_t delta = v12.deltas(0).size_bytes();
  ASSERT_LT(delta * 10, v12.compressed_size_bytes());
  const v1::Rollout second = RollOut(v12);
  EXPECT_EQ(second.state(), v1::ROLLOUT_STATE_COMPLETED) << second.reason();
  EXPECT_EQ(second.counts().succeeded(), static_cast<uint32_t>(kDocks * kCamerasPerDock));
  for (int d = 1; d <= kDocks; ++d) {
    EXPECT_EQ(Served(d) - v11.compressed_size_bytes(), delta) << DockPostFleet::DockIdOf(d);
    for (int s = 1; s <= kCamerasPerDock; ++s) {
      EXPECT_EQ(fleet_->camera(d, s).camera().GetFirmwareStatus().running_version, "1.2.0")
          << DockPostFleet::SerialOf(d, s);
    }
  }
}

}  // namespace
}  // namespace camfleet::testing
