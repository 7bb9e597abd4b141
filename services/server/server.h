#pragma once
// camfleetd's wiring: the store, the services and the gRPC server with health checking and
// reflection. Used by main.cc and, unchanged, by the tests' TestServer.

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "provisioning/audit_checkpoint.h"
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
#include "services/rollout/rollout_handler.h"
#include "services/rollout/rollout_manager.h"
#include "services/reports/report_handler.h"
#include "services/reports/report_manager.h"
#include "services/rpc/identity.h"
#include "services/rpc/message_limits.h"
#include "services/rpc/page_token.h"
#include "services/server/server_metrics.h"
#include "services/server/backup.h"
#include "services/server/server_certificate.h"
#include "services/storage/store.h"
#include "services/web/web_access.h"
#include "services/web/web_handler.h"
#include "services/web/web_server.h"

namespace camfleet::server {

// What gRPC may spend on callers before any of them is authenticated (rpc/message_limits.h).
struct ServerLimits {
  // All connections' buffers together (grpc::ResourceQuota).
  size_t memory_bytes = size_t{512} << 20;
  // Calls open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client
  // past it waits for one to finish.
  int max_streams_per_connection = rpc::kMaxStreamsPerConnection;
};

struct ServerOptions {
  // The home made by `camfleetd init` (home.h): CA, server credentials and, unless db_path is
  // given, the store. Required unless insecure_dev is set.
  std::string home;
  // The store; defaults to HOME/fleet.db.
  std::string db_path;
  // The firmware content store (images, deltas); defaults to HOME/firmware, or without a home
  // to "firmware" beside db_path.
  std::string firmware_dir;
  // How often the firmware content store is collected (withdrawn releases' images, stale
  // deltas; FirmwareManager::CollectGarbage).
  firmware_service::FirmwareOptions firmware{};
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
  // Big manifest imports: rows per write, jobs at once.
  fleet::ManifestImportOptions manifest_imports{};
  // Where to serve Prometheus metrics over plain HTTP (GET /metrics), e.g. "127.0.0.1:9464";
  // port 0 picks a free one (Server::metrics_port()). Empty: no metrics at all, and calls pay
  // nothing for them. The metrics name methods, status codes, dock ids and counts, nothing
  // about cameras or people; anyone who can reach the address can read them.
  std::string metrics_listen;
  // The dock sync stream's bounds and intervals.
  dock::DockSyncOptions sync;
  // How long raw health readings are kept, and how often they are thinned.
  monitoring::HealthRetentionOptions retention{};
  // How often rollouts look for silent cameras and cameras that came to match.
  rollout::RolloutOptions rollouts{};
  // Where the audit checkpoint key lives (made there on first start if missing) and the
  // latest checkpoint is kept: HOME/audit, or without a home "audit" beside db_path.
  std::string audit_dir{};
  // How often the server signs a checkpoint of the audit chain into
  // AUDIT_DIR/latest-checkpoint.json (also at shutdown); zero: only at shutdown.
  absl::Duration checkpoint_interval = absl::Minutes(10);
  // When camfleetd renews its own serving certificate and how soon gRPC serves the new one
  // (server_certificate.h).
  ServerCertificateOptions server_certificate{};
  ServerLimits limits{};
  // The web page's HTTPS address ("0.0.0.0:7444", "127.0.0.1:0"); empty: no web page. It uses
  // the server's certificate, so it needs the mutual-TLS mode (a home).
  std::string web_listen;
  // Where browsers reach the web page, for sign-in links; empty: made from web_listen.
  std::string web_public_url;
  web::WebAccessOptions web_access{};
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
  // The web page's port and address (0 and "" without a web page).
  int web_port() const { return web_ != nullptr ? web_->port() : 0; }
  std::string web_url() const { return web_ != nullptr ? web_->public_url() : ""; }
  storage::Store& store() { return *store_; }
  firmware_service::FirmwareManager& firmware() { return *firmware_; }
  // The metrics, or null without ServerOptions::metrics_listen. Parts built later add their
  // metrics here (rollouts: metrics()->SetRolloutProgressSource).
  ServerMetrics* metrics() { return metrics_.get(); }
  // The port /metrics is served on, or 0.
  int metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }
  rollout::RolloutManager& rollouts() { return *rollouts_; }
  // Where the checkpoint key and the latest checkpoint are.
  const std::string& audit_dir() const { return audit_dir_; }
  const provisioning::CheckpointSigner& checkpoint_signer() const { return *checkpoint_signer_; }
  // Reports and stock checks, for callers in the same process (the web page).
  reports::ReportManager& reports() { return *reports_; }

 private:
  Server() = default;
  // Signs the chain's head into AUDIT_DIR/latest-checkpoint.json; logs a failure.
  void KeepLatestCheckpoint();
  void CheckpointLoop(absl::Duration interval);

  std::unique_ptr<common::RealClock> real_clock_;
  // Before the store: the store's writer feeds its histograms until it stops.
  std::unique_ptr<ServerMetrics> metrics_;
  // Held while serving: `camfleetd restore` refuses to replace the database meanwhile.
  std::unique_ptr<DatabaseLock> lock_;
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
  std::unique_ptr<reports::ReportManager> reports_;
  std::unique_ptr<reports::ReportHandler> report_handler_;
  std::unique_ptr<firmware_service::FirmwareManager> firmware_;
  std::unique_ptr<firmware_service::FirmwareHandler> firmware_handler_;
  std::unique_ptr<rollout::RolloutManager> rollouts_;
  std::unique_ptr<rollout::RolloutHandler> rollout_handler_;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> certificate_provider_;
  std::unique_ptr<ServerCertificateRenewer> certificate_renewer_;
  std::unique_ptr<web::WebAccess> web_access_;
  std::unique_ptr<web::WebServer> web_;
  std::unique_ptr<web::WebHandler> web_handler_;
  std::unique_ptr<grpc::Server> grpc_;
  std::string audit_dir_;
  std::unique_ptr<provisioning::CheckpointSigner> checkpoint_signer_;
  std::thread checkpointer_;
  absl::Mutex checkpointer_mu_;
  bool checkpointer_stop_ ABSL_GUARDED_BY(checkpointer_mu_) = false;
  int port_ = 0;
  std::string target_;
  bool shut_down_ = false;
};

// True for "unix:PATH" and for a HOST:PORT resolving only to loopback (services/rpc/loopback.h).
bool IsLocalAddress(const std::string& address);

// Process-wide settings camfleetd makes before it serves. The benchmarks call it as well, so
// they measure the server as it runs; the tests do not (see server.cc).
void PrepareServingProcess();

}  // namespace camfleet::server
