// The simulated camera's side of firmware: it checks releases with its own trusted keys, stages
// into the inactive slot, boots, confirms or falls back, and survives power cuts at any step.

#include <memory>

#include "agent/grpc_camera_link.h"
#include "agent/sim/camera_simulator.h"
#include "agent/sim/camera_unit.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::camsim {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kChunk = 64 * 1024;

class CameraFirmwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestSigningKey> key = testing::MakeSigningKey(keys_.File("k"));
    ASSERT_THAT(key.status(), IsOk());
    key_ = *key;
    Reopen();
  }

  CameraSimulatorOptions Options() {
    CameraSimulatorOptions o;
    o.state_dir = camera_dir_.File("cam");
    o.serial = "CAM-0001";
    o.model = "BWC-4";
    o.firmware_version = "1.0.0";
    o.firmware_keys_pem = {key_.public_pem};
    o.retired_firmware_key_ids = retired_;
    o.clock = &clock_;
    return o;
  }

  // A restart of the camera from what is on its flash (a power cut, a battery pulled).
  void Reopen() {
    camera_.reset();
    absl::StatusOr<std::unique_ptr<CameraSimulator>> camera = CameraSimulator::Open(Options());
    ASSERT_THAT(camera.status(), IsOk());
    camera_ = *std::move(camera);
  }

  testing::ReleaseFiles Sign(const std::string& name, const std::string& image,
                             const std::string& version, bool downgrade = false,
                             const testing::TestSigningKey* key = nullptr,
                             std::vector<std::string> models = {"BWC-4"}) {
    absl::StatusOr<testing::ReleaseFiles> r = testing::SignImage(
        keys_.path(), name, image, key ? *key : key_, std::move(models), version, downgrade);
    EXPECT_THAT(r.status(), IsOk());
    return r.ok() ? *r : testing::ReleaseFiles{};
  }

  absl::Status Stage(const testing::ReleaseFiles& r, const std::string& image) {
    absl::StatusOr<uint64_t> offset =
        camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature);
    if (!offset.ok()) return offset.status();
    for (uint64_t at = *offset; at < image.size(); at += kChunk) {
      if (absl::Status s =
              camera_->WriteFirmwareChunk(at, absl::string_view(image).substr(at, kChunk));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<FirmwareStatus> Install(const testing::ReleaseFiles& r) {
    if (absl::Status s = Stage(r, r.image); !s.ok()) return s;
    return camera_->ActivateFirmware();
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1796000000)};
  testing::TempDir keys_;
  testing::TempDir camera_dir_;
  testing::TestSigningKey key_;
  std::vector<std::string> retired_;
  std::unique_ptr<CameraSimulator> camera_;
};

TEST_F(CameraFirmwareTest, InstallsIntoTheInactiveSlotBootsAndConfirms) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(200 * 1024, 1), "1.1.0");
  absl::StatusOr<FirmwareStatus> status = Install(r);
  ASSERT_THAT(status.status(), IsOk());
  EXPECT_EQ(status->last_install_result, "confirmed");
  EXPECT_EQ(status->running_version, "1.1.0");
  EXPECT_EQ(status->active_slot, 'B');
  EXPECT_EQ(status->slot_a_version, "1.0.0");
  EXPECT_EQ(status->install_sequence, 1u);
  Reopen();
  const FirmwareStatus after = camera_->GetFirmwareStatus();
  EXPECT_EQ(after.running_version, "1.1.0");
  EXPECT_TRUE(after.active_image_ok);
  EXPECT_EQ(camera_->Identify().firmware_version, "1.1.0");
}

TEST_F(CameraFirmwareTest, RefusesABadSignature) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  std::string bad = r.release.signature;
  bad[0] ^= 1;
  EXPECT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad signature")));
  EXPECT_EQ(camera_->GetFirmwareStatus().staged_version, "");
}

