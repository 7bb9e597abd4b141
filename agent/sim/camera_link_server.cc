#include "agent/sim/camera_link_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/rpc_status.h"
#include "camfleet/device/v1/camera_link.grpc.pb.h"

namespace camfleet::camsim {

namespace device = ::camfleet::device::v1;

namespace {

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
}

}  // namespace

// One thread that runs the camera's work in order, with a bounded queue: a camera flooded with
// requests says it is busy (UNAVAILABLE) rather than queueing without end.
class CameraLinkServer::Worker {
 public:
  static constexpr size_t kMaxQueued = 16;

  Worker() : thread_([this] { Loop(); }) {}
  ~Worker() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // False if the queue is full.
  bool Post(absl::AnyInvocable<void()> job) {
    absl::MutexLock lock(&mu_);
    if (jobs_.size() >= kMaxQueued) return false;
    jobs_.push_back(std::move(job));
    return true;
  }

 private:
  void Loop() {
    while (true) {
      absl::AnyInvocable<void()> job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Worker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
              return w->stopping_ || !w->jobs_.empty();
            },
            this));
        // Drain before stopping: every posted job finishes a reactor.
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class CameraLinkServer::Service final : public device::CameraLinkService::CallbackService {
 public:
  Service(CameraSimulator& camera, Worker& worker) : camera_(camera), worker_(worker) {}

  grpc::ServerUnaryReactor* Identify(grpc::CallbackServerContext* ctx,
                                     const device::IdentifyRequest* /*req*/,
                                     device::IdentifyResponse* resp) override {
    return Run(ctx, [this, resp] {
      const CameraIdentity id = camera_.Identify();
      resp->set_serial(id.serial);
      resp->set_model(id.model);
      resp->set_hardware_revision(id.hardware_revision);
      resp->set_firmware_version(id.firmware_version);
      resp->set_certificate_pem(id.certificate_pem);
      ToProto(id.device_time, resp->mutable_device_time());
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* CreateCsr(grpc::CallbackServerContext* ctx,
                                      const device::CreateCsrRequest* req,
                                      device::CreateCsrResponse* resp) override {
    return Run(ctx, [this, req, resp] {
      absl::StatusOr<std::string> csr = camera_.CreateCsr(req->fresh());
      if (!csr.ok()) return csr.status();
      resp->set_csr_pem(*std::move(csr));
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* ProveCurrentKey(grpc::CallbackServerContext* ctx,
                                            const device::ProveCurrentKeyRequest* req,
                                            device::ProveCurrentKeyResponse* resp) override {
    return Run(ctx, [this, req, resp] {
      absl::StatusOr<std::string> signature = camera_.ProveCurrentKey(req->csr_pem());
      if (!signature.ok()) return signature.status();
      resp->set_signature(*std::move(signature));
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* InstallCertificate(grpc::CallbackServerContext* ctx,
                                               const device::InstallCertificateRequest* req,
                                               device::InstallCertificateResponse* resp) override {
    return Run(ctx, [this, req, resp] {
      absl::StatusOr<std::string> serial =
          camera_.InstallCertificate(req->certificate_pem(), req->ca_certificate_pem());
      if (!serial.ok()) return serial.status();
      resp->set_certificate_serial(*std::move(serial));
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* ReadHealth(grpc::CallbackServerContext* ctx,
                                       const device::ReadHealthRequest* /*req*/,
                                       device::ReadHealthResponse* resp) override {
    return Run(ctx, [this, resp] {
      absl::StatusOr<HealthReading> h = camera_.ReadHealth();
      if (!h.ok()) return h.status();
      device::HealthReading* r = resp->mutable_reading();
      ToProto(h->device_time, r->mutable_device_time());
      r->set_camera_sequence(h->sequence);
      r->set_battery_percent(h->battery_percent);
      r->set_full_charge_capacity_mah(h->full_charge_capacity_mah);
      r->set_design_capacity_mah(h->design_capacity_mah);
      r->set_cycle_count(h->cycle_count);
      r->set_temperature_decicelsius(h->temperature_decicelsius);
      r->set_voltage_mv(h->voltage_mv);
      r->set_charging(h->charging);
      r->set_storage_used_bytes(h->storage_used_bytes);
      r->set_storage_total_bytes(h->storage_total_bytes);
      r->set_firmware_version(h->firmware_version);
      r->set_slot_a_version(h->slot_a_version);
      r->set_slot_b_version(h->slot_b_version);
      r->mutable_error_counters()->insert(h->error_counters.begin(), h->error_counters.end());
      const absl::Duration uptime = h->uptime;
      const int64_t seconds = absl::ToInt64Seconds(uptime);
      r->mutable_uptime()->set_seconds(seconds);
      r->mutable_uptime()->set_nanos(
          static_cast<int32_t>((uptime - absl::Seconds(seconds)) / absl::Nanoseconds(1)));
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* SetClock(grpc::CallbackServerContext* ctx,
                                     const device::SetClockRequest* req,
                                     device::SetClockResponse* resp) override {
    if (!req->has_now() || req->now().nanos() < 0 || req->now().nanos() >= 1000000000) {
      grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
      reactor->Finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "now: give a valid timestamp"));
      return reactor;
    }
    const absl::Time now =
        absl::FromUnixSeconds(req->now().seconds()) + absl::Nanoseconds(req->now().nanos());
    return Run(ctx, [this, now, resp] {
      absl::StatusOr<absl::Time> previous = camera_.SetClock(now);
      if (!previous.ok()) return previous.status();
      ToProto(*previous, resp->mutable_previous_device_time());
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* BeginFirmwareStage(grpc::CallbackServerContext* ctx,
                                               const device::BeginFirmwareStageRequest* req,
                                               device::BeginFirmwareStageResponse* resp) override {
    return Run(ctx, [this, req, resp] {
      absl::StatusOr<uint64_t> offset =
          camera_.BeginFirmwareStage(req->manifest(), req->signature());
      if (!offset.ok()) return offset.status();
      resp->set_next_offset(*offset);
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* WriteFirmwareChunk(
      grpc::CallbackServerContext* ctx, const device::WriteFirmwareChunkRequest* req,
      device::WriteFirmwareChunkResponse* /*resp*/) override {
    if (req->data().empty() || req->data().size() > (1u << 20)) {
      grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
      reactor->Finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "data: send 1 byte to 1 MiB per chunk"));
      return reactor;
    }
    return Run(ctx, [this, req] { return camera_.WriteFirmwareChunk(req->offset(), req->data()); });
  }

  grpc::ServerUnaryReactor* ActivateFirmware(grpc::CallbackServerContext* ctx,
                                             const device::ActivateFirmwareRequest* /*req*/,
                                             device::ActivateFirmwareResponse* resp) override {
    return Run(ctx, [this, resp] {
      absl::StatusOr<FirmwareStatus> status = camera_.ActivateFirmware();
      if (!status.ok()) return status.status();
      StatusToProto(*status, resp->mutable_status());
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* GetFirmwareStatus(grpc::CallbackServerContext* ctx,
                                              const device::GetFirmwareStatusRequest* /*req*/,
                                              device::GetFirmwareStatusResponse* resp) override {
    return Run(ctx, [this, resp] {
      StatusToProto(camera_.GetFirmwareStatus(), resp->mutable_status());
      return absl::OkStatus();
    });
  }

 private:
  static void StatusToProto(const FirmwareStatus& s, device::FirmwareStatus* p) {
    p->set_running_version(s.running_version);
    p->set_active_slot(std::string(1, s.active_slot));
    p->set_slot_a_version(s.slot_a_version);
    p->set_slot_b_version(s.slot_b_version);
    p->set_staged_version(s.staged_version);
    p->set_staged_bytes(s.staged_bytes);
    p->set_staged_size_bytes(s.staged_size);
    p->set_last_install_version(s.last_install_version);
    p->set_last_install_result(
        s.last_install_result == "confirmed"     ? device::INSTALL_RESULT_CONFIRMED
        : s.last_install_result == "rolled_back" ? device::INSTALL_RESULT_ROLLED_BACK
                                                 : device::INSTALL_RESULT_UNSPECIFIED);
    p->set_last_install_error(s.last_install_error);
    p->set_install_sequence(s.install_sequence);
  }

  // Runs `work` on the camera's worker and finishes the call with its status. A camera out of
  // its slot does not answer; with the link-drop fault the work is done and the answer lost.
  template <typename Fn>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, Fn work) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!worker_.Post([this, reactor, work = std::move(work)]() mutable {
          if (!camera_.InSlot()) {
            reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no camera in the slot"));
            return;
          }
          const absl::Status status = work();
          if (camera_.TakeLinkDrop()) {
            reactor->Finish(
                grpc::Status(grpc::StatusCode::UNAVAILABLE, "link to the camera dropped mid-call"));
            return;
          }
          reactor->Finish(agent::ToGrpc(status));
        })) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "camera busy; retry"));
    }
    return reactor;
  }

  CameraSimulator& camera_;
  Worker& worker_;
};

absl::StatusOr<std::unique_ptr<CameraLinkServer>> CameraLinkServer::Start(
    CameraSimulator& camera, const std::string& socket_path) {
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(socket_path, " exists and is not a socket; refusing to replace it"));
    }
    ::unlink(socket_path.c_str());  // left by a previous run that did not shut down
  }
  std::unique_ptr<CameraLinkServer> server(new CameraLinkServer());
  server->socket_path_ = socket_path;
  server->worker_ = std::make_unique<Worker>();
  server->service_ = std::make_unique<Service>(camera, *server->worker_);
  grpc::ServerBuilder builder;
  // The socket is the cable: plaintext, and reachable only by whoever may open the file.
  builder.AddListeningPort(absl::StrCat("unix:", socket_path), grpc::InsecureServerCredentials());
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on unix socket ", socket_path));
  }
  return server;
}

void CameraLinkServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  ::unlink(socket_path_.c_str());
}

CameraLinkServer::~CameraLinkServer() {
  if (server_ != nullptr) Shutdown();
  // The server is gone, so nothing posts any more; the worker drains and stops.
  server_.reset();
  service_.reset();
  worker_.reset();
}

}  // namespace camfleet::camsim
