#include "services/server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.pb.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/digest.h"
#include "services/server/checkpoint_file.h"
#include "services/rpc/message_limits.h"
#include "services/rpc/loopback.h"
#include "services/server/home.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::server {
namespace {

constexpr char kPageTokenKeySetting[] = "page_token_key";
// What camfleetd sends at most (a CRL of every revocation, a page of a list). What it receives is
// bounded per method (rpc/message_limits.h).
constexpr int kMaxSendMessageBytes = 16 << 20;

// The key that seals page tokens; made once per database so tokens survive restarts.
absl::StatusOr<std::string> PageTokenKey(storage::Store& store) {
  std::optional<std::string> key;
  RETURN_IF_ERROR(store.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(key, storage::GetSetting(db, kPageTokenKeySetting));
    return absl::OkStatus();
  }));
  if (key.has_value()) return *key;
  ASSIGN_OR_RETURN(std::string fresh, provisioning::RandomBytes(32));
  RETURN_IF_ERROR(store.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    // Another start may have raced us; keep whichever key is stored first.
    ASSIGN_OR_RETURN(std::optional<std::string> existing,
                     storage::GetSetting(tx.db(), kPageTokenKeySetting));
    if (existing.has_value()) {
      fresh = *existing;
      return absl::OkStatus();
    }
    return storage::PutSetting(tx.db(), kPageTokenKeySetting, fresh);
  }));
  return fresh;
}

}  // namespace

bool IsLocalAddress(const std::string& address) { return rpc::CheckLoopbackAddress(address).ok(); }

