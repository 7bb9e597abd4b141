// camfleet-dock against a real camfleetd (mutual TLS on 127.0.0.1:0) and real simulated cameras
// on unix sockets. The server, the agent and the cameras share one FakeClock, so a test can move
// the whole post months ahead; it starts at the real time because gRPC clients check the
// server's certificate against the real clock (see tls_test_server.h).

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/certificate_keeper.h"
#include "agent/crl_store.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "agent/grpc_camera_link.h"
#include "agent/sim/camera_link_server.h"
#include "agent/sim/camera_simulator.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/key.h"
#include "provisioning/possession.h"
#include "provisioning/revocation.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/dock_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::camfleet::testing::TlsClient;
using ::camfleet::testing::TlsTestServer;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDockId[] = "post-1-dock-1";
constexpr char kSite[] = "POST-1";

absl::Duration Days(int64_t n) { return absl::Hours(24 * n); }

using ::camfleet::testing::CliResult;

// A camera in a slot: the simulator and its link server.
struct SimulatedCamera {
  std::unique_ptr<camsim::CameraSimulator> camera;
  std::unique_ptr<camsim::CameraLinkServer> server;
  std::string socket;
  std::string state_dir;
};

// Records everything that comes back from a camera, to show what crosses the link.
class RecordingLink final : public CameraLink {
 public:
  explicit RecordingLink(std::unique_ptr<CameraLink> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<CameraIdentity> Identify() override {
    absl::StatusOr<CameraIdentity> id = inner_->Identify();
    if (id.ok()) received.push_back(id->certificate_pem);
    return id;
  }
  absl::StatusOr<std::string> CreateCsr() override {
    absl::StatusOr<std::string> csr = inner_->CreateCsr();
    if (csr.ok()) received.push_back(*csr);
    return csr;
  }
  absl::StatusOr<std::string> CreateFreshCsr() override {
    absl::StatusOr<std::string> csr = inner_->CreateFreshCsr();
    if (csr.ok()) received.push_back(*csr);
    return csr;
  }
  absl::StatusOr<std::string> ProveCurrentKey(const std::string& csr) override {
    return inner_->ProveCurrentKey(csr);
  }
  absl::Status InstallCertificate(const std::string& cert, const std::string& ca) override {
    return inner_->InstallCertificate(cert, ca);
  }
  absl::StatusOr<HealthSnapshot> ReadHealth() override { return inner_->ReadHealth(); }
  absl::Status SetClock(absl::Time now) override { return inner_->SetClock(now); }
  std::vector<std::string> received;

 private:
  std::unique_ptr<CameraLink> inner_;
};

// A clock that runs a fixed offset from another: a dock whose clock is off.
class OffsetClock final : public common::Clock {
 public:
  OffsetClock(const common::Clock& base, absl::Duration offset) : base_(base), offset_(offset) {}
  absl::Time Now() const override { return base_.Now() + offset_; }

 private:
  const common::Clock& base_;
  const absl::Duration offset_;
};

// The camera is pulled from its slot (or the dock loses power) after its certificate was issued
// and before it is installed: everything reaches the camera except the certificate.
class PulledBeforeInstallLink final : public CameraLink {
 public:
  explicit PulledBeforeInstallLink(std::unique_ptr<CameraLink> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<CameraIdentity> Identify() override { return inner_->Identify(); }
  absl::StatusOr<std::string> CreateCsr() override { return inner_->CreateCsr(); }
  absl::StatusOr<std::string> CreateFreshCsr() override { return inner_->CreateFreshCsr(); }
  absl::StatusOr<std::string> ProveCurrentKey(const std::string& csr) override {
    return inner_->ProveCurrentKey(csr);
  }
  absl::Status InstallCertificate(const std::string&, const std::string&) override {
    return absl::UnavailableError("no camera answers");
  }
  absl::StatusOr<HealthSnapshot> ReadHealth() override { return inner_->ReadHealth(); }
  absl::Status SetClock(absl::Time now) override { return inner_->SetClock(now); }

 private:
  std::unique_ptr<CameraLink> inner_;
};

class DockAgentTest : public ::testing::Test {
 protected:
  // When the test's post starts; the server's CA and certificate are made then too.
  virtual absl::Time StartTime() { return absl::Now(); }

  void SetUp() override {
    start_ = StartTime();
    clock_.Set(start_);
    testing::TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite(kSite), IsOk());
    ca_file_ = dir_.File("fleet-ca.pem");
    ASSERT_THAT(provisioning::WriteNewFile(ca_file_, server_->ca_pem(), 0644), IsOk());
    dock_dir_ = dir_.File("dock");
  }

  CliResult Dock(std::vector<std::string> args) {
    return testing::RunDockCli(
        std::move(args), *dock_clock_,
        {.retry_sleep = [this](absl::Duration d) { retry_waits_.push_back(d); }});
  }

  CliResult EnrollWith(const std::string& token, const std::string& dir,
                       const std::string& dock_id = kDockId) {
    return Dock({"enroll", "--server", server_->target(), "--server-name", testing::kServerName,
                 "--ca-file", ca_file_, "--token", token, "--dock-id", dock_id, "--dir", dir,
                 "--slot-count", "4"});
  }

  std::string NewToken() {
    absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin_->CreateToken(kSite);
    EXPECT_THAT(token, IsOk());
    return token.ok() ? token->token() : "";
  }

  void EnrollTheDock() {
    CliResult r = EnrollWith(NewToken(), dock_dir_);
    ASSERT_EQ(r.code, 0) << r;
  }

  // Options for a CertificateKeeper run in-process, as `run` makes them.
  KeeperOptions KeeperOptionsNow() {
    return KeeperOptions{DockPaths{dock_dir_},
                         ServerEndpoint{server_->target(), testing::kServerName}, RetryPolicy{},
                         dock_clock_, /*clock_offset=*/nullptr};
  }

  // Registers `serial` at the site (unless `register_it` is false) and puts a new simulated
  // camera for it in `slot`, its clock `skew` off the post's.
  void InsertCamera(int slot, const std::string& serial, bool register_it = true,
                    absl::Duration skew = absl::ZeroDuration()) {
    if (register_it) {
      ASSERT_THAT(admin_->RegisterCamera(serial, kSite), IsOk());
    }
    SimulatedCamera& sim = cameras_[slot];
    sim.server.reset();
    sim.camera.reset();
    sim.state_dir = dir_.File(absl::StrCat("camera-", serial));
    sim.socket = dir_.File(absl::StrCat("slot", slot, ".sock"));
    camsim::CameraSimulatorOptions options;
    options.state_dir = sim.state_dir;
    options.serial = serial;
    options.model = "AXON-4";
    options.clock = &clock_;
    options.clock_skew = skew;
    absl::StatusOr<std::unique_ptr<camsim::CameraSimulator>> camera =
        camsim::CameraSimulator::Open(options);
    ASSERT_THAT(camera, IsOk());
    sim.camera = *std::move(camera);
    absl::StatusOr<std::unique_ptr<camsim::CameraLinkServer>> server =
        camsim::CameraLinkServer::Start(*sim.camera, sim.socket);
    ASSERT_THAT(server, IsOk());
    sim.server = *std::move(server);
  }

