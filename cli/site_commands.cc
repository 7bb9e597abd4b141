// camfleet site create|get|list

#include <memory>

#include "cli/commands.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::FleetService::Stub;

std::string SiteRecord(const v1::Site& site) {
  return RenderRecord({{"code", site.code()},
                       {"name", site.name()},
                       {"parent", site.parent_code()},
                       {"created", FormatTimestamp(site.create_time(), site.has_create_time())}});
}

void AddCreate(CLI::App* site, Action* selected) {
  auto request = std::make_shared<v1::CreateSiteRequest>();
  CLI::App* cmd = site->add_subcommand("create", "Create a site, optionally under a parent");
  cmd->add_option("CODE", *request->mutable_code(),
                  "Site code: 1-32 of A-Z, 0-9, '-', '_' (e.g. POST-7)")
      ->required();
  cmd->add_option("--name", *request->mutable_name(), "Human name, e.g. \"Border post 7\"")
      ->required();
  cmd->add_option("--parent", *request->mutable_parent_code(),
                  "Code of the parent site (region > district > post)");
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(s, s.client().Fleet(&Stub::CreateSite, *request),
                  [&](const v1::CreateSiteResponse& r) {
                    s.out() << "created site " << r.site().code() << "\n" << SiteRecord(r.site());
                  });
  });
}

void AddGet(CLI::App* site, Action* selected) {
  auto request = std::make_shared<v1::GetSiteRequest>();
  CLI::App* cmd = site->add_subcommand("get", "Show one site");
  cmd->add_option("CODE", *request->mutable_code(), "Site code")->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(s, s.client().Fleet(&Stub::GetSite, *request),
                  [&](const v1::GetSiteResponse& r) { s.out() << SiteRecord(r.site()); });
  });
}

void AddList(CLI::App* site, Action* selected) {
  struct Args {
    std::string parent;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = site->add_subcommand("list", "List sites by code");
  cmd->add_option("--parent", args->parent, "Only sites under this one, at any depth");
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListSitesRequest request;
    request.set_parent_code(args->parent);
    auto response = FetchPages<v1::ListSitesRequest, v1::ListSitesResponse>(
        request, args->page,
        [&](const v1::ListSitesRequest& r) { return s.client().Fleet(&Stub::ListSites, r); });
    return Finish(s, response, [&](const v1::ListSitesResponse& r) {
      if (r.sites().empty()) {
        s.out() << "no sites\n";
        return;
      }
      Table table({"CODE", "NAME", "PARENT", "CREATED"});
      for (const v1::Site& row : r.sites()) {
        table.AddRow({row.code(), row.name(), row.parent_code(),
                      FormatTimestamp(row.create_time(), row.has_create_time())});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "sites");
    });
  });
}

}  // namespace

void AddSiteCommands(CLI::App& app, Action* selected) {
  CLI::App* site = app.add_subcommand("site", "Sites: posts, armories, headquarters");
  site->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddCreate(site, selected);
  AddGet(site, selected);
  AddList(site, selected);
  AddSiteRulesCommand(site, selected);
}

}  // namespace camfleet::cli
