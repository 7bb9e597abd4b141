#pragma once
// Serves camfleet.sim.v1.CamsimControlService (proto/camfleet/sim/v1/camsim_control.proto) for
// one CameraUnit on a unix socket of its own: how a script takes the camera out, puts it into a
// slot (this dock's or another's) and injects faults, while camfleet-camsim runs.
//
// Why a socket and gRPC rather than signals or a watched file: a command gets an answer (done,
// or why not) before the script goes on, commands cannot be lost or merged as signals can, and
// it is the same stack the camera link uses. The synchronous API on purpose: calls are rare and
// block on starting and stopping the slot's gRPC server, which must not happen on a callback
// reactor thread.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/sim/camera_unit.h"

namespace camfleet::camsim {

class ControlServer {
 public:
  // Listens on the unix socket `socket_path` (replacing a stale socket file). `unit` must
  // outlive the server. Errors: FAILED_PRECONDITION if the path exists and is not a socket;
  // UNAVAILABLE if gRPC cannot listen there.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(CameraUnit& unit,
                                                              const std::string& socket_path);
  // Stops serving and removes the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  class Service;
  ControlServer() = default;

  std::string socket_path_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace camfleet::camsim
