// The firmware content store's collection (FirmwareManager::CollectGarbage) against camfleetd's
// real wiring: a real SQLite file, the real content store in a temp dir, rollouts created and
// aborted through RolloutService, releases withdrawn through FirmwareService. What goes: the
// objects of withdrawn releases no unfinished rollout names, the deltas to and from them, and
// objects no row names; what never goes: anything a download a rollout may still make needs.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/server/server.h"
#include "tests/firmware/release_upload.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using firmware_service::GcReport;

constexpr char kModel[] = "BWC-4";

class ImageGcTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(absl::ZeroDuration()); }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // camfleetd in dev mode; `gc_interval` zero: collections only when the test asks.
  void StartServer(absl::Duration gc_interval) {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    server::ServerOptions options;
    options.db_path = dir_.File("fleet.db");
    options.listen = {"127.0.0.1:0"};
    options.insecure_dev = true;
    options.firmware.gc_interval = gc_interval;
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
    ASSERT_THAT(server.status(), IsOk());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->target(), grpc::InsecureChannelCredentials());
    firmware_ = v1::FirmwareService::NewStub(channel_);
    rollouts_ = v1::RolloutService::NewStub(channel_);
    if (key_.public_pem.empty()) {
      absl::StatusOr<TestSigningKey> key = MakeSigningKey(dir_.File("keys"));
      ASSERT_THAT(key.status(), IsOk());
      key_ = *key;
      v1::AddSigningKeyRequest add;
      add.set_name("release-2027");
      add.set_public_key_pem(key_.public_pem);
      v1::AddSigningKeyResponse added;
      ASSERT_THAT(firmware_->AddSigningKey(NewClientContext().get(), add, &added), IsOk());
      auto fleet = v1::FleetService::NewStub(channel_);
      v1::CreateSiteRequest site;
      site.set_code("POST-1");
      site.set_name("Post 1");
      v1::CreateSiteResponse site_resp;
      ASSERT_THAT(fleet->CreateSite(NewClientContext().get(), site, &site_resp), IsOk());
      v1::RegisterCameraRequest cam;
      cam.set_serial("CAM-0001");
      cam.set_model(kModel);
      cam.set_site_code("POST-1");
      v1::RegisterCameraResponse cam_resp;
      ASSERT_THAT(fleet->RegisterCamera(NewClientContext().get(), cam, &cam_resp), IsOk());
    }
  }

  v1::FirmwareRelease Upload(const std::string& name, const std::string& image,
                             const std::string& version) {
    absl::StatusOr<ReleaseFiles> r =
        SignImage(dir_.path(), name, image, key_, {kModel}, version);
    EXPECT_THAT(r.status(), IsOk());
    if (!r.ok()) return {};
    v1::UploadReleaseResponse resp;
    EXPECT_THAT(UploadSignedRelease(*firmware_, NewClientContext(kTestOperator, absl::Seconds(60))
                                                    .get(),
                                    *r, &resp),
                IsOk());
    return resp.release();
  }

  void Withdraw(const v1::FirmwareRelease& r) {
    v1::WithdrawReleaseRequest req;
    req.set_release_id(r.release_id());
    req.set_reason("drains the battery");
    v1::WithdrawReleaseResponse resp;
    ASSERT_THAT(firmware_->WithdrawRelease(NewClientContext().get(), req, &resp), IsOk());
  }

  std::string CreateRollout(const v1::FirmwareRelease& r) {
    v1::CreateRolloutRequest req;
    req.set_release_id(r.release_id());
    req.mutable_target()->add_site_codes("POST-1");
    v1::CreateRolloutResponse resp;
    EXPECT_THAT(rollouts_->CreateRollout(NewClientContext().get(), req, &resp), IsOk());
    return resp.rollout().rollout_id();
  }

  void Abort(const std::string& rollout_id) {
    v1::AbortRolloutRequest req;
    req.set_rollout_id(rollout_id);
    req.set_reason("superseded");
    v1::AbortRolloutResponse resp;
    ASSERT_THAT(rollouts_->AbortRollout(NewClientContext().get(), req, &resp), IsOk());
  }

  GcReport Collect() {
    absl::StatusOr<GcReport> r = server_->firmware().CollectGarbage();
    EXPECT_THAT(r.status(), IsOk());
    return r.ok() ? *r : GcReport();
  }

  // What a dock holding `cached` would be sent for `target`.
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> Offer(
      const v1::FirmwareRelease& target, const v1::FirmwareRelease* cached) {
    v1::DownloadReleaseRequest req;
    req.set_release_id(target.release_id());
    if (cached != nullptr) req.add_cached_release_ids(cached->release_id());
    return server_->firmware().PrepareDownload(req);
  }

  std::vector<v1::AuditEvent> GcEvents() {
    auto audit = v1::AuditService::NewStub(channel_);
    v1::ListAuditEventsRequest req;
    req.set_action("firmware.gc");
    v1::ListAuditEventsResponse resp;
    EXPECT_THAT(audit->ListAuditEvents(NewClientContext().get(), req, &resp), IsOk());
    return {resp.events().begin(), resp.events().end()};
  }

  v1::FirmwareRelease Listed(const std::string& release_id) {
    v1::ListReleasesRequest req;
    req.set_include_withdrawn(true);
    v1::ListReleasesResponse resp;
    EXPECT_THAT(firmware_->ListReleases(NewClientContext().get(), req, &resp), IsOk());
    for (const v1::FirmwareRelease& r : resp.releases()) {
      if (r.release_id() == release_id) return r;
    }
    ADD_FAILURE() << "release " << release_id << " is not listed";
    return {};
  }

  firmware_service::ImageStore& images() { return server_->firmware().images(); }

  int ObjectCount() {
    absl::StatusOr<std::vector<firmware_service::ImageStore::Object>> objects = images().List();
    EXPECT_THAT(objects.status(), IsOk());
    return objects.ok() ? static_cast<int>(objects->size()) : -1;
  }

  TempDir dir_;
  TestSigningKey key_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FirmwareService::Stub> firmware_;
  std::unique_ptr<v1::RolloutService::Stub> rollouts_;
};

