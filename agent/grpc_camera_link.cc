#include "agent/grpc_camera_link.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/rpc_status.h"
#include "camfleet/device/v1/camera_link.grpc.pb.h"

namespace camfleet::agent {
namespace {

namespace device = ::camfleet::device::v1;

class GrpcCameraLink final : public CameraLink {
 public:
  GrpcCameraLink(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline)
      : stub_(device::CameraLinkService::NewStub(std::move(channel))), deadline_(deadline) {}

  absl::StatusOr<CameraIdentity> Identify() override {
    device::IdentifyResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s = FromGrpc(stub_->Identify(&ctx, device::IdentifyRequest(), &resp));
        !s.ok()) {
      return s;
    }
    CameraIdentity id;
    id.serial = resp.serial();
    id.model = resp.model();
    id.hardware_revision = resp.hardware_revision();
    id.firmware_version = resp.firmware_version();
    id.certificate_pem = resp.certificate_pem();
    id.device_time = absl::FromUnixSeconds(resp.device_time().seconds()) +
                     absl::Nanoseconds(resp.device_time().nanos());
    return id;
  }

  absl::StatusOr<std::string> CreateCsr() override {
    device::CreateCsrResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s = FromGrpc(stub_->CreateCsr(&ctx, device::CreateCsrRequest(), &resp));
        !s.ok()) {
      return s;
    }
    return resp.csr_pem();
  }

  absl::Status InstallCertificate(const std::string& certificate_pem,
                                  const std::string& ca_certificate_pem) override {
    device::InstallCertificateRequest req;
    req.set_certificate_pem(certificate_pem);
    req.set_ca_certificate_pem(ca_certificate_pem);
    device::InstallCertificateResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    return FromGrpc(stub_->InstallCertificate(&ctx, req, &resp));
  }

 private:
  std::unique_ptr<device::CameraLinkService::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<CameraLink> NewGrpcCameraLink(const std::string& socket_path,
                                              absl::Duration deadline) {
  // A dedicated connection per slot, so one camera's trouble cannot stall another's.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return std::make_unique<GrpcCameraLink>(
      grpc::CreateCustomChannel(absl::StrCat("unix:", socket_path),
                                grpc::InsecureChannelCredentials(), args),
      deadline);
}

}  // namespace camfleet::agent
