#include "agent/sim/control_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/rpc_status.h"
#include "camfleet/sim/v1/camsim_control.grpc.pb.h"

namespace camfleet::camsim {

namespace simpb = ::camfleet::sim::v1;

class ControlServer::Service final : public simpb::CamsimControlService::Service {
 public:
  explicit Service(CameraUnit& unit) : unit_(unit) {}

  grpc::Status TakeOut(grpc::ServerContext* /*ctx*/, const simpb::TakeOutRequest* /*req*/,
                       simpb::TakeOutResponse* /*resp*/) override {
    return agent::ToGrpc(unit_.TakeOut());
  }

  grpc::Status PutIn(grpc::ServerContext* /*ctx*/, const simpb::PutInRequest* req,
                     simpb::PutInResponse* /*resp*/) override {
    return agent::ToGrpc(unit_.PutIn(req->socket_path()));
  }

  grpc::Status GetStatus(grpc::ServerContext* /*ctx*/, const simpb::GetStatusRequest* /*req*/,
                         simpb::GetStatusResponse* resp) override {
    const CameraStatus status = unit_.camera().Status();
    resp->set_serial(unit_.camera().Identify().serial);
    resp->set_in_slot(status.in_slot);
    resp->set_socket_path(unit_.socket_path().value_or(""));
    resp->set_battery_percent(
        static_cast<uint32_t>(std::lround(status.battery.state_of_charge * 100)));
    resp->set_battery_health_percent(
        static_cast<uint32_t>(std::lround(status.state_of_health * 100)));
    resp->set_cycle_count(status.cycle_count);
    return grpc::Status::OK;
  }

  grpc::Status InjectFault(grpc::ServerContext* /*ctx*/, const simpb::InjectFaultRequest* req,
                           simpb::InjectFaultResponse* /*resp*/) override {
    switch (req->fault_case()) {
      case simpb::InjectFaultRequest::kBatteryHealthPercent:
        if (req->battery_health_percent() < 5 || req->battery_health_percent() > 100) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "battery_health_percent: give 5-100");
        }
        return agent::ToGrpc(
            unit_.camera().SetBatteryHealth(req->battery_health_percent() / 100.0));
      case simpb::InjectFaultRequest::kDropLinkAnswers:
        if (req->drop_link_answers() < 1 || req->drop_link_answers() > 1000) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "drop_link_answers: give 1-1000");
        }
        unit_.camera().DropLinkAnswers(static_cast<int>(req->drop_link_answers()));
        return grpc::Status::OK;
      case simpb::InjectFaultRequest::kClockSkew:
        return agent::ToGrpc(
            unit_.camera().SkewClock(absl::Seconds(req->clock_skew().seconds()) +
                                     absl::Nanoseconds(req->clock_skew().nanos())));
      case simpb::InjectFaultRequest::kFlashWriteErrors:
        if (req->flash_write_errors() < 1 || req->flash_write_errors() > 1000) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "flash_write_errors: give 1-1000");
        }
        unit_.camera().FailFlashWrites(static_cast<int>(req->flash_write_errors()));
        return grpc::Status::OK;
      case simpb::InjectFaultRequest::kFailNextBoot:
        if (!req->fail_next_boot()) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "fail_next_boot: give true");
        }
        unit_.camera().FailNextBoot();
        return grpc::Status::OK;
      case simpb::InjectFaultRequest::FAULT_NOT_SET:
        break;
    }
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "fault: give one");
  }

 private:
  CameraUnit& unit_;
};

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(
    CameraUnit& unit, const std::string& socket_path) {
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(socket_path, " exists and is not a socket; refusing to replace it"));
    }
    ::unlink(socket_path.c_str());  // left by a previous run that did not shut down
  }
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->socket_path_ = socket_path;
  server->service_ = std::make_unique<Service>(unit);
  grpc::ServerBuilder builder;
  // Whoever may open the socket file may handle the camera; the state directory is 0700.
  builder.AddListeningPort(absl::StrCat("unix:", socket_path), grpc::InsecureServerCredentials());
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on unix socket ", socket_path));
  }
  return server;
}

ControlServer::~ControlServer() {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  ::unlink(socket_path_.c_str());
}

}  // namespace camfleet::camsim