TEST_F(CameraFirmwareTest, RefusesATamperedImageAndKeepsRunningTheOldOne) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(100 * 1024, 1), "1.1.0");
  std::string tampered = r.image;
  tampered[777] ^= 1;
  ASSERT_THAT(Stage(r, tampered), IsOk());
  EXPECT_THAT(camera_->ActivateFirmware().status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SHA-256")));
  const FirmwareStatus s = camera_->GetFirmwareStatus();
  EXPECT_EQ(s.running_version, "1.0.0");
  EXPECT_EQ(s.staged_version, "");
  EXPECT_THAT(camera_->WriteFirmwareChunk(0, "x"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(CameraFirmwareTest, RefusesBytesPastTheSignedSize) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(1000, 1), "1.1.0");
  ASSERT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature).status(),
              IsOk());
  EXPECT_THAT(camera_->WriteFirmwareChunk(0, r.image + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signed size")));
}

TEST_F(CameraFirmwareTest, RefusesAnImageForAnotherModel) {
  testing::ReleaseFiles r =
      Sign("a", testing::RandomImage(4096, 1), "1.1.0", false, nullptr, {"BWC-5"});
  EXPECT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("BWC-5")));
}

TEST_F(CameraFirmwareTest, RefusesAnUnsignedDowngradeButTakesASignedOne) {
  ASSERT_THAT(Install(Sign("a", testing::RandomImage(4096, 1), "1.2.0")).status(), IsOk());
  testing::ReleaseFiles down = Sign("b", testing::RandomImage(4096, 2), "1.1.0");
  EXPECT_THAT(
      camera_->BeginFirmwareStage(down.release.manifest_bytes, down.release.signature).status(),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("allowed downgrade")));
  absl::StatusOr<FirmwareStatus> allowed =
      Install(Sign("c", testing::RandomImage(4096, 3), "1.1.1", true));
  ASSERT_THAT(allowed.status(), IsOk());
  EXPECT_EQ(allowed->running_version, "1.1.1");
}

TEST_F(CameraFirmwareTest, RefusesAKeyItDoesNotTrust) {
  absl::StatusOr<testing::TestSigningKey> stranger = testing::MakeSigningKey(keys_.File("s"));
  ASSERT_THAT(stranger.status(), IsOk());
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0", false, &*stranger);
  EXPECT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not trusted")));
}

TEST_F(CameraFirmwareTest, RefusesARetiredKey) {
  retired_ = {key_.files.key_id};
  Reopen();
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  EXPECT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("retired")));
}

TEST_F(CameraFirmwareTest, AnImageThatWillNotBootRollsBackAndSaysSo) {
  camera_->FailNextBoot();
  absl::StatusOr<FirmwareStatus> s = Install(Sign("a", testing::RandomImage(4096, 1), "1.1.0"));
  ASSERT_THAT(s.status(), IsOk());
  EXPECT_EQ(s->last_install_result, "rolled_back");
  EXPECT_EQ(s->last_install_version, "1.1.0");
  EXPECT_THAT(s->last_install_error, HasSubstr("did not boot"));
  EXPECT_EQ(s->running_version, "1.0.0");
  EXPECT_EQ(s->active_slot, 'A');
  absl::StatusOr<HealthReading> h = camera_->ReadHealth();
  ASSERT_THAT(h.status(), IsOk());
  EXPECT_EQ(h->error_counters["firmware_rollbacks"], 1u);
}

TEST_F(CameraFirmwareTest, WillNotBootAReleaseOnLessBatteryThanItNeeds) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");  // needs 20 %
  ASSERT_THAT(camera_->SetInSlot(false), IsOk());
  clock_.Advance(absl::Hours(11));  // on patrol: the battery runs down
  ASSERT_THAT(camera_->SetInSlot(true), IsOk());
  ASSERT_LT(camera_->Status().battery.state_of_charge, 0.2);
  ASSERT_THAT(Stage(r, r.image), IsOk());
  EXPECT_THAT(camera_->ActivateFirmware().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("needs at least 20%")));
  EXPECT_EQ(camera_->GetFirmwareStatus().running_version, "1.0.0");
  clock_.Advance(absl::Hours(6));  // charged in the dock
  absl::StatusOr<FirmwareStatus> s = camera_->ActivateFirmware();
  ASSERT_THAT(s.status(), IsOk());
  EXPECT_EQ(s->running_version, "1.1.0");
}

