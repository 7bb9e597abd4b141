#ifndef CAMFLEET_TESTS_TESTING_CLI_RESULT_H_
#define CAMFLEET_TESTS_TESTING_CLI_RESULT_H_

// What a command line run in-process left: its exit code and both streams.

#include <ostream>
#include <string>

namespace camfleet::testing {

struct CliResult {
  int code = 0;
  std::string out;
  std::string err;
};
// For failure messages: the exit code and both streams.
inline std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

}  // namespace camfleet::testing

#endif  // CAMFLEET_TESTS_TESTING_CLI_RESULT_H_
