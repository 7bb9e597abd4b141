// Recovery after a compromised issuing CA, as a post lives it: a real camfleetd (mutual TLS on
// 127.0.0.1:0) whose issuing CA is replaced with `rotate-intermediate --compromised`, the real
// dock agent (`camfleet-dock enroll` and `run --once`, in process) and simulated cameras on unix
// sockets. Nobody re-provisions anything: no token, no camera reset. Server, agent and cameras
// share one FakeClock that starts at the real time (gRPC clients check the server's
// certificate against the real clock: see tls_test_server.h).

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "agent/sim/camera_link_server.h"
#include "agent/sim/camera_simulator.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/key.h"
#include "services/server/home.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/dock_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using agent::DockPaths;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDockId[] = "post-1-dock-1";
constexpr char kSite[] = "POST-1";
constexpr char kPassphrase[] = "correct horse battery staple";

using DockRun = testing::CliResult;

struct SimulatedCamera {
  std::unique_ptr<camsim::CameraSimulator> camera;
  std::unique_ptr<camsim::CameraLinkServer> server;
  std::string socket;
};

class CompromisedCaDockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(Admin().CreateSite(kSite), IsOk());
    ca_file_ = dir_.File("fleet-ca.pem");
    ASSERT_THAT(provisioning::WriteNewFile(ca_file_, server_->ca_pem(), 0644), IsOk());
  }

  TlsClient Admin() { return TlsClient(server_->AdminChannel()); }

  DockRun Dock(std::vector<std::string> args) {
    return testing::RunDockCli(std::move(args), clock_);
  }

  void Enroll(const std::string& dir, const std::string& dock_id) {
    absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = Admin().CreateToken(kSite);
    ASSERT_THAT(token, IsOk());
    DockRun r = Dock({"enroll", "--server", server_->target(), "--server-name", kServerName,
                      "--ca-file", ca_file_, "--token", token->token(), "--dock-id", dock_id,
                      "--dir", dir, "--slot-count", "4"});
    ASSERT_EQ(r.code, 0) << r;
  }

  // Registers `serial` at the site and puts a simulated camera for it in `slot`.
  void InsertCamera(int slot, const std::string& serial) {
    ASSERT_THAT(Admin().RegisterCamera(serial, kSite), IsOk());
    SimulatedCamera& sim = cameras_[slot];
    sim.socket = dir_.File(absl::StrCat("slot", slot, ".sock"));
    camsim::CameraSimulatorOptions options;
    options.state_dir = dir_.File(absl::StrCat("camera-", serial));
    options.serial = serial;
    options.model = "AXON-4";
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<camsim::CameraSimulator>> camera =
        camsim::CameraSimulator::Open(options);
    ASSERT_THAT(camera, IsOk());
    sim.camera = *std::move(camera);
    absl::StatusOr<std::unique_ptr<camsim::CameraLinkServer>> link =
        camsim::CameraLinkServer::Start(*sim.camera, sim.socket);
    ASSERT_THAT(link, IsOk());
    sim.server = *std::move(link);
  }

  // One pass of the dock in `dir` (the server's port changes at each restart).
  DockRun RunOnce(const std::string& dir) {
    std::vector<std::string> args = {"run",      "--once",          "--dir",         dir,
                                     "--server", server_->target(), "--server-name", kServerName};
    for (const auto& [slot, sim] : cameras_) {
      args.push_back("--slot");
      args.push_back(absl::StrCat(slot, "=", sim.socket));
    }
    return Dock(args);
  }

  // The ceremony: the root key exported, camfleetd stopped, the issuing CA replaced and
  // revoked at once, camfleetd started again; then an admin on the new issuing CA acts.
  void RotateCompromised() {
    const std::string root_key = dir_.File("root-key.pem");
    ASSERT_THAT(provisioning::ExportRootKey(server_->paths().CaDir(), root_key, kPassphrase),
                IsOk());
    server_->Shutdown();
    absl::StatusOr<server::IntermediateRotation> rotated =
        server::RotateIntermediateInHome({.home = server_->home(),
                                          .root_key_path = root_key,
                                          .passphrase = kPassphrase,
                                          .revoke_old = true,
                                          .now = clock_.Now()});
    ASSERT_THAT(rotated, IsOk());
    new_ca_ = rotated->rotation.new_ca.subject_cn;
    old_ca_ = rotated->rotation.old_ca.subject_cn;
    ASSERT_THAT(server_->Restart(), IsOk());
    absl::StatusOr<ClientCredentials> admin =
        server_->IssueDirect(provisioning::Role::kAdmin, "admin-2", clock_.Now());
    ASSERT_THAT(admin, IsOk());
    server_->set_acting_admin(*admin);
  }

  std::string DockIssuer(const std::string& dir) {
    absl::StatusOr<provisioning::CredentialBundle> bundle =
        provisioning::LoadCredentialBundle(DockPaths{dir}.Credentials());
    if (!bundle.ok()) return bundle.status().ToString();
    absl::StatusOr<provisioning::CertificateInfo> info =
        provisioning::ParseCertificate(bundle->cert_pem);
    return info.ok() ? info->issuer_cn : info.status().ToString();
  }
  std::string CameraIssuer(int slot) {
    absl::StatusOr<provisioning::CertificateInfo> info =
        provisioning::ParseCertificate(cameras_[slot].camera->Identify().certificate_pem);
    return info.ok() ? info->issuer_cn : info.status().ToString();
  }
  size_t EventCount(const std::string& action) {
    v1::ListAuditEventsRequest filter;
    filter.set_action(action);
    absl::StatusOr<std::vector<v1::AuditEvent>> events = Admin().AuditEvents(filter);
    EXPECT_THAT(events, IsOk());
    return events.ok() ? events->size() : 0;
  }

  common::FakeClock clock_{absl::Now()};
  TempDir dir_;
  std::unique_ptr<TlsTestServer> server_;
  std::string ca_file_;
  std::map<int, SimulatedCamera> cameras_;
  std::string new_ca_;
  std::string old_ca_;
};

