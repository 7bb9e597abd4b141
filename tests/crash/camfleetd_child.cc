#include "tests/crash/camfleetd_child.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace camfleet::testing {

absl::StatusOr<std::unique_ptr<CamfleetdChild>> CamfleetdChild::Start(
    const std::string& binary, const TempDir& dir, const std::string& db, int run,
    absl::Duration timeout, const std::string& dev_operator) {
  const std::string port_file = dir.File(absl::StrCat("port-", run));
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn({binary, "serve", "--insecure-dev", "--listen", "127.0.0.1:0",
                           "--port-file", port_file, "--db", db, "--dev-operator", dev_operator},
                          dir.File(absl::StrCat("camfleetd-", run, ".log")));
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> port = WaitForFileLine(port_file, timeout, child->get());
  int port_number = 0;
  if (!port.ok() || !absl::SimpleAtoi(*port, &port_number) || port_number <= 0) {
    return absl::UnavailableError(absl::StrCat("camfleetd did not report its port (",
                                               port.status().message(), "); its log:\n",
                                               (*child)->LogTail()));
  }
  auto server = std::unique_ptr<CamfleetdChild>(new CamfleetdChild());
  server->process_ = *std::move(child);
  server->target_ = absl::StrCat("127.0.0.1:", port_number);
  return server;
}

}  // namespace camfleet::testing
