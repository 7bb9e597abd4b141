#include "agent/local_control.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/outbox_item.h"
#include "agent/rpc_status.h"
#include "camfleet/dockctl/v1/dock_local.grpc.pb.h"

namespace camfleet::agent {

class LocalControlServer::Service final : public dockctl::v1::DockLocalService::CallbackService {
 public:
  explicit Service(LocalControlHandlers handlers) : handlers_(std::move(handlers)) {}

  grpc::ServerUnaryReactor* Checkout(grpc::CallbackServerContext* ctx,
                                     const dockctl::v1::CheckoutRequest* request,
                                     dockctl::v1::CheckoutResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<CheckoutResult> result = handlers_.checkout(request->badge());
    if (result.ok()) {
      response->set_slot(static_cast<uint32_t>(result->slot));
      response->set_serial(result->serial);
      response->set_battery_percent(result->battery_percent);
      *response->mutable_due_back_time() = ToTimestamp(result->due_back);
      response->set_outbox_sequence(result->outbox_sequence);
      response->set_holder_name(result->holder_name);
    }
    reactor->Finish(ToGrpc(result.status()));
    return reactor;
  }

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const dockctl::v1::GetStatusRequest* /*request*/,
                                      dockctl::v1::GetStatusResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<dockctl::v1::GetStatusResponse> status = handlers_.status();
    if (status.ok()) *response = *std::move(status);
    reactor->Finish(ToGrpc(status.status()));
    return reactor;
  }

  grpc::ServerUnaryReactor* CheckStock(grpc::CallbackServerContext* ctx,
                                       const dockctl::v1::CheckStockRequest* /*request*/,
                                       dockctl::v1::CheckStockResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<dockctl::v1::CheckStockResponse> check =
        absl::UnimplementedError("this agent does no stock checks");
    if (handlers_.check_stock) check = handlers_.check_stock();
    if (check.ok()) *response = *std::move(check);
    reactor->Finish(ToGrpc(check.status()));
    return reactor;
  }

 private:
  LocalControlHandlers handlers_;
};

absl::StatusOr<std::unique_ptr<LocalControlServer>> LocalControlServer::Start(
    const std::string& socket_path, LocalControlHandlers handlers) {
  struct stat st {};
  if (lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(socket_path, " exists and is not a socket; remove it"));
    }
    unlink(socket_path.c_str());  // a previous run's; a live agent would be a second agent
  }
  std::unique_ptr<LocalControlServer> server(new LocalControlServer());
  server->socket_path_ = socket_path;
  server->service_ = std::make_unique<Service>(std::move(handlers));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", socket_path), grpc::InsecureServerCredentials());
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", socket_path));
  }
  chmod(socket_path.c_str(), 0600);
  return server;
}

LocalControlServer::~LocalControlServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
  }
  unlink(socket_path_.c_str());
}

namespace {

std::unique_ptr<dockctl::v1::DockLocalService::Stub> Connect(const std::string& socket_path) {
  return dockctl::v1::DockLocalService::NewStub(
      grpc::CreateChannel(absl::StrCat("unix:", socket_path), grpc::InsecureChannelCredentials()));
}

absl::Status Explain(const grpc::Status& s, const std::string& socket_path) {
  absl::Status status = FromGrpc(s);
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    return absl::UnavailableError(
        absl::StrCat("no dock agent answers on ", socket_path,
                     " (is `camfleet-dock run` running?): ", status.message()));
  }
  return status;
}

}  // namespace

absl::StatusOr<dockctl::v1::CheckoutResponse> CallCheckout(const std::string& socket_path,
                                                           const std::string& badge,
                                                           absl::Duration deadline) {
  auto stub = Connect(socket_path);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  dockctl::v1::CheckoutRequest request;
  request.set_badge(badge);
  dockctl::v1::CheckoutResponse response;
  grpc::Status s = stub->Checkout(&ctx, request, &response);
  if (!s.ok()) return Explain(s, socket_path);
  return response;
}

absl::StatusOr<dockctl::v1::GetStatusResponse> CallStatus(const std::string& socket_path,
                                                          absl::Duration deadline) {
  auto stub = Connect(socket_path);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  dockctl::v1::GetStatusResponse response;
  grpc::Status s = stub->GetStatus(&ctx, dockctl::v1::GetStatusRequest(), &response);
  if (!s.ok()) return Explain(s, socket_path);
  return response;
}

absl::StatusOr<dockctl::v1::CheckStockResponse> CallCheckStock(const std::string& socket_path,
                                                               absl::Duration deadline) {
  auto stub = Connect(socket_path);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  dockctl::v1::CheckStockResponse response;
  grpc::Status s = stub->CheckStock(&ctx, dockctl::v1::CheckStockRequest(), &response);
  if (!s.ok()) return Explain(s, socket_path);
  return response;
}

}  // namespace camfleet::agent
