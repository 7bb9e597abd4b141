#include "tests/testing/test_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace camfleet::testing {

std::unique_ptr<grpc::ClientContext> NewClientContext(const std::string& operator_name,
                                                      absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!operator_name.empty()) ctx->AddMetadata(rpc::kOperatorMetadata, operator_name);
  return ctx;
}

std::shared_ptr<grpc::Channel> NewDedicatedChannel(const std::string& target) {
  grpc::ChannelArguments args;
  // Without this, channels with equal arguments share one subchannel and so one connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

TestServer::TestServer(TestServerOptions options)
    : options_(std::move(options)), db_path_(dir_.File("fleet.db")) {}

TestServer::~TestServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(TestServerOptions options) {
  std::unique_ptr<TestServer> server(new TestServer(std::move(options)));
  if (absl::Status s = server->StartServer(); !s.ok()) return s;
  return server;
}

absl::Status TestServer::StartServer() {
  server::ServerOptions options;
  options.db_path = db_path_;
  options.listen = {"127.0.0.1:0"};
  // Plaintext on loopback, callers named by the operator header: the tests of the fleet and
  // audit APIs are not about authentication.
  options.insecure_dev = true;
  options.dev_operator = options_.dev_operator;
  options.clock = options_.clock;
  options.store = options_.store;
  options.manifest_imports = options_.manifest_imports;
  absl::StatusOr<std::unique_ptr<server::Server>> started = server::Server::Start(options);
  if (!started.ok()) return started.status();
  server_ = *std::move(started);
  target_ = server_->target();
  channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  fleet_ = v1::FleetService::NewStub(channel_);
  audit_ = v1::AuditService::NewStub(channel_);
  return absl::OkStatus();
}

void TestServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(grace);
  server_.reset();
}

absl::Status TestServer::Restart() {
  Shutdown();
  return StartServer();
}

}  // namespace camfleet::testing
