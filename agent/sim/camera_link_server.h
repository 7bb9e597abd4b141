#pragma once
// Serves a CameraSimulator as camfleet.device.v1.CameraLinkService on a unix socket: the slot's
// "cable". Handlers are thin: they hand the request to the camera's one worker thread (its CPU;
// key generation is real work and must not run on gRPC's reactor) and finish with its answer.
// A camera that is out of its slot (CameraSimulator::InSlot) answers UNAVAILABLE, as an empty
// slot does; with the link-drop fault armed, the camera does the work and the answer is replaced
// by UNAVAILABLE, as when the cable is pulled mid-call.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/sim/camera_simulator.h"

namespace camfleet::camsim {

class CameraLinkServer {
 public:
  // Listens on the unix socket `socket_path`, replacing a stale socket file a previous run left
  // there. `camera` must outlive the server.
  // Errors: FAILED_PRECONDITION if `socket_path` exists and is not a socket; UNAVAILABLE if gRPC
  // cannot listen there.
  static absl::StatusOr<std::unique_ptr<CameraLinkServer>> Start(CameraSimulator& camera,
                                                                 const std::string& socket_path);
  // Shuts down (in-flight calls get `grace` to finish) and removes the socket file.
  ~CameraLinkServer();
  CameraLinkServer(const CameraLinkServer&) = delete;
  CameraLinkServer& operator=(const CameraLinkServer&) = delete;

  // Not thread-safe: call from the thread that owns the server.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  const std::string& socket_path() const { return socket_path_; }

 private:
  class Service;
  class Worker;
  CameraLinkServer() = default;

  std::string socket_path_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
};

}  // namespace camfleet::camsim
