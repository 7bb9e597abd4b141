#ifndef CAMFLEET_TESTS_TESTING_CLI_RUN_H_
#define CAMFLEET_TESTS_TESTING_CLI_RUN_H_

// Runs the `camfleet` command line in the test's own process, as a quartermaster would type it,
// with an empty environment: no CAMFLEET_* variables and no ~/.config file of whoever runs the
// test can change what it does.

#include <ostream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "tests/testing/cli_result.h"

namespace camfleet::testing {

// `argv[0]` is the program name.
CliResult RunCli(const std::vector<std::string>& argv, const common::Clock& clock);

// `camfleet --server TARGET --insecure --operator OPERATOR --timeout SECONDS ARGS...`: a call to
// a development (plaintext, loopback) camfleetd as the named operator.
std::vector<std::string> DevCliArgs(const std::string& target, const std::string& op,
                                    int timeout_seconds, const std::vector<std::string>& args);

// `camfleet --server TARGET --credentials DIR --timeout SECONDS ARGS...`: a call over mutual TLS
// with the credentials bundle in DIR.
std::vector<std::string> TlsCliArgs(const std::string& target, const std::string& credentials_dir,
                                    int timeout_seconds, const std::vector<std::string>& args);

}  // namespace camfleet::testing

#endif  // CAMFLEET_TESTS_TESTING_CLI_RUN_H_
