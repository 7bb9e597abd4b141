#pragma once
// The control plane's home directory, made once by `camfleetd init`:
//
//   HOME/ca/ca.key, ca.crt          the fleet CA (key mode 0600; never leaves this machine)
//   HOME/server/{key,cert,ca}.pem   camfleetd's own TLS credentials
//   HOME/fleet.db                   the store
//   HOME/firmware/                  firmware images and deltas, content-addressed (public
//                                   signing keys are in the store; private ones never here)
//   HOME/admin-NAME/{key,cert,ca}.pem  the first admin's credentials: move them to the admin's
//                                   machine and delete them here
//
// Init refuses to touch a home that already holds a CA.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace camfleet::server {

struct HomePaths {
  std::string home;
  std::string CaDir() const { return home + "/ca"; }
  std::string ServerCredentials() const { return home + "/server"; }
  std::string Database() const { return home + "/fleet.db"; }
  std::string Firmware() const { return home + "/firmware"; }
  std::string AdminCredentials(const std::string& admin) const {
    return home + "/admin-" + admin;
  }
};

struct InitOptions {
  std::string home;
  std::string admin_name = "admin";
  // Names and addresses the server certificate is valid for (clients check them).
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  absl::Time now = absl::InfinitePast();  // InfinitePast means absl::Now()
};

// Makes the CA, the server's credentials, the store and the first admin's credentials, and
// records both certificates and the admin operator in the store's audit trail.
// Errors: ALREADY_EXISTS if HOME already has a CA; INVALID_ARGUMENT for a bad admin name or
// server name; I/O and OpenSSL errors naming the path.
absl::Status InitHome(const InitOptions& options);

}  // namespace camfleet::server
