#pragma once
// A simulated camera as a thing someone carries: the camera (CameraSimulator) and, while it sits
// in a slot, the link server on that slot's socket. Taking it out stops serving (the socket goes
// away: the dock sees UNAVAILABLE, as for an empty slot) and the camera records on battery;
// putting it in, into any slot of any dock, serves on that slot's socket and it charges.
// Tests use it in process; camfleet-camsim drives it from its control socket.
//
// Thread-safe: moves are serialised.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/sim/camera_link_server.h"
#include "agent/sim/camera_simulator.h"

namespace camfleet::camsim {

class CameraUnit {
 public:
  // Opens the camera and, with `socket_path`, puts it in that slot; without, it is out.
  // Errors: those of CameraSimulator::Open and PutIn.
  static absl::StatusOr<std::unique_ptr<CameraUnit>> Open(
      CameraSimulatorOptions options, const std::optional<std::string>& socket_path);
  ~CameraUnit();
  CameraUnit(const CameraUnit&) = delete;
  CameraUnit& operator=(const CameraUnit&) = delete;

  // Puts the camera into the slot served at `socket_path`, out of the one it was in, if any.
  // Errors: INVALID_ARGUMENT for an empty path; those of CameraLinkServer::Start (the camera
  // is out then) and of CameraSimulator::SetInSlot.
  absl::Status PutIn(const std::string& socket_path);
  // Takes the camera out of its slot. FAILED_PRECONDITION if it is out already.
  absl::Status TakeOut();

  // The slot's socket while in one.
  std::optional<std::string> socket_path() const;
  CameraSimulator& camera() { return *camera_; }

 private:
  explicit CameraUnit(std::unique_ptr<CameraSimulator> camera) : camera_(std::move(camera)) {}
  absl::Status TakeOutLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<CameraSimulator> camera_;
  mutable absl::Mutex mu_;
  std::unique_ptr<CameraLinkServer> server_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::camsim
