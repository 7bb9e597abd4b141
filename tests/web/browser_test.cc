// The web page in a real browser: Debian's Chromium driven by Playwright (playwright-core from
// npm, installed into the build tree by scripts/playwright-install; nothing is downloaded when
// the test runs). This test makes a demo-like fleet on the real camfleetd, asks for sign-in
// links over mutual TLS as `camfleet web` does, runs tests/web/browser/pages.mjs against the
// page and checks in the database what the browser did. Screenshots of every page land in
// BUILD/web-screenshots (the CI artifact; docs/web-fleet.png in the README is one of them),
// with the report CSV the browser downloaded.
//
// Health readings, the dock and its alert and conflict are put in through the storage
// repositories (the sync stream's own steps), not through a simulated dock: this test is about
// the page, and the dock path has its own suites. So are the firmware installs of the rollout
// (rollout_engine's ApplyProgress, the step the sync stream takes for a dock's report).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "services/storage/alert_repository.h"
#include "services/storage/health_repository.h"
#include "tests/testing/db_query.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/web/web_fleet.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kChartSerial[] = "BWC4-000002";
constexpr char kLostSerial[] = "BWC4-000007";
constexpr char kDock[] = "dock-post7-a";
constexpr char kFailedSerial[] = "BWC4-000009";

std::string ToolsDir() {
  const char* dir = std::getenv("CAMFLEET_TOOLS_DIR");
  return dir != nullptr ? dir : CAMFLEET_BINARY_DIR "/tools";
}

// Skips, or in CI (CI=true) fails: a browser suite that did not run must not pass for one that
// did.
#define SKIP_OR_FAIL(why)                                                   \
  do {                                                                      \
    const char* ci = std::getenv("CI");                                     \
    if (ci != nullptr && std::string(ci) == "true") FAIL() << (why);        \
    GTEST_SKIP() << (why);                                                  \
  } while (false)

