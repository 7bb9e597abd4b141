#pragma once
// The one narrow interface between the dock agent and the camera in a slot (DESIGN.md, "Dock
// agent"). On real hardware it is USB; here camfleet-camsim serves it over a unix socket per
// slot (GrpcCameraLink). Only what certificates need exists so far; read health, stage
// firmware, activate, confirm and roll back are to come here, not beside it.
//
// The camera holds its own private key: the agent asks it for a CSR and hands it the certificate,
// and never sees the key.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace camfleet::agent {

// What a camera says it is.
struct CameraIdentity {
  std::string serial;
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  // The certificate it holds, PEM; empty if it has none.
  std::string certificate_pem;
  // The camera's own clock.
  absl::Time device_time;
};

// One camera in one slot. Calls are blocking and bounded by a deadline the implementation
// chooses. Errors from every method: UNAVAILABLE when no camera answers (empty slot, camera
// rebooting, cable pulled), DEADLINE_EXCEEDED when it answers too slowly, INTERNAL for a camera
// that failed to do it.
class CameraLink {
 public:
  virtual ~CameraLink() = default;

  virtual absl::StatusOr<CameraIdentity> Identify() = 0;

  // Returns a CSR, PEM, with subject CN = the serial, for the camera's pending key pair, which
  // the camera makes if it has none. Until a certificate for that key is installed, every call
  // returns a CSR for the same key, so an enrollment or renewal whose answer was lost (or whose
  // install failed) is retried with the key the server already certified. The camera keeps
  // using its current key until InstallCertificate.
  virtual absl::StatusOr<std::string> CreateCsr() = 0;

  // Gives the camera a certificate for its pending (or current) key and the fleet CA; the camera
  // checks both and stores them. INVALID_ARGUMENT or FAILED_PRECONDITION, with the camera's
  // reason, if it refuses.
  virtual absl::Status InstallCertificate(const std::string& certificate_pem,
                                          const std::string& ca_certificate_pem) = 0;
};

}  // namespace camfleet::agent
