#include "services/rpc/call_metrics.h"

#include <google/protobuf/descriptor.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace camfleet::rpc {
namespace {

constexpr const char* kCodeNames[17] = {
    "OK",        "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",  "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED",  "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",
    "UNAVAILABLE", "DATA_LOSS",        "UNAUTHENTICATED"};

const char* MethodType(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming() && m.server_streaming()) return "bidi_stream";
  if (m.client_streaming()) return "client_stream";
  if (m.server_streaming()) return "server_stream";
  return "unary";
}

class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(CallMetrics& metrics, CallMetrics::Method& method)
      : metrics_(metrics), method_(method), start_(std::chrono::steady_clock::now()) {}
  ~CallInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ && methods->QueryInterceptionHookPoint(
                          grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start_;
    metrics_.Record(method_, code, took.count());
  }

  CallMetrics& metrics_;
  CallMetrics::Method& method_;
  const std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(CallMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(metrics_, metrics_.Find(info->method()));
  }

 private:
  CallMetrics& metrics_;
};

}  // namespace

const char* StatusCodeName(grpc::StatusCode code) {
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kCodeNames[i] : "UNKNOWN";
}

CallMetrics::CallMetrics(common::MetricsRegistry& registry,
                         const std::vector<std::string>& services)
    : handled_(registry.AddCounterFamily(
          "camfleet_grpc_server_handled_total",
          "gRPC calls completed by camfleetd, by method and status code (streams included).",
          {"grpc_service", "grpc_method", "grpc_type", "grpc_code"})),
      seconds_(registry.AddHistogramFamily(
          "camfleet_grpc_server_handling_seconds",
          "Time from a gRPC call's start to its status, by method and status code (a stream's "
          "whole life).",
          {"grpc_service", "grpc_method", "grpc_type", "grpc_code"}, common::LatencyBuckets())) {
  unknown_.service = "unknown";
  unknown_.method = "unknown";
  unknown_.type = "unknown";
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor& m = *service->method(i);
      auto method = std::make_unique<Method>();
      method->service = name;
      method->method = m.name();
      method->type = MethodType(m);
      methods_[absl::StrCat("/", name, "/", m.name())] = std::move(method);
    }
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallMetrics::NewInterceptorFactory() {
  return std::make_unique<Factory>(*this);
}

CallMetrics::Method& CallMetrics::Find(const char* path) {
  if (path == nullptr) return unknown_;
  auto it = methods_.find(absl::string_view(path));
  return it == methods_.end() ? unknown_ : *it->second;
}

void CallMetrics::Record(Method& method, grpc::StatusCode code, double seconds) {
  const int i = static_cast<int>(code) >= 0 && static_cast<int>(code) < 17
                    ? static_cast<int>(code)
                    : static_cast<int>(grpc::StatusCode::UNKNOWN);
  common::Counter* handled = method.handled[i].load(std::memory_order_acquire);
  common::Histogram* histogram = method.seconds[i].load(std::memory_order_acquire);
  if (handled == nullptr || histogram == nullptr) {
    // First call of this method with this code: find (or make) its series. Two threads may
    // both get here; they find the same series.
    const std::vector<std::string> labels = {method.service, method.method, method.type,
                                             kCodeNames[i]};
    handled = &handled_.WithLabels(labels);
    histogram = &seconds_.WithLabels(labels);
    method.handled[i].store(handled, std::memory_order_release);
    method.seconds[i].store(histogram, std::memory_order_release);
  }
  handled->Increment();
  histogram->Observe(seconds);
}

}  // namespace camfleet::rpc