// (a) and (e): at its next pass the dock renews itself without a token, then renews its docked
// camera onto the new issuing CA (the camera proves its key) instead of refusing it, and keeps
// refusing the lost camera; the pass after finds everything up to date.
TEST_F(CompromisedCaDockTest, TheNextPassRecoversTheDockAndItsDockedCamerasButNotALostOne) {
  const std::string dir = dir_.File("dock");
  Enroll(dir, kDockId);
  InsertCamera(1, "CAM-0001");
  InsertCamera(2, "CAM-0002");
  DockRun first = RunOnce(dir);
  ASSERT_EQ(first.code, 0) << first;
  ASSERT_THAT(Admin().ReportLost("CAM-0002"), IsOk());
  RotateCompromised();
  ASSERT_EQ(DockIssuer(dir), old_ca_);
  ASSERT_EQ(CameraIssuer(1), old_ca_);
  clock_.Advance(absl::Hours(24));

  DockRun pass = RunOnce(dir);
  EXPECT_EQ(pass.code, 0) << pass;
  EXPECT_THAT(pass.out, AllOf(HasSubstr("renewed (its issuing CA was revoked by the fleet root)"),
                              HasSubstr("fetched, verified and kept"),
                              HasSubstr("slot 1 CAM-0001: renewed (certificate"),
                              HasSubstr("is from an issuing CA the fleet root revoked"),
                              HasSubstr("slot 2 CAM-0002: REFUSED")))
      << pass;
  EXPECT_EQ(DockIssuer(dir), new_ca_);
  EXPECT_EQ(CameraIssuer(1), new_ca_);
  EXPECT_EQ(CameraIssuer(2), old_ca_);
  EXPECT_FALSE(provisioning::PathExists(DockPaths{dir}.RenewalKey()));

  DockRun after = RunOnce(dir);
  EXPECT_EQ(after.code, 0) << after;
  EXPECT_THAT(after.out, AllOf(HasSubstr("dock post-1-dock-1: up to date"),
                               HasSubstr("slot 1 CAM-0001: up to date"),
                               HasSubstr("slot 2 CAM-0002: REFUSED")))
      << after;
  EXPECT_EQ(EventCount("dock.recover_certificate"), 1u);
  EXPECT_EQ(EventCount("camera.renew_certificate"), 1u);
  EXPECT_EQ(EventCount("token.create"), 1u);
  // The dock works with its new certificate (the sync stream included: dock_runtime).
  absl::StatusOr<provisioning::CredentialBundle> bundle =
      provisioning::LoadCredentialBundle(DockPaths{dir}.Credentials());
  ASSERT_THAT(bundle, IsOk());
  EXPECT_THAT(TlsClient(server_->Channel(*bundle)).GetCrl(), IsOk());
}

