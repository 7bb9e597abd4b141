#pragma once
// First contact: a new dock enrolls with the one-time token an admin made for its site. The key
// is made here and never leaves the dock; the server gets a CSR and returns the certificate.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/dock_paths.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "provisioning/certificate.h"

namespace camfleet::agent {

struct DockEnrollmentRequest {
  std::string token;  // secret: never log it
  std::string dock_id;
  // The fleet CA certificate, PEM, obtained out of band: the server is trusted only if its
  // certificate chains to it.
  std::string ca_pem;
  int slot_count = 0;
};

struct EnrolledDock {
  provisioning::CertificateInfo certificate;
  std::string site_code;
};

// Enrolls and writes the credential bundle to paths.Credentials().
// Errors: INVALID_ARGUMENT for a malformed dock id or CA; ALREADY_EXISTS if the directory already
// holds credentials (checked before the token is spent); the server's errors (PERMISSION_DENIED
// for a bad token, ALREADY_EXISTS for an enrolled dock id, UNAVAILABLE after the retries);
// INTERNAL if the server returns a certificate that is not for our key or not from the CA; the
// bundle writer's errors.
absl::StatusOr<EnrolledDock> EnrollDock(const ServerEndpoint& endpoint,
                                        const DockEnrollmentRequest& request,
                                        const DockPaths& paths, const RetryPolicy& retry,
                                        absl::Time now);

}  // namespace camfleet::agent
