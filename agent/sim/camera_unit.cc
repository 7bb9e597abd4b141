#include "agent/sim/camera_unit.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace camfleet::camsim {

absl::StatusOr<std::unique_ptr<CameraUnit>> CameraUnit::Open(
    CameraSimulatorOptions options, const std::optional<std::string>& socket_path) {
  options.in_slot = socket_path.has_value();
  ASSIGN_OR_RETURN(std::unique_ptr<CameraSimulator> camera,
                   CameraSimulator::Open(std::move(options)));
  std::unique_ptr<CameraUnit> unit(new CameraUnit(std::move(camera)));
  if (socket_path.has_value()) {
    RETURN_IF_ERROR(unit->PutIn(*socket_path));
  } else {
    // A stored state may say it was in a slot when the simulator stopped.
    RETURN_IF_ERROR(unit->camera_->SetInSlot(false));
  }
  return unit;
}

CameraUnit::~CameraUnit() {
  absl::MutexLock lock(&mu_);
  // The state keeps saying "in a slot": the camera did not leave it, the simulator stopped.
  server_.reset();
}

absl::Status CameraUnit::PutIn(const std::string& socket_path) {
  if (socket_path.empty()) return absl::InvalidArgumentError("socket_path: give the slot's socket");
  absl::MutexLock lock(&mu_);
  if (server_ != nullptr) RETURN_IF_ERROR(TakeOutLocked());
  // Serving first: a camera that cannot be reached there stays out (and on battery).
  absl::StatusOr<std::unique_ptr<CameraLinkServer>> server =
      CameraLinkServer::Start(*camera_, socket_path);
  if (!server.ok()) {
    RETURN_IF_ERROR(camera_->SetInSlot(false));
    return server.status();
  }
  if (absl::Status s = camera_->SetInSlot(true); !s.ok()) return s;
  server_ = *std::move(server);
  return absl::OkStatus();
}

absl::Status CameraUnit::TakeOut() {
  absl::MutexLock lock(&mu_);
  if (server_ == nullptr) return absl::FailedPreconditionError("the camera is out of any slot");
  return TakeOutLocked();
}

absl::Status CameraUnit::TakeOutLocked() {
  // Out before the server stops: a call that gets in meanwhile finds no camera.
  absl::Status status = camera_->SetInSlot(false);
  server_->Shutdown(absl::ZeroDuration());
  server_.reset();
  return status;
}

std::optional<std::string> CameraUnit::socket_path() const {
  absl::MutexLock lock(&mu_);
  if (server_ == nullptr) return std::nullopt;
  return server_->socket_path();
}

}  // namespace camfleet::camsim
