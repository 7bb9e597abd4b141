#include "services/firmware/firmware_handler.h"

#include "services/firmware/release_download.h"
#include "services/rpc/grpc_status.h"
#include "services/rpc/unary.h"

namespace camfleet::firmware_service {
namespace {

class UploadReactor final : public grpc::ServerReadReactor<v1::UploadReleaseRequest> {
 public:
  UploadReactor(grpc::CallbackServerContext* ctx, FirmwareManager& manager,
                const rpc::Authenticator& auth, v1::UploadReleaseResponse* resp)
      : ctx_(ctx), manager_(manager), resp_(resp) {
    absl::StatusOr<rpc::Identity> who =
        auth.Authenticate(*ctx, "camfleet.v1.FirmwareService/UploadRelease");
    if (!who.ok()) {
      Finish(rpc::ToGrpcStatus(who.status()));
      return;
    }
    who_ = *std::move(who);
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client finished sending (or went away: then the image is short and refused, and
      // nothing is kept either way).
      if (ctx_->IsCancelled() || session_ == nullptr) {
        Finish(session_ == nullptr
                   ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "the stream ended before the header; send the manifest and "
                                  "signature first")
                   : grpc::Status(grpc::StatusCode::CANCELLED, "upload cancelled"));
        session_.reset();
        return;
      }
      manager_.FinishUpload(std::move(session_),
                            [this](absl::StatusOr<v1::UploadReleaseResponse> result) {
                              if (result.ok()) *resp_ = *std::move(result);
                              Finish(rpc::ToGrpcStatus(result.status()));
                            });
      return;
    }
    if (session_ == nullptr) {
      if (!req_.has_header()) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "header: the first message must carry the manifest and signature"));
        return;
      }
      absl::StatusOr<std::unique_ptr<FirmwareManager::UploadSession>> session =
          manager_.BeginUpload(who_, req_.header());
      if (!session.ok()) {
        Finish(rpc::ToGrpcStatus(session.status()));
        return;
      }
      session_ = *std::move(session);
      if (session_->finished()) {
        // The server holds this release: no need for its bytes.
        manager_.FinishUpload(std::move(session_),
                              [this](absl::StatusOr<v1::UploadReleaseResponse> result) {
                                if (result.ok()) *resp_ = *std::move(result);
                                Finish(rpc::ToGrpcStatus(result.status()));
                              });
        return;
      }
    } else {
      if (req_.has_header()) {
        session_.reset();
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "header: send it once, in the first message"));
        return;
      }
      if (absl::Status s = manager_.AddChunk(*session_, req_.chunk()); !s.ok()) {
        // The temporary file goes before the caller hears of the refusal.
        session_.reset();
        Finish(rpc::ToGrpcStatus(s));
        return;
      }
    }
    StartRead(&req_);
  }

  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* ctx_;
  FirmwareManager& manager_;
  v1::UploadReleaseResponse* resp_;
  rpc::Identity who_;
  v1::UploadReleaseRequest req_;
  std::unique_ptr<FirmwareManager::UploadSession> session_;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadReleaseRequest>* FirmwareHandler::UploadRelease(
    grpc::CallbackServerContext* ctx, v1::UploadReleaseResponse* resp) {
  return new UploadReactor(ctx, manager_, auth_, resp);
}

#define CAMFLEET_READ(Method)                                                             \
  grpc::ServerUnaryReactor* FirmwareHandler::Method(grpc::CallbackServerContext* ctx,     \
                                                    const v1::Method##Request* req,       \
                                                    v1::Method##Response* resp) {         \
    return rpc::HandleRead(ctx, auth_, "camfleet.v1.FirmwareService/" #Method, req, resp, \
                           [this](const rpc::Identity&, const v1::Method##Request& r) {   \
                             return manager_.Method(r);                                   \
                           });                                                            \
  }
#define CAMFLEET_WRITE(Method)                                                                  \
  grpc::ServerUnaryReactor* FirmwareHandler::Method(grpc::CallbackServerContext* ctx,           \
                                                    const v1::Method##Request* req,             \
                                                    v1::Method##Response* resp) {               \
    return rpc::HandleWrite(                                                                    \
        ctx, auth_, "camfleet.v1.FirmwareService/" #Method, req, resp,                          \
        [this](const rpc::Identity& who, const v1::Method##Request& r,                          \
               Done<v1::Method##Response> done) { manager_.Method(who, r, std::move(done)); }); \
  }

CAMFLEET_READ(ListReleases)
CAMFLEET_WRITE(WithdrawRelease)
CAMFLEET_WRITE(AddSigningKey)
CAMFLEET_READ(ListSigningKeys)
CAMFLEET_WRITE(RetireSigningKey)

#undef CAMFLEET_READ
#undef CAMFLEET_WRITE

grpc::ServerWriteReactor<v1::ExportReleaseResponse>* FirmwareHandler::ExportRelease(
    grpc::CallbackServerContext* ctx, const v1::ExportReleaseRequest* req) {
  return StartReleaseExport(manager_, auth_, ctx, req);
}

}  // namespace camfleet::firmware_service
