// camfleet token create|list, camfleet dock list|revoke

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/enum_names.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::ProvisioningService::Stub;

void AddTokenCreate(CLI::App* token, Action* selected) {
  struct Args {
    v1::CreateEnrollmentTokenRequest request;
    std::string ttl;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = token->add_subcommand(
      "create", "Make a one-time token a new dock at a site enrolls with (shown once)");
  cmd->footer(
      "The token is printed once and stored on the server only as a hash: give it to the\n"
      "dock's installer now. It works once, until it expires.");
  cmd->add_option("--site", *args->request.mutable_site_code(), "Site the dock will serve")
      ->required();
  cmd->add_option("--ttl", args->ttl, "How long the token works: 1m to 30d (default 24h)")
      ->type_name("24h")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            absl::StatusOr<absl::Duration> d = ParseDuration(text);
            return d.ok() ? "" : std::string(d.status().message());
          },
          ""));
  cmd->add_option("--note", *args->request.mutable_note(),
                  "Note: where the dock goes, who installs it");
  SetAction(cmd, selected, [args](Session& s) {
    v1::CreateEnrollmentTokenRequest request = args->request;
    if (!args->ttl.empty()) {
      absl::StatusOr<absl::Duration> ttl = ParseDuration(args->ttl);
      if (!ttl.ok()) return s.UsageError(ttl.status().message());
      request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
    }
    absl::StatusOr<v1::CreateEnrollmentTokenResponse> response =
        s.client().Provisioning(&Stub::CreateEnrollmentToken, request);
    if (!response.ok()) return s.RpcError(response.status());
    const v1::EnrollmentToken& t = response->enrollment_token();
    const absl::Time expires = FromTimestamp(t.expire_time());
    // Before the token, so that it is the last thing on the screen and is not scrolled away.
    s.err() << "warning: this token is shown once and cannot be shown again; give it to the "
               "dock's installer now, by a safe route\n";
    if (s.json()) return s.PrintJson(*response);
    s.out() << "enrollment token " << t.id() << " for site " << t.site_code() << ", valid until "
            << FormatUtc(expires) << " (" << RelativeTo(expires, s.Now()) << "), one use:\n\n"
            << "  " << response->token() << "\n\n";
    return kExitOk;
  });
}

// "unused", "expired", or "used by post-7-dock-1".
std::string TokenState(const v1::EnrollmentToken& t, absl::Time now) {
  if (t.has_use_time()) return absl::StrCat("used by ", t.used_by_dock());
  if (t.has_expire_time() && FromTimestamp(t.expire_time()) <= now) return "expired";
  return "unused";
}

void AddTokenList(CLI::App* token, Action* selected) {
  auto request = std::make_shared<v1::ListEnrollmentTokensRequest>();
  CLI::App* cmd = token->add_subcommand("list",
                                        "List enrollment tokens, newest first (never "
                                        "their secret)");
  cmd->add_option("--site", *request->mutable_site_code(), "Only tokens for this site");
  SetAction(cmd, selected, [request](Session& s) {
    auto response = FetchPages<v1::ListEnrollmentTokensRequest, v1::ListEnrollmentTokensResponse>(
        *request, PageFlags{.limit = 0, .all = true},
        [&](const v1::ListEnrollmentTokensRequest& r) {
          return s.client().Provisioning(&Stub::ListEnrollmentTokens, r);
        });
    return Finish(s, response, [&](const v1::ListEnrollmentTokensResponse& r) {
      if (r.enrollment_tokens().empty()) {
        s.out() << "no enrollment tokens\n";
        return;
      }
      Table table({"ID", "SITE", "STATE", "EXPIRES", "CREATED", "BY", "NOTE"});
      table.AlignRight(0);
      for (const v1::EnrollmentToken& t : r.enrollment_tokens()) {
        table.AddRow({absl::StrCat(t.id()), t.site_code(), TokenState(t, s.Now()),
                      FormatTimestamp(t.expire_time(), t.has_expire_time()),
                      FormatTimestamp(t.create_time(), t.has_create_time()), t.created_by(),
                      t.note()});
      }
      s.out() << table.Render();
    });
  });
}

