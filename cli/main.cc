// camfleet: the quartermaster's command line. Everything is in RunCamfleet (cli/app.h).

#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/connection_config.h"
#include "common/clock.h"

int main(int argc, char** argv) {
  camfleet::common::RealClock clock;
  camfleet::cli::Environment env{.out = &std::cout,
                                 .err = &std::cerr,
                                 .getenv = camfleet::cli::ProcessEnvironment(),
                                 .clock = &clock};
  return camfleet::cli::RunCamfleet(std::vector<std::string>(argv, argv + argc), env);
}