  // The camera leaves its slot (out on patrol, in a locker): its link goes, its state stays.
  void Undock(int slot) { cameras_[slot].server.reset(); }
  void Redock(int slot) {
    SimulatedCamera& sim = cameras_[slot];
    absl::StatusOr<std::unique_ptr<camsim::CameraLinkServer>> server =
        camsim::CameraLinkServer::Start(*sim.camera, sim.socket);
    ASSERT_THAT(server, IsOk());
    sim.server = *std::move(server);
  }

  CliResult RunOnce(std::vector<std::string> extra_slots = {}) {
    std::vector<std::string> args = {
        "run",      "--once",          "--dir",         dock_dir_,
        "--server", server_->target(), "--server-name", testing::kServerName};
    for (const auto& [slot, sim] : cameras_) {
      args.push_back("--slot");
      args.push_back(absl::StrCat(slot, "=", sim.socket));
    }
    for (const std::string& s : extra_slots) {
      args.push_back("--slot");
      args.push_back(s);
    }
    return Dock(args);
  }

  absl::StatusOr<provisioning::CredentialBundle> DockBundle() {
    return provisioning::LoadCredentialBundle(DockPaths{dock_dir_}.Credentials());
  }

  absl::StatusOr<provisioning::CertificateInfo> DockCertificate() {
    absl::StatusOr<provisioning::CredentialBundle> bundle = DockBundle();
    if (!bundle.ok()) return bundle.status();
    return provisioning::ParseCertificate(bundle->cert_pem);
  }

  absl::StatusOr<provisioning::CertificateInfo> CameraCertificate(int slot) {
    const std::string pem = cameras_[slot].camera->Identify().certificate_pem;
    absl::StatusOr<provisioning::CertificateVerifier> verifier =
        provisioning::CertificateVerifier::FromCaPem(server_->ca_pem());
    if (!verifier.ok()) return verifier.status();
    return verifier->VerifyChain(pem, clock_.Now());
  }

  // The post runs a pass on each of these days (from the start), as a dock that is up would.
  void RunPassesOnDays(const std::vector<int>& days) {
    for (int day : days) {
      clock_.Set(start_ + Days(day));
      CliResult r = RunOnce();
      ASSERT_EQ(r.code, 0) << "day " << day << ": " << r;
    }
  }

  common::FakeClock clock_{absl::Now()};
  // The dock's own clock: the post's unless a test puts the dock off it.
  const common::Clock* dock_clock_ = &clock_;
  absl::Time start_;
  TempDir dir_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::string ca_file_;
  std::string dock_dir_;
  std::map<int, SimulatedCamera> cameras_;
  // The waits between retries, instead of waiting.
  std::vector<absl::Duration> retry_waits_;
};

// ------------------------------------------------------------------------------- enrollment

TEST_F(DockAgentTest, EnrollWritesABundleTheServerAccepts) {
  CliResult r = EnrollWith(NewToken(), dock_dir_);
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("enrolled at site POST-1"), HasSubstr(kDockId))) << r;

  absl::StatusOr<provisioning::CredentialBundle> bundle = DockBundle();
  ASSERT_THAT(bundle, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> cert =
      provisioning::ParseCertificate(bundle->cert_pem);
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->identity, kDockId);
  EXPECT_EQ(cert->role, provisioning::Role::kDock);
  EXPECT_EQ(cert->key_fingerprint,
            *provisioning::PrivateKey::FromPem(bundle->key_pem)->PublicKeyFingerprint());
  // The bundle is a working TLS identity: the server knows the caller as the dock.
  TlsClient dock(server_->Channel(*bundle));
  EXPECT_THAT(dock.GetCrl(), IsOk());
}

TEST_F(DockAgentTest, EnrollKeepsTheKeyOwnerOnly) {
  EnrollTheDock();
  struct stat st {};
  ASSERT_EQ(::stat((DockPaths{dock_dir_}.Credentials() + "/key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(DockAgentTest, EnrollRefusesAnEnrolledDirectoryBeforeSpendingTheToken) {
  EnrollTheDock();
  const std::string token = NewToken();
  CliResult again = EnrollWith(token, dock_dir_, "post-1-dock-2");
  EXPECT_EQ(again.code, kExitUsage) << again;
  EXPECT_THAT(again.err, HasSubstr("already holds credentials")) << again;
  CliResult elsewhere = EnrollWith(token, dir_.File("dock-2"), "post-1-dock-2");
  EXPECT_EQ(elsewhere.code, 0) << "the token was not spent: " << elsewhere;
}

TEST_F(DockAgentTest, EnrollWithAUsedTokenIsRefusedWithTheServersStatus) {
  const std::string token = NewToken();
  ASSERT_EQ(EnrollWith(token, dock_dir_).code, 0);
  CliResult r = EnrollWith(token, dir_.File("dock-2"), "post-1-dock-2");
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("PERMISSION_DENIED"), HasSubstr("token"))) << r;
  EXPECT_FALSE(provisioning::PathExists(dir_.File("dock-2/credentials/cert.pem")));
}

TEST_F(DockAgentTest, EnrollRefusesACaFileThatIsNotACertificate) {
  ASSERT_THAT(provisioning::WriteNewFile(dir_.File("junk.pem"), "junk", 0644), IsOk());
  CliResult r = Dock({"enroll", "--server", server_->target(), "--ca-file", dir_.File("junk.pem"),
                      "--token", NewToken(), "--dock-id", kDockId, "--dir", dock_dir_});
  EXPECT_EQ(r.code, kExitUsage) << r;
}

// ------------------------------------------------------------- clocks and lost answers

size_t CertificateCount(TlsClient& admin, const std::string& identity) {
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin.CertificatesOf(identity);
  EXPECT_THAT(certs, IsOk());
  return certs.ok() ? certs->size() : 0;
}

// Certificates start 5 minutes before server time; a dock 10 minutes slow used to find each
// one not yet valid, throw it away and leave its token spent.
TEST_F(DockAgentTest, DockTenMinutesSlowEnrollsAndStoresItsCredentials) {
  OffsetClock slow(clock_, -absl::Minutes(10));
  dock_clock_ = &slow;
  CliResult r = EnrollWith(NewToken(), dock_dir_);
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("dock clock is 10m slow against the server")) << r;
  ASSERT_THAT(DockCertificate(), IsOk());
  EXPECT_TRUE(provisioning::PathExists(DockPaths{dock_dir_}.ClockOffset()));
  EXPECT_FALSE(provisioning::PathExists(DockPaths{dock_dir_}.PendingEnrollment()));
  for (int pass = 0; pass < 3; ++pass) {
    clock_.Advance(absl::Minutes(1));
    CliResult p = RunOnce();
    ASSERT_EQ(p.code, 0) << p;
    EXPECT_THAT(p.out, AllOf(HasSubstr("up to date"), HasSubstr("10m slow"))) << p;
  }
  EXPECT_EQ(CertificateCount(*admin_, kDockId), 1u);
}

// The repeated-ask loop: a dock whose clock fell 10 minutes behind renews once, keeps the
// certificate, and the later passes find it up to date (one row, one audit event, not one a
// minute).
TEST_F(DockAgentTest, DockTenMinutesSlowRenewsOnceNotEveryPass) {
  EnrollTheDock();
  OffsetClock slow(clock_, -absl::Minutes(10));
  dock_clock_ = &slow;
  clock_.Advance(Days(61));
  CliResult first = RunOnce();
  ASSERT_EQ(first.code, 0) << first;
  EXPECT_THAT(first.out, AllOf(HasSubstr("renewed (due)"),
                               HasSubstr("dock clock is 10m slow against the server")))
      << first;
  for (int pass = 0; pass < 3; ++pass) {
    clock_.Advance(absl::Minutes(1));
    CliResult p = RunOnce();
    ASSERT_EQ(p.code, 0) << p;
    EXPECT_THAT(p.out, HasSubstr("up to date")) << p;
  }
  // root-admin's certificate has expired by now: another admin counts.
  absl::StatusOr<testing::ClientCredentials> admin =
      server_->IssueDirect(provisioning::Role::kAdmin, "admin-2", clock_.Now());
  ASSERT_THAT(admin, IsOk());
  TlsClient admin_now(server_->Channel(admin->bundle));
  EXPECT_EQ(CertificateCount(admin_now, kDockId), 2u);
}

