// camfleet alert list|ack, camfleet conflict list|resolve, camfleet health SERIAL: what the
// docks report (MonitoringService).

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/monitoring_view.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::MonitoringService::Stub;

// Fetches pages until `flags` is satisfied, keeping only the entries `keep` accepts; `stop`
// says an entry ends the listing (everything after it is older than wanted). `entries` is the
// repeated field of the response. The merged response's next_page_token is empty once nothing
// more can match, so PrintMoreHint stays quiet then.
template <typename Request, typename Response, typename Entry>
absl::StatusOr<Response> FetchFiltered(
    Request request, const PageFlags& flags,
    const std::function<absl::StatusOr<Response>(const Request&)>& fetch,
    google::protobuf::RepeatedPtrField<Entry>* (Response::*entries)(),
    const std::function<bool(const Entry&)>& keep, const std::function<bool(const Entry&)>& stop) {
  const int wanted = flags.limit > 0 ? flags.limit : 100;
  // Filtering here means reading past what is shown: ask for the largest pages.
  request.set_page_size(1000);
  Response merged;
  google::protobuf::RepeatedPtrField<Entry>* out = (merged.*entries)();
  while (true) {
    absl::StatusOr<Response> page = fetch(request);
    if (!page.ok()) return page.status();
    for (Entry& entry : *((*page).*entries)()) {
      if (stop(entry)) {
        merged.set_next_page_token("");
        return merged;
      }
      if (!keep(entry)) continue;
      if (!flags.all && out->size() >= wanted) {
        // One more matches: say so with a token, as a cut-short page does.
        merged.set_next_page_token(page->next_page_token().empty() ? "more"
                                                                   : page->next_page_token());
        return merged;
      }
      *out->Add() = std::move(entry);
    }
    merged.set_next_page_token("");
    if (page->next_page_token().empty()) return merged;
    request.set_page_token(page->next_page_token());
  }
}

std::string Slot(uint32_t slot) { return slot == 0 ? "" : absl::StrCat(slot); }

void AddAlertList(CLI::App* alert, Action* selected) {
  struct Args {
    bool open = false;
    bool acknowledged = false;
    std::string kind;
    std::string site;
    std::string dock;
    std::string serial;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = alert->add_subcommand("list", "List alerts the docks raised, newest first");
  cmd->footer(
      "Alerts: a lost, retired or revoked camera put into a dock, a check-out that conflicts "
      "with a\ncentral decision (see `camfleet conflict list`), a worn battery, a camera clock "
      "off, a rejected\noutbox item, a camera of another site or unknown to the fleet. "
      "Acknowledge with `camfleet alert ack ID`.");
  CLI::Option* open = cmd->add_flag("--open", args->open, "Only alerts nobody acknowledged");
  CLI::Option* acked =
      cmd->add_flag("--acknowledged", args->acknowledged, "Only acknowledged alerts");
  open->excludes(acked);
  cmd->add_option("--kind", args->kind, "Only alerts of this kind: " + AlertKindChoices())
      ->type_name("KIND")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            absl::StatusOr<v1::AlertKind> kind = ParseAlertKind(text);
            return kind.ok() ? "" : std::string(kind.status().message());
          },
          ""));
  cmd->add_option("--site", args->site, "Only alerts of this site or under it");
  cmd->add_option("--dock", args->dock, "Only alerts this dock reported, e.g. post-7-dock-1");
  cmd->add_option("--camera", args->serial, "Only alerts about this camera")->type_name("SERIAL");
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListAlertsRequest request;
    request.set_site_code(args->site);
    if (!args->kind.empty()) {
      absl::StatusOr<v1::AlertKind> kind = ParseAlertKind(args->kind);
      if (!kind.ok()) return s.UsageError(kind.status().message());
      request.set_kind(*kind);
    }
    request.set_acknowledged(args->open           ? v1::ALERT_ACKNOWLEDGED_FILTER_OPEN
                             : args->acknowledged ? v1::ALERT_ACKNOWLEDGED_FILTER_ACKNOWLEDGED
                                                  : v1::ALERT_ACKNOWLEDGED_FILTER_UNSPECIFIED);
    auto fetch = [&](const v1::ListAlertsRequest& r) {
      return s.client().Monitoring(&Stub::ListAlerts, r);
    };
    absl::StatusOr<v1::ListAlertsResponse> response;
    if (args->dock.empty() && args->serial.empty()) {
      response =
          FetchPages<v1::ListAlertsRequest, v1::ListAlertsResponse>(request, args->page, fetch);
    } else {
      // The server filters by site, kind and state; dock and camera are filtered here.
      response = FetchFiltered<v1::ListAlertsRequest, v1::ListAlertsResponse, v1::Alert>(
          request, args->page, fetch, &v1::ListAlertsResponse::mutable_alerts,
          [&](const v1::Alert& a) {
            return (args->dock.empty() || a.dock_id() == args->dock) &&
                   (args->serial.empty() || a.serial() == args->serial);
          },
          [](const v1::Alert&) { return false; });
    }
    return Finish(s, response, [&](const v1::ListAlertsResponse& r) {
      if (r.alerts().empty()) {
        s.out() << "no alerts match\n";
        return;
      }
      Table table({"ID", "WHEN", "KIND", "SITE", "DOCK", "SLOT", "CAMERA", "STATE", "WHAT"});
      table.AlignRight(0).AlignRight(5);
      for (const v1::Alert& a : r.alerts()) {
        table.AddRow(
            {absl::StrCat(a.id()), FormatTimestamp(a.event_time(), a.has_event_time()),
             AlertKindLabel(a), a.site_code(), a.dock_id(), Slot(a.slot()), a.serial(),
             a.has_acknowledge_time() ? absl::StrCat("ack by ", a.acknowledged_by()) : "OPEN",
             a.message()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "alerts");
    });
  });
}

