#pragma once
// The real camfleetd wiring (server::Server::Start) on 127.0.0.1:0 over a real SQLite file in a
// temp dir, with client stubs dialled to it. Tests talk to it exactly as the CLI would: over
// the loopback socket, through the generated stubs.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "common/clock.h"
#include "services/server/server.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {

// The operator name tests act as unless they say otherwise.
inline constexpr char kTestOperator[] = "test-operator";
// Every client call a test makes gets this deadline.
inline constexpr absl::Duration kCallDeadline = absl::Seconds(5);

// A context with a deadline `deadline` from now and the `camfleet-operator` header set to
// `operator_name` (the header is left out when the name is empty, so the server's
// --dev-operator applies). ClientContext can be neither copied nor moved, hence the pointer.
std::unique_ptr<grpc::ClientContext> NewClientContext(
    const std::string& operator_name = kTestOperator, absl::Duration deadline = kCallDeadline);

// A channel to `target` that opens its own connection instead of sharing one with other
// channels to the same address, so concurrent clients really are separate connections.
std::shared_ptr<grpc::Channel> NewDedicatedChannel(const std::string& target);

struct TestServerOptions {
  // Time for the server; null for the real clock. Must outlive the TestServer.
  const common::Clock* clock = nullptr;
  // Recorded for calls without the operator header.
  std::string dev_operator = "dev";
  // The store's options (a test may put a failing disk in sync_wal).
  storage::StoreOptions store{};
  // Big manifest imports (a test makes the chunks small).
  fleet::ManifestImportOptions manifest_imports{};
};

class TestServer {
 public:
  // Starts the server on a fresh database. Errors: whatever server::Server::Start returns.
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(TestServerOptions options = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Shuts the server down (in-flight calls finish, the store drains), then starts it again on
  // the same database file. The port changes; the stubs are re-dialled.
  absl::Status Restart();
  // Shuts the server down; the stubs then fail with UNAVAILABLE. Restart() brings it back.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  const std::string& target() const { return target_; }
  const std::string& db_path() const { return db_path_; }
  const TempDir& dir() const { return dir_; }
  // The live server; only valid between Start/Restart and Shutdown.
  server::Server& server() { return *server_; }

  v1::FleetService::Stub& fleet() { return *fleet_; }
  v1::AuditService::Stub& audit() { return *audit_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // NewClientContext with this server's usual deadline.
  static std::unique_ptr<grpc::ClientContext> Context(
      const std::string& operator_name = kTestOperator) {
    return NewClientContext(operator_name);
  }

 private:
  explicit TestServer(TestServerOptions options);
  absl::Status StartServer();

  TestServerOptions options_;
  TempDir dir_;
  std::string db_path_;
  std::unique_ptr<server::Server> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
};

}  // namespace camfleet::testing
