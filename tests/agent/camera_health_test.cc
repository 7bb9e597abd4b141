// The simulated camera on a clock the test drives: health readings over the camera link, a
// reading sequence that never repeats, SetClock, being taken out of a slot and put into
// another, a link that drops mid-call, and the pending CSR that survives a lost answer and a
// restart. No sleeps: time moves only when the test moves the FakeClock.

#include <sys/stat.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/camera_link.h"
#include "agent/grpc_camera_link.h"
#include "agent/sim/camera_simulator.h"
#include "agent/sim/camera_unit.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/csr.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::camsim {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kSerial[] = "CAM-0001";

class CameraHealthTest : public ::testing::Test {
 protected:
  CameraSimulatorOptions Options() {
    CameraSimulatorOptions o;
    o.state_dir = dir_.File("camera");
    o.serial = kSerial;
    o.model = "BWC-4";
    o.firmware_version = "2.1.0";
    o.clock = &clock_;
    return o;
  }

  // The camera, in the slot at `socket` (or out).
  std::unique_ptr<CameraUnit> OpenUnit(const std::optional<std::string>& socket,
                                       CameraSimulatorOptions options) {
    absl::StatusOr<std::unique_ptr<CameraUnit>> unit = CameraUnit::Open(options, socket);
    EXPECT_THAT(unit, IsOk());
    return unit.ok() ? *std::move(unit) : nullptr;
  }
  std::unique_ptr<CameraUnit> OpenUnit(const std::optional<std::string>& socket) {
    return OpenUnit(socket, Options());
  }

  std::unique_ptr<agent::CameraLink> Link(const std::string& socket) {
    return agent::NewGrpcCameraLink(socket, absl::Seconds(10));
  }

  std::string Slot(int n) { return dir_.File(absl::StrCat("slot", n, ".sock")); }

  TempDir dir_;
  common::FakeClock clock_{absl::Now()};
};

TEST_F(CameraHealthTest, LinkReturnsAFullHealthReading) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  clock_.Advance(absl::Hours(5));
  absl::StatusOr<agent::HealthSnapshot> h = Link(Slot(1))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->device_time, clock_.Now());
  EXPECT_EQ(h->sequence, 1u);
  EXPECT_EQ(h->battery_percent, 100u);
  EXPECT_EQ(h->design_capacity_mah, 3400u);
  EXPECT_GT(h->full_charge_capacity_mah, 3390u);  // five hours of calendar ageing
  EXPECT_LE(h->full_charge_capacity_mah, 3400u);
  EXPECT_EQ(h->cycle_count, 0u);
  EXPECT_EQ(h->temperature_decicelsius, 220);
  EXPECT_NEAR(h->voltage_mv, 4180, 5);
  EXPECT_FALSE(h->charging);
  EXPECT_EQ(h->storage_used_bytes, 0u);
  EXPECT_EQ(h->storage_total_bytes, uint64_t{64} << 30);
  EXPECT_EQ(h->firmware_version, "2.1.0");
  EXPECT_EQ(h->slot_a_version, "2.1.0");
  EXPECT_EQ(h->slot_b_version, "");
  EXPECT_THAT(h->error_counters, IsEmpty());
  EXPECT_EQ(h->uptime, absl::Hours(5));
}

TEST_F(CameraHealthTest, HealthSequenceSurvivesARestart) {
  {
    std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
    ASSERT_NE(unit, nullptr);
    for (uint64_t want = 1; want <= 3; ++want) {
      absl::StatusOr<HealthReading> h = unit->camera().ReadHealth();
      ASSERT_THAT(h, IsOk());
      EXPECT_EQ(h->sequence, want);
    }
  }
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  absl::StatusOr<agent::HealthSnapshot> h = Link(Slot(1))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->sequence, 4u);
  EXPECT_EQ(h->uptime, absl::ZeroDuration());  // a restart is a reboot
}

