#pragma once
// Keeps the dock's own certificate and its cameras' certificates current (issue 3: renew before
// two thirds of the validity have passed; after an outage past expiry, renew within the grace).
//
// One pass:
//  1. the dock's own certificate: renewed when DecideRenewal says so (a new key made here, the
//     bundle replaced atomically); past the grace it still asks, so the server's refusal is what
//     gets reported;
//  2. each slot: identify the camera; a camera without a fleet certificate (or one expired past
//     its grace) enrolls: it makes a key and CSR, the dock relays it (EnrollCamera), the camera
//     installs the certificate; a camera whose certificate is due renews the same way
//     (RenewCameraCertificate). An empty slot is not an error; one slot's failure does not stop
//     the others.
// Between 1 and 2, the fleet CRL: fetched (ProvisioningService.GetCrl), checked against the
// fleet CA and kept on disk (crl_store.h); with the server unreachable, the last one kept is
// used. A camera whose certificate is on it is refused: not renewed, not enrolled, reported
// (kCameraRefused) for a person to take it out of service.
// Calls to the server are retried with backoff and jitter while UNAVAILABLE.
//
// Not thread-safe: one pass at a time.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/camera_link.h"
#include "agent/dock_paths.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "common/clock.h"

namespace camfleet::agent {

// What one step of a pass did, for one line of output.
struct Action {
  enum class Kind {
    kDockRenewed,
    kDockUpToDate,
    kDockFailed,  // could not load, renew or store the dock's own credentials
    kSlotEmpty,
    kCameraEnrolled,
    kCameraRenewed,
    kCameraUpToDate,
    kCameraFailed,
    // The camera's certificate is on the fleet CRL (lost, retired, compromised): nothing was
    // done for it. Not a failure: refusing it is the dock doing its job; the line is the alert.
    kCameraRefused,
    kCrlUpdated,    // a newer CRL was fetched, verified and stored
    kCrlUnchanged,  // the server's CRL is the one held
    kCrlFailed,     // no CRL fetched (or one refused); the one held, if any, stays in force
  };
  Kind kind = Kind::kDockUpToDate;
  // 0 for the dock itself.
  int slot = 0;
  // The dock id or the camera serial; empty when not known.
  std::string subject;
  // OK unless the step failed; then the error, the server's code kept.
  absl::Status status;
  // What happened, for a person: "renewed: certificate 3f2a valid until ...".
  std::string message;

  bool failed() const { return !status.ok(); }
};

// "dock post-1-dock-1: renewed: ..." or "slot 2 CAM-0001: FAILED: ...".
std::string FormatAction(const Action& action);

struct PassReport {
  std::vector<Action> actions;
  bool ok() const;
};

struct CameraSlot {
  int number = 0;
  CameraLink* link = nullptr;  // not owned
};

struct KeeperOptions {
  DockPaths paths;
  ServerEndpoint endpoint;
  RetryPolicy retry;
  // Decides what is due, and what the certificates are checked against. Not owned.
  const common::Clock* clock = nullptr;
};

class CertificateKeeper {
 public:
  explicit CertificateKeeper(KeeperOptions options);

  PassReport RunPass(const std::vector<CameraSlot>& slots);

 private:
  struct Session;
  Action KeepDockCertificate(Session& session);
  Action KeepCrl(Session& session);
  Action KeepCameraCertificate(Session& session, const CameraSlot& slot);

  KeeperOptions options_;
};

}  // namespace camfleet::agent
