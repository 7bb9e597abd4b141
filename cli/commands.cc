#include "cli/commands.h"

#include "absl/strings/str_cat.h"
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

CLI::Validator RoleValidator(bool any_role) {
  return CLI::Validator(
      [any_role](std::string& text) -> std::string {
        absl::StatusOr<v1::Role> role = any_role ? ParseRole(text) : ParseOperatorRole(text);
        return role.ok() ? "" : std::string(role.status().message());
      },
      "");
}

CLI::Validator RevocationReasonValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        absl::StatusOr<v1::RevocationReason> reason = ParseRevocationReason(text);
        return reason.ok() ? "" : std::string(reason.status().message());
      },
      "");
}

void AddReasonOption(CLI::App* command, std::string* reason) {
  command->add_option("--reason", *reason, "Why: " + RevocationReasonChoices())
      ->required()
      ->type_name("REASON")
      ->check(RevocationReasonValidator());
}

std::string RelativeTo(absl::Time t, absl::Time now) {
  // To the nearest minute: a token made "--ttl 2h" a few milliseconds ago should read "in 2h",
  // not "in 1h59m".
  absl::Duration d = absl::AbsDuration(t - now);
  if (d >= absl::Minutes(1)) d = absl::Trunc(d + absl::Seconds(30), absl::Minutes(1));
  return t >= now ? absl::StrCat("in ", HumanizeDuration(d))
                  : absl::StrCat(HumanizeDuration(d), " ago");
}

std::string CertificateState(const v1::Certificate& cert, absl::Time now) {
  if (cert.has_revoke_time()) {
    const std::string reason = RevocationReasonName(cert.revocation_reason());
    return reason.empty() ? "revoked" : absl::StrCat("revoked (", reason, ")");
  }
  if (cert.has_not_after() && FromTimestamp(cert.not_after()) <= now) return "expired";
  if (cert.has_not_before() && FromTimestamp(cert.not_before()) > now) return "not yet valid";
  return "valid";
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
