#pragma once
// What a dock keeps in its directory (--dir). Later parts (the outbox, the firmware cache) add
// their own entries here.
//
//   DIR/credentials/   the dock's credential bundle (provisioning/credential_bundle.h)
//   DIR/crl/           the newest fleet CRLs the dock holds (agent/crl_store.h)
//   DIR/clock-offset   the dock clock's measured offset to server time (agent/clock_offset.h)
//   DIR/enrollment/    while `camfleet-dock enroll` has not finished: the key and CSR it sent,
//                      so a run after a lost answer finishes the same enrollment
//                      (agent/dock_enrollment.h)
//   DIR/firmware/      trusted firmware keys, verified releases and downloads in progress
//                      (agent/firmware_cache.h)
//   DIR/renewal-key.pem  while a renewal of the dock's certificate has not finished: the new
//                      key it asks a certificate for, so a pass after a lost answer asks for
//                      the same key (a recovery renewal, which happens once, then gets the
//                      certificate already issued back: agent/certificate_keeper.h)

#include <string>

#include "provisioning/file_io.h"

namespace camfleet::agent {

struct DockPaths {
  std::string dir;

  std::string Credentials() const { return provisioning::JoinPath(dir, "credentials"); }
  std::string Crl() const { return provisioning::JoinPath(dir, "crl"); }
  std::string ClockOffset() const { return provisioning::JoinPath(dir, "clock-offset"); }
  std::string PendingEnrollment() const { return provisioning::JoinPath(dir, "enrollment"); }
  std::string Firmware() const { return provisioning::JoinPath(dir, "firmware"); }
  std::string RenewalKey() const { return provisioning::JoinPath(dir, "renewal-key.pem"); }
};

}  // namespace camfleet::agent