TEST_F(CameraHealthTest, SetClockCorrectsASkewedClockForGood) {
  CameraSimulatorOptions options = Options();
  options.clock_skew = -absl::Hours(48);
  {
    std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1), options);
    ASSERT_NE(unit, nullptr);
    std::unique_ptr<agent::CameraLink> link = Link(Slot(1));
    ASSERT_EQ(link->Identify()->device_time, clock_.Now() - absl::Hours(48));
    ASSERT_THAT(link->SetClock(clock_.Now()), IsOk());
    EXPECT_EQ(link->Identify()->device_time, clock_.Now());
    EXPECT_EQ(link->ReadHealth()->device_time, clock_.Now());
  }
  // The camera keeps the corrected clock across a reboot.
  clock_.Advance(absl::Hours(1));
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->camera().DeviceNow(), clock_.Now());
}

TEST_F(CameraHealthTest, CameraTakenOutIsUnavailableAndDrainsThenAnswersInAnotherSlot) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  std::unique_ptr<agent::CameraLink> slot1 = Link(Slot(1));
  ASSERT_EQ(slot1->ReadHealth()->battery_percent, 100u);

  ASSERT_THAT(unit->TakeOut(), IsOk());
  EXPECT_EQ(unit->socket_path(), std::nullopt);
  EXPECT_THAT(slot1->Identify(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(slot1->ReadHealth(), StatusIs(absl::StatusCode::kUnavailable));
  clock_.Advance(absl::Hours(6));  // half a shift of recording

  // Back at another dock's slot.
  ASSERT_THAT(unit->PutIn(Slot(7)), IsOk());
  absl::StatusOr<agent::HealthSnapshot> h = Link(Slot(7))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_NEAR(h->battery_percent, 50, 1);
  EXPECT_TRUE(h->charging);
  EXPECT_GT(h->storage_used_bytes, uint64_t{10} << 30);  // six hours of video
  EXPECT_EQ(h->sequence, 2u);
  EXPECT_THAT(slot1->Identify(), StatusIs(absl::StatusCode::kUnavailable));

  clock_.Advance(absl::Hours(3));
  h = Link(Slot(7))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->battery_percent, 100u);
  EXPECT_FALSE(h->charging);
  EXPECT_EQ(h->storage_used_bytes, 0u);  // offloaded in the dock
}

TEST_F(CameraHealthTest, PutInMovesACameraFromOneSlotToAnother) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  ASSERT_THAT(unit->PutIn(Slot(2)), IsOk());
  EXPECT_EQ(unit->socket_path(), Slot(2));
  EXPECT_THAT(Link(Slot(1))->Identify(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Link(Slot(2))->Identify(), IsOk());
}

TEST_F(CameraHealthTest, CameraThatRanFlatOnPatrolRebootsWhenDocked) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  ASSERT_THAT(unit->TakeOut(), IsOk());
  clock_.Advance(absl::Hours(20));
  ASSERT_THAT(unit->PutIn(Slot(1)), IsOk());
  clock_.Advance(absl::Minutes(10));
  absl::StatusOr<agent::HealthSnapshot> h = Link(Slot(1))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->uptime, absl::Minutes(10));
  EXPECT_EQ(h->error_counters["power_loss_resets"], 1u);
  EXPECT_EQ(h->cycle_count, 1u);
}

TEST_F(CameraHealthTest, CameraOutWhenTheSimulatorStoppedDrainedMeanwhile) {
  {
    std::unique_ptr<CameraUnit> unit = OpenUnit(std::nullopt);
    ASSERT_NE(unit, nullptr);
  }
  clock_.Advance(absl::Hours(3));
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(Link(Slot(1))->ReadHealth()->battery_percent, 75u);
}