// A lost answer: the camera refuses the certificate because its clock is an hour slow. Once its
// clock is set it installs the certificate already issued for its pending key, without an admin
// and without a second certificate.
TEST_F(DockAgentTest, CameraThatRefusedItsCertificateForItsClockConvergesOnceItsClockIsSet) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001", true, -absl::Hours(1));
  CliResult refused = RunOnce();
  EXPECT_EQ(refused.code, kExitFailed) << refused;
  EXPECT_THAT(refused.out, AllOf(HasSubstr("was issued but the camera did not install it"),
                                 HasSubstr("camera clock is 1h slow against the server"),
                                 HasSubstr("it refuses a new certificate")))
      << refused;
  absl::StatusOr<std::vector<v1::Certificate>> issued = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(issued, IsOk());
  ASSERT_EQ(issued->size(), 1u);

  InsertCamera(1, "CAM-0001", /*register_it=*/false);  // rebooted with its clock set
  clock_.Advance(absl::Minutes(1));
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: enrolled (no certificate)")) << r;
  absl::StatusOr<provisioning::CertificateInfo> cert = CameraCertificate(1);
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->serial_hex, issued->front().serial());
  EXPECT_EQ(CertificateCount(*admin_, "CAM-0001"), 1u);
}

// The camera was pulled (or the dock restarted) between the answer and the install: the next
// pass, by a new agent process, finishes it with the same certificate.
TEST_F(DockAgentTest, EnrollmentCutOffBeforeTheInstallFinishesAfterADockRestart) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  {
    PulledBeforeInstallLink link(NewGrpcCameraLink(cameras_[1].socket));
    CertificateKeeper keeper(KeeperOptionsNow());
    PassReport report = keeper.RunPass({CameraSlot{1, &link}});
    ASSERT_EQ(report.actions.back().kind, Action::Kind::kCameraFailed)
        << FormatAction(report.actions.back());
  }
  absl::StatusOr<std::vector<v1::Certificate>> issued = admin_->CertificatesOf("CAM-0001");
  ASSERT_THAT(issued, IsOk());
  ASSERT_EQ(issued->size(), 1u);

  std::unique_ptr<CameraLink> link = NewGrpcCameraLink(cameras_[1].socket);
  CertificateKeeper restarted(KeeperOptionsNow());
  PassReport report = restarted.RunPass({CameraSlot{1, link.get()}});
  ASSERT_EQ(report.actions.back().kind, Action::Kind::kCameraEnrolled)
      << FormatAction(report.actions.back());
  absl::StatusOr<provisioning::CertificateInfo> cert = CameraCertificate(1);
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->serial_hex, issued->front().serial());
  EXPECT_EQ(CertificateCount(*admin_, "CAM-0001"), 1u);
}

// `enroll` spends the token, then cannot store the certificate (here a stray file where the
// bundle goes; a lost answer looks the same to the dock). Run again with the same token, it
// finishes the enrollment with the key it kept.
TEST_F(DockAgentTest, EnrollRetriedAfterALostAnswerFinishesWithTheSameKeyAndToken) {
  const std::string token = NewToken();
  const DockPaths paths{dock_dir_};
  ASSERT_EQ(::mkdir(dock_dir_.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(paths.Credentials().c_str(), 0700), 0);
  const std::string stray = provisioning::JoinPath(paths.Credentials(), "ca.pem");
  ASSERT_THAT(provisioning::WriteNewFile(stray, "stray", 0644), IsOk());
  CliResult lost = EnrollWith(token, dock_dir_);
  ASSERT_NE(lost.code, 0) << lost;
  EXPECT_EQ(CertificateCount(*admin_, kDockId), 1u) << "the server enrolled the dock";
  struct stat st {};
  ASSERT_EQ(::stat(provisioning::JoinPath(paths.PendingEnrollment(), "key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  ASSERT_EQ(::unlink(stray.c_str()), 0);
  CliResult again = EnrollWith(token, dock_dir_);
  ASSERT_EQ(again.code, 0) << again;
  EXPECT_THAT(again.out, HasSubstr("finishing the enrollment an earlier run started")) << again;
  EXPECT_FALSE(provisioning::PathExists(paths.PendingEnrollment()));
  EXPECT_EQ(CertificateCount(*admin_, kDockId), 1u);
  // What was stored works.
  CliResult pass = RunOnce();
  EXPECT_EQ(pass.code, 0) << pass;
}

TEST_F(DockAgentTest, EnrollRetriedWithAnotherKeyAfterTheTokenWasSpentIsRefused) {
  const std::string token = NewToken();
  const DockPaths paths{dock_dir_};
  ASSERT_EQ(::mkdir(dock_dir_.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(paths.Credentials().c_str(), 0700), 0);
  const std::string stray = provisioning::JoinPath(paths.Credentials(), "ca.pem");
  ASSERT_THAT(provisioning::WriteNewFile(stray, "stray", 0644), IsOk());
  ASSERT_NE(EnrollWith(token, dock_dir_).code, 0);
  ASSERT_EQ(::unlink(stray.c_str()), 0);
  // Another directory: another key, the same token and dock id.
  CliResult r = EnrollWith(token, dir_.File("dock-elsewhere"));
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED")) << r;
  EXPECT_EQ(CertificateCount(*admin_, kDockId), 1u);
}

TEST_F(DockAgentTest, EnrollRefusesToFinishAnotherDocksEnrollment) {
  const std::string token = NewToken();
  const DockPaths paths{dock_dir_};
  ASSERT_EQ(::mkdir(dock_dir_.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(paths.Credentials().c_str(), 0700), 0);
  const std::string stray = provisioning::JoinPath(paths.Credentials(), "ca.pem");
  ASSERT_THAT(provisioning::WriteNewFile(stray, "stray", 0644), IsOk());
  ASSERT_NE(EnrollWith(token, dock_dir_).code, 0);
  ASSERT_EQ(::unlink(stray.c_str()), 0);
  CliResult r = EnrollWith(token, dock_dir_, "post-1-dock-9");
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.err, AllOf(HasSubstr("unfinished enrollment of dock 'post-1-dock-1'"),
                           HasSubstr("--dock-id post-1-dock-1")))
      << r;
}

// ------------------------------------------------------------------------------- cameras

TEST_F(DockAgentTest, PassEnrollsAnUnenrolledCamera) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: enrolled (no certificate)")) << r;

  absl::StatusOr<v1::Camera> camera = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_AVAILABLE);
  absl::StatusOr<provisioning::CertificateInfo> cert = CameraCertificate(1);
  ASSERT_THAT(cert, IsOk()) << "the camera's certificate chains to the fleet CA";
  EXPECT_EQ(cert->identity, "CAM-0001");
  EXPECT_EQ(cert->role, provisioning::Role::kCamera);
}

TEST_F(DockAgentTest, CameraKeyStaysOnTheCameraOnlyTheCsrCrossesTheLink) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  RecordingLink link(NewGrpcCameraLink(cameras_[1].socket));
  KeeperOptions options = KeeperOptionsNow();
  CertificateKeeper keeper(options);
  PassReport report = keeper.RunPass({CameraSlot{1, &link}});
  ASSERT_TRUE(report.ok()) << FormatAction(report.actions.back());
  ASSERT_EQ(report.actions.back().kind, Action::Kind::kCameraEnrolled);

  bool saw_csr = false;
  for (const std::string& received : link.received) {
    EXPECT_THAT(received, Not(HasSubstr("PRIVATE KEY")));
    saw_csr = saw_csr || received.find("BEGIN CERTIFICATE REQUEST") != std::string::npos;
  }
  EXPECT_TRUE(saw_csr);
  // The certificate is for the key the camera holds in its own state directory.
  absl::StatusOr<provisioning::PrivateKey> camera_key =
      provisioning::PrivateKey::ReadFile(cameras_[1].state_dir + "/key.pem");
  ASSERT_THAT(camera_key, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> cert = CameraCertificate(1);
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(cert->key_fingerprint, *camera_key->PublicKeyFingerprint());
}

TEST_F(DockAgentTest, CameraWithACurrentCertificateIsLeftAlone) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  ASSERT_EQ(RunOnce().code, 0);
  const std::string before = cameras_[1].camera->Identify().certificate_pem;
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: up to date")) << r;
  EXPECT_EQ(cameras_[1].camera->Identify().certificate_pem, before);
}

TEST_F(DockAgentTest, OneSlotsFailureDoesNotStopTheOthers) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0404", /*register_it=*/false);  // the server has never heard of it
  InsertCamera(2, "CAM-0002");
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, kExitFailed) << r;
  // Unknown is answered as "not of this site" (PERMISSION_DENIED): a dock cannot map the fleet.
  EXPECT_THAT(r.out, AllOf(HasSubstr("slot 1 CAM-0404: FAILED: enrollment"),
                           HasSubstr("PERMISSION_DENIED"), HasSubstr("slot 2 CAM-0002: enrolled")))
      << r;
  EXPECT_THAT(CameraCertificate(2), IsOk());
}

