#pragma once
// First contact: a new dock enrolls with the one-time token an admin made for its site. The key
// is made here and never leaves the dock; the server gets a CSR and returns the certificate.
//
// Retrying after a lost answer: the key and CSR are written to DIR/enrollment/ (key 0600; the
// directory appears complete or not at all, even across a crash) before the token is sent. If
// the answer never arrives (link down, dock restarted), running enroll again with the same
// token sends the same CSR, and the server answers with the certificate it already issued for
// that token and key. Once the credentials are stored, DIR/enrollment/ is removed.
//
// Time: the answer carries the server's time; the dock's offset to it is measured, kept in
// DIR/clock-offset (clock_offset.h) and used to check the certificate, so a dock whose clock is
// behind (more than the 5 minutes certificates are backdated) still stores what it was issued.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/clock_offset.h"
#include "agent/dock_paths.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "common/clock.h"
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
  // True if this run finished an enrollment an earlier run started (same key and CSR).
  bool resumed = false;
  // The dock clock's offset to server time measured from the answer, if the server sent its
  // time.
  std::optional<ClockOffsetSample> clock;
};

// Enrolls and writes the credential bundle to paths.Credentials(). `clock` is the dock's own.
// Errors: INVALID_ARGUMENT for a malformed dock id or CA; ALREADY_EXISTS if the directory already
// holds credentials (checked before the token is spent); FAILED_PRECONDITION if DIR/enrollment
// holds an enrollment started for another dock id (or a damaged one: the message says what to
// remove); the server's errors (PERMISSION_DENIED for a token that is unknown, expired, or used
// by another key; ALREADY_EXISTS for an enrolled dock id; UNAVAILABLE after the retries);
// INTERNAL if the server returns a certificate that is not for our key or not from the CA; the
// writers' errors.
absl::StatusOr<EnrolledDock> EnrollDock(const ServerEndpoint& endpoint,
                                        const DockEnrollmentRequest& request,
                                        const DockPaths& paths, const RetryPolicy& retry,
                                        const common::Clock& clock);

}  // namespace camfleet::agent
