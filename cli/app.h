#pragma once
// camfleet's entry point as a function, so tests can run whole command lines in-process against
// a real server and read what a user would see.

#include <string>
#include <vector>

#include "cli/session.h"

namespace camfleet::cli {

// Runs one command line (args[0] is the program name) and returns the exit code (see
// session.h): output goes to env.out, errors and hints to env.err.
int RunCamfleet(const std::vector<std::string>& args, const Environment& env);

}  // namespace camfleet::cli