class BrowserTest : public ::testing::Test {
 protected:
  // Sites, holders, 16 cameras in every state, a dock with battery readings over three weeks,
  // an alert and a conflict: what scripts/demo leaves behind, in small.
  absl::Status Seed() {
    RETURN_IF_ERROR(fleet_->NamedSite("REGION-N", "Northern region", ""));
    RETURN_IF_ERROR(fleet_->NamedSite("POST-7", "Batken border post", "REGION-N"));
    RETURN_IF_ERROR(fleet_->NamedSite("POST-9", "Karamyk crossing", "REGION-N"));
    const std::vector<std::pair<std::string, std::string>> holders = {
        {"B-1001", "Amira Haddad"},   {"B-1002", "Daniyar Saparov"}, {"B-1003", "Elena Petrova"},
        {"B-1004", "Tomas Novak"},    {"B-1005", "Aigerim Bekova"},  {"B-1006", "Marco Rossi"}};
    for (const auto& [badge, name] : holders) {
      RETURN_IF_ERROR(fleet_->Holder(badge, name, "POST-7"));
    }
    for (int i = 1; i <= 12; ++i) {
      RETURN_IF_ERROR(
          fleet_->AvailableCamera(absl::StrFormat("BWC4-%06d", i), "POST-7", "BWC-4"));
    }
    for (int i = 101; i <= 104; ++i) {
      RETURN_IF_ERROR(
          fleet_->AvailableCamera(absl::StrFormat("BWC2-%06d", i), "POST-9", "BWC-2"));
    }
    RETURN_IF_ERROR(fleet_->Issue("BWC4-000003", "B-1001", absl::Hours(10), "shift A"));
    RETURN_IF_ERROR(fleet_->Issue("BWC4-000004", "B-1002", absl::Hours(10), "shift A"));
    RETURN_IF_ERROR(fleet_->Issue("BWC4-000005", "B-1003", absl::Hours(2), "night patrol"));
    RETURN_IF_ERROR(fleet_->Issue("BWC2-000101", "B-1004", absl::Hours(6), "crossing duty"));
    RETURN_IF_ERROR(fleet_->Lost(kLostSerial, "lost in pursuit near marker 41"));
    RETURN_IF_ERROR(fleet_->Faulty("BWC4-000008", "does not power on"));
    RETURN_IF_ERROR(fleet_->server().EnrollDock("POST-7", kDock).status());

    const std::string db = fleet_->db_path();
    ASSIGN_OR_RETURN(int64_t dock_id,
                     QueryInt(db, absl::StrCat("SELECT id FROM docks WHERE dock_id = '", kDock,
                                               "'")));
    ASSIGN_OR_RETURN(int64_t site_id, QueryInt(db, "SELECT id FROM sites WHERE code = 'POST-7'"));
    const absl::Time now = absl::Now();
    for (int cam = 1; cam <= 6; ++cam) {
      const std::string serial = absl::StrFormat("BWC4-%06d", cam);
      ASSIGN_OR_RETURN(int64_t camera_id,
                       QueryInt(db, absl::StrCat("SELECT id FROM cameras WHERE serial = '",
                                                 serial, "'")));
      const absl::Status written = fleet_->server().server().store().WriteAndWait(
          [&](storage::WriteTx& tx) -> absl::Status {
            for (int day = 0; day < 21; ++day) {
              const absl::Time t = now - absl::Hours(24) * (21 - day);
              v1::HealthReading r;
              r.set_serial(serial);
              r.set_slot(static_cast<uint32_t>(cam));
              r.mutable_device_time()->set_seconds(absl::ToUnixSeconds(t));
              r.set_camera_sequence(static_cast<uint64_t>(day + 1));
              r.set_battery_percent(static_cast<uint32_t>(35 + (day * 37 + cam * 11) % 65));
              r.set_design_capacity_mah(3000);
              r.set_full_charge_capacity_mah(
                  static_cast<uint32_t>(2950 - day * (8 + cam * 4)));
              r.set_cycle_count(static_cast<uint32_t>(180 + cam * 40 + day * 2));
              r.set_temperature_decicelsius(245);
              r.set_voltage_mv(3900);
              r.set_firmware_version("2.0.3");
              const int64_t us = absl::ToUnixMicros(t);
              ASSIGN_OR_RETURN(std::optional<int64_t> id,
                               storage::InsertHealthReading(tx, camera_id, dock_id, r, us));
              if (id.has_value()) {
                RETURN_IF_ERROR(
                    storage::UpdateHealthSnapshot(tx, camera_id, *id, r, us).status());
              }
            }
            return storage::MarkCameraSeen(tx, camera_id, dock_id, cam,
                                           absl::ToUnixMicros(now - absl::Minutes(cam)))
                .status();
          });
      RETURN_IF_ERROR(written);
    }
    // A firmware rollout to POST-7: two installs under way, one failed (which pauses it).
    // Models without spaces: a release manifest names them so (firmware/manifest.h).
    ASSIGN_OR_RETURN(std::string release, fleet_->Release("2.1.0", "BWC-4"));
    ASSIGN_OR_RETURN(v1::Rollout rollout,
                     fleet_->StartRollout(release, "POST-7", "spring update, posts first"));
    rollout_id_ = rollout.rollout_id();
    RETURN_IF_ERROR(fleet_->InstallProgress(rollout, "BWC4-000010",
                                            v1::FIRMWARE_INSTALL_STATE_DOWNLOADING, ""));
    RETURN_IF_ERROR(fleet_->InstallProgress(rollout, "BWC4-000011",
                                            v1::FIRMWARE_INSTALL_STATE_INSTALLING, ""));
    RETURN_IF_ERROR(fleet_->InstallProgress(rollout, kFailedSerial,
                                            v1::FIRMWARE_INSTALL_STATE_FAILED,
                                            "camera refused the image: battery 12% < 20%"));
    return fleet_->server().server().store().WriteAndWait(
        [&](storage::WriteTx& tx) -> absl::Status {
          storage::AlertRecord alert;
          alert.kind = v1::ALERT_KIND_LOST_CAMERA_DOCKED;
          alert.site_id = site_id;
          alert.dock_id = dock_id;
          alert.slot = 3;
          alert.serial = kLostSerial;
          alert.event_us = absl::ToUnixMicros(now - absl::Minutes(20));
          alert.message = "lost camera BWC4-000007 docked in slot 3; not put back in stock";
          ASSIGN_OR_RETURN(alert_id_, storage::InsertAlert(tx, alert));
          storage::ConflictRecord conflict;
          conflict.kind = "checkout_of_lost_camera";
          conflict.site_id = site_id;
          conflict.dock_id = dock_id;
          conflict.serial = kLostSerial;
          conflict.physical_fact = R"({"checkout":"B-1005","slot":"3"})";
          conflict.central_decision = "HQ marked the camera LOST";
          conflict.event_us = absl::ToUnixMicros(now - absl::Minutes(25));
          conflict.alert_id = alert_id_;
          return storage::InsertConflict(tx, conflict).status();
        });
  }

