// camfleet holder create|get|list

#include <memory>

#include "cli/commands.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::FleetService::Stub;

std::string HolderRecord(const v1::Holder& holder) {
  return RenderRecord(
      {{"badge", holder.badge()},
       {"name", holder.name()},
       {"unit", holder.unit()},
       {"site", holder.home_site_code()},
       {"created", FormatTimestamp(holder.create_time(), holder.has_create_time())}});
}

void AddCreate(CLI::App* holder, Action* selected) {
  auto request = std::make_shared<v1::CreateHolderRequest>();
  CLI::App* cmd =
      holder->add_subcommand("create", "Create a holder: a person cameras are issued to");
  cmd->add_option("BADGE", *request->mutable_badge(), "Badge number: 1-32 of A-Z, 0-9, '-'")
      ->required();
  cmd->add_option("--name", *request->mutable_name(), "Full name")->required();
  cmd->add_option("--unit", *request->mutable_unit(), "Unit or team");
  cmd->add_option("--site", *request->mutable_home_site_code(), "Code of the home site")
      ->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(
        s, s.client().Fleet(&Stub::CreateHolder, *request), [&](const v1::CreateHolderResponse& r) {
          s.out() << "created holder " << r.holder().badge() << "\n" << HolderRecord(r.holder());
        });
  });
}

void AddGet(CLI::App* holder, Action* selected) {
  auto request = std::make_shared<v1::GetHolderRequest>();
  CLI::App* cmd = holder->add_subcommand("get", "Show one holder and the cameras they hold now");
  cmd->add_option("BADGE", *request->mutable_badge(), "Badge number")->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(
        s, s.client().Fleet(&Stub::GetHolder, *request), [&](const v1::GetHolderResponse& r) {
          s.out() << HolderRecord(r.holder());
          if (r.open_assignments().empty()) {
            s.out() << "\nholds no cameras\n";
            return;
          }
          s.out() << "\nholds " << r.open_assignments_size()
                  << (r.open_assignments_size() == 1 ? " camera:\n" : " cameras:\n");
          Table table({"SERIAL", "ISSUED", "ISSUED BY", "DUE", "NOTE"});
          for (const v1::Assignment& a : r.open_assignments()) {
            table.AddRow({a.camera_serial(), FormatTimestamp(a.issue_time(), a.has_issue_time()),
                          a.issued_by(), FormatTimestamp(a.due_back_time(), a.has_due_back_time()),
                          a.issue_note()});
          }
          s.out() << table.Render();
        });
  });
}

void AddList(CLI::App* holder, Action* selected) {
  struct Args {
    std::string site;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = holder->add_subcommand("list", "List holders by badge");
  cmd->add_option("--site", args->site, "Only holders whose home site is this one or under it");
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListHoldersRequest request;
    request.set_site_code(args->site);
    auto response = FetchPages<v1::ListHoldersRequest, v1::ListHoldersResponse>(
        request, args->page,
        [&](const v1::ListHoldersRequest& r) { return s.client().Fleet(&Stub::ListHolders, r); });
    return Finish(s, response, [&](const v1::ListHoldersResponse& r) {
      if (r.holders().empty()) {
        s.out() << "no holders\n";
        return;
      }
      Table table({"BADGE", "NAME", "UNIT", "SITE"});
      for (const v1::Holder& h : r.holders()) {
        table.AddRow({h.badge(), h.name(), h.unit(), h.home_site_code()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "holders");
    });
  });
}

}  // namespace

void AddHolderCommands(CLI::App& app, Action* selected) {
  CLI::App* holder = app.add_subcommand("holder", "Holders: the people cameras are issued to");
  holder->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddCreate(holder, selected);
  AddGet(holder, selected);
  AddList(holder, selected);
}

}  // namespace camfleet::cli