// The answer to the one recovery renewal is lost (here the request is made on the dock's
// behalf, with the key the dock kept for it, and its answer dropped): the certificate the dock
// holds is superseded by then, but the next pass asks again for the same key and stores the
// certificate the server issued for it.
TEST_F(CompromisedCaDockTest, ARecoveryWhoseAnswerWasLostConvergesAtTheNextPass) {
  const std::string dir = dir_.File("dock");
  Enroll(dir, kDockId);
  RotateCompromised();
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(key->WriteFile(DockPaths{dir}.RenewalKey()), IsOk());
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, kDockId);
  ASSERT_THAT(csr, IsOk());
  absl::StatusOr<std::string> csr_pem = csr->ToPem();
  ASSERT_THAT(csr_pem, IsOk());
  absl::StatusOr<provisioning::CredentialBundle> held =
      provisioning::LoadCredentialBundle(DockPaths{dir}.Credentials());
  ASSERT_THAT(held, IsOk());
  absl::StatusOr<v1::RenewDockCertificateResponse> lost =
      TlsClient(server_->Channel(*held)).RenewDock(*csr_pem);
  ASSERT_THAT(lost, IsOk());

  DockRun pass = RunOnce(dir);
  EXPECT_EQ(pass.code, 0) << pass;
  EXPECT_THAT(pass.out, HasSubstr("renewed (an unfinished renewal, its answer lost)")) << pass;
  absl::StatusOr<provisioning::CredentialBundle> now =
      provisioning::LoadCredentialBundle(DockPaths{dir}.Credentials());
  ASSERT_THAT(now, IsOk());
  EXPECT_EQ(now->cert_pem, lost->certificate().certificate_pem());
  EXPECT_FALSE(provisioning::PathExists(DockPaths{dir}.RenewalKey()));
  EXPECT_EQ(EventCount("dock.recover_certificate"), 1u);
}

// A dock revoked before the rotation does not come back through it: its pass fails, its
// credentials stay as they were, and nothing is issued.
TEST_F(CompromisedCaDockTest, ARevokedDockDoesNotRecover) {
  const std::string dir = dir_.File("dock");
  Enroll(dir, kDockId);
  v1::RevokeDockRequest revoke;
  revoke.set_dock_id(kDockId);
  revoke.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  ASSERT_THAT(Admin().Prov(&v1::ProvisioningService::Stub::RevokeDock, revoke), IsOk());
  RotateCompromised();

  DockRun pass = RunOnce(dir);
  EXPECT_EQ(pass.code, agent::kExitFailed) << pass;
  EXPECT_THAT(pass.out, AllOf(HasSubstr("is revoked"), Not(HasSubstr("renewed (")))) << pass;
  EXPECT_EQ(DockIssuer(dir), old_ca_);
  EXPECT_EQ(EventCount("dock.recover_certificate"), 0u);
}

}  // namespace
}  // namespace camfleet::testing
