#pragma once
// What a dock keeps in its directory (--dir). Later parts (the outbox, the firmware cache) add
// their own entries here.
//
//   DIR/credentials/   the dock's credential bundle (provisioning/credential_bundle.h)
//   DIR/crl/           the newest fleet CRLs the dock holds (agent/crl_store.h)

#include <string>

#include "provisioning/file_io.h"

namespace camfleet::agent {

struct DockPaths {
  std::string dir;

  std::string Credentials() const { return provisioning::JoinPath(dir, "credentials"); }
  std::string Crl() const { return provisioning::JoinPath(dir, "crl"); }
};

}  // namespace camfleet::agent