// A camera whose link hangs: Identify blocks until released, then says the slot is empty.
class HungLink final : public CameraLink {
 public:
  absl::StatusOr<CameraIdentity> Identify() override {
    if (!entered.HasBeenNotified()) entered.Notify();
    release.WaitForNotification();
    if (!returned.HasBeenNotified()) returned.Notify();
    return absl::UnavailableError("no camera answers");
  }
  absl::StatusOr<std::string> CreateCsr() override { return absl::UnavailableError("hung"); }
  absl::StatusOr<std::string> CreateFreshCsr() override { return absl::UnavailableError("hung"); }
  absl::StatusOr<std::string> ProveCurrentKey(const std::string&) override {
    return absl::UnavailableError("hung");
  }
  absl::Status InstallCertificate(const std::string&, const std::string&) override {
    return absl::UnavailableError("hung");
  }
  absl::StatusOr<HealthSnapshot> ReadHealth() override { return absl::UnavailableError("hung"); }
  absl::Status SetClock(absl::Time) override { return absl::UnavailableError("hung"); }
  absl::Notification entered, release, returned;
};

TEST_F(DockAgentTest, HungCameraStallsOnlyItsOwnSlotsCertificateWork) {
  EnrollTheDock();
  InsertCamera(2, "CAM-0002");
  InsertCamera(3, "CAM-0003");
  auto hung = std::make_shared<HungLink>();
  std::shared_ptr<CameraLink> two = NewGrpcCameraLink(cameras_[2].socket);
  std::shared_ptr<CameraLink> three = NewGrpcCameraLink(cameras_[3].socket);
  const std::vector<CameraSlot> slots = {CameraSlot{1, hung.get(), hung},
                                         CameraSlot{2, two.get(), two},
                                         CameraSlot{3, three.get(), three}};
  KeeperOptions options = KeeperOptionsNow();
  options.slot_deadline = absl::Seconds(3);
  CertificateKeeper keeper(options);

  PassReport report = keeper.RunPass(slots);
  ASSERT_TRUE(hung->entered.HasBeenNotified());
  ASSERT_FALSE(hung->returned.HasBeenNotified()) << "slot 1 is still hung";
  // Slots 2 and 3 were enrolled while slot 1 hung; slot 1 is reported, not waited for.
  ASSERT_EQ(report.actions.size(), 5u);  // dock, CRL, three slots in slot order
  EXPECT_EQ(report.actions[2].slot, 1);
  EXPECT_EQ(report.actions[2].kind, Action::Kind::kCameraFailed);
  EXPECT_THAT(report.actions[2].status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(FormatAction(report.actions[2]), HasSubstr("skipped until it ends"));
  EXPECT_EQ(report.actions[3].kind, Action::Kind::kCameraEnrolled)
      << FormatAction(report.actions[3]);
  EXPECT_EQ(report.actions[4].kind, Action::Kind::kCameraEnrolled)
      << FormatAction(report.actions[4]);
  EXPECT_THAT(CameraCertificate(2), IsOk());
  EXPECT_THAT(CameraCertificate(3), IsOk());

  // The next pass does not start a second call into the hung slot and does not wait for it.
  const absl::Time start = absl::Now();
  report = keeper.RunPass(slots);
  EXPECT_LT(absl::Now() - start, options.slot_deadline);
  ASSERT_EQ(report.actions.size(), 5u);
  EXPECT_THAT(FormatAction(report.actions[2]),
              AllOf(HasSubstr("slot 1: FAILED: skipped"), HasSubstr("has not ended")));
  EXPECT_EQ(report.actions[3].kind, Action::Kind::kCameraUpToDate);
  EXPECT_EQ(report.actions[4].kind, Action::Kind::kCameraUpToDate);

  // Once the camera answers, the slot is worked again.
  hung->release.Notify();
  hung->returned.WaitForNotification();
  // The worker records its result just after the call returns.
  for (int i = 0; i < 100; ++i) {
    report = keeper.RunPass(slots);
    ASSERT_EQ(report.actions.size(), 5u);
    if (report.actions[2].kind != Action::Kind::kCameraFailed) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(report.actions[2].kind, Action::Kind::kSlotEmpty) << FormatAction(report.actions[2]);
}

TEST_F(DockAgentTest, EmptySlotIsReportedAndIsNotAFailure) {
  EnrollTheDock();
  CliResult r = RunOnce({absl::StrCat("3=", dir_.File("slot3.sock"))});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 3: empty")) << r;
}

TEST_F(DockAgentTest, CameraIsRenewedPastTwoThirdsOfItsValidity) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  ASSERT_EQ(RunOnce().code, 0);
  absl::StatusOr<provisioning::CertificateInfo> first = CameraCertificate(1);
  ASSERT_THAT(first, IsOk());
  // The dock renews itself every 61 days on the way; the camera's 365-day certificate is due
  // from day ~243.
  ASSERT_NO_FATAL_FAILURE(RunPassesOnDays({61, 122, 183, 242}));
  EXPECT_EQ(CameraCertificate(1)->serial_hex, first->serial_hex) << "not due on day 242";

  clock_.Set(start_ + Days(244));
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: renewed (certificate")) << r;
  absl::StatusOr<provisioning::CertificateInfo> renewed = CameraCertificate(1);
  ASSERT_THAT(renewed, IsOk());
  EXPECT_NE(renewed->serial_hex, first->serial_hex);
  EXPECT_NE(renewed->key_fingerprint, first->key_fingerprint) << "a new key on the camera";
}

// ------------------------------------------------------------------------------- the dock

TEST_F(DockAgentTest, DockDoesNotRenewBeforeTwoThirds) {
  EnrollTheDock();
  const std::string before = DockCertificate()->serial_hex;
  clock_.Advance(Days(59));
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("dock post-1-dock-1: up to date")) << r;
  EXPECT_EQ(DockCertificate()->serial_hex, before);
}

TEST_F(DockAgentTest, DockRenewsItsOwnCertificatePastTwoThirds) {
  EnrollTheDock();
  absl::StatusOr<provisioning::CertificateInfo> before = DockCertificate();
  ASSERT_THAT(before, IsOk());
  clock_.Advance(Days(61));
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("dock post-1-dock-1: renewed (due)")) << r;

  absl::StatusOr<provisioning::CredentialBundle> bundle = DockBundle();
  ASSERT_THAT(bundle, IsOk());
  absl::StatusOr<provisioning::CertificateInfo> after =
      provisioning::ParseCertificate(bundle->cert_pem);
  ASSERT_THAT(after, IsOk());
  EXPECT_NE(after->serial_hex, before->serial_hex);
  EXPECT_NE(after->key_fingerprint, before->key_fingerprint) << "a new key on the dock";
  EXPECT_GT(after->not_after, before->not_after);
  TlsClient dock(server_->Channel(*bundle));
  EXPECT_THAT(dock.GetCrl(), IsOk());
}

