// camfleet-camsim: a simulated camera serving the camera link on a unix socket, with its state
// (key, certificate, identity, battery, counters) kept in a directory so that it survives
// restarts, and a control socket through which a script moves it between slots and injects
// faults.
//
//   camfleet-camsim --state DIR (--socket PATH | --out) [--control PATH] [--skew-clock DURATION]
//       [--worn-battery PERCENT] [--ambient-celsius C] ...
//   camfleet-camsim ctl (--state DIR | --control PATH) out | in SOCKET | status
//       | wear PERCENT | drop-link N | skew DURATION | flash-errors N | no-boot
//
// The first runs the camera until SIGINT or SIGTERM; exit status 0 after a clean stop, 1 if the
// camera could not start (the message says why), 2 for a bad command line. The second sends one
// command to a running camera and exits 0 when it is done, 1 with the camera's reason when not
// (or when no camera runs there), 2 for a bad command line.

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/rpc_status.h"
#include "agent/sim/camera_simulator.h"
#include "agent/sim/camera_unit.h"
#include "agent/sim/control_server.h"
#include "camfleet/sim/v1/camsim_control.grpc.pb.h"
#include "provisioning/file_io.h"

namespace {

namespace camsim = ::camfleet::camsim;
namespace simpb = ::camfleet::sim::v1;

constexpr char kDefaultControlSocket[] = "control.sock";

std::string DescribeLocation(const std::optional<std::string>& socket) {
  return socket.has_value() ? absl::StrCat("serving on ", *socket) : "out of any slot";
}

int Serve(int argc, char** argv) {
  camsim::CameraSimulatorOptions options;
  std::string socket_path;
  bool out = false;
  std::string control_path;
  std::string skew;
  double worn_percent = 0;
  CLI::App app("camfleet-camsim: a simulated body-worn camera for one dock slot",
               "camfleet-camsim");
  app.add_option("--state", options.state_dir,
                 "Directory the camera keeps its key, certificate, battery and counters in "
                 "(made 0700)")
      ->required()
      ->type_name("DIR");
  app.add_option("--socket", socket_path, "Unix socket of the slot the camera sits in")
      ->type_name("PATH");
  app.add_flag("--out", out, "Start out of any slot (on patrol); put it in with 'ctl in'");
  app.add_option("--control", control_path,
                 "Unix socket for 'camfleet-camsim ctl' (default DIR/control.sock)")
      ->type_name("PATH");
  app.add_option("--serial", options.serial, "Serial number, e.g. CAM-000123")->required();
  app.add_option("--model", options.model, "Model, e.g. BWC-4")->required();
  app.add_option("--hardware-revision", options.hardware_revision,
                 "Hardware revision (new state only)")
      ->capture_default_str();
  app.add_option("--firmware-version", options.firmware_version,
                 "Firmware it runs (new state only)")
      ->capture_default_str();
  app.add_option("--skew-clock", skew,
                 "Fault: the camera's clock is this far ahead, or behind if negative (e.g. -48h); "
                 "kept until the dock sets the clock")
      ->type_name("DURATION");
  app.add_option("--worn-battery", worn_percent,
                 "Fault (new state only): the battery starts at this state of health, % of "
                 "design capacity")
      ->check(CLI::Range(5.0, 100.0))
      ->type_name("PERCENT");
  std::vector<std::string> firmware_key_files;
  app.add_option("--firmware-key", firmware_key_files,
                 "A public key (Ed25519 PEM, camfleet-sign keygen) the camera trusts to sign "
                 "firmware; repeatable")
      ->type_name("FILE");
  app.add_option("--retired-firmware-key", options.retired_firmware_key_ids,
                 "The id of a trusted key that is retired (its releases are refused); repeatable")
      ->type_name("KEY_ID");
  app.add_option("--ambient-celsius", options.battery.ambient_celsius,
                 "Temperature where the camera lives (heat wears the battery faster)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (out == !socket_path.empty()) {
    std::cerr << "error: give either --socket PATH (in a slot) or --out\n";
    return 2;
  }
  if (!skew.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(skew, &d)) {
      std::cerr << "error: --skew-clock '" << skew << "' is not a duration like 48h or -10m\n";
      return 2;
    }
    options.clock_skew = d;
  }
  if (worn_percent > 0) options.battery_health = worn_percent / 100;
  for (const std::string& file : firmware_key_files) {
    absl::StatusOr<camfleet::provisioning::FileContents> pem =
        camfleet::provisioning::ReadSmallFile(file, 64 * 1024);
    if (!pem.ok()) {
      std::cerr << "error: --firmware-key: " << pem.status().message() << "\n";
      return 2;
    }
    options.firmware_keys_pem.push_back(std::move(pem->data));
  }
  if (control_path.empty()) {
    control_path = camfleet::provisioning::JoinPath(options.state_dir, kDefaultControlSocket);
  }

