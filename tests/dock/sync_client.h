#pragma once
// A dock's side of DockService.Sync as a test drives it: a raw gRPC bidi stream over the
// dock's own mutual-TLS channel, every read bounded by the stream's deadline.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/grpc_status.h"

namespace camfleet::testing {

class SyncClient {
 public:
  explicit SyncClient(std::shared_ptr<grpc::Channel> channel,
                      absl::Duration deadline = absl::Seconds(30))
      : stub_(v1::DockService::NewStub(std::move(channel))) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    stream_ = stub_->Sync(&ctx_);
  }
  ~SyncClient() {
    if (!finished_) {
      ctx_.TryCancel();
      stream_->Finish();
    }
  }

  // Sends the hello and reads what the server sends on connect, up to its ServerTime.
  // Errors: the stream's status if it ends first.
  absl::StatusOr<v1::SyncWelcome> Open(const v1::SyncHello& hello) {
    v1::SyncRequest req;
    *req.mutable_hello() = hello;
    if (!stream_->Write(req)) return End();
    std::optional<v1::SyncWelcome> welcome;
    v1::SyncResponse resp;
    while (stream_->Read(&resp)) {
      Keep(resp);
      if (resp.has_welcome()) welcome = resp.welcome();
      if (resp.has_server_time()) {
        if (!welcome.has_value()) return absl::InternalError("server time before the welcome");
        return *welcome;
      }
    }
    return End();
  }

  // Sends one batch and reads up to its ack. Errors: the stream's status if it ends first.
  absl::StatusOr<v1::SyncAck> Send(const std::vector<v1::OutboxItem>& items) {
    v1::SyncRequest req;
    for (const v1::OutboxItem& item : items) *req.mutable_batch()->add_items() = item;
    return SendRaw(req);
  }
  absl::StatusOr<v1::SyncAck> SendRaw(const v1::SyncRequest& req) {
    if (!stream_->Write(req)) return End();
    v1::SyncResponse resp;
    while (stream_->Read(&resp)) {
      Keep(resp);
      if (resp.has_ack()) return resp.ack();
    }
    return End();
  }

  // Reads the next message the server sends (without sending anything). Errors: the stream's
  // status if it ends first (at the latest at the stream's deadline).
  absl::StatusOr<v1::SyncResponse> Next() {
    v1::SyncResponse resp;
    if (!stream_->Read(&resp)) return End();
    Keep(resp);
    return resp;
  }

  // Reads until the stream ends and returns its status (after a gap, say).
  absl::Status End() {
    v1::SyncResponse resp;
    while (stream_->Read(&resp)) Keep(resp);
    finished_ = true;
    return common::FromGrpcStatus(stream_->Finish());
  }
  // Half-closes and returns the final status.
  absl::Status Close() {
    stream_->WritesDone();
    return End();
  }

  const std::optional<v1::SiteView>& last_site_view() const { return site_view_; }
  const std::optional<v1::CrlUpdate>& crl() const { return crl_; }
  // The newest firmware plan received; every plan received, in order.
  const std::optional<v1::FirmwarePlan>& last_plan() const { return plan_; }
  int plans_received() const { return plans_received_; }
  // Every ack received, in order.
  const std::vector<v1::SyncAck>& acks() const { return acks_; }

 private:
  void Keep(const v1::SyncResponse& resp) {
    if (resp.has_site_view()) site_view_ = resp.site_view();
    if (resp.has_crl()) crl_ = resp.crl();
    if (resp.has_ack()) acks_.push_back(resp.ack());
    if (resp.has_firmware_plan()) {
      plan_ = resp.firmware_plan();
      ++plans_received_;
    }
  }

  std::unique_ptr<v1::DockService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SyncRequest, v1::SyncResponse>> stream_;
  bool finished_ = false;
  std::optional<v1::SiteView> site_view_;
  std::optional<v1::CrlUpdate> crl_;
  std::vector<v1::SyncAck> acks_;
  std::optional<v1::FirmwarePlan> plan_;
  int plans_received_ = 0;
};

}  // namespace camfleet::testing