void AddAlertAck(CLI::App* alert, Action* selected) {
  auto ids = std::make_shared<std::vector<int64_t>>();
  CLI::App* cmd = alert->add_subcommand(
      "ack", "Acknowledge alerts: you have seen them (recorded in the audit log)");
  cmd->add_option("ID", *ids, "Alert id, as `camfleet alert list` shows it (several allowed)")
      ->required()
      ->check(CLI::PositiveNumber);
  SetAction(cmd, selected, [ids](Session& s) {
    v1::AcknowledgeAlertResponse last;
    int code = kExitOk;
    for (int64_t id : *ids) {
      v1::AcknowledgeAlertRequest request;
      request.set_id(id);
      absl::StatusOr<v1::AcknowledgeAlertResponse> response =
          s.client().Monitoring(&Stub::AcknowledgeAlert, request);
      if (!response.ok()) {
        code = s.RpcError(response.status());
        continue;
      }
      if (s.json()) {
        if (ids->size() == 1) return s.PrintJson(*response);
        *last.mutable_alert() = response->alert();
        continue;
      }
      const v1::Alert& a = response->alert();
      s.out() << "acknowledged alert " << a.id() << " (" << AlertKindLabel(a);
      if (!a.serial().empty()) s.out() << " " << a.serial();
      if (!a.dock_id().empty()) s.out() << " at " << a.dock_id();
      if (a.slot() != 0) s.out() << " slot " << a.slot();
      s.out() << ")\n";
    }
    // Several ids with --json: the last one acknowledged, so stdout stays one document.
    if (s.json() && ids->size() > 1 && last.has_alert()) s.PrintJson(last);
    return code;
  });
}

void AddConflictList(CLI::App* conflict, Action* selected) {
  struct Args {
    bool open = false;
    std::string site;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = conflict->add_subcommand(
      "list", "List conflicts between a dock's physical facts and central decisions");
  cmd->footer(
      "A conflict is a check-out or return made at a dock that a central change refused (the "
      "camera\nwas marked lost meanwhile, the badge withdrawn): both facts are kept. Decide, make "
      "the\nlifecycle change with the camera commands, then `camfleet conflict resolve ID "
      "--resolution TEXT`.\n--json shows what the dock saw (physical_fact).");
  cmd->add_flag("--open", args->open, "Only conflicts not resolved yet");
  cmd->add_option("--site", args->site, "Only conflicts of this site or under it");
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListConflictsRequest request;
    request.set_site_code(args->site);
    request.set_open_only(args->open);
    auto response = FetchPages<v1::ListConflictsRequest, v1::ListConflictsResponse>(
        request, args->page, [&](const v1::ListConflictsRequest& r) {
          return s.client().Monitoring(&Stub::ListConflicts, r);
        });
    return Finish(s, response, [&](const v1::ListConflictsResponse& r) {
      if (r.conflicts().empty()) {
        s.out() << "no conflicts match\n";
        return;
      }
      Table table({"ID", "WHEN", "KIND", "DOCK", "CAMERA", "CENTRAL DECISION", "STATE"});
      table.AlignRight(0);
      for (const v1::Conflict& c : r.conflicts()) {
        table.AddRow({absl::StrCat(c.id()), FormatTimestamp(c.event_time(), c.has_event_time()),
                      c.kind(), c.dock_id(), c.serial(), c.central_decision(),
                      c.has_resolve_time()
                          ? absl::StrCat("resolved by ", c.resolved_by(), ": ", c.resolution())
                          : "OPEN"});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "conflicts");
    });
  });
}

