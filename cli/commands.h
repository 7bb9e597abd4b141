#pragma once
// The command tree. Each Add*Commands registers one noun's subcommands on `app`; when one of
// them is chosen on the command line, its callback stores what to run in `*selected`.
// Shared pieces for the command files live here too.

#include <cstdint>
#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "camfleet/v1/provisioning.pb.h"
#include "cli/session.h"
#include "cli/time_format.h"

namespace camfleet::cli {

void AddSiteCommands(CLI::App& app, Action* selected);
// `site rules SITE [flags]` (site_rules_commands.cc), under the `site` command.
void AddSiteRulesCommand(CLI::App* site, Action* selected);
void AddHolderCommands(CLI::App& app, Action* selected);
// `camera ...`, plus the top-level shortcuts `issue` and `return`.
void AddCameraCommands(CLI::App& app, Action* selected);
// `overdue` and `custody`.
void AddCustodyCommands(CLI::App& app, Action* selected);
void AddAuditCommands(CLI::App& app, Action* selected);
// `whoami` and `operator add|list|revoke|renew`.
void AddOperatorCommands(CLI::App& app, Action* selected);
// `token create|list` and `dock list|revoke`.
void AddEnrollmentCommands(CLI::App& app, Action* selected);
// `cert list|revoke`, `crl` and `supplier-ca add|list`.
void AddCertificateCommands(CLI::App& app, Action* selected);
// `alert list|ack`, `conflict list|resolve` and `health SERIAL`.
void AddMonitoringCommands(CLI::App& app, Action* selected);
// `firmware upload|list|withdraw` and `firmware key add|list|retire`.
void AddFirmwareCommands(CLI::App& app, Action* selected);
// `rollout create|list|show|pause|resume|next-wave|abort|retry`.
void AddRolloutCommands(CLI::App& app, Action* selected);

// `web`: a one-time sign-in link to camfleetd's web page (web_commands.cc).
void AddWebCommands(CLI::App& app, Action* selected);

// Makes `command` store `run` in `*selected` once the command line has been parsed.
void SetAction(CLI::App* command, Action* selected, std::function<int(Session&)> run);
// The same for a command that needs no server (needs_server = false).
void SetLocalAction(CLI::App* command, Action* selected, std::function<int(Session&)> run);

// Checks an argument parses as ParseTimeArg accepts (a duration or RFC3339), so mistakes are
// reported as usage errors before anything is sent.
CLI::Validator TimeArgValidator();
// Checks an argument names a camera state.
CLI::Validator CameraStateValidator();
// Checks an argument names a role: an operator role, or with `any_role` dock and camera too.
CLI::Validator RoleValidator(bool any_role);
// Checks an argument names a revocation reason.
CLI::Validator RevocationReasonValidator();

// Adds the required `--reason` of a revoke command, checked while parsing.
void AddReasonOption(CLI::App* command, std::string* reason);

// "in 3h12m", or "2d4h ago" for a time in the past; to the nearest minute.
std::string RelativeTo(absl::Time t, absl::Time now);
// A certificate's state for a table: "valid", "expired", "not yet valid" or
// "revoked (key-compromise)".
std::string CertificateState(const v1::Certificate& cert, absl::Time now);

// --limit N and --all on a list command.
struct PageFlags {
  int32_t limit = 0;  // 0: the server's default page (100)
  bool all = false;
};
void AddPageFlags(CLI::App* command, PageFlags* flags);

// Fetches one page, or with --all every page, merged into one response with an empty
// next_page_token. With one page the response keeps its token, so scripts can see there is
// more.
template <typename Request, typename Response>
absl::StatusOr<Response> FetchPages(
    Request request, const PageFlags& flags,
    const std::function<absl::StatusOr<Response>(const Request&)>& fetch) {
  // Fetching everything goes faster in the largest pages the server gives.
  request.set_page_size(flags.limit > 0 ? flags.limit : (flags.all ? 1000 : 0));
  Response merged;
  while (true) {
    absl::StatusOr<Response> page = fetch(request);
    if (!page.ok()) return page.status();
    std::string token = page->next_page_token();
    merged.MergeFrom(*page);
    merged.set_next_page_token(token);
    if (!flags.all || token.empty()) return merged;
    request.set_page_token(token);
  }
}

// On stderr, when a page was cut short: "more <noun> exist; add --all to list them all".
void PrintMoreHint(Session& session, const std::string& next_page_token, const char* noun);

// Prints a failed call as an RPC error, the response as JSON with --json, or else calls
// `human` to print it for people. Returns the exit code.
template <typename Response, typename Human>
int Finish(Session& session, const absl::StatusOr<Response>& response, Human human) {
  if (!response.ok()) return session.RpcError(response.status());
  if (session.json()) return session.PrintJson(*response);
  human(*response);
  return kExitOk;
}

}  // namespace camfleet::cli