TEST_F(ImageGcTest, WithdrawnReleasesLeaveTheStoreButNothingAnUnfinishedRolloutNeeds) {
  const std::string base = RandomImage(256 * 1024, 1);
  const std::string edited = EditedImage(base, 2);
  const v1::FirmwareRelease a = Upload("a", base, "1.0.0");
  const v1::FirmwareRelease b = Upload("b", edited, "1.1.0");
  const v1::FirmwareRelease c = Upload("c", EditedImage(edited, 3), "1.2.0");
  ASSERT_EQ(b.deltas_size(), 1);
  ASSERT_EQ(c.deltas_size(), 1);
  // Images, compressed images, deltas a>b and b>c.
  ASSERT_EQ(ObjectCount(), 8);
  const std::string rollout = CreateRollout(c);
  // The delta b>c the rollout's docks may be fetching (or resuming) right now.
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> delta_bc = Offer(c, &b);
  ASSERT_THAT(delta_bc.status(), IsOk());
  ASSERT_EQ(delta_bc->header.encoding(), v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA);

  // Nothing withdrawn: nothing goes, and nothing is written.
  GcReport idle = Collect();
  EXPECT_EQ(idle.objects_removed, 0);
  EXPECT_THAT(GcEvents(), IsEmpty());

  Withdraw(a);
  Withdraw(b);
  GcReport first = Collect();
  EXPECT_THAT(first.release_ids, UnorderedElementsAre(a.release_id(), b.release_id()));
  EXPECT_THAT(first.dropped_deltas, ElementsAre(Pair(a.release_id(), b.release_id())));
  // a's and b's images and compressed images, and the delta a>b.
  EXPECT_EQ(first.objects_removed, 5);
  EXPECT_GT(first.bytes_freed, 4 * 256 * 1024u);
  EXPECT_EQ(ObjectCount(), 3);
  EXPECT_FALSE(images().Has(a.image_sha256()));
  EXPECT_FALSE(images().Has(b.image_sha256()));
  EXPECT_TRUE(images().Has(c.image_sha256()));
  // The rollout of c still downloads: the full image, and the delta from b for a dock that has
  // b cached (b's image is not needed for that: the dock holds it).
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> full = Offer(c, nullptr);
  ASSERT_THAT(full.status(), IsOk());
  EXPECT_TRUE(images().Has(full->header.payload_sha256()));
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> still = Offer(c, &b);
  ASSERT_THAT(still.status(), IsOk());
  EXPECT_EQ(still->header.encoding(), v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA);
  EXPECT_TRUE(images().Has(still->header.payload_sha256()));
  // The withdrawn releases stay listed; b no longer lists a delta from a.
  EXPECT_THAT(Listed(b.release_id()).deltas(), IsEmpty());
  EXPECT_EQ(Listed(c.release_id()).deltas_size(), 1);
  // Audited once, saying what went.
  std::vector<v1::AuditEvent> events = GcEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor(), "camfleetd");
  EXPECT_THAT(events[0].details_json(), HasSubstr(a.release_id().substr(0, 12)));
  EXPECT_THAT(events[0].details_json(), HasSubstr("\"objects_removed\":\"5\""));
  // A withdrawn release whose image went cannot be exported; the message says why.
  v1::ExportReleaseRequest exp;
  exp.set_release_id(a.release_id());
  EXPECT_THAT(server_->firmware().PrepareExport(exp).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("left the store")));

  // A second run finds nothing and writes nothing.
  GcReport again = Collect();
  EXPECT_EQ(again.objects_removed, 0);
  EXPECT_THAT(again.dropped_deltas, IsEmpty());
  EXPECT_THAT(GcEvents(), ::testing::SizeIs(1));

  // Once the rollout is over, the delta from the withdrawn b goes too; c itself stays whole.
  Abort(rollout);
  GcReport after = Collect();
  EXPECT_THAT(after.dropped_deltas, ElementsAre(Pair(b.release_id(), c.release_id())));
  EXPECT_EQ(after.objects_removed, 1);
  EXPECT_FALSE(images().Has(still->header.payload_sha256()));
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> now = Offer(c, &b);
  ASSERT_THAT(now.status(), IsOk());
  EXPECT_EQ(now->header.encoding(), v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL);
  EXPECT_TRUE(images().Has(c.image_sha256()));
  EXPECT_THAT(GcEvents(), ::testing::SizeIs(2));
}

