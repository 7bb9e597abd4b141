#pragma once
// gRPC edge of RolloutService over RolloutManager: authenticate, call, convert the status once.

#include "camfleet/v1/rollout.grpc.pb.h"
#include "services/rollout/rollout_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::rollout {

class RolloutHandler final : public v1::RolloutService::CallbackService {
 public:
  RolloutHandler(RolloutManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

#define CAMFLEET_ROLLOUT_RPC(Method)                                                           \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                           \
                                   const v1::Method##Request* req, v1::Method##Response* resp) \
      override;
  CAMFLEET_ROLLOUT_RPC(CreateRollout)
  CAMFLEET_ROLLOUT_RPC(GetRollout)
  CAMFLEET_ROLLOUT_RPC(ListRollouts)
  CAMFLEET_ROLLOUT_RPC(PauseRollout)
  CAMFLEET_ROLLOUT_RPC(ResumeRollout)
  CAMFLEET_ROLLOUT_RPC(NextWave)
  CAMFLEET_ROLLOUT_RPC(AbortRollout)
  CAMFLEET_ROLLOUT_RPC(RetryFailed)
#undef CAMFLEET_ROLLOUT_RPC

 private:
  RolloutManager& manager_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::rollout