TEST_F(DockAgentTest, DockRenewsWithinTheGraceAfterExpiry) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  clock_.Advance(Days(100));  // 90-day certificate, 10 of the 30 days of grace used
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("dock post-1-dock-1: renewed (expired, in grace)"),
                           HasSubstr("slot 1 CAM-0001: enrolled")))
      << "and with its new certificate it serves its cameras in the same pass: " << r;
  absl::StatusOr<provisioning::CredentialBundle> bundle = DockBundle();
  ASSERT_THAT(bundle, IsOk());
  TlsClient dock(server_->Channel(*bundle));
  EXPECT_THAT(dock.GetCrl(), IsOk());
}

TEST_F(DockAgentTest, DockPastTheGraceIsRefusedAndSaysWhatToDo) {
  EnrollTheDock();
  const std::string before = DockBundle()->cert_pem;
  clock_.Advance(Days(121));  // 90 days + 30 days of grace + 1 day
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("dock post-1-dock-1: FAILED: renewal"),
                           HasSubstr("expired past grace"), HasSubstr("UNAUTHENTICATED"),
                           HasSubstr("enroll the dock again with a new token")))
      << r;
  EXPECT_EQ(DockBundle()->cert_pem, before) << "the old credentials stay";
}

TEST_F(DockAgentTest, UnreachableServerIsRetriedWithGrowingWaitsAndReported) {
  EnrollTheDock();
  clock_.Advance(Days(61));
  server_->Shutdown();
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("dock post-1-dock-1: FAILED"), HasSubstr("UNAVAILABLE"),
                           HasSubstr("unreachable")))
      << r;
  // Five tries, four waits between them, each cap twice the one before (jitter within it).
  ASSERT_EQ(retry_waits_.size(), 4u);
  for (size_t i = 0; i < retry_waits_.size(); ++i) {
    const absl::Duration cap = absl::Seconds(1) * (1 << i);
    EXPECT_GE(retry_waits_[i], cap / 2);
    EXPECT_LE(retry_waits_[i], cap);
  }
}

TEST_F(DockAgentTest, CamerasWaitForTheNextPassWhenTheServerIsUnreachable) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  clock_.Advance(Days(61));
  server_->Shutdown();
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: FAILED: enrollment (no certificate) skipped "
                               "until the next pass: the server was unreachable"))
      << r;
  EXPECT_EQ(retry_waits_.size(), 4u) << "only the dock's own call was retried";
  EXPECT_FALSE(provisioning::PathExists(cameras_[1].state_dir + "/pending-key.pem"))
      << "the camera was not asked for a CSR";
}

// A camera that spends a year and more out of the dock (the dock itself stays up and renews
// itself every 61 days). The post starts 300 days in the past, so that day 397 is still within
// the server certificate's year as the real clock sees it (tls_test_server.h).
class CameraLongAwayTest : public DockAgentTest {
 protected:
  absl::Time StartTime() override { return absl::Now() - Days(300); }

  // Enrolls CAM-0001 on day 0, takes it out of the dock and runs the dock through `until`.
  void CameraAwayUntil(int until) {
    ASSERT_NO_FATAL_FAILURE(EnrollTheDock());
    ASSERT_NO_FATAL_FAILURE(InsertCamera(1, "CAM-0001"));
    CliResult enrolled = RunOnce();
    ASSERT_EQ(enrolled.code, 0) << enrolled;
    Undock(1);
    std::vector<int> days;
    for (int day = 61; day < until; day += 61) days.push_back(day);
    ASSERT_NO_FATAL_FAILURE(RunPassesOnDays(days));
    clock_.Set(start_ + Days(until));
    ASSERT_NO_FATAL_FAILURE(Redock(1));
  }
};

TEST_F(CameraLongAwayTest, CameraBackWithinItsGraceIsRenewed) {
  ASSERT_NO_FATAL_FAILURE(CameraAwayUntil(375));  // 365-day certificate, 10 days of grace used
  const std::string before = cameras_[1].camera->Identify().certificate_pem;
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: renewed (certificate")) << r;
  EXPECT_THAT(r.out, HasSubstr("expired, in grace")) << r;
  EXPECT_NE(cameras_[1].camera->Identify().certificate_pem, before);
  EXPECT_THAT(CameraCertificate(1), IsOk());
}

TEST_F(CameraLongAwayTest, CameraBackAfterItsGraceEnrollsAfresh) {
  ASSERT_NO_FATAL_FAILURE(CameraAwayUntil(397));  // 365 days + 30 days of grace + 2 days
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("slot 1 CAM-0001: enrolled (its certificate is not usable"),
                           HasSubstr("expired")))
      << r;
  EXPECT_THAT(CameraCertificate(1), IsOk());
  // root-admin's 30-day certificate is long gone by now; an admin of today asks.
  absl::StatusOr<testing::ClientCredentials> today =
      server_->IssueDirect(provisioning::Role::kAdmin, "admin-today", clock_.Now());
  ASSERT_THAT(today, IsOk());
  absl::StatusOr<v1::Camera> camera =
      TlsClient(server_->Channel(today->bundle)).GetCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_AVAILABLE);
}

// ------------------------------------------------------------------------------- revocation

// The dock's CRLs as it keeps them, checked against the fleet CA.
CrlStore DockCrls(const std::string& dock_dir, const std::string& ca_pem) {
  return CrlStore(DockPaths{dock_dir}.Crl(), *provisioning::CertificateVerifier::FromCaPem(ca_pem));
}