TEST_F(ImageGcTest, SharedContentStaysAndOrphansGo) {
  // Two releases of the same bytes (a rebuild signed as a new version): one object each kind.
  const std::string image = RandomImage(64 * 1024, 5);
  const v1::FirmwareRelease old_build = Upload("old", image, "1.0.0");
  const v1::FirmwareRelease new_build = Upload("new", image, "1.0.1");
  ASSERT_EQ(old_build.image_sha256(), new_build.image_sha256());
  // What a crash between storing an upload and recording it leaves: an object no row names.
  absl::StatusOr<std::string> orphan = images().Put("left by a crash mid-upload");
  ASSERT_THAT(orphan.status(), IsOk());
  Withdraw(old_build);
  GcReport report = Collect();
  // The withdrawn build's image is the live one's: kept. Only the orphan goes.
  EXPECT_THAT(report.release_ids, IsEmpty());
  EXPECT_EQ(report.objects_removed, 1);
  EXPECT_FALSE(images().Has(*orphan));
  EXPECT_TRUE(images().Has(new_build.image_sha256()));
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> full =
      Offer(new_build, nullptr);
  ASSERT_THAT(full.status(), IsOk());
  EXPECT_TRUE(images().Has(full->header.payload_sha256()));
}

TEST_F(ImageGcTest, CamfleetdCollectsOnItsOwnSchedule) {
  StartServer(absl::Milliseconds(100));
  const v1::FirmwareRelease a = Upload("a", RandomImage(32 * 1024, 7), "1.0.0");
  const v1::FirmwareRelease b = Upload("b", RandomImage(32 * 1024, 8), "1.1.0");
  Withdraw(a);
  EXPECT_TRUE(WaitFor([&] { return !images().Has(a.image_sha256()); }, absl::Seconds(60)));
  EXPECT_TRUE(WaitFor([&] { return GcEvents().size() == 1; }, absl::Seconds(60)));
  EXPECT_TRUE(images().Has(b.image_sha256()));
}

}  // namespace
}  // namespace camfleet::testing
