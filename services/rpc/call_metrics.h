#pragma once
// Every gRPC call camfleetd answers, counted and timed for /metrics: a server interceptor, so it
// sees unary calls and streams alike, calls refused before any handler ran (authentication),
// and gRPC's own health and reflection services.
//
//   camfleet_grpc_server_handled_total{grpc_service, grpc_method, grpc_type, grpc_code}
//   camfleet_grpc_server_handling_seconds{grpc_service, grpc_method, grpc_type, grpc_code}
//
// Time runs from the call's start to its status (a stream's whole life: a dock's Sync stream
// lands in the +Inf bucket). A call that ends without sending a status (the client went away)
// counts as CANCELLED. Methods not in the services named at construction (a caller's made-up
// path) count under grpc_service="unknown", so callers cannot grow the label set.
//
// Per call: one allocation (gRPC's interceptor object), a hash lookup of the method name in a
// table built at startup, two relaxed atomic adds and a histogram observation; a lock only the
// first time a (method, code) pair is seen.

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/metrics.h"

namespace camfleet::rpc {

class CallMetrics {
 public:
  // Registers the two metrics in `registry` (which must outlive this). `services`: full names
  // of the services whose methods are counted by name, e.g. "camfleet.v1.FleetService"; their
  // methods are read from the generated descriptor pool (a name not found there is skipped).
  CallMetrics(common::MetricsRegistry& registry, const std::vector<std::string>& services);

  // The interceptor factory to hand to grpc::ServerBuilder::experimental().SetInterceptorCreators.
  // This object must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // One method's series, made per status code on first use.
  struct Method {
    std::string service;
    std::string method;
    std::string type;  // unary, client_stream, server_stream, bidi_stream
    std::array<std::atomic<common::Counter*>, 17> handled{};
    std::array<std::atomic<common::Histogram*>, 17> seconds{};
  };
  // The method for gRPC's path "/pkg.Service/Method"; the "unknown" one when not found.
  Method& Find(const char* path);
  void Record(Method& method, grpc::StatusCode code, double seconds);

 private:
  common::Family<common::Counter>& handled_;
  common::Family<common::Histogram>& seconds_;
  // Built in the constructor and never changed: read without a lock.
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
  Method unknown_;
};

// The canonical name of a gRPC status code, e.g. "NOT_FOUND".
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace camfleet::rpc
