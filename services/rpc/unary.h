#pragma once
// The shape every unary handler has: authenticate, call the plain C++ service, map the result
// to a grpc::Status in one place, finish. Reads run on the callback thread (they are short
// SQLite reads); writes finish from the store's writer thread once they are durable.

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/rpc/grpc_status.h"
#include "services/rpc/identity.h"

namespace camfleet::rpc {

// `read(const Identity&, const Req&) -> absl::StatusOr<Resp>`.
template <typename Req, typename Resp, typename ReadFn>
grpc::ServerUnaryReactor* HandleRead(grpc::CallbackServerContext* ctx, const Authenticator& auth,
                                     absl::string_view method, const Req* req, Resp* resp,
                                     ReadFn read) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Identity> who = auth.Authenticate(*ctx, method);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  absl::StatusOr<Resp> result = read(*who, *req);
  if (result.ok()) *resp = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

// `write(const Identity&, const Req&, AnyInvocable<void(absl::StatusOr<Resp>)>)`.
template <typename Req, typename Resp, typename WriteFn>
grpc::ServerUnaryReactor* HandleWrite(grpc::CallbackServerContext* ctx, const Authenticator& auth,
                                      absl::string_view method, const Req* req, Resp* resp,
                                      WriteFn write) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Identity> who = auth.Authenticate(*ctx, method);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  write(*who, *req, [reactor, resp](absl::StatusOr<Resp> result) {
    if (result.ok()) *resp = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace camfleet::rpc
