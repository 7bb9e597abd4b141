#pragma once
// The shape every unary handler has: check the request's size (message_limits.h), authenticate,
// call the plain C++ service, map the result to a grpc::Status in one place, finish. Reads run on a
// pool of reader threads, never on gRPC's callback threads: a store read can wait for a reader
// connection and for an fsync (Store::Read), and gRPC 1.51 has one callback thread per CPU, so
// reads blocked there would stall every other call's I/O. Long reads (a whole-chain audit
// verification) have a pool of their own so that they cannot take every reader thread. Writes
// finish from the store's completion thread once they are durable, and carry the call's deadline to
// the store's writer (common::ScopedCallDeadline, read by storage::WriteWithResponse).

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/call_deadline.h"
#include "common/work_pool.h"
#include "services/rpc/grpc_status.h"
#include "services/rpc/identity.h"
#include "services/rpc/message_limits.h"

namespace camfleet::rpc {

// The threads reads run on: as many as the store has reader connections by default (more would
// only wait for a connection). Never destroyed: a static's destructor could run while the
// server is still finishing calls at exit.
inline common::WorkPool& ReadPool() {
  static common::WorkPool* pool = new common::WorkPool(4, "rpc-read");
  return *pool;
}
// One thread for long reads (HandleLongRead): they queue behind each other, not ahead of the
// short reads.
inline common::WorkPool& LongReadPool() {
  static common::WorkPool* pool = new common::WorkPool(1, "rpc-long-read");
  return *pool;
}

// The call's deadline as absl::Time (InfiniteFuture for a call without one).
inline absl::Time CallDeadline(const grpc::CallbackServerContext& ctx) {
  const std::chrono::system_clock::time_point deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

template <typename Req, typename Resp, typename ReadFn>
grpc::ServerUnaryReactor* HandleReadOn(common::WorkPool& pool, grpc::CallbackServerContext* ctx,
                                       const Authenticator& auth, absl::string_view method,
                                       const Req* req, Resp* resp, ReadFn read) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = CheckRequestSize(method, req->ByteSizeLong()); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  absl::StatusOr<Identity> who = auth.Authenticate(*ctx, method);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  // `req` and `resp` stay valid until Finish; the server's shutdown waits for every Finish.
  pool.Schedule([reactor, req, resp, who = *std::move(who), read = std::move(read)]() mutable {
    absl::StatusOr<Resp> result = read(who, *req);
    if (result.ok()) *resp = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

// `read(const Identity&, const Req&) -> absl::StatusOr<Resp>`, run on ReadPool().
template <typename Req, typename Resp, typename ReadFn>
grpc::ServerUnaryReactor* HandleRead(grpc::CallbackServerContext* ctx, const Authenticator& auth,
                                     absl::string_view method, const Req* req, Resp* resp,
                                     ReadFn read) {
  return HandleReadOn(ReadPool(), ctx, auth, method, req, resp, std::move(read));
}

// HandleRead for reads that take long (seconds over a big table), run on LongReadPool().
template <typename Req, typename Resp, typename ReadFn>
grpc::ServerUnaryReactor* HandleLongRead(grpc::CallbackServerContext* ctx,
                                         const Authenticator& auth, absl::string_view method,
                                         const Req* req, Resp* resp, ReadFn read) {
  return HandleReadOn(LongReadPool(), ctx, auth, method, req, resp, std::move(read));
}

// `write(const Identity&, const Req&, AnyInvocable<void(absl::StatusOr<Resp>)>)`.
template <typename Req, typename Resp, typename WriteFn>
grpc::ServerUnaryReactor* HandleWrite(grpc::CallbackServerContext* ctx, const Authenticator& auth,
                                      absl::string_view method, const Req* req, Resp* resp,
                                      WriteFn write) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status s = CheckRequestSize(method, req->ByteSizeLong()); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  absl::StatusOr<Identity> who = auth.Authenticate(*ctx, method);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  // Writes queued from here on (storage::WriteWithResponse) are dropped by the writer if this
  // deadline passes before it reaches them: the caller has given up and may retry.
  common::ScopedCallDeadline deadline(CallDeadline(*ctx));
  write(*who, *req, [reactor, resp](absl::StatusOr<Resp> result) {
    if (result.ok()) *resp = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

}  // namespace camfleet::rpc
