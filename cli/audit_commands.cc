// camfleet audit list|verify

#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::AuditService::Stub;

void AddList(CLI::App* audit, Action* selected) {
  struct Args {
    v1::ListAuditEventsRequest request;
    std::string since;
    std::string until;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = audit->add_subcommand("list", "List audit events in sequence order");
  cmd->add_option("--object", *args->request.mutable_object_id(),
                  "Only events on this object: camera serial, site code or badge");
  cmd->add_option("--actor", *args->request.mutable_actor(), "Only events by this operator");
  cmd->add_option("--action", *args->request.mutable_action(),
                  "Only this action, e.g. camera.issue, site.create");
  cmd->add_option("--since", args->since, "Only events at or after: 7d, 12h (ago) or RFC3339")
      ->type_name("7d|TIME")
      ->check(TimeArgValidator());
  cmd->add_option("--until", args->until, "Only events before: 7d, 12h (ago) or RFC3339")
      ->type_name("7d|TIME")
      ->check(TimeArgValidator());
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListAuditEventsRequest request = args->request;
    if (!args->since.empty()) {
      absl::StatusOr<absl::Time> t = ParseTimeArg(args->since, s.Now(), Relative::kPast);
      if (!t.ok()) return s.UsageError(t.status().message());
      *request.mutable_start_time() = ToTimestamp(*t);
    }
    if (!args->until.empty()) {
      absl::StatusOr<absl::Time> t = ParseTimeArg(args->until, s.Now(), Relative::kPast);
      if (!t.ok()) return s.UsageError(t.status().message());
      *request.mutable_end_time() = ToTimestamp(*t);
    }
    auto response = FetchPages<v1::ListAuditEventsRequest, v1::ListAuditEventsResponse>(
        request, args->page, [&](const v1::ListAuditEventsRequest& r) {
          return s.client().Audit(&Stub::ListAuditEvents, r);
        });
    return Finish(s, response, [&](const v1::ListAuditEventsResponse& r) {
      if (r.events().empty()) {
        s.out() << "no audit events match\n";
        return;
      }
      Table table({"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "DETAILS"});
      table.AlignRight(0);
      for (const v1::AuditEvent& e : r.events()) {
        table.AddRow({absl::StrCat(e.sequence()), FormatUtcSeconds(FromTimestamp(e.time())),
                      e.actor(), e.action(), absl::StrCat(e.object_type(), " ", e.object_id()),
                      e.details_json()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "events");
    });
  });
}

void AddVerify(CLI::App* audit, Action* selected) {
  CLI::App* cmd = audit->add_subcommand(
      "verify",
      "Recompute the audit hash chain; exit 0 if intact, 3 naming the first broken event");
  SetAction(cmd, selected, [](Session& s) {
    absl::StatusOr<v1::VerifyAuditChainResponse> response =
        s.client().Audit(&Stub::VerifyAuditChain, v1::VerifyAuditChainRequest());
    if (!response.ok()) return s.RpcError(response.status());
    const v1::VerifyAuditChainResponse& r = *response;
    const int exit_code = r.intact() ? kExitOk : kExitAuditBroken;
    if (s.json()) {
      s.PrintJson(r);
      return exit_code;
    }
    if (r.intact()) {
      s.out() << "audit chain intact: " << r.events_checked() << " events, head "
              << r.head_sequence() << " " << r.head_hash() << "\n";
    } else {
      s.out() << "audit chain BROKEN at event " << r.first_broken_sequence() << ": "
              << SanitizeCell(r.problem()) << "\n";
    }
    return exit_code;
  });
}

}  // namespace

void AddAuditCommands(CLI::App& app, Action* selected) {
  CLI::App* audit = app.add_subcommand("audit", "The audit trail: who did what, and its integrity");
  audit->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddList(audit, selected);
  AddVerify(audit, selected);
}

}  // namespace camfleet::cli
