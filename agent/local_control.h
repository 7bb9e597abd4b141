#pragma once
// The running agent's local control socket (proto/camfleet/dockctl/v1/dock_local.proto):
// `camfleet-dock checkout` and `camfleet-dock status` talk to the agent through it.
//
// DIR/control.sock, a unix socket: only processes that can reach the dock directory (0700, the
// dock's user) can connect, which is the whole access control; nothing on it is secret, and it
// is never a network port. The server is thin: it validates, calls the desk or the status
// function and maps the status (gRPC callback API). A check-out is one outbox append (one
// fsync, milliseconds) and runs on the callback thread: check-outs come at human pace.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/checkout_desk.h"
#include "camfleet/dockctl/v1/dock_local.pb.h"

namespace camfleet::agent {

struct LocalControlHandlers {
  std::function<absl::StatusOr<CheckoutResult>(const std::string& badge)> checkout;
  std::function<absl::StatusOr<dockctl::v1::GetStatusResponse>()> status;
  std::function<absl::StatusOr<dockctl::v1::CheckStockResponse>()> check_stock;
};

class LocalControlServer {
 public:
  // Listens on `socket_path` (a stale socket file is replaced; the file is made 0600).
  // Errors: FAILED_PRECONDITION if the path exists and is not a socket; UNAVAILABLE if gRPC
  // cannot listen there.
  static absl::StatusOr<std::unique_ptr<LocalControlServer>> Start(const std::string& socket_path,
                                                                   LocalControlHandlers handlers);
  // Stops serving (in-flight calls get a second) and removes the socket file.
  ~LocalControlServer();
  LocalControlServer(const LocalControlServer&) = delete;
  LocalControlServer& operator=(const LocalControlServer&) = delete;

 private:
  class Service;
  LocalControlServer() = default;

  std::string socket_path_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

// Clients, each one call with `deadline`. Errors: the agent's answer; UNAVAILABLE when no agent
// listens on `socket_path` (the message says to start `camfleet-dock run`).
absl::StatusOr<dockctl::v1::CheckoutResponse> CallCheckout(
    const std::string& socket_path, const std::string& badge,
    absl::Duration deadline = absl::Seconds(10));
absl::StatusOr<dockctl::v1::GetStatusResponse> CallStatus(
    const std::string& socket_path, absl::Duration deadline = absl::Seconds(10));
absl::StatusOr<dockctl::v1::CheckStockResponse> CallCheckStock(
    const std::string& socket_path, absl::Duration deadline = absl::Seconds(10));

}  // namespace camfleet::agent
