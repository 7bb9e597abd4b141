// camfleet camera register|import|get|list|commission|issue|return|lost|found|faulty|repair|
// retire|reset-enrollment, and the top-level shortcuts `camfleet issue` and `camfleet return`.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cli/commands.h"
#include "cli/enum_names.h"
#include "cli/monitoring_view.h"
#include "cli/table.h"
#include "common/utf8.h"

namespace camfleet::cli {
namespace {

using Stub = v1::FleetService::Stub;

// The server refuses bigger manifests; saying so before uploading saves a slow round trip.
constexpr size_t kMaxManifestBytes = 8 << 20;

std::string CameraRecord(const v1::Camera& c) {
  return RenderRecord({{"serial", c.serial()},
                       {"model", c.model()},
                       {"hw rev", c.hardware_revision()},
                       {"state", CameraStateName(c.state())},
                       {"site", c.site_code()},
                       {"holder", c.holder_badge()},
                       {"due back", FormatTimestamp(c.due_back_time(), c.has_due_back_time())},
                       {"note", c.state_note()},
                       {"registered", FormatTimestamp(c.create_time(), c.has_create_time())},
                       {"updated", FormatTimestamp(c.update_time(), c.has_update_time())}});
}

// "B-1234 (Jane Doe)", or just the badge when the name is missing.
std::string HolderLabel(const v1::Assignment& a) {
  if (a.holder_name().empty()) return a.holder_badge();
  return absl::StrCat(a.holder_badge(), " (", a.holder_name(), ")");
}

// Data rows in CSV text: line breaks outside quotes, less the header, not counting a final
// line break. An estimate for the progress line; the server's count is the one that matters.
int64_t CountCsvRows(const std::string& csv) {
  int64_t lines = 0;
  bool quoted = false;
  bool line_has_text = false;
  for (char c : csv) {
    if (c == '"') quoted = !quoted;
    if (c == '\n' && !quoted) {
      if (line_has_text) ++lines;
      line_has_text = false;
    } else if (c != '\r') {
      line_has_text = true;
    }
  }
  if (line_has_text) ++lines;
  return lines > 0 ? lines - 1 : 0;
}

// The server starts each row message with "line N: " so it reads well alone; in the table the
// LINE column already says so.
std::string WithoutLinePrefix(const std::string& message) {
  absl::string_view text = message;
  if (!absl::ConsumePrefix(&text, "line ")) return message;
  size_t colon = text.find(": ");
  if (colon == absl::string_view::npos || colon == 0 ||
      text.substr(0, colon).find_first_not_of("0123456789") != absl::string_view::npos) {
    return message;
  }
  return std::string(text.substr(colon + 2));
}

void AddRegister(CLI::App* camera, Action* selected) {
  auto request = std::make_shared<v1::RegisterCameraRequest>();
  CLI::App* cmd = camera->add_subcommand("register", "Register one camera (state REGISTERED)");
  cmd->add_option("SERIAL", *request->mutable_serial(), "Serial number: 4-32 of A-Z, 0-9, '-'")
      ->required();
  cmd->add_option("--model", *request->mutable_model(),
                  "Model name, as firmware releases name it: 1-64 of A-Z a-z 0-9 . _ -")
      ->required();
  cmd->add_option("--hw-rev", *request->mutable_hardware_revision(), "Hardware revision");
  cmd->add_option("--site", *request->mutable_site_code(), "Site the camera is delivered to")
      ->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(s, s.client().Fleet(&Stub::RegisterCamera, *request),
                  [&](const v1::RegisterCameraResponse& r) {
                    s.out() << "registered camera " << r.camera().serial() << "\n"
                            << CameraRecord(r.camera());
                  });
  });
}

// Rows the server imports in one write; a bigger manifest runs as an import job that the CLI
// polls for its progress bar.
constexpr int64_t kSingleWriteManifestRows = 2000;

