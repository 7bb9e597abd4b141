#include "services/rollout/rollout_handler.h"

#include "services/rpc/unary.h"

namespace camfleet::rollout {

#define CAMFLEET_READ(Method)                                                            \
  grpc::ServerUnaryReactor* RolloutHandler::Method(grpc::CallbackServerContext* ctx,     \
                                                   const v1::Method##Request* req,       \
                                                   v1::Method##Response* resp) {         \
    return rpc::HandleRead(ctx, auth_, "camfleet.v1.RolloutService/" #Method, req, resp, \
                           [this](const rpc::Identity&, const v1::Method##Request& r) {  \
                             return manager_.Method(r);                                  \
                           });                                                           \
  }
#define CAMFLEET_WRITE(Method)                                                                  \
  grpc::ServerUnaryReactor* RolloutHandler::Method(grpc::CallbackServerContext* ctx,            \
                                                   const v1::Method##Request* req,              \
                                                   v1::Method##Response* resp) {                \
    return rpc::HandleWrite(                                                                    \
        ctx, auth_, "camfleet.v1.RolloutService/" #Method, req, resp,                           \
        [this](const rpc::Identity& who, const v1::Method##Request& r,                          \
               Done<v1::Method##Response> done) { manager_.Method(who, r, std::move(done)); }); \
  }

CAMFLEET_WRITE(CreateRollout)
CAMFLEET_READ(GetRollout)
CAMFLEET_READ(ListRollouts)
CAMFLEET_WRITE(PauseRollout)
CAMFLEET_WRITE(ResumeRollout)
CAMFLEET_WRITE(NextWave)
CAMFLEET_WRITE(AbortRollout)
CAMFLEET_WRITE(RetryFailed)

#undef CAMFLEET_READ
#undef CAMFLEET_WRITE

}  // namespace camfleet::rollout