  common::RealClock clock_;
  std::unique_ptr<WebFleet> fleet_;
  int64_t alert_id_ = 0;
  std::string rollout_id_;
};

TEST_F(BrowserTest, QuartermasterAndAuditorInChromium) {
  const std::string playwright = ToolsDir() + "/node_modules/playwright-core";
  if (access(kChromium, X_OK) != 0) SKIP_OR_FAIL("no /usr/bin/chromium (scripts/install-deps)");
  if (!std::filesystem::exists(playwright)) {
    SKIP_OR_FAIL("playwright-core is not in " + ToolsDir() + " (scripts/playwright-install)");
  }
  absl::StatusOr<std::unique_ptr<WebFleet>> fleet = WebFleet::Start(&clock_);
  ASSERT_THAT(fleet, IsOk());
  fleet_ = *std::move(fleet);
  ASSERT_THAT(Seed(), IsOk());
  absl::StatusOr<ClientCredentials> qm = fleet_->Operator("qm-okafor", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  absl::StatusOr<ClientCredentials> auditor = fleet_->Operator("aud-lee", Role::kAuditor);
  ASSERT_THAT(auditor, IsOk());
  absl::StatusOr<std::string> qm_link = fleet_->SignInLink(*qm);
  ASSERT_THAT(qm_link, IsOk());
  absl::StatusOr<std::string> auditor_link = fleet_->SignInLink(*auditor);
  ASSERT_THAT(auditor_link, IsOk());

  const std::string shots = CAMFLEET_BINARY_DIR "/web-screenshots";
  std::filesystem::create_directories(shots);
  const std::string config = fleet_->server().home() + "/browser.json";
  {
    std::ofstream out(config);
    out << "{\"playwright\": \"" << playwright << "\", \"chromium\": \"" << kChromium
        << "\", \"screenshots\": \"" << shots << "\", \"quartermaster_link\": \"" << *qm_link
        << "\", \"auditor_link\": \"" << *auditor_link << "\", \"chart_serial\": \""
        << kChartSerial << "\", \"alert_id\": " << alert_id_ << ", \"dock\": \"" << kDock
        << "\", \"lost_serial\": \"" << kLostSerial << "\", \"rollout_id\": \"" << rollout_id_
        << "\", \"failed_serial\": \"" << kFailedSerial << "\"}\n";
  }
  const std::string log = fleet_->server().home() + "/browser.log";
  absl::StatusOr<std::unique_ptr<ChildProcess>> node = ChildProcess::Spawn(
      {"/usr/bin/node", CAMFLEET_SOURCE_DIR "/tests/web/browser/pages.mjs", config}, log);
  ASSERT_THAT(node, IsOk());
  absl::StatusOr<int> status = (*node)->Wait(absl::Minutes(4));
  ASSERT_THAT(status, IsOk()) << (*node)->LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << (*node)->LogTail(16384);
  std::cout << (*node)->LogTail(8192);

  // What the browser did is in the store, with the operator as the actor; the auditor's direct
  // write left nothing.
  const std::string db = fleet_->db_path();
  auto count = [&db](const std::string& sql) -> int64_t {
    absl::StatusOr<int64_t> n = QueryInt(db, sql);
    EXPECT_THAT(n, IsOk());
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count(absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE object_id = '",
                               kChartSerial, "' AND actor = 'qm-okafor' AND action IN "
                                             "('camera.issue', 'camera.return')")),
            2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_events WHERE actor = 'aud-lee'"), 0);
  EXPECT_EQ(count(absl::StrCat("SELECT COUNT(*) FROM alerts WHERE id = ", alert_id_,
                               " AND acknowledged_by = 'qm-okafor'")),
            1);
}

}  // namespace
}  // namespace camfleet::testing