TEST_F(CameraHealthTest, AYearOnTheClockAgesTheBatteryAtOnce) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  std::unique_ptr<agent::CameraLink> link = Link(Slot(1));
  const absl::Time started = absl::Now();
  clock_.Advance(absl::Hours(24 * 365));  // a year in a dock at 22 C
  absl::StatusOr<agent::HealthSnapshot> h = link->ReadHealth();
  ASSERT_THAT(h, IsOk());
  // Computed, not stepped through: a year takes no longer than a read (room for a loaded machine).
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  // Calendar ageing only: 3 % a year at 25 C, a little less at 22 C.
  EXPECT_NEAR(h->full_charge_capacity_mah, 0.974 * 3400, 10);
  EXPECT_EQ(h->cycle_count, 0u);
}

TEST_F(CameraHealthTest, PatrolDaysOnTheClockCountCyclesAndWearTheBattery) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  // Out and in through the camera itself, not the slot's server: that is measured elsewhere.
  // Every move is written durably, so the days are few here; agent_battery_test ages a cell
  // through hundreds of cycles.
  CameraSimulator& camera = unit->camera();
  for (int day = 0; day < 40; ++day) {
    ASSERT_THAT(camera.SetInSlot(false), IsOk());
    clock_.Advance(absl::Hours(13));  // runs flat after 12 h
    ASSERT_THAT(camera.SetInSlot(true), IsOk());
    clock_.Advance(absl::Hours(11));
  }
  absl::StatusOr<agent::HealthSnapshot> h = Link(Slot(1))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->cycle_count, 40u);
  EXPECT_EQ(h->battery_percent, 100u);
  EXPECT_LT(h->full_charge_capacity_mah, 0.95 * 3400);
  EXPECT_GT(h->full_charge_capacity_mah, 0.90 * 3400);
  EXPECT_EQ(h->error_counters["power_loss_resets"], 40u);
}

TEST_F(CameraHealthTest, WornBatteryFaultStartsAtTheGivenHealth) {
  CameraSimulatorOptions options = Options();
  options.battery_health = 0.6;
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1), options);
  ASSERT_NE(unit, nullptr);
  absl::StatusOr<agent::HealthSnapshot> h = Link(Slot(1))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->full_charge_capacity_mah, 2040u);
  EXPECT_GT(h->cycle_count, 1000u);
  ASSERT_THAT(unit->camera().SetBatteryHealth(0.5), IsOk());
  EXPECT_EQ(Link(Slot(1))->ReadHealth()->full_charge_capacity_mah, 1700u);
  EXPECT_THAT(unit->camera().SetBatteryHealth(1.5), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CameraHealthTest, LinkDropMidCallFailsUnavailableAndLeavesAGapNotARepeat) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  std::unique_ptr<agent::CameraLink> link = Link(Slot(1));
  unit->camera().DropLinkAnswers(1);
  EXPECT_THAT(link->ReadHealth(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("dropped mid-call")));
  absl::StatusOr<agent::HealthSnapshot> h = link->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->sequence, 2u);
  EXPECT_EQ(h->error_counters["link_drops"], 1u);
}

// ---------------------------------------------------------------------- the pending CSR

class PendingCsrTest : public CameraHealthTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(dir_.File("ca").c_str(), 0700), 0);
    absl::StatusOr<provisioning::CertificateAuthority> ca =
        provisioning::CertificateAuthority::Create(dir_.File("ca"), absl::Now());
    ASSERT_THAT(ca, IsOk());
    ca_ = std::make_unique<provisioning::CertificateAuthority>(*std::move(ca));
  }

  std::string Issue(const std::string& csr_pem) {
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::FromPem(csr_pem);
    EXPECT_THAT(csr, IsOk());
    if (!csr.ok()) return "";
    provisioning::IssueRequest req;
    req.role = provisioning::Role::kCamera;
    req.identity = kSerial;
    absl::StatusOr<provisioning::IssuedCertificate> cert = ca_->Issue(*csr, req, absl::Now());
    EXPECT_THAT(cert, IsOk());
    return cert.ok() ? cert->pem : "";
  }

  std::unique_ptr<provisioning::CertificateAuthority> ca_;
};

