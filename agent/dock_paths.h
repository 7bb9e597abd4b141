#pragma once
// What a dock keeps in its directory (--dir). Later parts (the outbox, the firmware cache) add
// their own entries here.
//
//   DIR/credentials/   the dock's credential bundle (provisioning/credential_bundle.h)

#include <string>

#include "provisioning/file_io.h"

namespace camfleet::agent {

struct DockPaths {
  std::string dir;

  std::string Credentials() const { return provisioning::JoinPath(dir, "credentials"); }
};

}  // namespace camfleet::agent