void AddConflictResolve(CLI::App* conflict, Action* selected) {
  auto request = std::make_shared<v1::ResolveConflictRequest>();
  auto id = std::make_shared<int64_t>(0);
  CLI::App* cmd = conflict->add_subcommand(
      "resolve", "Close a conflict, saying what was decided (recorded in the audit log)");
  cmd->add_option("ID", *id, "Conflict id, as `camfleet conflict list` shows")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--resolution", *request->mutable_resolution(),
                  "What was decided, e.g. \"found at the post; marked found and issued\"")
      ->required()
      ->type_name("TEXT");
  SetAction(cmd, selected, [request, id](Session& s) {
    request->set_id(*id);
    return Finish(s, s.client().Monitoring(&Stub::ResolveConflict, *request),
                  [&](const v1::ResolveConflictResponse& r) {
                    s.out() << "resolved conflict " << r.conflict().id() << " ("
                            << r.conflict().kind() << ", " << r.conflict().serial() << ")\n";
                  });
  });
}

void AddHealth(CLI::App& app, Action* selected) {
  struct Args {
    std::string serial;
    std::string since;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("health", "List a camera's health readings from the docks, newest first");
  cmd->footer(
      "HEALTH is the battery's state of health: full-charge capacity / design capacity (worn "
      "below 80%).\nTimes are the camera's own clock. --json gives every field of each reading.");
  cmd->add_option("SERIAL", args->serial, "Serial number")->required();
  cmd->add_option("--since", args->since, "Only readings taken since then: 7d, 12h or RFC3339")
      ->type_name("7d|TIME")
      ->check(TimeArgValidator());
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListHealthReadingsRequest request;
    request.set_serial(args->serial);
    auto fetch = [&](const v1::ListHealthReadingsRequest& r) {
      return s.client().Monitoring(&Stub::ListHealthReadings, r);
    };
    absl::StatusOr<v1::ListHealthReadingsResponse> response;
    if (args->since.empty()) {
      response = FetchPages<v1::ListHealthReadingsRequest, v1::ListHealthReadingsResponse>(
          request, args->page, fetch);
    } else {
      absl::StatusOr<absl::Time> since = ParseTimeArg(args->since, s.Now(), Relative::kPast);
      if (!since.ok()) return s.UsageError(since.status().message());
      // Newest first by device time: the first reading before --since ends the listing.
      response = FetchFiltered<v1::ListHealthReadingsRequest, v1::ListHealthReadingsResponse,
                               v1::HealthRecord>(
          request, args->page, fetch, &v1::ListHealthReadingsResponse::mutable_readings,
          [](const v1::HealthRecord&) { return true; },
          [&](const v1::HealthRecord& r) {
            return FromTimestamp(r.reading().device_time()) < *since;
          });
    }
    return Finish(s, response, [&](const v1::ListHealthReadingsResponse& r) {
      if (r.readings().empty()) {
        s.out() << "no health readings" << (args->since.empty() ? "" : " since then") << " for "
                << args->serial << "\n";
        return;
      }
      Table table({"TAKEN", "DOCK", "SLOT", "SEQ", "CHARGE", "HEALTH", "CYCLES", "TEMP", "VOLTS",
                   "CHARGING", "STORAGE", "FIRMWARE"});
      table.AlignRight(2).AlignRight(3).AlignRight(4).AlignRight(5).AlignRight(6);
      table.AlignRight(7).AlignRight(8).AlignRight(10);
      for (const v1::HealthRecord& rec : r.readings()) {
        const v1::HealthReading& h = rec.reading();
        const std::string storage =
            h.storage_total_bytes() == 0
                ? ""
                : absl::StrCat(h.storage_used_bytes() * 100 / h.storage_total_bytes(), "%");
        table.AddRow({FormatUtcSeconds(FromTimestamp(h.device_time())), rec.dock_id(),
                      Slot(h.slot()), absl::StrCat(h.camera_sequence()),
                      absl::StrCat(h.battery_percent(), "%"), FormatStateOfHealth(StateOfHealth(h)),
                      absl::StrCat(h.cycle_count()),
                      absl::StrFormat("%.1fC", h.temperature_decicelsius() / 10.0),
                      absl::StrFormat("%.2f", h.voltage_mv() / 1000.0), h.charging() ? "yes" : "no",
                      storage, h.firmware_version()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "readings");
    });
  });
}

}  // namespace

void AddMonitoringCommands(CLI::App& app, Action* selected) {
  CLI::App* alert = app.add_subcommand("alert", "Alerts the docks raised: list and acknowledge");
  alert->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddAlertList(alert, selected);
  AddAlertAck(alert, selected);

  CLI::App* conflict = app.add_subcommand(
      "conflict", "Conflicts between a dock's facts and central decisions: list and resolve");
  conflict->require_subcommand(0, 1);
  AddConflictList(conflict, selected);
  AddConflictResolve(conflict, selected);

  AddHealth(app, selected);
}

}  // namespace camfleet::cli
