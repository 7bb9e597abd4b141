#pragma once
// Setup helpers shared by the benchmarks that load a server through its API: many small unary
// calls with a bounded number in flight, and waiting for a channel to connect.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/client_call.h"
#include "bench/tls_server.h"

namespace camfleet::bench {

// Unary calls over the callback API, a bounded number in flight, for the setup's many small
// writes; Wait returns the first error, saying how many failed.
class CallBatch {
 public:
  explicit CallBatch(int max_in_flight) : max_in_flight_(max_in_flight) {}

  // `method(ctx, req, resp, callback)` starts the call, e.g. a lambda around
  // stub->async()->CommissionCamera. `on_response`, if given, sees the response of a call that
  // succeeded (on gRPC's thread).
  template <typename Req, typename Resp, typename Method>
  void Add(const std::string& operator_name, Req req, Method method,
           std::function<void(const Resp&)> on_response = {}) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](CallBatch* b) { return b->in_flight_ < b->max_in_flight_; }, this));
      ++in_flight_;
    }
    struct Call {
      std::unique_ptr<grpc::ClientContext> ctx;
      Req req;
      Resp resp;
    };
    auto call = std::make_shared<Call>();
    call->ctx = NewContext(operator_name, kSetupDeadline);
    call->req = std::move(req);
    method(call->ctx.get(), &call->req, &call->resp,
           [this, call, on_response = std::move(on_response)](grpc::Status s) {
             if (s.ok() && on_response) on_response(call->resp);
             Finish(FromGrpc(s));
           });
  }

  absl::Status Wait(absl::string_view what) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](CallBatch* b) { return b->in_flight_ == 0; }, this));
    if (errors_ == 0) return absl::OkStatus();
    return absl::Status(
        first_error_.code(),
        absl::StrCat(what, ": ", errors_, " failed, first: ", first_error_.message()));
  }

 private:
  void Finish(const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    if (!s.ok() && errors_++ == 0) first_error_ = s;
  }

  const int max_in_flight_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int errors_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

inline absl::Status WaitConnected(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& what) {
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(20)))) {
    return absl::UnavailableError(absl::StrCat(what, " could not connect"));
  }
  return absl::OkStatus();
}

}  // namespace camfleet::bench