class RevocationTest : public DockAgentTest {
 protected:
  // CAM-0001 enrolled in slot 1, then reported lost through the API (which revokes its
  // certificate); returns the certificate's serial.
  std::string EnrollThenLoseCamera() {
    EXPECT_NO_FATAL_FAILURE(EnrollTheDock());
    EXPECT_NO_FATAL_FAILURE(InsertCamera(1, "CAM-0001"));
    CliResult enrolled = RunOnce();
    EXPECT_EQ(enrolled.code, 0) << enrolled;
    absl::StatusOr<provisioning::CertificateInfo> cert = CameraCertificate(1);
    EXPECT_THAT(cert, IsOk());
    EXPECT_THAT(admin_->ReportLost("CAM-0001"), IsOk());
    return cert.ok() ? cert->serial_hex : "";
  }

  std::string RefusedLine(const std::string& serial) {
    return absl::StrCat("slot 1 CAM-0001: REFUSED: certificate ", serial, " revoked (");
  }

  // The number of the CRL the dock holds now (0 if none, which fails the test).
  uint64_t HeldNumber(const CrlStore& crls) {
    absl::StatusOr<std::optional<HeldCrl>> held = crls.LoadNewest();
    EXPECT_THAT(held, IsOk());
    EXPECT_TRUE(held.ok() && held->has_value());
    return held.ok() && held->has_value() ? (*held)->number : 0;
  }

  // Plants `pem` on disk as CRL `number` (named as the dock names its files) and checks the
  // dock passes over it: the CRL `good` stays in force, also for a pass with the server down,
  // which still refuses the lost camera `serial`.
  void ExpectPlantedCrlPassedOver(const CrlStore& crls, uint64_t good, uint64_t number,
                                  const std::string& pem, const std::string& serial) {
    ASSERT_THAT(
        provisioning::WriteNewFile(
            absl::StrFormat("%s/crl-%020u.pem", DockPaths{dock_dir_}.Crl(), number), pem, 0644),
        IsOk());
    EXPECT_EQ(HeldNumber(crls), good);
    server_->Shutdown();
    CliResult r = RunOnce();
    EXPECT_THAT(r.out, HasSubstr(RefusedLine(serial))) << r;
  }
};

TEST_F(RevocationTest, LostCameraIsRefusedOnTheNextPass) {
  const std::string serial = EnrollThenLoseCamera();
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, 0) << "refusing a revoked camera is the dock working, not failing: " << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("dock post-1-dock-1: CRL "),
                           HasSubstr(RefusedLine(serial) + "keyCompromise)"),
                           HasSubstr("keep this unit out of service and report it"),
                           Not(HasSubstr("up to date: certificate " + serial))))
      << r;
}

TEST_F(RevocationTest, LostCameraIsNotRenewedEvenWhenDue) {
  const std::string serial = EnrollThenLoseCamera();
  // The dock renews itself on the way; the camera's certificate is due from day ~243.
  ASSERT_NO_FATAL_FAILURE(RunPassesOnDays({61, 122, 183}));
  clock_.Set(start_ + Days(244));
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(RefusedLine(serial))) << r;
  EXPECT_THAT(r.out, Not(HasSubstr("slot 1 CAM-0001: renewed"))) << r;
  EXPECT_EQ(
      provisioning::ParseCertificate(cameras_[1].camera->Identify().certificate_pem)->serial_hex,
      serial);
  EXPECT_FALSE(provisioning::PathExists(cameras_[1].state_dir + "/pending-key.pem"))
      << "the camera was not even asked for a CSR";
}

TEST_F(RevocationTest, KeptCrlIsUsedAfterARestartWithTheServerDown) {
  const std::string serial = EnrollThenLoseCamera();
  CliResult fetched = RunOnce();
  ASSERT_THAT(fetched.out, HasSubstr(RefusedLine(serial))) << fetched;
  server_->Shutdown();
  // Each RunOnce is a new process as far as the agent goes: all it keeps is on disk.
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, kExitFailed) << "the CRL could not be fetched: " << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("dock post-1-dock-1: FAILED: CRL not fetched"),
                           HasSubstr("held here stays in force"), HasSubstr(RefusedLine(serial))))
      << r;
}

TEST_F(RevocationTest, CrlNotSignedByTheFleetCaIsRejectedAndThePreviousKept) {
  const std::string serial = EnrollThenLoseCamera();
  ASSERT_EQ(RunOnce().code, 0);
  CrlStore crls = DockCrls(dock_dir_, server_->ca_pem());
  const uint64_t good = HeldNumber(crls);

  // Another CA's CRL, numbered far ahead and listing nothing: it would lift the revocation.
  const std::string other_dir = dir_.File("other-ca");
  ASSERT_EQ(::mkdir(other_dir.c_str(), 0700), 0);
  absl::StatusOr<provisioning::CertificateAuthority> other =
      provisioning::CertificateAuthority::Create(other_dir, clock_.Now());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<std::string> foreign =
      other->MakeCrl({}, clock_.Now(), clock_.Now() + Days(7), good + 100);
  ASSERT_THAT(foreign, IsOk());

  EXPECT_THAT(crls.Accept(good + 100, *foreign),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not signed by")));
  ExpectPlantedCrlPassedOver(crls, good, good + 100, *foreign, serial);
}

TEST_F(RevocationTest, OlderCrlNeverReplacesTheOneHeld) {
  EnrollThenLoseCamera();
  ASSERT_EQ(RunOnce().code, 0);
  CrlStore crls = DockCrls(dock_dir_, server_->ca_pem());
  absl::StatusOr<std::optional<HeldCrl>> held = crls.LoadNewest();
  ASSERT_THAT(held, IsOk());
  ASSERT_TRUE(held->has_value());
  const HeldCrl newest = **held;
  ASSERT_GT(newest.number, 0u);

  // A CRL the fleet CA did sign with a lower number and listing nothing (a server restored from
  // an old backup, say): a number going back is never taken.
  absl::StatusOr<provisioning::CertificateAuthority> ca = server_->LoadCa();
  ASSERT_THAT(ca, IsOk());
  absl::StatusOr<std::string> older =
      ca->MakeCrl({}, clock_.Now(), clock_.Now() + Days(7), newest.number - 1);
  ASSERT_THAT(older, IsOk());
  EXPECT_THAT(crls.Accept(newest.number - 1, *older),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("older than")));
  held = crls.LoadNewest();
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ((*held)->number, newest.number);
  EXPECT_EQ((*held)->pem, newest.pem);
}

TEST_F(RevocationTest, CrlOfferedUnderAnotherNumberThanItsSignedOneIsRefused) {
  const std::string serial = EnrollThenLoseCamera();
  ASSERT_EQ(RunOnce().code, 0);
  CrlStore crls = DockCrls(dock_dir_, server_->ca_pem());
  const uint64_t good = HeldNumber(crls);
  // An older CRL the fleet CA really signed, listing nothing, claimed to be far newer: taken, it
  // would lift the revocation and refuse every real CRL after it as "older".
  absl::StatusOr<provisioning::CertificateAuthority> ca = server_->LoadCa();
  ASSERT_THAT(ca, IsOk());
  absl::StatusOr<std::string> stale = ca->MakeCrl({}, clock_.Now(), clock_.Now() + Days(7), 1);
  ASSERT_THAT(stale, IsOk());
  EXPECT_THAT(crls.Accept(good + 1000, *stale),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signed CRL says number 1")));
  ExpectPlantedCrlPassedOver(crls, good, good + 1000, *stale, serial);
}

TEST_F(RevocationTest, CameraWhoseEnrollmentWasResetEnrollsAfresh) {
  ASSERT_NO_FATAL_FAILURE(EnrollTheDock());
  ASSERT_NO_FATAL_FAILURE(InsertCamera(1, "CAM-0001"));
  ASSERT_EQ(RunOnce().code, 0);
  const std::string before = CameraCertificate(1)->serial_hex;
  // Revokes the certificate as superseded: the one revocation a camera comes back from.
  ASSERT_THAT(admin_->ResetEnrollment("CAM-0001"), IsOk());
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("slot 1 CAM-0001: enrolled (its certificate ", before,
                                            " was superseded)")))
      << r;
  EXPECT_THAT(r.out, Not(HasSubstr("REFUSED"))) << r;
  absl::StatusOr<provisioning::CertificateInfo> after = CameraCertificate(1);
  ASSERT_THAT(after, IsOk());
  EXPECT_NE(after->serial_hex, before);
}

