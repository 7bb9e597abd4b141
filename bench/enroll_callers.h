#pragma once
// The enrollment callers: a dock relaying its cameras' CSRs with EnrollCamera over its own
// mutual-TLS connection, and the same calls straight into IdentityManager (no gRPC, no TLS) to
// show the RPC layer's share. Each call takes a camera not enrolled before from a shared pool:
// a camera enrolls once.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/camera_csrs.h"
#include "bench/closed_loop.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::bench {

// Once every camera in the pool is enrolled a caller fails each call with RESOURCE_EXHAUSTED
// (the run needs a bigger --cameras), from `executor` and a millisecond late: failing inline
// would recurse through the closed loop, and failing at full speed would eat the CPU.
void FailPoolExhausted(const CameraPool& pool, SerialExecutor& executor,
                       std::function<void(absl::Status)> done);

class GrpcEnrollCaller final : public Caller {
 public:
  // `channel` presents a dock's certificate; `executor` is only for an exhausted pool.
  GrpcEnrollCaller(std::shared_ptr<grpc::Channel> channel, CameraPool& pool,
                   SerialExecutor& executor)
      : stub_(v1::DockService::NewStub(std::move(channel))), pool_(pool), executor_(executor) {}
  void Start(std::function<void(absl::Status)> done) override;

 private:
  std::unique_ptr<v1::DockService::Stub> stub_;
  CameraPool& pool_;
  SerialExecutor& executor_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::EnrollCameraRequest req_;
  v1::EnrollCameraResponse resp_;
};

// EnrollCamera for cameras that are enrolled already, in turn: the server authenticates the
// dock, validates, reads the dock, camera and certificate, and refuses with
// FAILED_PRECONDITION before signing and without writing. Same request, connection and handler
// as an enrollment: what an enrollment costs without its signature and its write. The refusal
// is the expected answer; anything else is an error.
class RefusedEnrollCaller final : public Caller {
 public:
  // `enrolled` cameras from the front of `cameras` are enrolled; this caller starts at `first`.
  RefusedEnrollCaller(std::shared_ptr<grpc::Channel> channel,
                      const std::vector<CameraCsr>& cameras, size_t enrolled, size_t first)
      : stub_(v1::DockService::NewStub(std::move(channel))),
        cameras_(cameras),
        enrolled_(enrolled),
        next_(first) {}
  void Start(std::function<void(absl::Status)> done) override;

 private:
  std::unique_ptr<v1::DockService::Stub> stub_;
  const std::vector<CameraCsr>& cameras_;
  const size_t enrolled_;
  size_t next_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::EnrollCameraRequest req_;
  v1::EnrollCameraResponse resp_;
};

// Start signs on the calling thread, as the server's handler does on its gRPC thread; the
// completion runs on the store's writer thread and hops to `executor`, where the next call
// starts (and signs). Give clients different executors to sign on several threads at once.
class DirectEnrollCaller final : public Caller {
 public:
  DirectEnrollCaller(identity::IdentityManager& manager, rpc::Identity dock,
                     SerialExecutor& executor, CameraPool& pool)
      : manager_(manager), dock_(std::move(dock)), executor_(executor), pool_(pool) {}
  void Start(std::function<void(absl::Status)> done) override;

 private:
  identity::IdentityManager& manager_;
  const rpc::Identity dock_;
  SerialExecutor& executor_;
  CameraPool& pool_;
};

}  // namespace camfleet::bench