void PrepareServingProcess() {
  // Abseil's lock-order (deadlock) detection records a graph edge on every Mutex acquisition:
  // perf put GraphCycles at about 5% of the server's CPU under load, in every gRPC call and on
  // the store's writer. The tests run with it on, which is where it can catch a lock-order
  // bug; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.listen.empty()) {
    return absl::InvalidArgumentError("no listen address; give --listen 127.0.0.1:7443");
  }
  for (const std::string& address : options.listen) {
    if (absl::StartsWith(address, "unix:")) continue;
    int port = -1;
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
        port < 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address '", address, "' needs a port from 0 to 65535, e.g. 127.0.0.1:7443"));
    }
  }
  if (options.insecure_dev) {
    for (const std::string& address : options.listen) {
      // Resolved, not read as text (services/rpc/loopback.h).
      if (absl::Status local = rpc::CheckLoopbackAddress(address); !local.ok()) return local;
    }
    if (!options.web_listen.empty()) {
      return absl::InvalidArgumentError(
          "--web-listen needs the mutual-TLS mode (--home): the web page serves with the "
          "server's certificate and signs operators in by theirs");
    }
  } else if (options.home.empty()) {
    return absl::InvalidArgumentError(
        "no home directory; give --home DIR (made by `camfleetd init DIR`), or --insecure-dev "
        "for a plaintext loopback server");
  }
  const HomePaths paths{options.home};
  std::string db_path = options.db_path;
  if (db_path.empty()) {
    if (options.home.empty()) return absl::InvalidArgumentError("give --db FILE or --home DIR");
    db_path = paths.Database();
  }
  std::unique_ptr<Server> server(new Server());
  const common::Clock* clock = options.clock;
  if (clock == nullptr) {
    server->real_clock_ = std::make_unique<common::RealClock>();
    clock = server->real_clock_.get();
  }
  storage::StoreOptions store_options = options.store;
  if (!options.metrics_listen.empty()) {
    server->metrics_ = std::make_unique<ServerMetrics>();
    store_options.metrics = server->metrics_->ForStore();
  }
  ASSIGN_OR_RETURN(server->lock_, DatabaseLock::Acquire(db_path));
  ASSIGN_OR_RETURN(server->store_, storage::Store::Open(db_path, *clock, store_options));
  server->audit_dir_ = options.audit_dir;
  if (server->audit_dir_.empty()) {
    if (!options.home.empty()) {
      server->audit_dir_ = paths.AuditDir();
    } else {
      const size_t slash = db_path.rfind('/');
      server->audit_dir_ =
          slash == std::string::npos ? "audit" : db_path.substr(0, slash + 1) + "audit";
    }
  }
  {
    bool created = false;
    ASSIGN_OR_RETURN(provisioning::CheckpointSigner signer,
                     provisioning::CheckpointSigner::LoadOrCreate(server->audit_dir_, &created));
    if (created) {
      common::LogWarning("made a new audit checkpoint key ", server->audit_dir_, "/",
                         provisioning::kCheckpointKeyFile, " (id ", signer.key_id(),
                         "); give ", server->audit_dir_, "/",
                         provisioning::kCheckpointPublicKeyFile,
                         " to your auditors to pin, and back the key up off this machine");
    }
    server->checkpoint_signer_ =
        std::make_unique<provisioning::CheckpointSigner>(std::move(signer));
  }
  // Checkpoints name the generation: make it now in every mode, not only when docks sync.
  ASSIGN_OR_RETURN(std::string generation, storage::EnsureDatabaseGeneration(*server->store_));
  ASSIGN_OR_RETURN(std::string key, PageTokenKey(*server->store_));
  server->tokens_ = std::make_unique<rpc::PageTokens>(std::move(key));
  RETURN_IF_ERROR(identity::LoadRevocations(*server->store_, server->revoked_));

  std::string firmware_dir = options.firmware_dir;
  if (firmware_dir.empty()) {
    if (!options.home.empty()) {
      firmware_dir = paths.Firmware();
    } else {
      const size_t slash = db_path.rfind('/');
      firmware_dir =
          slash == std::string::npos ? "firmware" : db_path.substr(0, slash + 1) + "firmware";
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<firmware_service::ImageStore> images,
                   firmware_service::ImageStore::Open(firmware_dir));
  server->firmware_ = std::make_unique<firmware_service::FirmwareManager>(
      *server->store_, std::move(images), *server->tokens_, options.firmware);
  server->firmware_->StartGc();

  std::shared_ptr<grpc::ServerCredentials> credentials;
  bool certificate_fresh = true;
  if (options.insecure_dev) {
    server->auth_ = std::make_unique<rpc::DevAuthenticator>(options.dev_operator);
    credentials = grpc::InsecureServerCredentials();
  } else {
    ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca,
                     provisioning::CertificateAuthority::Load(paths.CaDir()));
    server->ca_ = std::make_unique<provisioning::CertificateAuthority>(std::move(ca));
    // The serving certificate is renewed while the server runs (server_certificate.h); one
    // that fell due while camfleetd was stopped is renewed before the first handshake.
    server->certificate_renewer_ = std::make_unique<ServerCertificateRenewer>(
        *server->ca_, *server->store_, paths.ServerCredentials(), *clock,
        options.server_certificate, [self = server.get()](bool healthy) {
          if (self->grpc_ != nullptr) {
            self->grpc_->GetHealthCheckService()->SetServingStatus(kServerCertificateHealthService,
                                                                   healthy);
          }
        });
    certificate_fresh = server->certificate_renewer_->CheckOnce().ok();
    // Fails here, before serving, on a bundle that does not load.
    RETURN_IF_ERROR(provisioning::LoadCredentialBundle(paths.ServerCredentials()).status());
    server->auth_ =
        std::make_unique<rpc::TlsAuthenticator>(server->ca_->Verifier(), server->revoked_, *clock);
    // gRPC re-reads the bundle (through its `current` symlink) every reload interval and uses
    // a renewed certificate for new handshakes; open connections keep theirs.
    const auto reload_seconds = static_cast<unsigned>(
        std::max<int64_t>(1, absl::ToInt64Seconds(options.server_certificate.reload_interval)));
    const std::string bundle = paths.ServerCredentials();
    server->certificate_provider_ =
        std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
            absl::StrCat(bundle, "/", provisioning::kBundleKeyFile),
            absl::StrCat(bundle, "/", provisioning::kBundleCertFile),
            absl::StrCat(bundle, "/", provisioning::kBundleCaFile), reload_seconds);
    // The handshake asks for a client certificate but leaves checking it to the
    // authenticator, on every call: that gives precise errors (expired, revoked, wrong CA)
    // instead of a failed handshake, lets an expired dock renew within its grace, and lets a
    // new dock reach EnrollDock with only its token. TLS still proves the client holds the
    // key of the certificate it presents.
    grpc::experimental::TlsServerCredentialsOptions tls(server->certificate_provider_);
    tls.watch_identity_key_cert_pairs();
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    credentials = grpc::experimental::TlsServerCredentials(tls);
    server->identity_ = std::make_unique<identity::IdentityManager>(
        *server->store_, *server->ca_, server->revoked_, *server->tokens_);
    server->provisioning_handler_ =
        std::make_unique<identity::ProvisioningHandler>(*server->identity_, *server->auth_);
    server->sync_ = std::make_unique<dock::DockSyncManager>(
        *server->store_, *server->identity_, server->revoked_, std::move(generation), options.sync);
    server->dock_handler_ =
        std::make_unique<dock::DockHandler>(*server->identity_, *server->sync_,
                                            *server->firmware_, *server->auth_);
  }
  server->fleet_ =
      std::make_unique<fleet::FleetManager>(*server->store_, *server->tokens_, server->revoked_,
                                            options.manifest_imports);
  server->fleet_handler_ = std::make_unique<fleet::FleetHandler>(*server->fleet_, *server->auth_);
  server->audit_ = std::make_unique<audit::AuditManager>(*server->store_, *server->tokens_,
                                                         server->checkpoint_signer_.get());
  server->audit_handler_ = std::make_unique<audit::AuditHandler>(*server->audit_, *server->auth_);
  server->monitoring_ =
      std::make_unique<monitoring::MonitoringManager>(*server->store_, *server->tokens_);
  server->monitoring_handler_ =
      std::make_unique<monitoring::MonitoringHandler>(*server->monitoring_, *server->auth_);
  server->reports_ = std::make_unique<reports::ReportManager>(*server->store_, *server->tokens_);
  server->report_handler_ =
      std::make_unique<reports::ReportHandler>(*server->reports_, *server->auth_);
  server->retention_ =
      std::make_unique<monitoring::HealthRetention>(*server->store_, options.retention);
  server->retention_->Start();
  server->firmware_handler_ =
      std::make_unique<firmware_service::FirmwareHandler>(*server->firmware_, *server->auth_);

  server->rollouts_ =
      std::make_unique<rollout::RolloutManager>(*server->store_, *server->tokens_, options.rollouts);
  server->rollout_handler_ =
      std::make_unique<rollout::RolloutHandler>(*server->rollouts_, *server->auth_);
  if (!options.insecure_dev) {
    // The web page, on its own port with the server's certificate; its sign-in links come from
    // WebService over mutual TLS.
    std::string web_url;
    if (!options.web_listen.empty()) {
      server->web_access_ =
          std::make_unique<web::WebAccess>(server->revoked_, *clock, options.web_access);
      web::WebServerOptions web_options{
          .listen = options.web_listen,
          .credentials_dir = paths.ServerCredentials(),
          .public_url = options.web_public_url,
      };
      ASSIGN_OR_RETURN(server->web_,
                       web::WebServer::Start(web_options,
                                             web::WebServices{
                                                 .fleet = *server->fleet_,
                                                 .monitoring = *server->monitoring_,
                                                 .audit = *server->audit_,
                                                 .identity = *server->identity_,
                                                 .reports = *server->reports_,
                                                 .rollouts = *server->rollouts_,
                                                 .access = *server->web_access_,
                                                 .clock = *clock,
                                             }));
      web_url = server->web_->public_url();
    }
    server->web_handler_ = std::make_unique<web::WebHandler>(server->web_access_.get(),
                                                             std::move(web_url), *server->auth_);
  }

  grpc::EnableDefaultHealthCheckService(true);
  // gRPC's health service is not built from protobuf, so reflection cannot describe it unless
  // the schema is in the descriptor pool; touching it here links it in.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<int> ports(options.listen.size(), 0);
  for (size_t i = 0; i < options.listen.size(); ++i) {
    if (options.insecure_dev) {
      common::LogWarning("listening on ", options.listen[i],
                         " WITHOUT TLS (development mode): callers are not authenticated and "
                         "every caller is an admin");
    }
    builder.AddListeningPort(options.listen[i], credentials, &ports[i]);
  }
  if (server->metrics_ != nullptr) {
    std::vector<std::string> services = {
        v1::FleetService::service_full_name(), v1::AuditService::service_full_name(),
        v1::MonitoringService::service_full_name(), v1::FirmwareService::service_full_name(),
        v1::RolloutService::service_full_name(),    v1::WebService::service_full_name(),
        v1::ReportService::service_full_name(),
        "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"};
    if (server->provisioning_handler_ != nullptr) {
      services.push_back(v1::ProvisioningService::service_full_name());
      services.push_back(v1::DockService::service_full_name());
    }
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(server->metrics_->Calls(services).NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  // Nothing heavy before authentication (rpc/message_limits.h): no message over the largest
  // any method takes is read at all, the memory every connection's buffers use comes from one
  // quota (gRPC shrinks buffers and refuses new streams under pressure rather than grow without
  // bound), and one connection cannot open more than a few calls at once.
  builder.SetMaxReceiveMessageSize(rpc::kMaxReceiveMessageBytes);
  builder.SetMaxSendMessageSize(kMaxSendMessageBytes);
  grpc::ResourceQuota quota("camfleetd");
  quota.Resize(options.limits.memory_bytes);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.limits.max_streams_per_connection);
  builder.RegisterService(server->fleet_handler_.get());
  builder.RegisterService(server->audit_handler_.get());
  builder.RegisterService(server->monitoring_handler_.get());
  builder.RegisterService(server->report_handler_.get());
  builder.RegisterService(server->firmware_handler_.get());
  builder.RegisterService(server->rollout_handler_.get());
  if (server->provisioning_handler_ != nullptr) {
    builder.RegisterService(server->provisioning_handler_.get());
    builder.RegisterService(server->dock_handler_.get());
    builder.RegisterService(server->web_handler_.get());
  }
  server->grpc_ = builder.BuildAndStart();
  if (server->grpc_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not listen on ", options.listen.front(),
                     "; is the address in use or the socket directory missing?"));
  }
  for (size_t i = 0; i < options.listen.size(); ++i) {
    const std::string& address = options.listen[i];
    if (absl::StartsWith(address, "unix:")) {
      if (server->target_.empty()) server->target_ = address;
      continue;
    }
    if (ports[i] == 0) {
      return absl::InvalidArgumentError(absl::StrCat("could not bind ", address));
    }
    if (server->port_ == 0) {
      server->port_ = ports[i];
      std::string host = address.substr(0, address.rfind(':'));
      server->target_ = absl::StrCat(host, ":", ports[i]);
    }
  }
  if (server->metrics_ != nullptr) {
    server->metrics_->Watch(*server->store_, server->dock_handler_.get());
    // Rollout progress (camfleet_rollout_cameras): one read per scrape; the metrics stop
    // (Shutdown) before the rollout manager does.
    server->metrics_->SetRolloutProgressSource([rollouts = server->rollouts_.get()] {
      std::vector<RolloutProgressRow> rows;
      absl::StatusOr<std::vector<storage::RolloutWaveStateCount>> progress =
          rollouts->Progress();
      if (!progress.ok()) {
        common::LogWarning("metrics: reading rollout progress: ", progress.status().message());
        return rows;
      }
      rows.reserve(progress->size());
      for (const storage::RolloutWaveStateCount& c : *progress) {
        rows.push_back(RolloutProgressRow{.rollout = absl::StrCat(c.rollout_id),
                                          .wave = absl::StrCat(c.wave),
                                          .state = c.state,
                                          .cameras = c.cameras});
      }
      return rows;
    });
    RETURN_IF_ERROR(server->metrics_->Listen(options.metrics_listen));
    if (!IsLocalAddress(options.metrics_listen)) {
      common::LogWarning("serving /metrics on ", options.metrics_listen,
                         " over plain HTTP to anyone who can reach it (method names, status "
                         "counts, dock ids; nothing about cameras or people)");
    }
  }
  server->checkpointer_ = std::thread(
      [s = server.get(), interval = options.checkpoint_interval] { s->CheckpointLoop(interval); });
  server->grpc_->GetHealthCheckService()->SetServingStatus(true);
  if (server->certificate_renewer_ != nullptr) {
    server->grpc_->GetHealthCheckService()->SetServingStatus(kServerCertificateHealthService,
                                                             certificate_fresh);
    server->certificate_renewer_->Start();
  }
  // A disk that failed an fsync stops the store for good: say so to load balancers and
  // monitoring (grpc.health.v1 NOT_SERVING for every service) and in the log, instead of
  // answering SERVING while refusing every write.
  server->store_->OnFailure([grpc = server->grpc_.get()](const absl::Status& why) {
    common::LogError("camfleetd is NOT_SERVING: ", why.message());
    grpc->GetHealthCheckService()->SetServingStatus(false);
  });
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // Before the health service goes NOT_SERVING below, so the renewer cannot set it back.
  if (certificate_renewer_ != nullptr) certificate_renewer_->Stop();
  // First: a scrape reads the store and the dock handler.
  if (metrics_ != nullptr) metrics_->Stop();
  // A Start that failed half way leaves some parts unset.
  if (grpc_ != nullptr) {
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    // Sync streams never end by themselves: end them now so the grace is not spent waiting.
    if (dock_handler_ != nullptr) dock_handler_->Shutdown();
    // In-flight writes are finished by the store's writer, which is still running here.
    grpc_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  }
  // The web page's requests wait for the store: they finish before it drains.
  if (web_ != nullptr) web_->Shutdown();
  if (retention_ != nullptr) retention_->Stop();
  if (firmware_ != nullptr) firmware_->StopGc();
  if (rollouts_ != nullptr) rollouts_->Shutdown();
  if (checkpointer_.joinable()) {
    {
      absl::MutexLock lock(&checkpointer_mu_);
      checkpointer_stop_ = true;
    }
    checkpointer_.join();
    // Every call has finished: this checkpoint covers everything the server acknowledged.
    KeepLatestCheckpoint();
  }
  if (store_ != nullptr) store_->Shutdown();
  lock_.reset();
}

void Server::KeepLatestCheckpoint() {
  absl::StatusOr<v1::CreateAuditCheckpointResponse> made =
      audit::MakeAuditCheckpoint(*store_, *checkpoint_signer_);
  absl::Status s = made.status();
  if (s.ok()) {
    s = WriteCheckpointFile(audit_dir_ + "/latest-checkpoint.json", made->checkpoint());
  }
  if (!s.ok()) common::LogError("keeping the latest audit checkpoint: ", s.message());
}

void Server::CheckpointLoop(absl::Duration interval) {
  if (interval <= absl::ZeroDuration()) return;
  while (true) {
    {
      absl::MutexLock lock(&checkpointer_mu_);
      checkpointer_mu_.AwaitWithTimeout(absl::Condition(&checkpointer_stop_), interval);
      if (checkpointer_stop_) return;
    }
    KeepLatestCheckpoint();
  }
}

void Server::Wait() {
  if (grpc_ != nullptr) grpc_->Wait();
}

Server::~Server() { Shutdown(); }

}  // namespace camfleet::server
