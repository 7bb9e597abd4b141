// The camera simulator: makes its key on the camera and gives out only CSRs, checks a
// certificate before taking it, keeps key and certificate across restarts, and serves all of it
// over the camera link on a unix socket (in process, and as the camfleet-camsim binary).

#include "agent/sim/camera_simulator.h"

#include <signal.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/grpc_camera_link.h"
#include "agent/sim/camera_link_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "provisioning/possession.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::camsim {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSerial[] = "CAM-0001";

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class CameraSimulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(dir_.File("ca").c_str(), 0700), 0);
    absl::StatusOr<provisioning::CertificateAuthority> ca =
        provisioning::CertificateAuthority::Create(dir_.File("ca"), absl::Now());
    ASSERT_THAT(ca, IsOk());
    ca_ = std::make_unique<provisioning::CertificateAuthority>(*std::move(ca));
  }

  CameraSimulatorOptions Options(const std::string& serial = kSerial) {
    CameraSimulatorOptions o;
    o.state_dir = dir_.File("camera");
    o.serial = serial;
    o.model = "BWC-4";
    return o;
  }

  std::unique_ptr<CameraSimulator> OpenCamera(CameraSimulatorOptions options) {
    absl::StatusOr<std::unique_ptr<CameraSimulator>> camera = CameraSimulator::Open(options);
    EXPECT_THAT(camera, IsOk());
    return camera.ok() ? *std::move(camera) : nullptr;
  }

  // What the fleet CA would issue for `csr_pem`, as `identity` in `role`.
  std::string Issue(const std::string& csr_pem, const std::string& identity,
                    provisioning::Role role = provisioning::Role::kCamera) {
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::FromPem(csr_pem);
    EXPECT_THAT(csr, IsOk());
    if (!csr.ok()) return "";
    provisioning::IssueRequest req;
    req.role = role;
    req.identity = identity;
    absl::StatusOr<provisioning::IssuedCertificate> cert = ca_->Issue(*csr, req, absl::Now());
    EXPECT_THAT(cert, IsOk());
    return cert.ok() ? cert->pem : "";
  }

  // A CSR from the camera and the certificate for it, installed. Returns the certificate.
  std::string Enroll(CameraSimulator& camera) {
    absl::StatusOr<std::string> csr = camera.CreateCsr();
    EXPECT_THAT(csr, IsOk());
    const std::string cert = Issue(csr.ok() ? *csr : "", kSerial);
    EXPECT_THAT(camera.InstallCertificate(cert, ca_->CertificatePem()), IsOk());
    return cert;
  }

  std::string KeyFingerprintOnDisk() {
    absl::StatusOr<provisioning::PrivateKey> key =
        provisioning::PrivateKey::ReadFile(dir_.File("camera/key.pem"));
    EXPECT_THAT(key, IsOk());
    return key.ok() ? *key->PublicKeyFingerprint() : "";
  }

  TempDir dir_;
  std::unique_ptr<provisioning::CertificateAuthority> ca_;
};

TEST_F(CameraSimulatorTest, NewCameraHasNoCertificate) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  const CameraIdentity id = camera->Identify();
  EXPECT_EQ(id.serial, kSerial);
  EXPECT_EQ(id.model, "BWC-4");
  EXPECT_TRUE(id.certificate_pem.empty());
}

TEST_F(CameraSimulatorTest, CsrNamesTheSerialAndCarriesNoKey) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  absl::StatusOr<std::string> csr = camera->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  EXPECT_THAT(*csr, HasSubstr("BEGIN CERTIFICATE REQUEST"));
  EXPECT_THAT(*csr, Not(HasSubstr("PRIVATE KEY")));
  absl::StatusOr<provisioning::CertificateRequest> parsed =
      provisioning::CertificateRequest::FromPem(*csr);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(*parsed->CommonName(), kSerial);
  EXPECT_THAT(provisioning::CheckCsr(*parsed, {.common_name = kSerial}), IsOk());
}