// ------------------------------------------------------------------ proof of possession

// A rogue device in a slot: it answers as the victim camera and replays the victim's
// certificate (public: read off the victim's own link), but holds a key of its own. It makes
// CSRs and "proofs" with that key.
class RogueLink final : public CameraLink {
 public:
  RogueLink(CameraIdentity victim, const common::Clock& clock)
      : victim_(std::move(victim)),
        clock_(clock),
        key_(*provisioning::PrivateKey::GenerateEcP256()) {}
  absl::StatusOr<CameraIdentity> Identify() override {
    CameraIdentity id = victim_;
    id.device_time = clock_.Now();
    return id;
  }
  absl::StatusOr<std::string> CreateCsr() override {
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::Make(key_, victim_.serial);
    if (!csr.ok()) return csr.status();
    return csr->ToPem();
  }
  absl::StatusOr<std::string> CreateFreshCsr() override { return CreateCsr(); }
  absl::StatusOr<std::string> ProveCurrentKey(const std::string& csr) override {
    return provisioning::SignRenewalProof(key_, csr);
  }
  absl::Status InstallCertificate(const std::string&, const std::string&) override {
    ++installs;
    return absl::OkStatus();
  }
  absl::StatusOr<HealthSnapshot> ReadHealth() override { return absl::UnimplementedError("rogue"); }
  absl::Status SetClock(absl::Time) override { return absl::OkStatus(); }
  int installs = 0;

 private:
  CameraIdentity victim_;
  const common::Clock& clock_;
  provisioning::PrivateKey key_;
};

TEST_F(DockAgentTest, RogueDeviceReplayingAVictimsCertificateInASlotIsNotRenewed) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  ASSERT_EQ(RunOnce().code, 0);
  absl::StatusOr<CameraIdentity> victim = NewGrpcCameraLink(cameras_[1].socket)->Identify();
  ASSERT_THAT(victim, IsOk());
  const std::string victim_cert = victim->certificate_pem;
  ASSERT_FALSE(victim_cert.empty());
  ASSERT_NO_FATAL_FAILURE(RunPassesOnDays({61, 122, 183}));
  Undock(1);  // the victim is out; the rogue takes its slot when its certificate is due
  clock_.Set(start_ + Days(244));
  RogueLink rogue(*victim, clock_);
  KeeperOptions options = KeeperOptionsNow();
  options.retry.sleep = [](absl::Duration) {};
  CertificateKeeper keeper(std::move(options));
  PassReport report = keeper.RunPass({CameraSlot{1, &rogue}});
  bool refused = false;
  for (const Action& a : report.actions) {
    if (a.slot != 1) continue;
    refused = true;
    EXPECT_EQ(a.kind, Action::Kind::kCameraFailed) << FormatAction(a);
    EXPECT_THAT(a.status,
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("current_key_signature")))
        << FormatAction(a);
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(rogue.installs, 0);
  absl::StatusOr<testing::ClientCredentials> today =
      server_->IssueDirect(provisioning::Role::kAdmin, "admin-today", clock_.Now());
  ASSERT_THAT(today, IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs =
      TlsClient(server_->Channel(today->bundle)).CertificatesOf("CAM-0001");
  ASSERT_THAT(certs, IsOk());
  EXPECT_EQ(certs->size(), 1u) << "nothing was issued for the rogue's key";
}

// ------------------------------------------------------------------- factory certificates

// A camera commissioned on its supplier's factory certificate: the dock cannot check that
// certificate (it trusts only the fleet CA), so the camera renews into the fleet by proving the
// factory key; a lost one still on its factory certificate is refused at the dock, from the
// revoked factory keys that come with the CRL (issue 11, items 2 and 8).
class FactoryCameraTest : public DockAgentTest {
 protected:
  void SetUp() override {
    DockAgentTest::SetUp();
    if (HasFatalFailure()) return;
    const std::string supplier_dir = dir_.File("acme-ca");
    ASSERT_EQ(::mkdir(supplier_dir.c_str(), 0700), 0);
    absl::StatusOr<provisioning::CertificateAuthority> supplier =
        provisioning::CertificateAuthority::Create(supplier_dir, clock_.Now());
    ASSERT_THAT(supplier, IsOk());
    supplier_pem_ = supplier->CertificatePem();
    absl::StatusOr<provisioning::PrivateKey> key =
        provisioning::PrivateKey::ReadFile(supplier_dir + "/ca.key");
    ASSERT_THAT(key, IsOk());
    supplier_key_ = std::make_unique<provisioning::PrivateKey>(*std::move(key));
    ASSERT_THAT(admin_->AddSupplierCa("acme", supplier_pem_), IsOk());
  }

  // Registers and commissions `serial` with a factory certificate, and puts the camera (holding
  // that certificate and its key, as it left the factory) in `slot`.
  void InsertFactoryCamera(int slot, const std::string& serial) {
    provisioning::PrivateKey factory_key = provisioning_test::MakeEcKey("prime256v1");
    const std::string cert = provisioning_test::FactoryCertificate(
        *supplier_key_, supplier_pem_, factory_key, serial, clock_.Now() - absl::Hours(1),
        clock_.Now() + Days(365));
    ASSERT_THAT(admin_->RegisterCamera(serial, kSite), IsOk());
    ASSERT_THAT(admin_->Commission(serial, cert), IsOk());
    ASSERT_THAT(provisioning::ReplaceCredentialBundle(dir_.File(absl::StrCat("camera-", serial)),
                                                      factory_key, cert, supplier_pem_),
                IsOk());
    ASSERT_NO_FATAL_FAILURE(InsertCamera(slot, serial, /*register_it=*/false));
    ASSERT_EQ(cameras_[slot].camera->Identify().certificate_pem, cert);
  }

  std::string supplier_pem_;
  std::unique_ptr<provisioning::PrivateKey> supplier_key_;
};

TEST_F(FactoryCameraTest, CameraOnItsFactoryCertificateRenewsIntoTheFleetByProvingTheFactoryKey) {
  EnrollTheDock();
  ASSERT_NO_FATAL_FAILURE(InsertFactoryCamera(1, "CAM-0001"));
  CliResult r = RunOnce();
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("slot 1 CAM-0001: renewed (it holds its factory certificate)")) << r;
  absl::StatusOr<provisioning::CertificateInfo> fleet = CameraCertificate(1);
  ASSERT_THAT(fleet, IsOk());
  EXPECT_EQ(fleet->identity, "CAM-0001");
}