  // Stop signals are taken with sigwait on this thread, after the servers run.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<camsim::CameraUnit>> unit = camsim::CameraUnit::Open(
      options, out ? std::nullopt : std::optional<std::string>(socket_path));
  if (!unit.ok()) {
    std::cerr << "error: " << unit.status() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<camsim::ControlServer>> control =
      camsim::ControlServer::Start(**unit, control_path);
  if (!control.ok()) {
    std::cerr << "error: control socket: " << control.status() << "\n";
    return 1;
  }
  const camsim::CameraIdentity id = (*unit)->camera().Identify();
  std::cout << "camera " << id.serial << " (" << id.model << ", firmware " << id.firmware_version
            << ", " << (id.certificate_pem.empty() ? "no certificate" : "has a certificate") << ") "
            << DescribeLocation((*unit)->socket_path()) << "; control socket " << control_path
            << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  control->reset();
  unit->reset();
  std::cout << "camera " << id.serial << " stopped" << std::endl;
  return 0;
}

int Control(int argc, char** argv) {
  std::string state_dir;
  std::string control_path;
  CLI::App app("camfleet-camsim ctl: tell a running simulated camera what happens to it",
               "camfleet-camsim ctl");
  app.add_option("--state", state_dir, "The camera's state directory (control socket in it)")
      ->type_name("DIR");
  app.add_option("--control", control_path, "The camera's control socket")->type_name("PATH");
  app.require_subcommand(1);
  app.add_subcommand("out", "Take the camera out of its slot (it records on battery)");
  std::string socket;
  app.add_subcommand("in", "Put the camera into the slot at SOCKET (moving it if in another)")
      ->add_option("socket", socket, "The slot's unix socket")
      ->required();
  app.add_subcommand("status", "Where the camera is, battery charge, health and cycles");
  uint32_t percent = 0;
  app.add_subcommand("wear", "Fault: wear the battery to PERCENT of design capacity")
      ->add_option("percent", percent, "State of health, 5-100")
      ->required();
  uint32_t calls = 0;
  app.add_subcommand("drop-link", "Fault: lose the answers of the next N calls from the dock")
      ->add_option("n", calls, "Calls, 1-1000")
      ->required();
  std::string skew;
  app.add_subcommand("skew", "Fault: the camera's clock jumps to DURATION from true time")
      ->add_option("duration", skew, "e.g. -48h")
      ->required();
  uint32_t flash_errors = 0;
  app.add_subcommand("flash-errors", "Fault: the next N firmware chunk writes fail")
      ->add_option("n", flash_errors, "Writes, 1-1000")
      ->required();
  app.add_subcommand("no-boot", "Fault: the next firmware image activated does not boot");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (control_path.empty() == state_dir.empty()) {
    std::cerr << "error: give either --state DIR or --control PATH\n";
    return 2;
  }
  if (control_path.empty()) {
    control_path = camfleet::provisioning::JoinPath(state_dir, kDefaultControlSocket);
  }
  std::unique_ptr<simpb::CamsimControlService::Stub> stub = simpb::CamsimControlService::NewStub(
      grpc::CreateChannel(absl::StrCat("unix:", control_path), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  const std::string command = app.get_subcommands().front()->get_name();
  grpc::Status status;
  if (command == "out") {
    simpb::TakeOutResponse resp;
    status = stub->TakeOut(&ctx, simpb::TakeOutRequest(), &resp);
  } else if (command == "in") {
    simpb::PutInRequest req;
    req.set_socket_path(socket);
    simpb::PutInResponse resp;
    status = stub->PutIn(&ctx, req, &resp);
  } else if (command == "status") {
    simpb::GetStatusResponse resp;
    status = stub->GetStatus(&ctx, simpb::GetStatusRequest(), &resp);
    if (status.ok()) {
      std::cout << "camera " << resp.serial() << " "
                << DescribeLocation(resp.in_slot() ? std::optional<std::string>(resp.socket_path())
                                                   : std::nullopt)
                << "; battery " << resp.battery_percent() << "%, health "
                << resp.battery_health_percent() << "%, " << resp.cycle_count() << " cycles"
                << std::endl;
    }
  } else {
    simpb::InjectFaultRequest req;
    if (command == "wear") {
      req.set_battery_health_percent(percent);
    } else if (command == "drop-link") {
      req.set_drop_link_answers(calls);
    } else if (command == "flash-errors") {
      req.set_flash_write_errors(flash_errors);
    } else if (command == "no-boot") {
      req.set_fail_next_boot(true);
    } else {
      absl::Duration d;
      if (!absl::ParseDuration(skew, &d)) {
        std::cerr << "error: '" << skew << "' is not a duration like 48h or -10m\n";
        return 2;
      }
      req.mutable_clock_skew()->set_seconds(absl::IDivDuration(d, absl::Seconds(1), &d));
      req.mutable_clock_skew()->set_nanos(static_cast<int32_t>(d / absl::Nanoseconds(1)));
    }
    simpb::InjectFaultResponse resp;
    status = stub->InjectFault(&ctx, req, &resp);
  }
  if (!status.ok()) {
    std::cerr << "error: " << camfleet::agent::FromGrpc(status) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }
  if (argc > 1 && std::strcmp(argv[1], "ctl") == 0) return Control(argc - 1, argv + 1);
  return Serve(argc, argv);
}
