#include "services/server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.pb.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/digest.h"
#include "services/server/home.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::server {
namespace {

constexpr char kPageTokenKeySetting[] = "page_token_key";
constexpr int kMaxMessageBytes = 16 << 20;  // room for an 8 MiB manifest

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

bool IsLocalAddress(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) return true;
  return absl::StartsWith(address, "127.") || absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:");
}

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
      if (!IsLocalAddress(address)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "listen address '", address,
            "' is not loopback or a unix socket; without TLS camfleetd listens only on "
            "127.0.0.1, localhost, [::1] or unix:PATH"));
      }
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
  ASSIGN_OR_RETURN(server->store_, storage::Store::Open(db_path, *clock, options.store));
  ASSIGN_OR_RETURN(std::string key, PageTokenKey(*server->store_));
  server->tokens_ = std::make_unique<rpc::PageTokens>(std::move(key));
  RETURN_IF_ERROR(identity::LoadRevocations(*server->store_, server->revoked_));

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options.insecure_dev) {
    server->auth_ = std::make_unique<rpc::DevAuthenticator>(options.dev_operator);
    credentials = grpc::InsecureServerCredentials();
  } else {
    ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca,
                     provisioning::CertificateAuthority::Load(paths.CaDir()));
    server->ca_ = std::make_unique<provisioning::CertificateAuthority>(std::move(ca));
    ASSIGN_OR_RETURN(provisioning::CredentialBundle own,
                     provisioning::LoadCredentialBundle(paths.ServerCredentials()));
    server->auth_ =
        std::make_unique<rpc::TlsAuthenticator>(server->ca_->Verifier(), server->revoked_, *clock);
    // The handshake asks for a client certificate but leaves checking it to the
    // authenticator, on every call: that gives precise errors (expired, revoked, wrong CA)
    // instead of a failed handshake, lets an expired dock renew within its grace, and lets a
    // new dock reach EnrollDock with only its token. TLS still proves the client holds the
    // key of the certificate it presents.
    grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    tls.pem_root_certs = server->ca_->CertificatePem();
    tls.pem_key_cert_pairs.push_back({own.key_pem, own.cert_pem});
    credentials = grpc::SslServerCredentials(tls);
    server->identity_ = std::make_unique<identity::IdentityManager>(
        *server->store_, *server->ca_, server->revoked_, *server->tokens_);
    server->provisioning_handler_ =
        std::make_unique<identity::ProvisioningHandler>(*server->identity_, *server->auth_);
    ASSIGN_OR_RETURN(std::string generation, storage::EnsureDatabaseGeneration(*server->store_));
    server->sync_ = std::make_unique<dock::DockSyncManager>(
        *server->store_, *server->identity_, server->revoked_, std::move(generation), options.sync);
    server->dock_handler_ =
        std::make_unique<dock::DockHandler>(*server->identity_, *server->sync_, *server->auth_);
  }
  server->fleet_ =
      std::make_unique<fleet::FleetManager>(*server->store_, *server->tokens_, server->revoked_);
  server->fleet_handler_ = std::make_unique<fleet::FleetHandler>(*server->fleet_, *server->auth_);
  server->audit_ = std::make_unique<audit::AuditManager>(*server->store_, *server->tokens_);
  server->audit_handler_ = std::make_unique<audit::AuditHandler>(*server->audit_, *server->auth_);
  server->monitoring_ =
      std::make_unique<monitoring::MonitoringManager>(*server->store_, *server->tokens_);
  server->monitoring_handler_ =
      std::make_unique<monitoring::MonitoringHandler>(*server->monitoring_, *server->auth_);
  server->retention_ =
      std::make_unique<monitoring::HealthRetention>(*server->store_, options.retention);
  server->retention_->Start();

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
  server->firmware_ =
      std::make_unique<firmware_service::FirmwareManager>(*server->store_, std::move(images));
  server->firmware_handler_ =
      std::make_unique<firmware_service::FirmwareHandler>(*server->firmware_, *server->auth_);

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
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterService(server->fleet_handler_.get());
  builder.RegisterService(server->audit_handler_.get());
  builder.RegisterService(server->monitoring_handler_.get());
  builder.RegisterService(server->firmware_handler_.get());
  if (server->provisioning_handler_ != nullptr) {
    builder.RegisterService(server->provisioning_handler_.get());
    builder.RegisterService(server->dock_handler_.get());
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
  server->grpc_->GetHealthCheckService()->SetServingStatus(true);
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
  // A Start that failed half way leaves some parts unset.
  if (grpc_ != nullptr) {
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    // Sync streams never end by themselves: end them now so the grace is not spent waiting.
    if (dock_handler_ != nullptr) dock_handler_->Shutdown();
    // In-flight writes are finished by the store's writer, which is still running here.
    grpc_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  }
  if (retention_ != nullptr) retention_->Stop();
  if (store_ != nullptr) store_->Shutdown();
}

void Server::Wait() {
  if (grpc_ != nullptr) grpc_->Wait();
}

Server::~Server() { Shutdown(); }

}  // namespace camfleet::server