TEST_F(FactoryCameraTest, LostCameraOnItsFactoryCertificateIsRefusedAtTheDock) {
  EnrollTheDock();
  ASSERT_NO_FATAL_FAILURE(InsertFactoryCamera(2, "CAM-0002"));
  ASSERT_THAT(admin_->ReportLost("CAM-0002"), IsOk());
  CliResult r = RunOnce();
  EXPECT_EQ(r.code, 0) << "refusing a revoked camera is the dock working: " << r;
  EXPECT_THAT(r.out, AllOf(HasSubstr("slot 2 CAM-0002: REFUSED: certificate factory certificate"),
                           HasSubstr("keep this unit out of service")))
      << r;
  // Kept on disk with the CRL: refused also with the server down.
  server_->Shutdown();
  CliResult offline = RunOnce();
  EXPECT_THAT(offline.out, HasSubstr("slot 2 CAM-0002: REFUSED: certificate factory certificate"))
      << offline;
}

// The fail-closed rule holds on the factory path too: a dock without a CRL does not know which
// factory keys are revoked (they come with the CRL), so it renews no camera into the fleet on
// its factory certificate until it has one.
TEST_F(FactoryCameraTest, DockWithoutACrlDoesNotRenewACameraOnItsFactoryCertificate) {
  EnrollTheDock();
  const std::string crl_dir = DockPaths{dock_dir_}.Crl();
  ASSERT_THAT(provisioning::WriteNewFile(crl_dir, "not a directory", 0600), IsOk());
  ASSERT_NO_FATAL_FAILURE(InsertFactoryCamera(1, "CAM-0001"));
  const std::string factory = cameras_[1].camera->Identify().certificate_pem;
  CliResult refused = RunOnce();
  EXPECT_THAT(refused.out, AllOf(HasSubstr("slot 1 CAM-0001: FAILED: renewal (it holds its "
                                           "factory certificate) refused by the dock"),
                                 HasSubstr("never held a CRL")))
      << refused;
  EXPECT_EQ(cameras_[1].camera->Identify().certificate_pem, factory);

  ASSERT_EQ(::unlink(crl_dir.c_str()), 0);
  CliResult renewed = RunOnce();
  ASSERT_EQ(renewed.code, 0) << renewed;
  EXPECT_THAT(renewed.out, HasSubstr("slot 1 CAM-0001: renewed (it holds its factory certificate)"))
      << renewed;
}

// ------------------------------------------------------------- stale revocation data (item 7)

// A dock that has never held a CRL cannot tell a revoked camera: it renews none until it has
// one (enrolling a new camera, which the server decides alone, still works).
TEST_F(DockAgentTest, DockThatNeverHadACrlRenewsNoCameraUntilItHasOne) {
  EnrollTheDock();
  // Something in the way of the CRL directory: no CRL can be kept.
  const std::string crl_dir = DockPaths{dock_dir_}.Crl();
  ASSERT_THAT(provisioning::WriteNewFile(crl_dir, "not a directory", 0600), IsOk());
  InsertCamera(1, "CAM-0001");
  CliResult enrolled = RunOnce();
  ASSERT_THAT(enrolled.out, HasSubstr("slot 1 CAM-0001: enrolled")) << enrolled;
  absl::StatusOr<provisioning::CertificateInfo> first = CameraCertificate(1);
  ASSERT_THAT(first, IsOk());
  for (int day : {61, 122, 183}) {
    clock_.Set(start_ + Days(day));
    RunOnce();  // the dock renews itself; the CRL still cannot be kept
  }
  clock_.Set(start_ + Days(244));  // the camera is due
  CliResult refused = RunOnce();
  EXPECT_THAT(refused.out,
              AllOf(HasSubstr("slot 1 CAM-0001: FAILED: renewal"), HasSubstr("never held a CRL")))
      << refused;
  EXPECT_EQ(CameraCertificate(1)->serial_hex, first->serial_hex);

  ASSERT_EQ(::unlink(crl_dir.c_str()), 0);
  CliResult renewed = RunOnce();
  ASSERT_EQ(renewed.code, 0) << renewed;
  EXPECT_THAT(renewed.out, HasSubstr("slot 1 CAM-0001: renewed (certificate")) << renewed;
  EXPECT_NE(CameraCertificate(1)->serial_hex, first->serial_hex);
}

// A post cut off for 30 days keeps working on its CRL; past the documented grace
// (kCrlStaleGrace after nextUpdate) the dock says so, raises the alert, and renews no camera.
TEST_F(DockAgentTest, CrlStalePastItsGraceIsReportedAndRaisedAsAnAlert) {
  EnrollTheDock();
  InsertCamera(1, "CAM-0001");
  ASSERT_EQ(RunOnce().code, 0);  // day 0: the CRL is fetched (nextUpdate day 7)
  server_->Shutdown();
  clock_.Set(start_ + Days(37));  // a 30-day closed pass past nextUpdate: still in the grace
  CliResult within = RunOnce();
  EXPECT_THAT(within.out, Not(HasSubstr("is stale"))) << within;

  clock_.Set(start_ + Days(45));  // 38 days past nextUpdate
  std::vector<std::pair<uint64_t, std::string>> alerts;
  KeeperOptions options = KeeperOptionsNow();
  options.retry.sleep = [](absl::Duration) {};  // the server is down: no real waits
  options.crl_stale = [&](uint64_t number, const std::string& text) {
    alerts.emplace_back(number, text);
  };
  CertificateKeeper keeper(std::move(options));
  PassReport report = keeper.RunPass({});
  bool reported = false;
  for (const Action& a : report.actions) {
    if (a.kind == Action::Kind::kCrlStale) {
      reported = true;
      EXPECT_TRUE(a.failed());
      EXPECT_THAT(FormatAction(a), AllOf(HasSubstr("is stale"), HasSubstr("grace")));
    }
  }
  EXPECT_TRUE(reported);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_THAT(alerts[0].second, HasSubstr("nextUpdate"));
}

// ------------------------------------------------------------------------------- command line

TEST_F(DockAgentTest, RunRefusesAMalformedSlot) {
  CliResult r = Dock({"run", "--once", "--dir", dock_dir_, "--server", "127.0.0.1:1", "--slot",
                      "zero=/tmp/x.sock"});
  EXPECT_EQ(r.code, kExitUsage) << r;
  EXPECT_THAT(r.err, HasSubstr("--slot 'zero=/tmp/x.sock'")) << r;
}

TEST_F(DockAgentTest, RunWithoutEnrollmentSaysToEnroll) {
  CliResult r = Dock({"run", "--once", "--dir", dock_dir_, "--server", server_->target()});
  EXPECT_EQ(r.code, kExitFailed) << r;
  EXPECT_THAT(r.out, HasSubstr("camfleet-dock enroll")) << r;
}

TEST_F(DockAgentTest, RunStopsWhenAskedOnceThePassIsDone) {
  EnrollTheDock();
  absl::Notification stop;
  stop.Notify();  // before the first pass ends: the loop must not wait out the interval
  const CliResult r =
      testing::RunDockCli({"run", "--interval", "1h", "--dir", dock_dir_, "--server",
                           server_->target(), "--server-name", testing::kServerName},
                          clock_, {.stop = &stop, .retry_sleep = {}});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("dock post-1-dock-1: up to date"));
}

TEST_F(DockAgentTest, EverySubcommandHasHelp) {
  for (const char* sub : {"enroll", "run"}) {
    CliResult r = Dock({sub, "--help"});
    EXPECT_EQ(r.code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr("--dir")) << r;
  }
}

}  // namespace
}  // namespace camfleet::agent
