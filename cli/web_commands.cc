// camfleet web [--open]: a one-time sign-in link to camfleetd's web page.

#include <spawn.h>
#include <sys/wait.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/enum_names.h"

extern char** environ;

namespace camfleet::cli {
namespace {

// Runs `xdg-open URL` without a shell (the URL is never parsed by one). Returns whether it
// started and exited 0.
bool OpenInBrowser(const std::string& url) {
  std::string program = "xdg-open";
  std::string arg = url;
  char* argv[] = {program.data(), arg.data(), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "xdg-open", nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

void AddWebCommands(CLI::App& app, Action* selected) {
  auto open = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "web",
      "Print a one-time link that signs you in to camfleetd's web page as the operator of your "
      "certificate (works once, for 5 minutes; the link is on stdout, nothing else)");
  cmd->add_flag("--open", *open, "Also open the link in the desktop's browser (xdg-open)");
  SetAction(cmd, selected, [open](Session& s) {
    auto response =
        s.client().Web(&v1::WebService::Stub::CreateSignInLink, v1::CreateSignInLinkRequest());
    return Finish(s, response, [&](const v1::CreateSignInLinkResponse& r) {
      s.err() << "one-time sign-in link for " << r.operator_name() << " (" << RoleName(r.role())
              << "), works once until "
              << FormatTimestamp(r.expire_time(), r.has_expire_time()) << ":\n";
      s.out() << r.url() << "\n";
      if (*open && !OpenInBrowser(r.url())) {
        s.err() << "could not open a browser with xdg-open; open the link above by hand\n";
      }
    });
  });
}

}  // namespace camfleet::cli
