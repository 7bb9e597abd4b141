#pragma once
// gRPC edge of FirmwareService over FirmwareManager. UploadRelease is a client stream: the
// reactor authenticates, hands the header and each chunk to the manager as they arrive (one read
// outstanding at a time, so a fast client is flow-controlled by gRPC), and finishes with the
// manager's answer. An error ends the call at once; the session's temporary file goes with it.

#include "camfleet/v1/firmware.grpc.pb.h"
#include "services/firmware/firmware_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::firmware_service {

class FirmwareHandler final : public v1::FirmwareService::CallbackService {
 public:
  FirmwareHandler(FirmwareManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

  grpc::ServerReadReactor<v1::UploadReleaseRequest>* UploadRelease(
      grpc::CallbackServerContext* ctx, v1::UploadReleaseResponse* resp) override;
  grpc::ServerWriteReactor<v1::ExportReleaseResponse>* ExportRelease(
      grpc::CallbackServerContext* ctx, const v1::ExportReleaseRequest* req) override;

#define CAMFLEET_FIRMWARE_RPC(Method)                                                          \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                           \
                                   const v1::Method##Request* req, v1::Method##Response* resp) \
      override;
  CAMFLEET_FIRMWARE_RPC(ListReleases)
  CAMFLEET_FIRMWARE_RPC(WithdrawRelease)
  CAMFLEET_FIRMWARE_RPC(AddSigningKey)
  CAMFLEET_FIRMWARE_RPC(ListSigningKeys)
  CAMFLEET_FIRMWARE_RPC(RetireSigningKey)
#undef CAMFLEET_FIRMWARE_RPC

 private:
  FirmwareManager& manager_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::firmware_service
