#include "cli/commands.h"

#include "absl/time/clock.h"
#include "cli/enum_names.h"

namespace camfleet::cli {

void SetAction(CLI::App* command, Action* selected, std::function<int(Session&)> run) {
  command->callback([selected, run = std::move(run)] { *selected = Action{run, true}; });
}

void SetLocalAction(CLI::App* command, Action* selected, std::function<int(Session&)> run) {
  command->callback([selected, run = std::move(run)] { *selected = Action{run, false}; });
}

CLI::Validator TimeArgValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        // Only the syntax is checked here; the command resolves it against its own clock.
        absl::StatusOr<absl::Time> t = ParseTimeArg(text, absl::UnixEpoch(), Relative::kFuture);
        return t.ok() ? "" : std::string(t.status().message());
      },
      "");
}

CLI::Validator CameraStateValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        absl::StatusOr<v1::CameraState> state = ParseCameraState(text);
        return state.ok() ? "" : std::string(state.status().message());
      },
      "");
}

void AddPageFlags(CLI::App* command, PageFlags* flags) {
  command->add_option("--limit", flags->limit, "At most this many per page (1-1000; default 100)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  command->add_flag("--all", flags->all, "Fetch every page, not just the first");
}

void PrintMoreHint(Session& session, const std::string& next_page_token, const char* noun) {
  if (next_page_token.empty() || session.json()) return;
  session.err() << "more " << noun << " exist; add --all to list them all\n";
}

}  // namespace camfleet::cli