// 250000 -> "250,000".
std::string Thousands(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

// "staging     [#########                     ]  30%  75,000/250,000 rows", redrawn in place on
// stderr: checking (rows read against the store), staging (rows written where no one sees
// them), publishing (cameras made part of the fleet, once the import is decided).
void DrawImportProgress(Session& s, const v1::GetManifestImportResponse& p) {
  const char* phase = "checking";
  int64_t done = p.checked();
  int64_t total = p.rows();
  switch (p.phase()) {
    case v1::MANIFEST_IMPORT_PHASE_STAGING:
      phase = "staging";
      done = p.staged();
      total = p.to_stage();
      break;
    case v1::MANIFEST_IMPORT_PHASE_COMMITTING:
      phase = "publishing";
      done = p.published();
      total = p.to_stage();
      break;
    case v1::MANIFEST_IMPORT_PHASE_DONE:
      phase = "published";
      done = total = p.to_stage();
      break;
    default:
      break;
  }
  done = std::clamp<int64_t>(done, 0, std::max<int64_t>(total, 0));
  constexpr int kWidth = 30;
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1;
  const int filled = static_cast<int>(fraction * kWidth);
  const std::string name(phase);
  s.err() << "\r" << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ') << "["
          << std::string(static_cast<size_t>(filled), '#')
          << std::string(static_cast<size_t>(kWidth - filled), ' ') << "] "
          << absl::StrFormat("%3d%%  ", static_cast<int>(fraction * 100)) << Thousands(done) << "/"
          << Thousands(total) << " rows" << std::flush;
}

// ImportManifest, or for a big manifest StartManifestImport and GetManifestImport every 200 ms
// until it is done, with a progress bar on stderr for people (none with --json: a script reads
// the one JSON document on stdout and has no use for a bar redrawn with carriage returns).
absl::StatusOr<v1::ImportManifestResponse> RunImport(Session& s,
                                                     const v1::ImportManifestRequest& request) {
  if (CountCsvRows(request.csv()) <= kSingleWriteManifestRows) {
    return s.client().Fleet(&Stub::ImportManifest, request);
  }
  v1::StartManifestImportRequest start;
  *start.mutable_manifest() = request;
  absl::StatusOr<v1::StartManifestImportResponse> started =
      s.client().Fleet(&Stub::StartManifestImport, start);
  if (!started.ok()) return started.status();
  v1::GetManifestImportRequest poll;
  poll.set_import_id(started->import_id());
  const bool bar = !s.json();
  while (true) {
    absl::StatusOr<v1::GetManifestImportResponse> progress =
        s.client().Fleet(&Stub::GetManifestImport, poll);
    if (!progress.ok()) {
      if (bar) s.err() << "\n";
      return progress.status();
    }
    if (bar) DrawImportProgress(s, *progress);
    if (progress->phase() == v1::MANIFEST_IMPORT_PHASE_DONE) {
      if (bar) s.err() << "\n";
      return progress->result();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void AddImport(CLI::App* camera, Action* selected) {
  struct Args {
    std::string file;
    bool partial = false;
    bool dry_run = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      camera->add_subcommand("import", "Import a delivery manifest (CSV), all rows or none");
  cmd->footer(
      "The file starts with the header line serial,model,hardware_revision,site and has one "
      "camera per line.\nEvery bad row is listed by line number. Unless --partial is given, "
      "nothing is imported when any row is bad, and the exit code is 4.\nA manifest of more than "
      "2,000 rows is imported in chunks that let other work go on, with a progress bar on "
      "stderr (rows checked, staged, then cameras published; none with --json): nothing is "
      "visible until every row is staged, and from then on the import finishes even across a "
      "server restart.");
  cmd->add_option("FILE", args->file, "The manifest, e.g. delivery-2026-11.csv")->required();
  cmd->add_flag("--partial", args->partial, "Import the good rows even when some are bad");
  cmd->add_flag("--dry-run", args->dry_run, "Check every row and report, but import nothing");
  SetAction(cmd, selected, [args](Session& s) {
    std::ifstream in(args->file, std::ios::binary);
    if (!in) return s.UsageError(absl::StrCat("cannot read ", args->file));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return s.UsageError(absl::StrCat("cannot read ", args->file));
    v1::ImportManifestRequest request;
    request.set_csv(text.str());
    // The server takes text; a spreadsheet's legacy "CSV" export (Windows-1252 and the like)
    // would fail in transit with an error that names neither the file nor the fix.
    if (std::optional<size_t> bad = common::FirstInvalidUtf8(request.csv())) {
      const absl::string_view before = absl::string_view(request.csv()).substr(0, *bad);
      const size_t newline = before.rfind('\n');
      const size_t line_start = newline == absl::string_view::npos ? 0 : newline + 1;
      return s.UsageError(absl::StrFormat(
          "%s is not UTF-8 text: line %d, byte %d (0x%02x) starts no UTF-8 character. Save the "
          "manifest as \"CSV UTF-8\" from the spreadsheet, or convert it, e.g. iconv -f "
          "WINDOWS-1252 -t UTF-8 %s > utf8.csv",
          args->file, std::count(before.begin(), before.end(), '\n') + 1, *bad - line_start + 1,
          static_cast<unsigned char>(request.csv()[*bad]), args->file));
    }
    request.set_partial(args->partial);
    request.set_dry_run(args->dry_run);
    if (request.csv().size() > kMaxManifestBytes) {
      return s.UsageError(absl::StrCat(args->file, " is ", request.csv().size(),
                                       " bytes; the server takes at most ", kMaxManifestBytes,
                                       " bytes per manifest, so split it"));
    }
    // Progress goes to stderr under --json so that stdout stays one JSON document.
    (s.json() ? s.err() : s.out())
        << "read " << CountCsvRows(request.csv()) << " rows from " << args->file << "\n";

    absl::StatusOr<v1::ImportManifestResponse> response = RunImport(s, request);
    if (!response.ok()) return s.RpcError(response.status());
    const v1::ImportManifestResponse& r = *response;
    const bool rejected = r.bad_rows() > 0 && r.imported() == 0;
    const int exit_code = rejected ? kExitManifestRejected : kExitOk;
    if (s.json()) {
      s.PrintJson(r);
      return exit_code;
    }
    if (!r.errors().empty()) {
      Table table({"LINE", "COLUMN", "PROBLEM"});
      table.AlignRight(0);
      for (const v1::ManifestRowError& e : r.errors()) {
        table.AddRow({absl::StrCat(e.line()), e.column(), WithoutLinePrefix(e.message())});
      }
      s.out() << table.Render();
    }
    if (r.unlisted_errors() > 0) {
      s.out() << "... and " << r.unlisted_errors()
              << " more problems not listed; fix these and run --dry-run again\n";
    }
    const int64_t bad = r.bad_rows();
    if (args->dry_run) {
      s.out() << "dry run: " << r.rows() << " rows checked, " << bad << " bad; nothing imported\n";
    } else if (bad == 0) {
      s.out() << "imported " << r.imported() << " of " << r.rows() << " rows\n";
    } else if (rejected) {
      s.out() << "nothing imported: " << bad << " of " << r.rows()
              << " rows are bad; fix them and run again"
              << (args->partial ? "\n" : ", or add --partial to import the good rows\n");
    } else {
      s.out() << "imported " << r.imported() << " of " << r.rows() << " rows; skipped " << bad
              << " bad rows\n";
    }
    return exit_code;
  });
}

// The camera's latest health and where it last docked, for `camera get`.
std::vector<std::pair<std::string, std::string>> DockFields(const v1::Camera& c, absl::Time now) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("last seen",
                      c.has_last_seen_time()
                          ? absl::StrCat(FormatUtc(FromTimestamp(c.last_seen_time())), " (",
                                         RelativeTo(FromTimestamp(c.last_seen_time()), now), ")")
                          : "never");
  fields.emplace_back(
      "last dock",
      c.last_dock_id().empty()
          ? ""
          : absl::StrCat(c.last_dock_id(),
                         c.last_slot() == 0 ? "" : absl::StrCat(" slot ", c.last_slot())));
  return fields;
}

// The latest reading's lines: charge, battery state of health with its capacities and cycles,
// firmware, clock skew.
std::vector<std::pair<std::string, std::string>> HealthFields(const v1::Camera& c,
                                                              const v1::HealthReading* latest) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (!c.has_latest_health()) {
    fields.emplace_back("health", "no reading yet (a dock reads it while it sits in a slot)");
    return fields;
  }
  const v1::CameraHealth& h = c.latest_health();
  std::string charge =
      absl::StrCat(h.battery_percent(), "% at ", FormatUtc(FromTimestamp(h.device_time())));
  if (latest != nullptr && latest->charging()) absl::StrAppend(&charge, ", charging");
  fields.emplace_back("charge", charge);
  std::string soh;
  if (latest != nullptr && StateOfHealth(*latest).has_value()) {
    soh = absl::StrCat(FormatStateOfHealth(StateOfHealth(*latest)), " (",
                       latest->full_charge_capacity_mah(), " of ", latest->design_capacity_mah(),
                       " mAh), ", latest->cycle_count(), " cycles");
  } else if (h.battery_health_percent() > 0) {
    soh = absl::StrCat(h.battery_health_percent(), "%, ", h.cycle_count(), " cycles");
  } else {
    soh = "not reported";
  }
  if (latest != nullptr && StateOfHealth(*latest).value_or(100) < 80) {
    absl::StrAppend(&soh, "; WORN (below 80%): replace the battery");
  }
  fields.emplace_back("battery health", soh);
  fields.emplace_back("firmware", h.firmware_version());
  if (h.has_clock_skew()) {
    const absl::Duration skew = absl::Seconds(h.clock_skew().seconds());
    fields.emplace_back(
        "clock skew",
        absl::StrCat("camera clock ", HumanizeDuration(absl::AbsDuration(skew)),
                     skew > absl::ZeroDuration() ? " fast" : " slow", " against the server"));
  }
  return fields;
}

// Readings are kept raw for 90 days, so a reading 90 days old is at most this many pages of
// 1000 away for a camera read every 5 minutes (26,000 readings); more than that is not scanned.
constexpr int kMaxTrendPages = 40;

void AddGet(CLI::App* camera, Action* selected) {
  auto request = std::make_shared<v1::GetCameraRequest>();
  CLI::App* cmd = camera->add_subcommand(
      "get", "Show one camera: lifecycle, latest health and battery trend, last dock and slot");
  cmd->footer(
      "Battery health is the full-charge capacity as a share of the design capacity (worn below "
      "80%);\nthe trend compares it with the readings nearest before 30 and 90 days ago "
      "(`camfleet health SERIAL`\nlists them all). --json adds battery_trend to the camera.");
  cmd->add_option("SERIAL", *request->mutable_serial(), "Serial number")->required();
  SetAction(cmd, selected, [request](Session& s) {
    absl::StatusOr<v1::GetCameraResponse> response = s.client().Fleet(&Stub::GetCamera, *request);
    if (!response.ok()) return s.RpcError(response.status());
    const v1::Camera& c = response->camera();
    // The trend, from the stored readings (newest first), as far back as 90 days.
    BatteryTrend trend(s.Now());
    std::optional<v1::HealthReading> latest;
    if (c.has_latest_health()) {
      v1::ListHealthReadingsRequest readings;
      readings.set_serial(c.serial());
      readings.set_page_size(1000);
      for (int page = 0; page < kMaxTrendPages && !trend.Complete(); ++page) {
        absl::StatusOr<v1::ListHealthReadingsResponse> r =
            s.client().Monitoring(&v1::MonitoringService::Stub::ListHealthReadings, readings);
        if (!r.ok()) {
          // The camera itself was read; say why the trend is missing and show the rest.
          s.err() << "warning: no battery trend: " << r.status().message() << "\n";
          break;
        }
        for (const v1::HealthRecord& rec : r->readings()) {
          if (!latest.has_value()) latest = rec.reading();
          trend.Add(rec.reading());
        }
        if (r->next_page_token().empty()) break;
        readings.set_page_token(r->next_page_token());
      }
    }
    if (s.json()) {
      google::protobuf::Struct doc;
      std::string camera_json;
      google::protobuf::util::JsonPrintOptions options;
      options.always_print_primitive_fields = true;
      options.preserve_proto_field_names = true;
      if (!google::protobuf::util::MessageToJsonString(*response, &camera_json, options).ok() ||
          !google::protobuf::util::JsonStringToMessage(camera_json, &doc).ok()) {
        return s.PrintJson(*response);
      }
      google::protobuf::Struct* t = (*doc.mutable_fields())["battery_trend"].mutable_struct_value();
      auto point = [&](const char* name, const std::optional<HealthPoint>& p) {
        google::protobuf::Value& v = (*t->mutable_fields())[name];
        if (!p.has_value()) {
          v.set_null_value(google::protobuf::NULL_VALUE);
          return;
        }
        auto& f = *v.mutable_struct_value()->mutable_fields();
        f["device_time"].set_string_value(
            absl::FormatTime(absl::RFC3339_sec, p->device_time, absl::UTCTimeZone()));
        f["state_of_health_percent"].set_number_value(std::floor(p->soh * 10) / 10);
        f["cycle_count"].set_number_value(p->cycle_count);
      };
      point("latest", trend.latest());
      point("days_30_ago", trend.day30());
      point("days_90_ago", trend.day90());
      point("oldest_seen", trend.oldest());
      return s.PrintJson(doc);
    }
    s.out() << CameraRecord(c);
    std::vector<std::pair<std::string, std::string>> fields =
        HealthFields(c, latest ? &*latest : nullptr);
    for (auto& f : trend.Fields()) fields.push_back(std::move(f));
    for (auto& f : DockFields(c, s.Now())) fields.push_back(std::move(f));
    s.out() << RenderRecord(fields);
    return kExitOk;
  });
}

void AddList(CLI::App* camera, Action* selected) {
  struct Args {
    std::string state;
    std::string site;
    std::string model;
    std::string holder;
    std::string not_seen_since;
    uint32_t battery_below = 0;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = camera->add_subcommand("list", "List cameras by serial, filtered");
  cmd->footer(
      "CHARGE is the charge of the newest reading a dock sent; LAST SEEN when a dock last saw "
      "the camera.\nExample: cameras of POST-7 below 30% or not docked for two days:\n"
      "  camfleet camera list --site POST-7 --battery-below 30\n"
      "  camfleet camera list --site POST-7 --not-seen-since 2d");
  cmd->add_option("--state", args->state, "Only cameras in this state: " + CameraStateChoices())
      ->type_name("STATE")
      ->check(CameraStateValidator());
  cmd->add_option("--site", args->site, "Only cameras at this site or under it");
  cmd->add_option("--model", args->model, "Only cameras of this model");
  cmd->add_option("--holder", args->holder, "Only cameras held now by this badge");
  cmd->add_option("--not-seen-since", args->not_seen_since,
                  "Only cameras no dock has seen since then (or ever): 7d, 12h or RFC3339")
      ->type_name("7d|TIME")
      ->check(TimeArgValidator());
  cmd->add_option("--battery-below", args->battery_below,
                  "Only cameras whose newest reading shows a charge below PCT (1-100); cameras "
                  "never read are left out")
      ->type_name("PCT")
      ->check(CLI::Range(1, 100).description(""));
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListCamerasRequest request;
    request.set_battery_below(args->battery_below);
    if (!args->state.empty()) {
      absl::StatusOr<v1::CameraState> state = ParseCameraState(args->state);
      if (!state.ok()) return s.UsageError(state.status().message());
      request.set_state(*state);
    }
    if (!args->not_seen_since.empty()) {
      absl::StatusOr<absl::Time> since =
          ParseTimeArg(args->not_seen_since, s.Now(), Relative::kPast);
      if (!since.ok()) return s.UsageError(since.status().message());
      *request.mutable_not_seen_since() = ToTimestamp(*since);
    }
    request.set_site_code(args->site);
    request.set_model(args->model);
    request.set_holder_badge(args->holder);
    auto response = FetchPages<v1::ListCamerasRequest, v1::ListCamerasResponse>(
        request, args->page,
        [&](const v1::ListCamerasRequest& r) { return s.client().Fleet(&Stub::ListCameras, r); });
    return Finish(s, response, [&](const v1::ListCamerasResponse& r) {
      if (r.cameras().empty()) {
        s.out() << "no cameras match\n";
        return;
      }
      Table table({"SERIAL", "MODEL", "STATE", "SITE", "HOLDER", "DUE", "CHARGE", "HEALTH",
                   "LAST SEEN", "LAST DOCK"});
      table.AlignRight(6).AlignRight(7);
      for (const v1::Camera& c : r.cameras()) {
        const bool read = c.has_latest_health();
        const v1::CameraHealth& h = c.latest_health();
        std::string dock = c.last_dock_id();
        if (!dock.empty() && c.last_slot() != 0) absl::StrAppend(&dock, "/", c.last_slot());
        table.AddRow(
            {c.serial(), c.model(), CameraStateName(c.state()), c.site_code(), c.holder_badge(),
             FormatTimestamp(c.due_back_time(), c.has_due_back_time()),
             read ? absl::StrCat(h.battery_percent(), "%") : "",
             read && h.battery_health_percent() > 0 ? absl::StrCat(h.battery_health_percent(), "%")
                                                    : "",
             c.has_last_seen_time() ? FormatUtc(FromTimestamp(c.last_seen_time())) : "never",
             dock});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "cameras");
    });
  });
}

// A lifecycle command that takes a serial and one required text (--note or --reason) and
// answers with the camera in its new state.
template <typename Request, typename Response>
void AddTransition(CLI::App* camera, Action* selected, const char* name, const char* help,
                   const char* text_flag, const char* text_help,
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                   std::string* (Request::*text_field)()) {
  auto request = std::make_shared<Request>();
  CLI::App* cmd = camera->add_subcommand(name, help);
  cmd->add_option("SERIAL", *request->mutable_serial(), "Serial number")->required();
  cmd->add_option(text_flag, *((*request).*text_field)(), text_help)->required();
  SetAction(cmd, selected, [request, method](Session& s) {
    return Finish(s, s.client().Fleet(method, *request), [&](const Response& r) {
      s.out() << r.camera().serial() << " is now " << CameraStateName(r.camera().state()) << "\n";
    });
  });
}

void AddCommission(CLI::App* camera, Action* selected) {
  struct Args {
    v1::CommissionCameraRequest request;
    std::string factory_cert;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = camera->add_subcommand(
      "commission", "Commission a REGISTERED camera by hand (to AVAILABLE), saying why");
  cmd->add_option("SERIAL", *args->request.mutable_serial(), "Serial number")->required();
  cmd->add_option("--reason", *args->request.mutable_reason(), "Who vouched for the unit and why")
      ->required();
  cmd->add_option("--factory-cert", args->factory_cert,
                  "PEM certificate the supplier put on the camera; must chain to a supplier CA "
                  "an admin added and name the serial")
      ->type_name("FILE");
  SetAction(cmd, selected, [args](Session& s) {
    v1::CommissionCameraRequest request = args->request;
    if (!args->factory_cert.empty()) {
      std::ifstream in(args->factory_cert, std::ios::binary);
      std::ostringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) {
        return s.UsageError(absl::StrCat("cannot read ", args->factory_cert));
      }
      request.set_factory_certificate_pem(pem.str());
    }
    return Finish(s, s.client().Fleet(&Stub::CommissionCamera, request),
                  [&](const v1::CommissionCameraResponse& r) {
                    s.out() << r.camera().serial() << " is now "
                            << CameraStateName(r.camera().state()) << "\n";
                  });
  });
}

void AddIssue(CLI::App* parent, Action* selected) {
  struct Args {
    v1::IssueCameraRequest request;
    std::string due;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = parent->add_subcommand(
      "issue", "Issue an AVAILABLE camera to a holder until a due-back time");
  cmd->add_option("SERIAL", *args->request.mutable_serial(), "Serial number")->required();
  cmd->add_option("--to", *args->request.mutable_holder_badge(), "Badge of the holder")->required();
  cmd->add_option("--due", args->due,
                  "When it is due back: in 12h, 1d12h, ... or at 2026-11-23T08:00:00Z")
      ->required()
      ->type_name("12h|TIME")
      ->check(TimeArgValidator());
  cmd->add_option("--note", *args->request.mutable_note(), "Note recorded with the issue");
  CLI::Option* force = cmd->add_flag("--force", args->force,
                                     "Issue past warnings (low battery, pending mandatory update)");
  CLI::Option* force_reason = cmd->add_option(
      "--force-reason", *args->request.mutable_force_reason(), "Why the warnings are overridden");
  force->needs(force_reason);
  force_reason->needs(force);
  SetAction(cmd, selected, [args](Session& s) {
    v1::IssueCameraRequest request = args->request;
    absl::StatusOr<absl::Time> due = ParseTimeArg(args->due, s.Now(), Relative::kFuture);
    if (!due.ok()) return s.UsageError(due.status().message());
    *request.mutable_due_back_time() = ToTimestamp(*due);
    request.set_force(args->force);
    return Finish(
        s, s.client().Fleet(&Stub::IssueCamera, request), [&](const v1::IssueCameraResponse& r) {
          const v1::Assignment& a = r.assignment();
          absl::Time due_time = FromTimestamp(a.due_back_time());
          // Rounded to the minute: "--due 12h" should read back as "in 12h", not
          // "in 11h59m" because the call took a moment.
          absl::Duration until =
              absl::Trunc(due_time - s.Now() + absl::Seconds(30), absl::Minutes(1));
          s.out() << "issued " << a.camera_serial() << " to " << HolderLabel(a) << ", due back "
                  << FormatUtc(due_time) << " (in " << HumanizeDuration(until) << ")\n";
        });
  });
}

void AddReturn(CLI::App* parent, Action* selected) {
  struct Args {
    v1::ReturnCameraRequest request;
    bool damaged = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = parent->add_subcommand(
      "return", "Take an ISSUED camera back (to AVAILABLE, or FAULTY with --damaged)");
  cmd->add_option("SERIAL", *args->request.mutable_serial(), "Serial number")->required();
  cmd->add_flag("--damaged", args->damaged, "It came back damaged: send it to FAULTY");
  cmd->add_option("--note", *args->request.mutable_note(), "Note, e.g. what the damage is");
  SetAction(cmd, selected, [args](Session& s) {
    v1::ReturnCameraRequest request = args->request;
    request.set_condition(args->damaged ? v1::RETURN_CONDITION_DAMAGED : v1::RETURN_CONDITION_GOOD);
    return Finish(
        s, s.client().Fleet(&Stub::ReturnCamera, request), [&](const v1::ReturnCameraResponse& r) {
          const v1::Assignment& a = r.assignment();
          s.out() << a.camera_serial() << " returned " << ReturnConditionName(a.return_condition())
                  << " from " << HolderLabel(a) << "; now " << CameraStateName(r.camera().state());
          if (a.has_return_time() && a.has_due_back_time()) {
            absl::Duration late = FromTimestamp(a.return_time()) - FromTimestamp(a.due_back_time());
            if (late >= absl::Minutes(1)) s.out() << " (" << HumanizeDuration(late) << " late)";
          }
          s.out() << "\n";
        });
  });
}

void AddResetEnrollment(CLI::App* camera, Action* selected) {
  auto request = std::make_shared<v1::ResetCameraEnrollmentRequest>();
  CLI::App* cmd = camera->add_subcommand(
      "reset-enrollment",
      "Let an enrolled camera enroll again (its key was replaced): revokes its certificate");
  cmd->add_option("SERIAL", *request->mutable_serial(), "Serial number")->required();
  cmd->add_option("--reason", *request->mutable_reason(), "Why it must enroll again")->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(
        s, s.client().Provisioning(&v1::ProvisioningService::Stub::ResetCameraEnrollment, *request),
        [&](const v1::ResetCameraEnrollmentResponse& r) {
          s.out() << "revoked certificate " << r.revoked_certificate().serial() << " of camera "
                  << request->serial() << " (superseded); it enrolls again at a dock of its site\n";
        });
  });
}

}  // namespace

void AddCameraCommands(CLI::App& app, Action* selected) {
  CLI::App* camera = app.add_subcommand("camera", "Cameras: registration and lifecycle");
  camera->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddRegister(camera, selected);
  AddImport(camera, selected);
  AddGet(camera, selected);
  AddList(camera, selected);
  AddCommission(camera, selected);
  AddIssue(camera, selected);
  AddReturn(camera, selected);
  AddTransition(camera, selected, "lost",
                "Report an AVAILABLE or ISSUED camera LOST (the holder stays accountable)",
                "--note", "Where and how it was lost", &Stub::ReportCameraLost,
                &v1::ReportCameraLostRequest::mutable_note);
  AddTransition(camera, selected, "found", "Report a LOST camera found (to AVAILABLE)", "--note",
                "Where it was found", &Stub::ReportCameraFound,
                &v1::ReportCameraFoundRequest::mutable_note);
  AddTransition(camera, selected, "faulty", "Report an AVAILABLE or ISSUED camera FAULTY", "--note",
                "What is wrong", &Stub::ReportCameraFaulty,
                &v1::ReportCameraFaultyRequest::mutable_note);
  AddTransition(camera, selected, "repair", "Return a repaired FAULTY camera to AVAILABLE",
                "--note", "What was repaired", &Stub::RepairCamera,
                &v1::RepairCameraRequest::mutable_note);
  AddTransition(camera, selected, "retire", "Retire a camera for good (final)", "--reason",
                "Why it is retired", &Stub::RetireCamera, &v1::RetireCameraRequest::mutable_reason);
  AddResetEnrollment(camera, selected);

  // What a quartermaster types all day, without the noun.
  AddIssue(&app, selected);
  AddReturn(&app, selected);
}

}  // namespace camfleet::cli
