#include "bench/enroll_callers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/client_call.h"

namespace camfleet::bench {
namespace {

// A certificate for another camera, or a camera left in the wrong state, would make the rate
// meaningless; cheap to check on every answer.
absl::Status CheckAnswer(const std::string& serial, const v1::EnrollCameraResponse& resp) {
  if (resp.certificate().identity() != serial || resp.certificate().certificate_pem().empty() ||
      resp.camera().state() != v1::CAMERA_STATE_AVAILABLE) {
    return absl::InternalError(absl::StrCat("EnrollCamera for ", serial,
                                            " answered without its certificate or state"));
  }
  return absl::OkStatus();
}

}  // namespace

void FailPoolExhausted(const CameraPool& pool, SerialExecutor& executor,
                       std::function<void(absl::Status)> done) {
  executor.Post([size = pool.size(), done = std::move(done)] {
    absl::SleepFor(absl::Milliseconds(1));
    done(absl::ResourceExhaustedError(
        absl::StrCat("all ", size, " cameras are enrolled; give a bigger --cameras")));
  });
}

void GrpcEnrollCaller::Start(std::function<void(absl::Status)> done) {
  const CameraCsr* camera = pool_.Take();
  if (camera == nullptr) return FailPoolExhausted(pool_, executor_, std::move(done));
  // The dock's certificate says who calls: no operator header.
  ctx_ = NewContext("");
  req_.set_serial(camera->serial);
  req_.set_csr_pem(camera->csr_pem);
  stub_->async()->EnrollCamera(ctx_.get(), &req_, &resp_,
                               [this, done, camera](grpc::Status s) {
                                 absl::Status result = FromGrpc(s);
                                 if (result.ok()) result = CheckAnswer(camera->serial, resp_);
                                 done(std::move(result));
                               });
}

void RefusedEnrollCaller::Start(std::function<void(absl::Status)> done) {
  const CameraCsr& camera = cameras_[next_++ % enrolled_];
  ctx_ = NewContext("");
  req_.set_serial(camera.serial);
  req_.set_csr_pem(camera.csr_pem);
  stub_->async()->EnrollCamera(ctx_.get(), &req_, &resp_, [done](grpc::Status s) {
    if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) return done(absl::OkStatus());
    done(s.ok() ? absl::InternalError("an enrolled camera enrolled again") : FromGrpc(s));
  });
}

void DirectEnrollCaller::Start(std::function<void(absl::Status)> done) {
  const CameraCsr* camera = pool_.Take();
  if (camera == nullptr) return FailPoolExhausted(pool_, executor_, std::move(done));
  v1::EnrollCameraRequest req;
  req.set_serial(camera->serial);
  req.set_csr_pem(camera->csr_pem);
  manager_.EnrollCamera(
      dock_, req, [this, done, camera](absl::StatusOr<v1::EnrollCameraResponse> r) {
        absl::Status s = r.status();
        if (s.ok()) s = CheckAnswer(camera->serial, *r);
        executor_.Post([done, s = std::move(s)] { done(s); });
      });
}

}  // namespace camfleet::bench