TEST_F(PendingCsrTest, CreateCsrReturnsTheSamePendingCsrUntilFresh) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  std::unique_ptr<agent::CameraLink> link = Link(Slot(1));
  absl::StatusOr<std::string> first = link->CreateCsr();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(link->CreateCsr().value_or(""), *first);
  absl::StatusOr<std::string> fresh = link->CreateFreshCsr();
  ASSERT_THAT(fresh, IsOk());
  EXPECT_NE(*fresh, *first);
  EXPECT_EQ(link->CreateCsr().value_or(""), *fresh);
  // The old key is gone: a certificate for it cannot be installed.
  EXPECT_THAT(link->InstallCertificate(Issue(*first), ca_->CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("another key")));
  EXPECT_THAT(link->InstallCertificate(Issue(*fresh), ca_->CertificatePem()), IsOk());
}

TEST_F(PendingCsrTest, EnrollmentWhoseAnswerWasLostFinishesWithTheSameCsr) {
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
  ASSERT_NE(unit, nullptr);
  std::unique_ptr<agent::CameraLink> link = Link(Slot(1));
  unit->camera().DropLinkAnswers(1);
  EXPECT_THAT(link->CreateCsr(), StatusIs(absl::StatusCode::kUnavailable));
  absl::StatusOr<std::string> csr = link->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  // The server signed it, and that answer was lost too: the dock asks again, gets the same CSR,
  // and the certificate the server gives for it (again) fits.
  const std::string cert = Issue(*csr);
  ASSERT_EQ(link->CreateCsr().value_or(""), *csr);
  ASSERT_THAT(link->InstallCertificate(cert, ca_->CertificatePem()), IsOk());
  // Certified: no longer pending, so the next CSR (a renewal) is for a new key.
  absl::StatusOr<std::string> renewal = link->CreateCsr();
  ASSERT_THAT(renewal, IsOk());
  EXPECT_NE(*renewal, *csr);
}

TEST_F(PendingCsrTest, PendingKeyAndCsrSurviveARestart) {
  absl::StatusOr<std::string> csr;
  {
    std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(1));
    ASSERT_NE(unit, nullptr);
    csr = Link(Slot(1))->CreateCsr();
    ASSERT_THAT(csr, IsOk());
  }
  std::unique_ptr<CameraUnit> unit = OpenUnit(Slot(2));  // rebooted in another dock
  ASSERT_NE(unit, nullptr);
  std::unique_ptr<agent::CameraLink> link = Link(Slot(2));
  EXPECT_EQ(link->CreateCsr().value_or(""), *csr);
  EXPECT_THAT(link->InstallCertificate(Issue(*csr), ca_->CertificatePem()), IsOk());
}

TEST_F(PendingCsrTest, ACsrLostToACrashBetweenKeyAndCsrIsMadeAgainForTheKey) {
  absl::StatusOr<std::string> csr;
  {
    std::unique_ptr<CameraUnit> unit = OpenUnit(std::nullopt);
    ASSERT_NE(unit, nullptr);
    csr = unit->camera().CreateCsr();
    ASSERT_THAT(csr, IsOk());
  }
  ASSERT_EQ(::unlink(dir_.File("camera/pending-csr.pem").c_str()), 0);
  std::unique_ptr<CameraUnit> unit = OpenUnit(std::nullopt);
  ASSERT_NE(unit, nullptr);
  absl::StatusOr<std::string> again = unit->camera().CreateCsr();
  ASSERT_THAT(again, IsOk());
  // Another signature, the same key: a certificate for either fits.
  EXPECT_EQ(*provisioning::CertificateRequest::FromPem(*again)->PublicKeyFingerprint(),
            *provisioning::CertificateRequest::FromPem(*csr)->PublicKeyFingerprint());
  EXPECT_EQ(unit->camera().CreateCsr().value_or(""), *again);
  EXPECT_THAT(unit->camera().InstallCertificate(Issue(*csr), ca_->CertificatePem()), IsOk());
}

}  // namespace
}  // namespace camfleet::camsim
