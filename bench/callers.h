#pragma once
// The callers the throughput runs drive: the empty call that sets the ceiling, and the
// lifecycle calls, over gRPC and straight into FleetManager.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "bench/closed_loop.h"
#include "bench/fleet_fixture.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/fleet/fleet_manager.h"

namespace camfleet::bench {

// grpc.health.v1.Health/Check: the cheapest unary call the server answers.
class HealthCaller final : public Caller {
 public:
  explicit HealthCaller(std::shared_ptr<grpc::Channel> channel)
      : stub_(grpc::health::v1::Health::NewStub(std::move(channel))) {}
  void Start(std::function<void(absl::Status)> done) override;

 private:
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::health::v1::HealthCheckRequest req_;
  grpc::health::v1::HealthCheckResponse resp_;
};

// Alternates IssueCamera and ReturnCamera (GOOD) over the client's own cameras, over gRPC.
class GrpcLifecycleCaller final : public Caller {
 public:
  GrpcLifecycleCaller(std::shared_ptr<grpc::Channel> channel, ClientCameras& cams)
      : stub_(v1::FleetService::NewStub(std::move(channel))), cams_(cams) {}
  void Start(std::function<void(absl::Status)> done) override;

 private:
  std::unique_ptr<v1::FleetService::Stub> stub_;
  ClientCameras& cams_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::IssueCameraRequest issue_req_;
  v1::IssueCameraResponse issue_resp_;
  v1::ReturnCameraRequest return_req_;
  v1::ReturnCameraResponse return_resp_;
};

// The same calls straight into FleetManager: no gRPC, no sockets. The completion runs on the
// store's writer thread, which must not queue writes, so it hops to `executor` first.
class DirectLifecycleCaller final : public Caller {
 public:
  DirectLifecycleCaller(fleet::FleetManager& manager, SerialExecutor& executor, ClientCameras& cams)
      : manager_(manager), executor_(executor), cams_(cams) {}
  void Start(std::function<void(absl::Status)> done) override;

 private:
  fleet::FleetManager& manager_;
  SerialExecutor& executor_;
  ClientCameras& cams_;
};

}  // namespace camfleet::bench
