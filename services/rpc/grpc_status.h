#pragma once
// absl::Status -> grpc::Status for the handlers: common::ToGrpcStatus (payloads such as a
// refusal's reason travel as google.rpc.Status details).

#include "common/grpc_status.h"

namespace camfleet::rpc {

using ::camfleet::common::ToGrpcStatus;

}  // namespace camfleet::rpc
