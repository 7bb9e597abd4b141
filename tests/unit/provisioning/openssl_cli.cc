#include "tests/unit/provisioning/openssl_cli.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace camfleet::provisioning_test {

CommandResult RunOpenSsl(const std::vector<std::string>& args) {
  CommandResult result;
  std::array<int, 2> pipe_fds{};
  if (::pipe(pipe_fds.data()) != 0) return result;
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(kOpenSslBinary));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execv(kOpenSslBinary, argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace camfleet::provisioning_test
