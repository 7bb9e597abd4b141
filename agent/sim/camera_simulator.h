#pragma once
// A body-worn camera as the dock sees it, for running the agent without hardware. It behaves as
// the real device does where the agent can tell: it makes its own key pair and never gives the
// key out, checks a certificate before taking it, and keeps everything on disk so that a
// restart (a reboot, a battery swap) keeps its identity.
//
// State directory (mode 0700):
//   DIR/camera.state      serial, model, hardware revision, firmware version (key=value lines)
//   DIR/key.pem, cert.pem, ca.pem   its key (0600), certificate and fleet CA: a credential bundle
//                         (provisioning/credential_bundle.h), so key and certificate change
//                         together even if the camera loses power mid-install
//   DIR/pending-key.pem   a key made by CreateCsr and not yet certified (0600)
//
// Faults (DESIGN.md lists the rest, to come): a clock skewed by a fixed offset.
//
// Thread-safe; calls are served one at a time, as by the camera's single CPU.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "provisioning/key.h"

namespace camfleet::camsim {

struct CameraSimulatorOptions {
  std::string state_dir;
  // Burned in at the factory: on a restart they must match what the state directory holds.
  std::string serial;
  std::string model;
  std::string hardware_revision = "A";
  // The running firmware; taken from the state directory when it holds one.
  std::string firmware_version = "1.0.0";
  // Real time when null. Not owned.
  const common::Clock* clock = nullptr;
  // Fault: the camera's clock runs this far ahead (negative: behind).
  absl::Duration clock_skew = absl::ZeroDuration();
};

struct CameraIdentity {
  std::string serial;
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  std::string certificate_pem;  // empty without one
  absl::Time device_time;
};

class CameraSimulator {
 public:
  // Opens (creating if new) the state directory.
  // Errors: INVALID_ARGUMENT for a malformed serial or an empty model; FAILED_PRECONDITION if the
  // directory holds another camera (serial or model differ) or is damaged; I/O errors naming the
  // path.
  static absl::StatusOr<std::unique_ptr<CameraSimulator>> Open(CameraSimulatorOptions options);

  CameraIdentity Identify() const;

  // Returns a CSR with CN = serial for the pending key, making one (durably) if there is none:
  // until a certificate for it is installed, every call asks for the same key.
  // INTERNAL if the key cannot be made or stored.
  absl::StatusOr<std::string> CreateCsr();

  // Checks `cert_pem` (parses; a camera certificate for this serial; for the pending or current
  // key; chains to `ca_pem` at the camera's time) and stores it with its key and the CA, making
  // a pending key current. Returns the certificate's serial (hex).
  // Errors: INVALID_ARGUMENT saying which check failed; FAILED_PRECONDITION if the camera has no
  // key at all; I/O errors (the previous certificate stays then).
  absl::StatusOr<std::string> InstallCertificate(const std::string& cert_pem,
                                                 const std::string& ca_pem);

  // The camera's clock (skew included).
  absl::Time DeviceNow() const;

 private:
  explicit CameraSimulator(CameraSimulatorOptions options) : options_(std::move(options)) {}
  absl::Status Load();

  const CameraSimulatorOptions options_;
  common::RealClock real_clock_;
  mutable absl::Mutex mu_;
  std::optional<provisioning::PrivateKey> key_ ABSL_GUARDED_BY(mu_);
  std::optional<provisioning::PrivateKey> pending_key_ ABSL_GUARDED_BY(mu_);
  std::string cert_pem_ ABSL_GUARDED_BY(mu_);
  std::string firmware_version_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::camsim
