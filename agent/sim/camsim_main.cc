// camfleet-camsim: a simulated camera serving the camera link on a unix socket, with its state
// (key, certificate, identity) kept in a directory so that it survives restarts.
//
//   camfleet-camsim --state DIR --socket PATH --serial S --model M [--skew-clock DURATION]
//
// Runs until SIGINT or SIGTERM. Exit status: 0 after a clean stop, 1 if the camera could not
// start (the message says why), 2 for a bad command line.

#include <grpc/support/log.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/time/time.h"
#include "agent/sim/camera_link_server.h"
#include "agent/sim/camera_simulator.h"

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }
  camfleet::camsim::CameraSimulatorOptions options;
  std::string socket_path;
  std::string skew = "0s";
  CLI::App app("camfleet-camsim: a simulated body-worn camera for one dock slot",
               "camfleet-camsim");
  app.add_option("--state", options.state_dir,
                 "Directory the camera keeps its key, certificate and identity in (made 0700)")
      ->required()
      ->type_name("DIR");
  app.add_option("--socket", socket_path, "Unix socket to serve the camera link on")
      ->required()
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
                 "Fault: the camera's clock is this far ahead, or behind if negative (e.g. -48h)")
      ->type_name("DURATION");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  absl::Duration clock_skew;
  if (!absl::ParseDuration(skew, &clock_skew)) {
    std::cerr << "error: --skew-clock '" << skew << "' is not a duration like 48h or -10m\n";
    return 2;
  }
  options.clock_skew = clock_skew;

  // Stop signals are taken with sigwait on this thread, after the server runs.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<camfleet::camsim::CameraSimulator>> camera =
      camfleet::camsim::CameraSimulator::Open(options);
  if (!camera.ok()) {
    std::cerr << "error: " << camera.status() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<camfleet::camsim::CameraLinkServer>> server =
      camfleet::camsim::CameraLinkServer::Start(**camera, socket_path);
  if (!server.ok()) {
    std::cerr << "error: " << server.status() << "\n";
    return 1;
  }
  const camfleet::camsim::CameraIdentity id = (*camera)->Identify();
  std::cout << "camera " << id.serial << " (" << id.model << ", firmware " << id.firmware_version
            << ", " << (id.certificate_pem.empty() ? "no certificate" : "has a certificate")
            << ") serving on " << socket_path << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*server)->Shutdown();
  std::cout << "camera " << id.serial << " stopped" << std::endl;
  return 0;
}
