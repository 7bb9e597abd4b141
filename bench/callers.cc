#include "bench/callers.h"

#include <utility>

#include "absl/time/clock.h"
#include "bench/client_call.h"

namespace camfleet::bench {

void HealthCaller::Start(std::function<void(absl::Status)> done) {
  ctx_ = NewContext("bench-health");
  stub_->async()->Check(ctx_.get(), &req_, &resp_, [this, done](grpc::Status s) {
    if (s.ok() && resp_.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      s = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is not SERVING");
    }
    done(FromGrpc(s));
  });
}

void GrpcLifecycleCaller::Start(std::function<void(absl::Status)> done) {
  // A context serves one call; the previous one has finished (its callback is running or ran).
  ctx_ = NewContext(cams_.operator_name);
  if (!cams_.issued) {
    issue_req_.set_serial(cams_.serials[cams_.next]);
    issue_req_.set_holder_badge(cams_.holder);
    *issue_req_.mutable_due_back_time() = Ts(absl::Now() + absl::Hours(8));
    stub_->async()->IssueCamera(ctx_.get(), &issue_req_, &issue_resp_,
                                [this, done](grpc::Status s) {
                                  if (s.ok()) cams_.issued = true;
                                  done(FromGrpc(s));
                                });
    return;
  }
  return_req_.set_serial(cams_.serials[cams_.next]);
  return_req_.set_condition(v1::RETURN_CONDITION_GOOD);
  stub_->async()->ReturnCamera(ctx_.get(), &return_req_, &return_resp_,
                               [this, done](grpc::Status s) {
                                 if (s.ok()) {
                                   cams_.issued = false;
                                   cams_.next = (cams_.next + 1) % cams_.serials.size();
                                 }
                                 done(FromGrpc(s));
                               });
}

void DirectLifecycleCaller::Start(std::function<void(absl::Status)> done) {
  const rpc::Identity who = Operator(cams_.operator_name);
  if (!cams_.issued) {
    v1::IssueCameraRequest req;
    req.set_serial(cams_.serials[cams_.next]);
    req.set_holder_badge(cams_.holder);
    *req.mutable_due_back_time() = Ts(absl::Now() + absl::Hours(8));
    manager_.IssueCamera(who, req, [this, done](absl::StatusOr<v1::IssueCameraResponse> r) {
      executor_.Post([this, done, s = r.status()] {
        if (s.ok()) cams_.issued = true;
        done(s);
      });
    });
    return;
  }
  v1::ReturnCameraRequest req;
  req.set_serial(cams_.serials[cams_.next]);
  req.set_condition(v1::RETURN_CONDITION_GOOD);
  manager_.ReturnCamera(who, req, [this, done](absl::StatusOr<v1::ReturnCameraResponse> r) {
    executor_.Post([this, done, s = r.status()] {
      if (s.ok()) {
        cams_.issued = false;
        cams_.next = (cams_.next + 1) % cams_.serials.size();
      }
      done(s);
    });
  });
}

}  // namespace camfleet::bench