TEST_F(CameraSimulatorTest, InstalledCertificateIsForTheKeyTheCameraKeeps) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  const std::string cert = Enroll(*camera);
  EXPECT_EQ(camera->Identify().certificate_pem, cert);
  EXPECT_EQ(ModeOf(dir_.File("camera/key.pem")), 0600u);
  absl::StatusOr<provisioning::CertificateInfo> info = provisioning::ParseCertificate(cert);
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->key_fingerprint, KeyFingerprintOnDisk());
}

TEST_F(CameraSimulatorTest, InstallRefusesACertificateForAnotherKey) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  ASSERT_THAT(camera->CreateCsr(), IsOk());
  absl::StatusOr<provisioning::PrivateKey> other = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(other, IsOk());
  const std::string cert =
      Issue(*provisioning::CertificateRequest::Make(*other, kSerial)->ToPem(), kSerial);
  EXPECT_THAT(camera->InstallCertificate(cert, ca_->CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("another key")));
  EXPECT_TRUE(camera->Identify().certificate_pem.empty());
}

TEST_F(CameraSimulatorTest, InstallRefusesACertificateForAnotherSerial) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  ASSERT_THAT(camera->CreateCsr(), IsOk());
  // The CA checks the CN; a certificate naming another camera can only come from a CSR for it.
  absl::StatusOr<provisioning::PrivateKey> other = provisioning::PrivateKey::GenerateEcP256();
  const std::string cert =
      Issue(*provisioning::CertificateRequest::Make(*other, "CAM-0002")->ToPem(), "CAM-0002");
  EXPECT_THAT(camera->InstallCertificate(cert, ca_->CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CAM-0002")));
}

TEST_F(CameraSimulatorTest, InstallRefusesACertificateThatDoesNotChainToTheCa) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  absl::StatusOr<std::string> csr = camera->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  const std::string cert = Issue(*csr, kSerial);
  ASSERT_EQ(::mkdir(dir_.File("other-ca").c_str(), 0700), 0);
  absl::StatusOr<provisioning::CertificateAuthority> other =
      provisioning::CertificateAuthority::Create(dir_.File("other-ca"), absl::Now());
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(camera->InstallCertificate(cert, other->CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not trusted")));
}

// Item 9 of issue 11: the first CA is pinned. A dock (or anything on the link) that later
// brings another root, with a certificate that chains to it, is refused, after a restart too;
// the camera keeps its certificate.
TEST_F(CameraSimulatorTest, CameraPinsTheRootOfItsFirstEnrollmentAndRefusesAnyOther) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  const std::string first = Enroll(*camera);
  ASSERT_EQ(::mkdir(dir_.File("rogue-ca").c_str(), 0700), 0);
  absl::StatusOr<provisioning::CertificateAuthority> rogue =
      provisioning::CertificateAuthority::Create(dir_.File("rogue-ca"), absl::Now());
  ASSERT_THAT(rogue, IsOk());
  for (int reopened = 0; reopened < 2; ++reopened) {
    if (reopened == 1) {
      camera.reset();
      camera = OpenCamera(Options());
      ASSERT_NE(camera, nullptr);
    }
    absl::StatusOr<std::string> csr = camera->CreateCsr();
    ASSERT_THAT(csr, IsOk());
    absl::StatusOr<provisioning::CertificateRequest> parsed =
        provisioning::CertificateRequest::FromPem(*csr);
    ASSERT_THAT(parsed, IsOk());
    provisioning::IssueRequest req;
    req.role = provisioning::Role::kCamera;
    req.identity = kSerial;
    absl::StatusOr<provisioning::IssuedCertificate> rogue_cert =
        rogue->Issue(*parsed, req, absl::Now());
    ASSERT_THAT(rogue_cert, IsOk());
    EXPECT_THAT(camera->InstallCertificate(rogue_cert->pem, rogue->CertificatePem()),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("pinned")));
    // The rogue's certificate with the real root's name on the CA field does not chain either.
    EXPECT_THAT(camera->InstallCertificate(rogue_cert->pem, ca_->CertificatePem()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not trusted")));
    EXPECT_EQ(camera->Identify().certificate_pem, first);
  }
  // The pinned root's own renewal still installs.
  absl::StatusOr<std::string> csr = camera->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  EXPECT_THAT(camera->InstallCertificate(Issue(*csr, kSerial), ca_->CertificatePem()), IsOk());
}

// Issue 11, item 5: the camera pins the fleet root, not an issuing CA. After the fleet replaces
// its issuing CA from the root, a certificate from the new one (with the fleet's new CA
// certificates) installs, before and after a restart; CA certificates with another root do not.
TEST_F(CameraSimulatorTest, CameraPinnedToTheRootAcceptsACertificateFromARotatedIssuingCa) {
  ASSERT_EQ(::mkdir(dir_.File("fleet-ca").c_str(), 0700), 0);
  absl::StatusOr<provisioning::CertificateAuthority> fleet =
      provisioning::CertificateAuthority::CreateWithRoot(dir_.File("fleet-ca"), absl::Now());
  ASSERT_THAT(fleet, IsOk());
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  auto issue = [&](const provisioning::CertificateAuthority& ca) -> std::string {
    absl::StatusOr<std::string> csr = camera->CreateCsr();
    EXPECT_THAT(csr, IsOk());
    absl::StatusOr<provisioning::CertificateRequest> parsed =
        provisioning::CertificateRequest::FromPem(csr.ok() ? *csr : "");
    EXPECT_THAT(parsed, IsOk());
    if (!parsed.ok()) return "";
    provisioning::IssueRequest request;
    request.role = provisioning::Role::kCamera;
    request.identity = kSerial;
    absl::StatusOr<provisioning::IssuedCertificate> cert = ca.Issue(*parsed, request, absl::Now());
    EXPECT_THAT(cert, IsOk());
    return cert.ok() ? cert->pem : "";
  };
  ASSERT_THAT(camera->InstallCertificate(issue(*fleet), fleet->CertificatePem()), IsOk());

  absl::StatusOr<provisioning::PrivateKey> root_key =
      provisioning::PrivateKey::ReadFile(dir_.File("fleet-ca/root.key"));
  ASSERT_THAT(root_key, IsOk());
  ASSERT_THAT(provisioning::RotateIssuingCa(dir_.File("fleet-ca"), *root_key, absl::Now(),
                                            provisioning::RevocationReason::kKeyCompromise),
              IsOk());
  absl::StatusOr<provisioning::CertificateAuthority> rotated =
      provisioning::CertificateAuthority::Load(dir_.File("fleet-ca"));
  ASSERT_THAT(rotated, IsOk());
  ASSERT_NE(rotated->CertificatePem(), fleet->CertificatePem());
  const std::string renewed = issue(*rotated);
  EXPECT_THAT(camera->InstallCertificate(renewed, rotated->CertificatePem()), IsOk());
  EXPECT_EQ(camera->Identify().certificate_pem, renewed);

  camera.reset();
  camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  EXPECT_THAT(camera->InstallCertificate(issue(*rotated), rotated->CertificatePem()), IsOk());
  // A rogue fleet's CA certificates are still refused: the root is what is pinned.
  ASSERT_EQ(::mkdir(dir_.File("rogue-fleet").c_str(), 0700), 0);
  absl::StatusOr<provisioning::CertificateAuthority> rogue =
      provisioning::CertificateAuthority::CreateWithRoot(dir_.File("rogue-fleet"), absl::Now());
  ASSERT_THAT(rogue, IsOk());
  EXPECT_THAT(camera->InstallCertificate(issue(*rogue), rogue->CertificatePem()),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("pinned")));
}

// Proof of possession for a renewal (provisioning/possession.h): made with the current key over
// the pending key's CSR only; the camera signs no other CSR, and nothing before it has a key.
TEST_F(CameraSimulatorTest, CameraProvesItsCurrentKeyOnlyForItsOwnPendingCsr) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  absl::StatusOr<std::string> first_csr = camera->CreateCsr();
  ASSERT_THAT(first_csr, IsOk());
  EXPECT_THAT(camera->ProveCurrentKey(*first_csr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no current key")));
  ASSERT_THAT(camera->InstallCertificate(Issue(*first_csr, kSerial), ca_->CertificatePem()),
              IsOk());
  const std::string current = camera->Identify().certificate_pem;
  absl::StatusOr<std::string> csr = camera->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  absl::StatusOr<std::string> proof = camera->ProveCurrentKey(*csr);
  ASSERT_THAT(proof, IsOk());
  EXPECT_THAT(provisioning::VerifyRenewalProof(current, *csr, *proof), IsOk());
  // A CSR the dock made with a key of its own is not signed.
  absl::StatusOr<provisioning::PrivateKey> dock_key = provisioning::PrivateKey::GenerateEcP256();
  ASSERT_THAT(dock_key, IsOk());
  absl::StatusOr<provisioning::CertificateRequest> forged =
      provisioning::CertificateRequest::Make(*dock_key, kSerial);
  ASSERT_THAT(forged, IsOk());
  absl::StatusOr<std::string> forged_pem = forged->ToPem();
  ASSERT_THAT(forged_pem, IsOk());
  EXPECT_THAT(camera->ProveCurrentKey(*forged_pem),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pending key")));
}

TEST_F(CameraSimulatorTest, CameraWithAClockFarBehindRefusesACertificateNotYetValid) {
  CameraSimulatorOptions options = Options();
  options.clock_skew = -absl::Hours(48);
  std::unique_ptr<CameraSimulator> camera = OpenCamera(options);
  ASSERT_NE(camera, nullptr);
  absl::StatusOr<std::string> csr = camera->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  EXPECT_THAT(camera->InstallCertificate(Issue(*csr, kSerial), ca_->CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid until")));
}

TEST_F(CameraSimulatorTest, ARenewalThatNeverCompletesKeepsTheCurrentCertificate) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  const std::string cert = Enroll(*camera);
  const std::string fingerprint = KeyFingerprintOnDisk();
  ASSERT_THAT(camera->CreateCsr(), IsOk());  // the server never answers
  EXPECT_EQ(camera->Identify().certificate_pem, cert);
  EXPECT_EQ(KeyFingerprintOnDisk(), fingerprint);
}

TEST_F(CameraSimulatorTest, ACertificateForAKeyMadeBeforeARestartIsAccepted) {
  absl::StatusOr<std::string> csr;
  {
    std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
    ASSERT_NE(camera, nullptr);
    csr = camera->CreateCsr();
    ASSERT_THAT(csr, IsOk());
  }
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  EXPECT_THAT(camera->InstallCertificate(Issue(*csr, kSerial), ca_->CertificatePem()), IsOk());
}

TEST_F(CameraSimulatorTest, ReopenedCameraKeepsItsKeyAndCertificate) {
  std::string cert;
  std::string fingerprint;
  {
    std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
    ASSERT_NE(camera, nullptr);
    cert = Enroll(*camera);
    fingerprint = KeyFingerprintOnDisk();
  }
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  EXPECT_EQ(camera->Identify().certificate_pem, cert);
  EXPECT_EQ(KeyFingerprintOnDisk(), fingerprint);
}

TEST_F(CameraSimulatorTest, StateOfAnotherCameraIsRefused) {
  ASSERT_NE(OpenCamera(Options()), nullptr);
  EXPECT_THAT(CameraSimulator::Open(Options("CAM-0009")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CAM-0001")));
}

TEST_F(CameraSimulatorTest, MalformedSerialIsRefused) {
  EXPECT_THAT(CameraSimulator::Open(Options("CAM 1/../x")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial")));
}

// ---------------------------------------------------------------------- over the unix socket

TEST_F(CameraSimulatorTest, LinkCarriesIdentifyCsrAndInstall) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  absl::StatusOr<std::unique_ptr<CameraLinkServer>> server =
      CameraLinkServer::Start(*camera, dir_.File("slot1.sock"));
  ASSERT_THAT(server, IsOk());
  std::unique_ptr<agent::CameraLink> link = agent::NewGrpcCameraLink(dir_.File("slot1.sock"));

  absl::StatusOr<agent::CameraIdentity> id = link->Identify();
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->serial, kSerial);
  EXPECT_EQ(id->model, "BWC-4");
  EXPECT_EQ(id->firmware_version, "1.0.0");
  EXPECT_LT(absl::AbsDuration(id->device_time - absl::Now()), absl::Minutes(1));
  absl::StatusOr<std::string> csr = link->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  const std::string cert = Issue(*csr, kSerial);
  ASSERT_THAT(link->InstallCertificate(cert, ca_->CertificatePem()), IsOk());
  EXPECT_EQ(link->Identify()->certificate_pem, cert);
}

TEST_F(CameraSimulatorTest, LinkPassesTheCamerasRefusalOn) {
  std::unique_ptr<CameraSimulator> camera = OpenCamera(Options());
  ASSERT_NE(camera, nullptr);
  absl::StatusOr<std::unique_ptr<CameraLinkServer>> server =
      CameraLinkServer::Start(*camera, dir_.File("slot1.sock"));
  ASSERT_THAT(server, IsOk());
  std::unique_ptr<agent::CameraLink> link = agent::NewGrpcCameraLink(dir_.File("slot1.sock"));
  EXPECT_THAT(link->InstallCertificate("not a certificate", ca_->CertificatePem()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("certificate_pem")));
}

TEST_F(CameraSimulatorTest, EmptySlotIsUnavailable) {
  std::unique_ptr<agent::CameraLink> link =
      agent::NewGrpcCameraLink(dir_.File("nobody.sock"), absl::Seconds(5));
  EXPECT_THAT(link->Identify(), StatusIs(absl::StatusCode::kUnavailable));
}

// ---------------------------------------------------------------------- the camfleet-camsim binary

class CamsimBinaryTest : public CameraSimulatorTest {
 protected:
  std::unique_ptr<testing::ChildProcess> Spawn() {
    // A log per run: its first line, "camera ... serving on ...", says the server is up.
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> child =
        testing::ChildProcess::Spawn({CAMSIM_PATH, "--state", dir_.File("camera"), "--socket",
                                      Socket(), "--serial", kSerial, "--model", "BWC-4"},
                                     dir_.File(absl::StrCat("camsim-", ++runs_, ".log")));
    EXPECT_THAT(child, IsOk());
    return child.ok() ? *std::move(child) : nullptr;
  }

  std::string Socket() { return dir_.File("slot1.sock"); }

  // Waits for the camera to say it serves (a killed run leaves its socket file behind, so the
  // file is no sign), then identifies it.
  absl::StatusOr<agent::CameraIdentity> IdentifyWhenUp(testing::ChildProcess& child) {
    absl::StatusOr<std::string> line =
        testing::WaitForFileLine(child.log_path(), absl::Seconds(20), &child);
    if (!line.ok()) return line.status();
    if (!absl::StrContains(*line, "serving on")) {
      return absl::InternalError(absl::StrCat("camsim did not start: ", child.LogTail()));
    }
    return agent::NewGrpcCameraLink(Socket())->Identify();
  }

  int runs_ = 0;
};

TEST_F(CamsimBinaryTest, RestartedCamsimKeepsItsKeyAndCertificate) {
  std::unique_ptr<testing::ChildProcess> child = Spawn();
  ASSERT_NE(child, nullptr);
  ASSERT_THAT(IdentifyWhenUp(*child), IsOk());
  std::unique_ptr<agent::CameraLink> link = agent::NewGrpcCameraLink(Socket());
  absl::StatusOr<std::string> csr = link->CreateCsr();
  ASSERT_THAT(csr, IsOk());
  const std::string cert = Issue(*csr, kSerial);
  ASSERT_THAT(link->InstallCertificate(cert, ca_->CertificatePem()), IsOk());
  const std::string fingerprint = KeyFingerprintOnDisk();

  // Killed, not stopped: a battery pulled.
  ASSERT_THAT(child->Kill(), IsOk());
  child = Spawn();
  ASSERT_NE(child, nullptr);
  absl::StatusOr<agent::CameraIdentity> id = IdentifyWhenUp(*child);
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->certificate_pem, cert);
  EXPECT_EQ(KeyFingerprintOnDisk(), fingerprint);
}

TEST_F(CamsimBinaryTest, KilledCamsimNeverRepeatsAHealthSequenceNumber) {
  std::unique_ptr<testing::ChildProcess> child = Spawn();
  ASSERT_NE(child, nullptr);
  ASSERT_THAT(IdentifyWhenUp(*child), IsOk());
  for (uint64_t want = 1; want <= 2; ++want) {
    absl::StatusOr<agent::HealthSnapshot> h = agent::NewGrpcCameraLink(Socket())->ReadHealth();
    ASSERT_THAT(h, IsOk());
    EXPECT_EQ(h->sequence, want);
  }
  ASSERT_THAT(child->Kill(), IsOk());  // the battery pulled right after the answer
  child = Spawn();
  ASSERT_NE(child, nullptr);
  ASSERT_THAT(IdentifyWhenUp(*child), IsOk());
  absl::StatusOr<agent::HealthSnapshot> h = agent::NewGrpcCameraLink(Socket())->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->sequence, 3u);
}

TEST_F(CamsimBinaryTest, ControlSocketTakesTheCameraOutAndPutsItIntoAnotherSlot) {
  std::unique_ptr<testing::ChildProcess> child = Spawn();
  ASSERT_NE(child, nullptr);
  ASSERT_THAT(IdentifyWhenUp(*child), IsOk());
  // One command, answered before it exits: no waiting for the camera to notice.
  auto ctl = [&](std::vector<std::string> args) -> int {
    args.insert(args.begin(), {CAMSIM_PATH, "ctl", "--state", dir_.File("camera")});
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> c =
        testing::ChildProcess::Spawn(args, dir_.File(absl::StrCat("ctl-", ++runs_, ".log")));
    EXPECT_THAT(c, IsOk());
    if (!c.ok()) return -1;
    absl::StatusOr<int> status = (*c)->Wait(absl::Seconds(20));
    EXPECT_THAT(status, IsOk());
    return status.ok() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  ASSERT_EQ(ctl({"out"}), 0);
  EXPECT_THAT(agent::NewGrpcCameraLink(Socket())->Identify(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ctl({"out"}), 1);  // already out
  ASSERT_EQ(ctl({"in", dir_.File("dock2-slot3.sock")}), 0);
  absl::StatusOr<agent::HealthSnapshot> h =
      agent::NewGrpcCameraLink(dir_.File("dock2-slot3.sock"))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  ASSERT_EQ(ctl({"wear", "70"}), 0);
  ASSERT_EQ(ctl({"drop-link", "1"}), 0);
  EXPECT_THAT(agent::NewGrpcCameraLink(dir_.File("dock2-slot3.sock"))->ReadHealth(),
              StatusIs(absl::StatusCode::kUnavailable));
  h = agent::NewGrpcCameraLink(dir_.File("dock2-slot3.sock"))->ReadHealth();
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->full_charge_capacity_mah, 2380u);
  EXPECT_EQ(h->sequence, 3u);
  EXPECT_EQ(ctl({"status"}), 0);
  EXPECT_EQ(ctl({"fly"}), 2);
}

TEST_F(CamsimBinaryTest, CamsimStopsCleanlyOnSigterm) {
  std::unique_ptr<testing::ChildProcess> child = Spawn();
  ASSERT_NE(child, nullptr);
  ASSERT_THAT(IdentifyWhenUp(*child), IsOk());
  ASSERT_THAT(child->Signal(SIGTERM), IsOk());
  absl::StatusOr<int> status = child->Wait(absl::Seconds(20));
  ASSERT_THAT(status, IsOk());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << child->LogTail();
}

}  // namespace
}  // namespace camfleet::camsim
