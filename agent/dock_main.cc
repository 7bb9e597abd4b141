// camfleet-dock: the dock agent. Everything is in RunDock (agent/dock_cli.h); main adds the real
// clock and stops `run` cleanly on SIGINT or SIGTERM.

#include <grpc/support/log.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "agent/dock_cli.h"
#include "common/clock.h"

int main(int argc, char** argv) {
  // Every failed call is reported on the action's own line; gRPC's log would say it twice.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }
  // SIGINT and SIGTERM are taken by a thread with sigwait rather than a handler, so that
  // stopping is a plain Notify after the current pass, not work in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  absl::Notification stop;
  std::thread([&stop, stop_signals] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    stop.Notify();
  }).detach();

  camfleet::common::RealClock clock;
  camfleet::agent::DockEnvironment env{
      .out = &std::cout, .err = &std::cerr, .clock = &clock, .stop = &stop, .retry_sleep = {}};
  return camfleet::agent::RunDock(std::vector<std::string>(argv, argv + argc), env);
}