TEST_F(CameraFirmwareTest, AFlashWriteErrorIsRetriedFromTheSameOffset) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(200 * 1024, 1), "1.1.0");
  ASSERT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature).status(),
              IsOk());
  ASSERT_THAT(camera_->WriteFirmwareChunk(0, r.image.substr(0, kChunk)), IsOk());
  camera_->FailFlashWrites(1);
  EXPECT_THAT(camera_->WriteFirmwareChunk(kChunk, r.image.substr(kChunk, kChunk)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("flash write error")));
  absl::StatusOr<FirmwareStatus> s = Install(r);
  ASSERT_THAT(s.status(), IsOk());
  EXPECT_EQ(s->last_install_result, "confirmed");
  absl::StatusOr<HealthReading> h = camera_->ReadHealth();
  ASSERT_THAT(h.status(), IsOk());
  EXPECT_EQ(h->error_counters["flash_write_errors"], 1u);
}

TEST_F(CameraFirmwareTest, StagingResumesWhereItStoppedAfterARestart) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(300 * 1024, 1), "1.1.0");
  ASSERT_THAT(camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature).status(),
              IsOk());
  ASSERT_THAT(camera_->WriteFirmwareChunk(0, r.image.substr(0, 2 * kChunk)), IsOk());
  Reopen();
  absl::StatusOr<uint64_t> offset =
      camera_->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature);
  ASSERT_THAT(offset.status(), IsOk());
  EXPECT_EQ(*offset, 2 * kChunk);
  EXPECT_THAT(camera_->WriteFirmwareChunk(0, "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("resume from 131072")));
  absl::StatusOr<FirmwareStatus> s = Install(r);
  ASSERT_THAT(s.status(), IsOk());
  EXPECT_EQ(s->running_version, "1.1.0");
}

TEST_F(CameraFirmwareTest, PowerLostWhileBootingFallsBackAtTheNextStart) {
  camera_->CutPowerDuringNextBoot();
  EXPECT_THAT(Install(Sign("a", testing::RandomImage(4096, 1), "1.1.0")).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(camera_->InSlot());  // no power: the dock sees an empty slot
  Reopen();
  const FirmwareStatus s = camera_->GetFirmwareStatus();
  EXPECT_EQ(s.running_version, "1.0.0");
  EXPECT_EQ(s.last_install_result, "rolled_back");
  EXPECT_THAT(s.last_install_error, HasSubstr("power was lost"));
  EXPECT_TRUE(s.active_image_ok);
}

// A power cut after each step of an install, from a camera already running a real image in a
// slot: at every point the camera starts a good image, and finishing the install afterwards works.
TEST_F(CameraFirmwareTest, APowerCutAtAnyStepLeavesABootableImage) {
  testing::ReleaseFiles first = Sign("first", testing::RandomImage(150 * 1024, 1), "1.1.0");
  ASSERT_THAT(Install(first).status(), IsOk());
  testing::ReleaseFiles next = Sign("next", testing::EditedImage(first.image, 2), "1.2.0");
  const int chunks = static_cast<int>((next.image.size() + kChunk - 1) / kChunk);
  // Steps: 0 after Begin, 1..chunks after each chunk, chunks+1 mid-boot.
  for (int cut = 0; cut <= chunks + 1; ++cut) {
    SCOPED_TRACE(cut);
    absl::StatusOr<uint64_t> offset =
        camera_->BeginFirmwareStage(next.release.manifest_bytes, next.release.signature);
    ASSERT_THAT(offset.status(), IsOk());
    uint64_t at = *offset;
    for (int step = 1; step <= cut && at < next.image.size(); ++step, at += kChunk) {
      ASSERT_THAT(camera_->WriteFirmwareChunk(at, next.image.substr(at, kChunk)), IsOk());
    }
    if (cut == chunks + 1) {
      camera_->CutPowerDuringNextBoot();
      EXPECT_THAT(camera_->ActivateFirmware().status(), StatusIs(absl::StatusCode::kUnavailable));
    }
    Reopen();
    const FirmwareStatus s = camera_->GetFirmwareStatus();
    EXPECT_EQ(s.running_version, "1.1.0");
    EXPECT_TRUE(s.active_image_ok);
  }
  absl::StatusOr<FirmwareStatus> done = Install(next);
  ASSERT_THAT(done.status(), IsOk());
  EXPECT_EQ(done->running_version, "1.2.0");
  EXPECT_TRUE(done->active_image_ok);
}

TEST_F(CameraFirmwareTest, TheDockInstallsOverTheCameraLink) {
  camera_.reset();
  const std::string socket = camera_dir_.File("slot1.sock");
  absl::StatusOr<std::unique_ptr<CameraUnit>> unit = CameraUnit::Open(Options(), socket);
  ASSERT_THAT(unit.status(), IsOk());
  std::unique_ptr<agent::CameraLink> link = agent::NewGrpcCameraLink(socket);

  absl::StatusOr<testing::TestSigningKey> stranger = testing::MakeSigningKey(keys_.File("s"));
  ASSERT_THAT(stranger.status(), IsOk());
  testing::ReleaseFiles foreign =
      Sign("f", testing::RandomImage(4096, 9), "1.1.0", false, &*stranger);
  EXPECT_THAT(
      link->BeginFirmwareStage(foreign.release.manifest_bytes, foreign.release.signature).status(),
      StatusIs(absl::StatusCode::kPermissionDenied));

  testing::ReleaseFiles r = Sign("a", testing::RandomImage(200 * 1024, 1), "1.1.0");
  absl::StatusOr<uint64_t> offset =
      link->BeginFirmwareStage(r.release.manifest_bytes, r.release.signature);
  ASSERT_THAT(offset.status(), IsOk());
  for (uint64_t at = *offset; at < r.image.size(); at += kChunk) {
    ASSERT_THAT(link->WriteFirmwareChunk(at, r.image.substr(at, kChunk)), IsOk());
  }
  absl::StatusOr<agent::CameraFirmwareStatus> s = link->ActivateFirmware();
  ASSERT_THAT(s.status(), IsOk());
  EXPECT_EQ(s->last_install_result, agent::InstallResult::kConfirmed);
  EXPECT_EQ(s->running_version, "1.1.0");
  absl::StatusOr<agent::CameraIdentity> id = link->Identify();
  ASSERT_THAT(id.status(), IsOk());
  EXPECT_EQ(id->firmware_version, "1.1.0");

  (*unit)->camera().FailNextBoot();
  testing::ReleaseFiles bad = Sign("b", testing::RandomImage(4096, 2), "1.2.0");
  ASSERT_THAT(link->BeginFirmwareStage(bad.release.manifest_bytes, bad.release.signature).status(),
              IsOk());
  ASSERT_THAT(link->WriteFirmwareChunk(0, bad.image), IsOk());
  absl::StatusOr<agent::CameraFirmwareStatus> rolled = link->ActivateFirmware();
  ASSERT_THAT(rolled.status(), IsOk());
  EXPECT_EQ(rolled->last_install_result, agent::InstallResult::kRolledBack);
  EXPECT_EQ(rolled->running_version, "1.1.0");
  absl::StatusOr<agent::CameraFirmwareStatus> again = link->GetFirmwareStatus();
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(again->install_sequence, 2u);
}

}  // namespace
}  // namespace camfleet::camsim
