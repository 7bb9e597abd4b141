#pragma once
// The one place the agent and the camera simulator convert between grpc::Status and
// absl::Status (the codes are numerically the same).

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace camfleet::agent {

inline absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace camfleet::agent
