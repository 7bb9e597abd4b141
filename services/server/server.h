#pragma once
// camfleetd's wiring: the store, the services and the gRPC server with health checking and
// reflection. Used by main.cc and, unchanged, by the tests' TestServer.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "provisioning/certificate_authority.h"
#include "services/audit/audit_handler.h"
#include "services/audit/audit_manager.h"
#include "services/dock/dock_handler.h"
#include "services/dock/dock_sync_manager.h"
#include "services/firmware/firmware_handler.h"
#include "services/firmware/firmware_manager.h"
#include "services/fleet/fleet_handler.h"
#include "services/fleet/fleet_manager.h"
#include "services/identity/identity_handler.h"
#include "services/identity/identity_manager.h"
#include "services/monitoring/health_retention.h"
#include "services/monitoring/monitoring_handler.h"
#include "services/monitoring/monitoring_manager.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::server {

struct ServerOptions {
  // The home made by `camfleetd init` (home.h): CA, server credentials and, unless db_path is
  // given, the store. Required unless insecure_dev is set.
  std::string home;
  // The store; defaults to HOME/fleet.db.
  std::string db_path;
  // The firmware content store (images, deltas); defaults to HOME/firmware, or without a home
  // to "firmware" beside db_path.
  std::string firmware_dir;
  // Where to listen: "0.0.0.0:7443", "127.0.0.1:0", "[::1]:0" or "unix:/path/to.sock".
  // Port 0 picks a free port; see Server::port().
  std::vector<std::string> listen = {"127.0.0.1:7443"};
  // Development only: plaintext, callers not authenticated, allowed only on loopback and unix
  // sockets. Every caller acts as an admin named by its `camfleet-operator` header, or
  // dev_operator.
  bool insecure_dev = false;
  std::string dev_operator = "dev";
  const common::Clock* clock = nullptr;  // defaults to the real clock
  storage::StoreOptions store;
  // The dock sync stream's bounds and intervals.
  dock::DockSyncOptions sync;
  // How long raw health readings are kept, and how often they are thinned.
  monitoring::HealthRetentionOptions retention{};
};

class Server {
 public:
  // Opens the store and starts serving over mutual TLS (or plaintext with insecure_dev).
  // Errors: INVALID_ARGUMENT for a missing home, for a plaintext listen address that is not
  // loopback or a unix socket, or one that cannot be bound; the CA's and the store's errors.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  // Stops taking calls, lets in-flight calls finish (up to `grace`), then drains the store.
  void Shutdown(absl::Duration grace = absl::Seconds(10));
  // Blocks until Shutdown has completed.
  void Wait();

  // The port bound for the first TCP listen address (useful with port 0), or 0.
  int port() const { return port_; }
  // An address a client on this machine can dial, e.g. "127.0.0.1:41234".
  std::string target() const { return target_; }
  storage::Store& store() { return *store_; }
  firmware_service::FirmwareManager& firmware() { return *firmware_; }

 private:
  Server() = default;

  std::unique_ptr<common::RealClock> real_clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<rpc::PageTokens> tokens_;
  std::unique_ptr<provisioning::CertificateAuthority> ca_;
  rpc::RevocationSet revoked_;
  std::unique_ptr<rpc::Authenticator> auth_;
  std::unique_ptr<identity::IdentityManager> identity_;
  std::unique_ptr<identity::ProvisioningHandler> provisioning_handler_;
  std::unique_ptr<dock::DockSyncManager> sync_;
  std::unique_ptr<dock::DockHandler> dock_handler_;
  std::unique_ptr<fleet::FleetManager> fleet_;
  std::unique_ptr<fleet::FleetHandler> fleet_handler_;
  std::unique_ptr<audit::AuditManager> audit_;
  std::unique_ptr<audit::AuditHandler> audit_handler_;
  std::unique_ptr<monitoring::MonitoringManager> monitoring_;
  std::unique_ptr<monitoring::MonitoringHandler> monitoring_handler_;
  std::unique_ptr<monitoring::HealthRetention> retention_;
  std::unique_ptr<firmware_service::FirmwareManager> firmware_;
  std::unique_ptr<firmware_service::FirmwareHandler> firmware_handler_;
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;
  std::string target_;
  bool shut_down_ = false;
};

// True for "unix:..." and for hosts 127.x.x.x, localhost and [::1].
bool IsLocalAddress(const std::string& address);

// Process-wide settings camfleetd makes before it serves. The benchmarks call it as well, so
// they measure the server as it runs; the tests do not (see server.cc).
void PrepareServingProcess();

}  // namespace camfleet::server
