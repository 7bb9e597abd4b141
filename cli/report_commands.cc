// camfleet report NAME and camfleet stock-check: reports and stock checks (ReportService).
//
// A report is fetched one page at a time and each page is written out before the next is
// asked for, so `--csv` and `--json` stream a report of any size (100,000 cameras) in the
// memory of one page. The table for people is laid out once all rows are in.

#include "cli/report_commands.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "camfleet/v1/report.grpc.pb.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/enum_names.h"
#include "cli/table.h"
#include "common/csv.h"

namespace camfleet::cli {
namespace {

using Stub = v1::ReportService::Stub;

// One ReportService call through the session's channel, with the deadline every call has.
template <typename Request, typename Response>
absl::StatusOr<Response> CallReport(Session& s,
                                    grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                 const Request&, Response*),
                                    const Request& request) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.client().channel();
  if (!channel.ok()) return channel.status();
  std::unique_ptr<Stub> stub = v1::ReportService::NewStub(*channel);
  grpc::ClientContext context;
  s.client().PrepareContext(context, s.client().options().timeout);
  Response response;
  grpc::Status status = (stub.get()->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

struct ReportName {
  const char* name;
  v1::ReportKind kind;
  const char* about;
};
constexpr ReportName kReports[] = {
    {"lost", v1::REPORT_KIND_LOST, "lost units: last holder, last dock and slot, last seen"},
    {"overdue", v1::REPORT_KIND_OVERDUE, "open assignments past due, most overdue first"},
    {"worn-battery", v1::REPORT_KIND_WORN_BATTERY,
     "battery health below --below-health (80) or cycles above --cycles-above (500)"},
    {"not-seen", v1::REPORT_KIND_NOT_SEEN, "units no dock has seen for --days (7) days"},
    {"faulty", v1::REPORT_KIND_FAULTY, "faulty units and how long they have been"},
    {"failed-updates", v1::REPORT_KIND_FAILED_UPDATES,
     "failed firmware installs (needs rollouts; not available yet)"},
    {"fleet-summary", v1::REPORT_KIND_FLEET_SUMMARY,
     "per site: units by state, battery health, docks online"},
};

// "worn-battery", "WORN_BATTERY", "worn_battery" and "Worn-Battery" all name one report.
absl::StatusOr<v1::ReportKind> ParseReportName(absl::string_view text) {
  std::string folded = absl::AsciiStrToLower(text);
  absl::StrReplaceAll({{"_", "-"}}, &folded);
  if (folded == "summary") folded = "fleet-summary";
  if (folded == "worn") folded = "worn-battery";
  for (const ReportName& r : kReports) {
    if (folded == r.name) return r.kind;
  }
  std::vector<std::string> names;
  for (const ReportName& r : kReports) names.emplace_back(r.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown report '", text, "'; give one of: ", absl::StrJoin(names, ", ")));
}

std::string ReportList() {
  std::string out = "Reports:\n";
  for (const ReportName& r : kReports) absl::StrAppend(&out, "  ", r.name, "  ", r.about, "\n");
  return out;
}

// A JSON string of `text` (nlohmann-json does the escaping; bytes that are not UTF-8 become
// U+FFFD instead of failing the whole report).
std::string JsonString(absl::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonValue(const std::string& cell, v1::ReportColumnType type) {
  if (cell.empty() && type != v1::REPORT_COLUMN_TYPE_TEXT) return "null";
  int64_t n = 0;
  if ((type == v1::REPORT_COLUMN_TYPE_INTEGER || type == v1::REPORT_COLUMN_TYPE_SECONDS) &&
      absl::SimpleAtoi(cell, &n)) {
    return absl::StrCat(n);
  }
  return JsonString(cell);
}

// A cell for a person: durations humanized, times without the T and Z.
std::string TableCell(const std::string& cell, v1::ReportColumnType type) {
  if (cell.empty()) return cell;
  int64_t seconds = 0;
  if (type == v1::REPORT_COLUMN_TYPE_SECONDS && absl::SimpleAtoi(cell, &seconds)) {
    return HumanizeDuration(absl::Seconds(seconds));
  }
  if (type == v1::REPORT_COLUMN_TYPE_TIME && cell.size() == 20) {
    return absl::StrCat(cell.substr(0, 10), " ", cell.substr(11, 5));
  }
  return cell;
}

struct ReportArgs {
  std::string name;
  std::string site;
  bool csv = false;
  int64_t limit = 0;  // 0: every row
  int32_t page_size = 0;
  uint32_t below_health = 0;
  uint32_t cycles_above = 0;
  uint32_t days = 0;
  bool quiet = false;
};

// Writes rows as they arrive, in one of three formats.
class ReportWriter {
 public:
  enum class Format { kTable, kCsv, kJson };
  ReportWriter(Session& s, Format format) : s_(s), format_(format) {}

  void Begin(const v1::RunReportResponse& first) {
    for (const v1::ReportColumn& c : first.columns()) columns_.push_back(c);
    if (format_ == Format::kCsv) {
      std::vector<std::string> names;
      for (const v1::ReportColumn& c : columns_) names.push_back(c.name());
      s_.out() << absl::StrJoin(names, ",") << "\r\n";
    } else if (format_ == Format::kJson) {
      std::string kind = v1::ReportKind_Name(first.report());
      s_.out() << "{\n  \"report\": " << JsonString(kind.substr(sizeof("REPORT_KIND_") - 1))
               << ",\n  \"as_of\": " << JsonString(FormatUtcSeconds(FromTimestamp(first.as_of())))
               << ",\n  \"rows\": [";
    } else {
      std::vector<std::string> header;
      for (const v1::ReportColumn& c : columns_) {
        header.push_back(absl::AsciiStrToUpper(absl::StrReplaceAll(c.name(), {{"_", " "}})));
      }
      table_ = std::make_unique<Table>(header);
      for (size_t i = 0; i < columns_.size(); ++i) {
        if (columns_[i].type() == v1::REPORT_COLUMN_TYPE_INTEGER) table_->AlignRight(i);
      }
    }
  }

  void Row(const v1::ReportRow& row) {
    auto type = [&](int i) {
      return static_cast<size_t>(i) < columns_.size() ? columns_[static_cast<size_t>(i)].type()
                                                      : v1::REPORT_COLUMN_TYPE_TEXT;
    };
    if (format_ == Format::kCsv) {
      std::vector<std::string> fields;
      for (int i = 0; i < row.cells_size(); ++i) {
        fields.push_back(common::CsvField(row.cells(i), type(i) == v1::REPORT_COLUMN_TYPE_TEXT));
      }
      s_.out() << absl::StrJoin(fields, ",") << "\r\n";
    } else if (format_ == Format::kJson) {
      std::vector<std::string> members;
      for (int i = 0; i < row.cells_size() && static_cast<size_t>(i) < columns_.size(); ++i) {
        members.push_back(absl::StrCat(JsonString(columns_[static_cast<size_t>(i)].name()), ": ",
                                       JsonValue(row.cells(i), type(i))));
      }
      s_.out() << (rows_ == 0 ? "\n    {" : ",\n    {") << absl::StrJoin(members, ", ") << "}";
    } else {
      std::vector<std::string> cells;
      for (int i = 0; i < row.cells_size(); ++i) cells.push_back(TableCell(row.cells(i), type(i)));
      table_->AddRow(std::move(cells));
    }
    ++rows_;
  }

  // `more`: rows were left out (--limit).
  void End(bool more) {
    if (format_ == Format::kJson) {
      s_.out() << (rows_ == 0 ? "],\n" : "\n  ],\n") << "  \"more\": " << (more ? "true" : "false")
               << "\n}\n";
    } else if (format_ == Format::kTable) {
      if (rows_ == 0) {
        s_.out() << "nothing to report\n";
      } else {
        s_.out() << table_->Render();
      }
      if (more) s_.err() << "more rows exist; leave out --limit to see them all\n";
    }
    s_.out().flush();
  }

  int64_t rows() const { return rows_; }

 private:
  Session& s_;
  Format format_;
  std::vector<v1::ReportColumn> columns_;
  std::unique_ptr<Table> table_;
  int64_t rows_ = 0;
};

int RunReportCommand(Session& s, const ReportArgs& args) {
  absl::StatusOr<v1::ReportKind> kind = ParseReportName(args.name);
  if (!kind.ok()) return s.UsageError(kind.status().message());
  v1::RunReportRequest request;
  request.set_report(*kind);
  request.set_site_code(args.site);
  request.set_battery_health_below_percent(args.below_health);
  request.set_cycle_count_above(args.cycles_above);
  request.set_not_seen_days(args.days);
  // Exports go fastest in the largest pages the server gives.
  int32_t page = args.page_size > 0 ? args.page_size : 1000;
  if (args.limit > 0 && args.limit < page) page = static_cast<int32_t>(args.limit);
  request.set_page_size(page);
  const ReportWriter::Format format = args.csv   ? ReportWriter::Format::kCsv
                                      : s.json() ? ReportWriter::Format::kJson
                                                 : ReportWriter::Format::kTable;
  const bool progress = !args.quiet && format != ReportWriter::Format::kTable;
  ReportWriter writer(s, format);
  int pages = 0;
  while (true) {
    absl::StatusOr<v1::RunReportResponse> response = CallReport(s, &Stub::RunReport, request);
    if (!response.ok()) {
      if (pages > 0 && progress) s.err() << "\n";
      return s.RpcError(response.status());
    }
    if (pages++ == 0) writer.Begin(*response);
    bool cut = false;
    for (const v1::ReportRow& row : response->rows()) {
      if (args.limit > 0 && writer.rows() >= args.limit) {
        cut = true;
        break;
      }
      writer.Row(row);
    }
    const bool last = response->next_page_token().empty();
    if (args.limit > 0 && writer.rows() >= args.limit && !last) cut = true;
    // Progress on stderr, so that stdout stays the CSV or JSON document.
    if (progress && (pages > 1 || !last)) {
      s.err() << "\r" << writer.rows() << " rows" << (last || cut ? "\n" : "") << std::flush;
    }
    if (last || cut) {
      writer.End(cut);
      return kExitOk;
    }
    request.set_page_token(response->next_page_token());
  }
}

void AddReportCommand(CLI::App& app, Action* selected) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand("report", "Print a report as a table, --csv or --json");
  cmd->footer(ReportList() +
              "\n--csv and --json stream every row page by page (a 100,000-camera report in the "
              "memory of one page),\nwith a row count on stderr (--quiet leaves it out). CSV "
              "text cells that start with = + - @ get a leading '\nso that a spreadsheet does "
              "not run them. Times are UTC; durations in CSV and JSON are seconds.");
  cmd->add_option("NAME", args->name, "Which report (see below)")->required();
  cmd->add_option("--site", args->site, "Only this site and the sites under it")->type_name("SITE");
  cmd->add_flag("--csv", args->csv, "CSV with a header line (RFC 4180), for spreadsheets");
  cmd->add_option("--limit", args->limit, "At most this many rows (default: all)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--page-size", args->page_size, "Rows per call to the server (default 1000)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--below-health", args->below_health,
                  "worn-battery: health below this percent of design capacity (default 80)")
      ->type_name("PERCENT");
  cmd->add_option("--cycles-above", args->cycles_above,
                  "worn-battery: more full charge cycles than this (default 500)")
      ->type_name("N");
  cmd->add_option("--days", args->days, "not-seen: not seen for this many days (default 7)")
      ->type_name("N");
  cmd->add_flag("--quiet", args->quiet, "No row count on stderr");
  SetAction(cmd, selected, [args](Session& s) { return RunReportCommand(s, *args); });
}

// ---- stock check ----

std::string Where(const v1::StockUnit& u) {
  if (u.last_dock_id().empty()) return "";
  return u.last_slot() == 0 ? u.last_dock_id()
                            : absl::StrCat(u.last_dock_id(), " slot ", u.last_slot());
}

std::string Holder(const v1::StockUnit& u) {
  if (u.holder_badge().empty()) return "";
  return u.holder_name().empty() ? u.holder_badge()
                                 : absl::StrCat(u.holder_badge(), " (", u.holder_name(), ")");
}

void PrintStockCheck(Session& s, const v1::StockCheck& c) {
  const absl::Time now = s.Now();
  s.out() << "stock check of " << c.site_code() << " at "
          << FormatUtc(FromTimestamp(c.check_time())) << " (seen: docked at " << c.site_code()
          << " in the last " << c.hours() << "h)\n";
  s.out() << RenderRecord({{"expected", absl::StrCat(c.expected_size())},
                           {"seen", absl::StrCat(c.seen_size())},
                           {"issued", absl::StrCat(c.issued_size())},
                           {"missing", absl::StrCat(c.missing_size())}});
  if (c.issued_size() > 0) {
    s.out() << "\nIssued out:\n";
    Table t({"SERIAL", "HOLDER", "DUE BACK"});
    for (const v1::StockUnit& u : c.issued()) {
      t.AddRow({u.serial(), Holder(u),
                u.has_due_back_time() ? RelativeTo(FromTimestamp(u.due_back_time()), now) : ""});
    }
    s.out() << t.Render();
  }
  if (c.missing_size() > 0) {
    s.out() << "\nMissing (neither seen nor issued):\n";
    Table t({"SERIAL", "STATE", "LAST HOLDER", "LAST DOCK", "LAST SEEN"});
    for (const v1::StockUnit& u : c.missing()) {
      t.AddRow(
          {u.serial(), CameraStateName(u.state()), Holder(u), Where(u),
           u.has_last_seen_time() ? RelativeTo(FromTimestamp(u.last_seen_time()), now) : "never"});
    }
    s.out() << t.Render();
  } else {
    s.out() << "\nnothing missing\n";
  }
}

void AddStockCheckCommands(CLI::App& app, Action* selected) {
  struct Args {
    std::string site;
    uint32_t hours = 0;
    bool record = false;
    std::string note;
    std::string due_site;
    std::string interval_site;
    uint32_t interval_days = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "stock-check", "Check a site's stock: expected, seen docked, issued out, missing");
  cmd->footer(
      "camfleet stock-check SITE [--hours N] [--record [--note TEXT]]\n"
      "camfleet stock-check due [--site SITE]      next check due per site\n"
      "camfleet stock-check interval SITE DAYS     how often SITE is checked (default 30 days)\n"
      "Expected: the site's units in state REGISTERED, AVAILABLE, ISSUED or FAULTY. Seen: "
      "docked at one\nof the site's docks in the last --hours (24). Missing: expected, not seen "
      "and not issued, with\nthe last holder and last dock. --record keeps the result (who, "
      "when, counts, missing serials)\nin the audit log and restarts the site's due date. "
      "With the link down, run\n`camfleet-dock stock-check` at the dock.");
  cmd->require_subcommand(0, 1);
  cmd->add_option("SITE", args->site, "The site to check, e.g. BATKEN-POST-01 (any case)");
  cmd->add_option("--hours", args->hours, "Seen means docked within this many hours (24)")
      ->check(CLI::Range(1, 2160));
  cmd->add_flag("--record", args->record, "Record the completed check (audited)");
  cmd->add_option("--note", args->note, "With --record: a note, e.g. who counted the shelf");
  auto check = [args](Session& s) {
    if (args->site.empty()) return s.UsageError("give the SITE to check, or `due` or `interval`");
    if (args->record) {
      v1::RecordStockCheckRequest request;
      request.set_site_code(args->site);
      request.set_hours(args->hours);
      request.set_note(args->note);
      absl::StatusOr<v1::RecordStockCheckResponse> response =
          CallReport(s, &Stub::RecordStockCheck, request);
      return Finish(s, response, [&](const v1::RecordStockCheckResponse& r) {
        PrintStockCheck(s, r.check());
        s.out() << "\nrecorded as stock check " << r.record().id() << " by "
                << r.record().checked_by() << "\n";
      });
    }
    v1::CheckStockRequest request;
    request.set_site_code(args->site);
    request.set_hours(args->hours);
    absl::StatusOr<v1::CheckStockResponse> response = CallReport(s, &Stub::CheckStock, request);
    return Finish(s, response, [&](const v1::CheckStockResponse& r) {
      PrintStockCheck(s, r.check());
      s.out() << "\nnot recorded; add --record once the shelf has been counted\n";
    });
  };
  // Not SetAction: CLI11 runs this callback after a subcommand's, which must win.
  cmd->callback([cmd, selected, check] {
    if (cmd->get_subcommands().empty()) *selected = Action{check, true};
  });

  CLI::App* due = cmd->add_subcommand("due", "When each site's next stock check is due");
  due->add_option("--site", args->due_site, "Only this site and the sites under it");
  SetAction(due, selected, [args](Session& s) {
    v1::ListStockChecksDueRequest request;
    request.set_site_code(args->due_site);
    absl::StatusOr<v1::ListStockChecksDueResponse> response =
        CallReport(s, &Stub::ListStockChecksDue, request);
    return Finish(s, response, [&](const v1::ListStockChecksDueResponse& r) {
      const absl::Time now = FromTimestamp(r.as_of());
      Table t({"SITE", "NAME", "EVERY", "LAST CHECK", "BY", "DUE"});
      for (const v1::StockCheckDue& d : r.due()) {
        std::string when = RelativeTo(FromTimestamp(d.due_time()), now);
        if (!d.has_last_check_time()) {
          when = "now (never checked)";
        } else if (d.overdue()) {
          when = absl::StrCat("OVERDUE ", when);
        }
        t.AddRow({d.site_code(), d.site_name(), absl::StrCat(d.interval_days(), "d"),
                  d.has_last_check_time() ? FormatUtc(FromTimestamp(d.last_check_time())) : "",
                  d.last_checked_by(), when});
      }
      s.out() << t.Render();
    });
  });

  CLI::App* interval = cmd->add_subcommand("interval", "Set how often a site's stock is checked");
  interval->add_option("SITE", args->interval_site, "The site")->required();
  interval->add_option("DAYS", args->interval_days, "Days between checks, 1-366")
      ->required()
      ->check(CLI::Range(1, 366));
  SetAction(interval, selected, [args](Session& s) {
    v1::SetStockCheckIntervalRequest request;
    request.set_site_code(args->interval_site);
    request.set_interval_days(args->interval_days);
    absl::StatusOr<v1::SetStockCheckIntervalResponse> response =
        CallReport(s, &Stub::SetStockCheckInterval, request);
    return Finish(s, response, [&](const v1::SetStockCheckIntervalResponse& r) {
      s.out() << r.due().site_code() << ": stock checked every " << r.due().interval_days()
              << " days; next due " << FormatUtc(FromTimestamp(r.due().due_time())) << "\n";
    });
  });
}

}  // namespace

void AddReportCommands(CLI::App& app, Action* selected) {
  AddReportCommand(app, selected);
  AddStockCheckCommands(app, selected);
}

}  // namespace camfleet::cli
