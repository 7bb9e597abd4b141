// camfleet: the quartermaster's command line. Everything is in RunCamfleet (cli/app.h).

#include <grpc/support/log.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/connection_config.h"
#include "common/clock.h"

int main(int argc, char** argv) {
  // gRPC logs a failed TLS handshake itself; camfleet reports every failed call with a hint, so
  // those lines would only say it twice, in gRPC's words. GRPC_VERBOSITY brings them back.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function([](gpr_log_func_args*) {});
  }
  camfleet::common::RealClock clock;
  camfleet::cli::Environment env{.out = &std::cout,
                                 .err = &std::cerr,
                                 .getenv = camfleet::cli::ProcessEnvironment(),
                                 .clock = &clock};
  return camfleet::cli::RunCamfleet(std::vector<std::string>(argv, argv + argc), env);
}
