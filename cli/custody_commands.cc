// camfleet overdue, camfleet custody SERIAL

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/enum_names.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::FleetService::Stub;

void AddOverdue(CLI::App& app, Action* selected) {
  auto site = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "overdue", "List cameras not back by their due time, most overdue first (every page)");
  cmd->add_option("--site", *site, "Only cameras at this site or under it");
  SetAction(cmd, selected, [site](Session& s) {
    v1::ListOverdueAssignmentsRequest request;
    request.set_site_code(*site);
    // A quartermaster chasing overdue units needs all of them, not the first hundred.
    PageFlags every_page{.limit = 0, .all = true};
    auto response =
        FetchPages<v1::ListOverdueAssignmentsRequest, v1::ListOverdueAssignmentsResponse>(
            request, every_page, [&](const v1::ListOverdueAssignmentsRequest& r) {
              return s.client().Fleet(&Stub::ListOverdueAssignments, r);
            });
    return Finish(s, response, [&](const v1::ListOverdueAssignmentsResponse& r) {
      if (r.assignments().empty()) {
        s.out() << "no overdue cameras\n";
        return;
      }
      Table table({"SERIAL", "BADGE", "HOLDER", "ISSUED", "DUE", "OVERDUE BY"});
      table.AlignRight(5);
      for (const v1::Assignment& a : r.assignments()) {
        absl::Time due = FromTimestamp(a.due_back_time());
        table.AddRow({a.camera_serial(), a.holder_badge(), a.holder_name(),
                      FormatTimestamp(a.issue_time(), a.has_issue_time()),
                      FormatTimestamp(a.due_back_time(), a.has_due_back_time()),
                      HumanizeDuration(s.Now() - due)});
      }
      s.out() << table.Render();
    });
  });
}

// "ISSUED to B-1234 (Jane Doe), due 2026-11-23 08:00Z" or "LOST: left in patrol car".
std::string StateLine(const v1::Camera& c, const v1::Assignment* open) {
  std::string line = absl::StrCat(c.serial(), "  ", CameraStateName(c.state()));
  if (!c.holder_badge().empty()) {
    absl::StrAppend(&line, " to ", c.holder_badge());
    if (open != nullptr && !open->holder_name().empty()) {
      absl::StrAppend(&line, " (", open->holder_name(), ")");
    }
    if (c.has_due_back_time()) {
      absl::StrAppend(&line, ", due ", FormatUtc(FromTimestamp(c.due_back_time())));
    }
  }
  if (!c.state_note().empty()) absl::StrAppend(&line, ": ", SanitizeCell(c.state_note()));
  absl::StrAppend(&line, "  [site ", c.site_code(), ", model ", c.model(), "]");
  return line;
}

void AddCustody(CLI::App& app, Action* selected) {
  auto request = std::make_shared<v1::GetCustodyTrailRequest>();
  CLI::App* cmd = app.add_subcommand(
      "custody", "Show a camera's state and every assignment it has had, oldest first");
  cmd->add_option("SERIAL", *request->mutable_serial(), "Serial number")->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(
        s, s.client().Fleet(&Stub::GetCustodyTrail, *request),
        [&](const v1::GetCustodyTrailResponse& r) {
          const v1::Assignment* open = nullptr;
          for (const v1::Assignment& a : r.assignments()) {
            if (!a.has_return_time()) open = &a;
          }
          s.out() << StateLine(r.camera(), open) << "\n";
          if (r.assignments().empty()) {
            s.out() << "never issued\n";
            return;
          }
          Table table({"HOLDER", "ISSUED", "ISSUED BY", "DUE", "RETURNED", "RETURNED BY",
                       "CONDITION", "NOTES"});
          for (const v1::Assignment& a : r.assignments()) {
            std::vector<std::string> notes;
            if (!a.issue_note().empty()) notes.push_back("issue: " + a.issue_note());
            if (!a.force_reason().empty()) {
              notes.push_back("forced: " + a.force_reason());
            }
            if (!a.return_note().empty()) notes.push_back("return: " + a.return_note());
            std::string holder = a.holder_name().empty()
                                     ? a.holder_badge()
                                     : absl::StrCat(a.holder_badge(), " ", a.holder_name());
            table.AddRow({holder, FormatTimestamp(a.issue_time(), a.has_issue_time()),
                          a.issued_by(), FormatTimestamp(a.due_back_time(), a.has_due_back_time()),
                          FormatTimestamp(a.return_time(), a.has_return_time()), a.returned_by(),
                          ReturnConditionName(a.return_condition()), absl::StrJoin(notes, "; ")});
          }
          s.out() << table.Render();
        });
  });
}

}  // namespace

void AddCustodyCommands(CLI::App& app, Action* selected) {
  AddOverdue(app, selected);
  AddCustody(app, selected);
}

}  // namespace camfleet::cli
