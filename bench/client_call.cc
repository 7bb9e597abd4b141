#include "bench/client_call.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/role.h"

namespace camfleet::bench {

absl::Status FromGrpc(const grpc::Status& s) { return common::FromGrpcStatus(s); }

std::unique_ptr<grpc::ClientContext> NewContext(const std::string& operator_name,
                                                absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  // Over mutual TLS the certificate names the caller, and the header is left out.
  if (!operator_name.empty()) ctx->AddMetadata(rpc::kOperatorMetadata, operator_name);
  return ctx;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(common::ToMicros(t));
}

rpc::Identity Operator(std::string name) {
  rpc::Identity who;
  who.name = std::move(name);
  who.role = provisioning::Role::kAdmin;
  return who;
}

}  // namespace camfleet::bench
