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

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

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
    id.device_time = FromProto(resp.device_time());
    return id;
  }

  absl::StatusOr<std::string> CreateCsr() override { return CallCreateCsr(/*fresh=*/false); }
  absl::StatusOr<std::string> CreateFreshCsr() override { return CallCreateCsr(/*fresh=*/true); }

  absl::StatusOr<std::string> ProveCurrentKey(const std::string& csr_pem) override {
    device::ProveCurrentKeyRequest req;
    req.set_csr_pem(csr_pem);
    device::ProveCurrentKeyResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s = FromGrpc(stub_->ProveCurrentKey(&ctx, req, &resp)); !s.ok()) return s;
    return resp.signature();
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

  absl::StatusOr<HealthSnapshot> ReadHealth() override {
    device::ReadHealthResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s = FromGrpc(stub_->ReadHealth(&ctx, device::ReadHealthRequest(), &resp));
        !s.ok()) {
      return s;
    }
    const device::HealthReading& r = resp.reading();
    HealthSnapshot h;
    h.device_time = FromProto(r.device_time());
    h.sequence = r.camera_sequence();
    h.battery_percent = r.battery_percent();
    h.full_charge_capacity_mah = r.full_charge_capacity_mah();
    h.design_capacity_mah = r.design_capacity_mah();
    h.cycle_count = r.cycle_count();
    h.temperature_decicelsius = r.temperature_decicelsius();
    h.voltage_mv = r.voltage_mv();
    h.charging = r.charging();
    h.storage_used_bytes = r.storage_used_bytes();
    h.storage_total_bytes = r.storage_total_bytes();
    h.firmware_version = r.firmware_version();
    h.slot_a_version = r.slot_a_version();
    h.slot_b_version = r.slot_b_version();
    h.error_counters.insert(r.error_counters().begin(), r.error_counters().end());
    h.uptime = FromProto(r.uptime());
    return h;
  }

  absl::Status SetClock(absl::Time now) override {
    if (now < absl::FromUnixSeconds(0) || now >= absl::FromUnixSeconds(253402300800)) {
      return absl::InvalidArgumentError(
          absl::StrCat("SetClock: ", absl::FormatTime(now), " is outside 1970-9999"));
    }
    device::SetClockRequest req;
    const int64_t seconds = absl::ToUnixSeconds(now);
    req.mutable_now()->set_seconds(seconds);
    req.mutable_now()->set_nanos(
        static_cast<int32_t>((now - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
    device::SetClockResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    return FromGrpc(stub_->SetClock(&ctx, req, &resp));
  }

  absl::StatusOr<uint64_t> BeginFirmwareStage(const std::string& manifest,
                                              const std::string& signature) override {
    device::BeginFirmwareStageRequest req;
    req.set_manifest(manifest);
    req.set_signature(signature);
    device::BeginFirmwareStageResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s = FromGrpc(stub_->BeginFirmwareStage(&ctx, req, &resp)); !s.ok()) return s;
    return resp.next_offset();
  }

  absl::Status WriteFirmwareChunk(uint64_t offset, const std::string& data) override {
    device::WriteFirmwareChunkRequest req;
    req.set_offset(offset);
    req.set_data(data);
    device::WriteFirmwareChunkResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    return FromGrpc(stub_->WriteFirmwareChunk(&ctx, req, &resp));
  }

  absl::StatusOr<CameraFirmwareStatus> ActivateFirmware() override {
    device::ActivateFirmwareResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s =
            FromGrpc(stub_->ActivateFirmware(&ctx, device::ActivateFirmwareRequest(), &resp));
        !s.ok()) {
      return s;
    }
    return StatusFromProto(resp.status());
  }

  absl::StatusOr<CameraFirmwareStatus> GetFirmwareStatus() override {
    device::GetFirmwareStatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s =
            FromGrpc(stub_->GetFirmwareStatus(&ctx, device::GetFirmwareStatusRequest(), &resp));
        !s.ok()) {
      return s;
    }
    return StatusFromProto(resp.status());
  }

 private:
  static CameraFirmwareStatus StatusFromProto(const device::FirmwareStatus& p) {
    CameraFirmwareStatus s;
    s.running_version = p.running_version();
    s.active_slot = p.active_slot() == "B" ? 'B' : 'A';
    s.slot_a_version = p.slot_a_version();
    s.slot_b_version = p.slot_b_version();
    s.staged_version = p.staged_version();
    s.staged_bytes = p.staged_bytes();
    s.staged_size = p.staged_size_bytes();
    s.last_install_version = p.last_install_version();
    s.last_install_result =
        p.last_install_result() == device::INSTALL_RESULT_CONFIRMED     ? InstallResult::kConfirmed
        : p.last_install_result() == device::INSTALL_RESULT_ROLLED_BACK ? InstallResult::kRolledBack
                                                                        : InstallResult::kNone;
    s.last_install_error = p.last_install_error();
    s.install_sequence = p.install_sequence();
    return s;
  }

  absl::StatusOr<std::string> CallCreateCsr(bool fresh) {
    device::CreateCsrRequest req;
    req.set_fresh(fresh);
    device::CreateCsrResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
    if (absl::Status s = FromGrpc(stub_->CreateCsr(&ctx, req, &resp)); !s.ok()) return s;
    return resp.csr_pem();
  }

  std::unique_ptr<device::CameraLinkService::Stub> stub_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<CameraLink> NewGrpcCameraLink(const std::string& socket_path,
                                              absl::Duration deadline) {
  // A dedicated connection per slot, so one camera's trouble cannot stall another's.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A camera put back into the slot should answer the next call, not after gRPC's reconnect
  // backoff (which grows to two minutes): reconnecting a local socket costs nothing.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return std::make_unique<GrpcCameraLink>(
      grpc::CreateCustomChannel(absl::StrCat("unix:", socket_path),
                                grpc::InsecureChannelCredentials(), args),
      deadline);
}

}  // namespace camfleet::agent
