#pragma once
// The agent's and the camera simulator's names for common/grpc_status.h's conversions (a
// refusal's reason survives them).

#include "common/grpc_status.h"

namespace camfleet::agent {

inline absl::Status FromGrpc(const grpc::Status& status) { return common::FromGrpcStatus(status); }

inline grpc::Status ToGrpc(const absl::Status& status) { return common::ToGrpcStatus(status); }

}  // namespace camfleet::agent