void AddDockList(CLI::App* dock, Action* selected) {
  struct Args {
    std::string site;
    bool all = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = dock->add_subcommand(
      "list", "List docks: last contact, agent version, outbox backlog, cameras in their slots");
  cmd->footer(
      "BACKLOG is the number of outbox items waiting at the dock when it last connected (its "
      "sync hello);\nCAMERAS the slots occupied, as it last reported; the serials by slot follow "
      "the table.");
  cmd->add_option("--site", args->site, "Only docks at this site or under it");
  cmd->add_flag("--all", args->all, "Include revoked docks");
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListDocksRequest request;
    request.set_site_code(args->site);
    request.set_include_revoked(args->all);
    auto response = FetchPages<v1::ListDocksRequest, v1::ListDocksResponse>(
        request, PageFlags{.limit = 0, .all = true}, [&](const v1::ListDocksRequest& r) {
          return s.client().Provisioning(&Stub::ListDocks, r);
        });
    return Finish(s, response, [&](const v1::ListDocksResponse& r) {
      if (r.docks().empty()) {
        s.out() << "no docks\n";
        return;
      }
      Table table(
          {"DOCK", "SITE", "STATE", "LAST CONTACT", "AGENT", "BACKLOG", "CAMERAS", "CERT EXPIRES"});
      table.AlignRight(5);
      std::vector<std::string> slot_lines;
      for (const v1::Dock& d : r.docks()) {
        const std::string occupied = d.slot_count() > 0
                                         ? absl::StrCat(d.slots_size(), "/", d.slot_count())
                                         : absl::StrCat(d.slots_size());
        table.AddRow(
            {d.dock_id(), d.site_code(),
             d.has_revoke_time()
                 ? absl::StrCat("revoked ", FormatUtc(FromTimestamp(d.revoke_time())))
                 : "active",
             d.has_last_contact_time()
                 ? absl::StrCat(FormatUtc(FromTimestamp(d.last_contact_time())), " (",
                                RelativeTo(FromTimestamp(d.last_contact_time()), s.Now()), ")")
                 : "never",
             d.agent_version(), d.has_report_time() ? absl::StrCat(d.backlog_items()) : "",
             d.has_report_time() ? occupied : "",
             FormatTimestamp(d.certificate_not_after(), d.has_certificate_not_after())});
        if (!d.slots().empty()) {
          std::string line = absl::StrCat(d.dock_id(), ":");
          for (const v1::SlotOccupant& o : d.slots()) {
            absl::StrAppend(&line, "  ", o.slot(), "=", SanitizeCell(o.serial()));
          }
          slot_lines.push_back(line);
        }
      }
      s.out() << table.Render();
      // The slots, a line per dock: eight serials do not fit in a table cell.
      for (const std::string& line : slot_lines) s.out() << line << "\n";
    });
  });
}

void AddDockRevoke(CLI::App* dock, Action* selected) {
  struct Args {
    v1::RevokeDockRequest request;
    std::string reason;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = dock->add_subcommand("revoke", "Revoke a dock and its certificates");
  cmd->add_option("DOCK_ID", *args->request.mutable_dock_id(), "Dock id, e.g. post-7-dock-1")
      ->required();
  AddReasonOption(cmd, &args->reason);
  cmd->add_option("--note", *args->request.mutable_note(), "Note for the audit trail");
  SetAction(cmd, selected, [args](Session& s) {
    v1::RevokeDockRequest request = args->request;
    absl::StatusOr<v1::RevocationReason> reason = ParseRevocationReason(args->reason);
    if (!reason.ok()) return s.UsageError(reason.status().message());
    request.set_reason(*reason);
    return Finish(s, s.client().Provisioning(&Stub::RevokeDock, request),
                  [&](const v1::RevokeDockResponse& r) {
                    s.out() << "revoked dock " << r.dock().dock_id() << " (site "
                            << r.dock().site_code()
                            << ") and its certificates: " << RevocationReasonName(*reason) << "\n";
                  });
  });
}

}  // namespace

void AddEnrollmentCommands(CLI::App& app, Action* selected) {
  CLI::App* token =
      app.add_subcommand("token", "Enrollment tokens: how a new dock gets its certificate");
  token->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddTokenCreate(token, selected);
  AddTokenList(token, selected);

  CLI::App* dock = app.add_subcommand("dock", "Docks: the charging racks that sync cameras");
  dock->require_subcommand(0, 1);
  AddDockList(dock, selected);
  AddDockRevoke(dock, selected);
}

}  // namespace camfleet::cli
