// The reports (ReportService.RunReport) as pages and as CSV downloads.
//
// /reports lists them; /reports/NAME shows one page of a report with its filters (site
// subtree; the worn-battery thresholds; the not-seen days) and a link to the next page;
// /reports/NAME.csv downloads the whole report. The download is written page by page as a
// chunked response: each page of rows is asked of the ReportManager only once the previous
// one has gone out, so a report over 100,000 cameras needs the memory of one page, not of the
// report. The first page is asked before anything is sent, so a bad filter or an unknown site
// still gets its HTTP status and message; a failure after that (or the operator's session
// ending meanwhile) breaks the connection, so that a browser shows a failed download instead
// of saving a file that silently lacks rows.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/csv.h"
#include "common/log.h"
#include "services/web/html.h"
#include "services/web/page.h"
#include "services/web/web_server.h"

namespace camfleet::web {
namespace {

using httplib::Request;
using httplib::Response;

constexpr int kReportPageSize = 100;
// Rows per ReportService page while streaming a CSV (the most RunReport gives at once).
constexpr int kCsvPageSize = 1000;

enum class Filter { kSiteOnly, kWornBattery, kNotSeen };

struct WebReport {
  absl::string_view name;  // in the address, as `camfleet report NAME`
  v1::ReportKind kind;
  absl::string_view title;
  absl::string_view about;
  Filter filters;
};
constexpr WebReport kReports[] = {
    {"lost", v1::REPORT_KIND_LOST, "Lost units",
     "Cameras marked lost: last holder, last dock and slot, when a dock last saw them.",
     Filter::kSiteOnly},
    {"overdue", v1::REPORT_KIND_OVERDUE, "Overdue returns",
     "Open assignments past their due-back time, most overdue first.", Filter::kSiteOnly},
    {"worn-battery", v1::REPORT_KIND_WORN_BATTERY, "Worn batteries",
     "Cameras whose latest reading shows battery health below a threshold or more cycles than "
     "a limit.",
     Filter::kWornBattery},
    {"not-seen", v1::REPORT_KIND_NOT_SEEN, "Not seen",
     "Cameras no dock has seen for a number of days, longest unseen first.", Filter::kNotSeen},
    {"faulty", v1::REPORT_KIND_FAULTY, "Faulty units",
     "Cameras marked faulty and how long they have been.", Filter::kSiteOnly},
    {"failed-updates", v1::REPORT_KIND_FAILED_UPDATES, "Failed updates",
     "Cameras whose firmware install in a rollout failed or rolled back: the error, the "
     "attempt, the version they run.",
     Filter::kSiteOnly},
    {"fleet-summary", v1::REPORT_KIND_FLEET_SUMMARY, "Fleet summary",
     "One row per site: cameras by state, battery health, docks online.", Filter::kSiteOnly},
};

const WebReport* FindReport(absl::string_view name) {
  for (const WebReport& r : kReports) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// The filters as given in the address (shown back in the form and carried to the next page
// and to the CSV download).
struct ReportFilters {
  std::string site;
  std::string below_health;  // worn-battery: battery health below this percent
  std::string cycles_above;  // worn-battery: more cycles than this
  std::string days;          // not-seen: not seen for this many days

  explicit ReportFilters(const Request& req)
      : site(absl::AsciiStrToUpper(Param(req, "site"))),
        below_health(Param(req, "below_health")),
        cycles_above(Param(req, "cycles_above")),
        days(Param(req, "days")) {}

  // "site=...&below_health=..." with only the filters given.
  std::string Query() const {
    std::vector<std::string> parts;
    auto add = [&parts](absl::string_view name, const std::string& value) {
      if (!value.empty()) parts.push_back(absl::StrCat(name, "=", UrlEncode(value)));
    };
    add("site", site);
    add("below_health", below_health);
    add("cycles_above", cycles_above);
    add("days", days);
    return absl::StrJoin(parts, "&");
  }
};

absl::Status WholeNumber(const std::string& text, absl::string_view what, uint32_t* out) {
  if (text.empty()) return absl::OkStatus();
  if (!absl::SimpleAtoi(text, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a whole number, not '", text, "'"));
  }
  return absl::OkStatus();
}

// The RunReportRequest for `report` with `filters`; the ReportManager checks the ranges (and
// names the field) as it does for the gRPC call.
absl::StatusOr<v1::RunReportRequest> ReportRequest(const WebReport& report,
                                                   const ReportFilters& filters, int page_size,
                                                   std::string page_token) {
  v1::RunReportRequest q;
  q.set_report(report.kind);
  q.set_site_code(filters.site);
  q.set_page_size(page_size);
  q.set_page_token(std::move(page_token));
  uint32_t n = 0;
  if (absl::Status s = WholeNumber(filters.below_health, "battery health below", &n); !s.ok()) {
    return s;
  }
  q.set_battery_health_below_percent(n);
  n = 0;
  if (absl::Status s = WholeNumber(filters.cycles_above, "cycles above", &n); !s.ok()) return s;
  q.set_cycle_count_above(n);
  n = 0;
  if (absl::Status s = WholeNumber(filters.days, "not seen for days", &n); !s.ok()) return s;
  q.set_not_seen_days(n);
  return q;
}

// "last_holder_badge" -> "Last holder badge".
std::string ColumnTitle(const std::string& name) {
  std::string out = absl::StrReplaceAll(name, {{"_", " "}});
  if (!out.empty()) out[0] = absl::ascii_toupper(out[0]);
  return out;
}

// One cell for a person: times without the T and seconds, durations humanised, serials and
// rollouts linked; every text escaped.
std::string CellHtml(const v1::ReportColumn& column, const std::string& cell) {
  if (cell.empty()) return "<span class=\"muted\">-</span>";
  if (column.type() == v1::REPORT_COLUMN_TYPE_TIME && cell.size() == 20 && cell[10] == 'T') {
    return Escape(absl::StrCat(cell.substr(0, 10), " ", cell.substr(11, 5), " UTC"));
  }
  int64_t seconds = 0;
  if (column.type() == v1::REPORT_COLUMN_TYPE_SECONDS && absl::SimpleAtoi(cell, &seconds)) {
    return ShowDuration(absl::Seconds(seconds));
  }
  if (column.name() == "serial") {
    return absl::StrCat("<a href=\"/cameras/", UrlEncode(cell), "\">", Escape(cell), "</a>");
  }
  if (column.name() == "rollout") {
    return absl::StrCat("<a href=\"/rollouts/", UrlEncode(cell), "\">", Escape(cell), "</a>");
  }
  return Escape(cell);
}

// One CSV line of `cells` (common::CsvField: the CLI's `--csv` writes the same).
void AppendCsvLine(const v1::RunReportResponse& page, const v1::ReportRow& row, std::string* out) {
  for (int i = 0; i < row.cells_size(); ++i) {
    const bool text = i >= page.columns_size() ||
                      page.columns(i).type() == v1::REPORT_COLUMN_TYPE_TEXT;
    if (i > 0) *out += ',';
    *out += common::CsvField(row.cells(i), text);
  }
  *out += "\r\n";
}

// The state of one CSV download between the pages it is written in.
struct CsvStream {
  v1::RunReportRequest request;
  std::string session_id;  // the cookie: the session is checked again before every page
  std::optional<v1::RunReportResponse> pending;  // a page asked for but not yet written
  bool header_written = false;
  int64_t rows = 0;
};

std::string FilterForm(const WebReport& report, const ReportFilters& f) {
  std::string form = absl::StrCat(
      "<form class=\"filters\" method=\"get\" action=\"/reports/", report.name,
      "\" id=\"filters\"><label>Site (and below)<input name=\"site\" list=\"sites\" value=\"",
      Escape(f.site), "\" size=\"12\"></label>");
  if (report.filters == Filter::kWornBattery) {
    absl::StrAppend(&form,
                    "<label>Battery health below %<input name=\"below_health\" type=\"number\" "
                    "min=\"1\" max=\"100\" placeholder=\"80\" value=\"",
                    Escape(f.below_health),
                    "\"></label><label>or cycles above<input name=\"cycles_above\" "
                    "type=\"number\" min=\"1\" placeholder=\"500\" value=\"",
                    Escape(f.cycles_above), "\"></label>");
  }
  if (report.filters == Filter::kNotSeen) {
    absl::StrAppend(&form,
                    "<label>Not seen for days<input name=\"days\" type=\"number\" min=\"1\" "
                    "max=\"3650\" placeholder=\"7\" value=\"",
                    Escape(f.days), "\"></label>");
  }
  absl::StrAppend(&form, "<button id=\"apply-filters\">Show</button> <a href=\"/reports/",
                  report.name, "\">clear</a></form>");
  return form;
}

}  // namespace

void WebServer::ReportRoutes() {
  httplib::SSLServer& h = *http_;

  h.Get("/reports", Page([](const Request&, Response& res, const Session& session) {
    std::string body = "<h1>Reports</h1>";
    if (absl::Status allowed = Allowed(session, ReportMethod("RunReport")); !allowed.ok()) {
      res.status = HttpStatus(allowed);
      body += ErrorBox(allowed);
    } else {
      body += "<table id=\"reports\"><thead><tr><th>Report</th><th>What it lists</th>"
              "<th>Download</th></tr></thead><tbody>";
      for (const WebReport& r : kReports) {
        absl::StrAppend(&body, "<tr><td><a href=\"/reports/", r.name, "\">", r.title,
                        "</a></td><td>", r.about, "</td><td><a href=\"/reports/", r.name,
                        ".csv\" download>CSV</a></td></tr>");
      }
      body += "</tbody></table><p class=\"muted\">The same reports as <code>camfleet report "
              "NAME</code>. A CSV download holds the whole report, every page.</p>";
    }
    res.set_content(Layout(&session, "Reports", "/reports", body), kHtml);
  }));

  // The whole report as CSV, streamed page by page.
  h.Get(R"(/reports/([a-z-]{1,32})\.csv)",
        Page([this](const Request& req, Response& res, const Session& session) {
          const WebReport* report = FindReport(req.matches[1].str());
          auto fail = [&](const absl::Status& why) {
            res.status = HttpStatus(why);
            res.set_content(Layout(&session, "Report", "/reports",
                                   absl::StrCat("<h1>Report</h1>", ErrorBox(why),
                                                "<p><a href=\"/reports\">Reports</a></p>")),
                            kHtml);
          };
          if (report == nullptr) {
            return fail(absl::NotFoundError(
                absl::StrCat("no report '", req.matches[1].str(), "'")));
          }
          const ReportFilters filters(req);
          absl::StatusOr<v1::RunReportRequest> request =
              ReportRequest(*report, filters, kCsvPageSize, "");
          if (!request.ok()) return fail(request.status());
          absl::StatusOr<v1::RunReportResponse> first =
              IfAllowed(session, ReportMethod("RunReport"),
                        [&] { return s_.reports.RunReport(*request); });
          if (!first.ok()) return fail(first.status());

          auto stream = std::make_shared<CsvStream>();
          stream->request = *std::move(request);
          stream->session_id = SessionCookie(req);
          stream->pending = *std::move(first);
          const std::string filename = absl::StrCat(
              "camfleet-", report->name, filters.site.empty() ? "" : "-",
              absl::AsciiStrToLower(filters.site), "-",
              absl::FormatTime("%Y%m%dT%H%MZ", s_.clock.Now(), absl::UTCTimeZone()), ".csv");
          // The name is made of [a-z0-9-] and the site code, which is checked by then
          // (RunReport found it): nothing in it needs quoting.
          res.set_header("Content-Disposition",
                         absl::StrCat("attachment; filename=\"", filename, "\""));
          const std::string who = session.who.name;
          res.set_chunked_content_provider(
              "text/csv; charset=utf-8",
              [this, stream, who](size_t /*offset*/, httplib::DataSink& sink) -> bool {
                if (!stream->pending.has_value()) {
                  if (absl::StatusOr<Session> still = s_.access.Find(stream->session_id);
                      !still.ok()) {
                    common::LogInfo("web report download for ", who,
                                    " stopped: ", still.status().message());
                    return false;
                  }
                  absl::StatusOr<v1::RunReportResponse> next =
                      s_.reports.RunReport(stream->request);
                  if (!next.ok()) {
                    common::LogError("web report download for ", who, " failed after ",
                                     stream->rows, " rows: ", next.status().message());
                    return false;
                  }
                  stream->pending = *std::move(next);
                }
                const v1::RunReportResponse page = *std::move(stream->pending);
                stream->pending.reset();
                std::string chunk;
                if (!stream->header_written) {
                  std::vector<std::string> names;
                  for (const v1::ReportColumn& c : page.columns()) names.push_back(c.name());
                  absl::StrAppend(&chunk, absl::StrJoin(names, ","), "\r\n");
                  stream->header_written = true;
                }
                for (const v1::ReportRow& row : page.rows()) AppendCsvLine(page, row, &chunk);
                stream->rows += page.rows_size();
                // Never an empty write: cpp-httplib reads one as the end of the content.
                if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
                if (page.next_page_token().empty()) {
                  sink.done();
                  return true;
                }
                stream->request.set_page_token(page.next_page_token());
                return true;
              });
        }));

  // One page of a report, with its filters.
  h.Get(R"(/reports/([a-z-]{1,32}))",
        Page([this](const Request& req, Response& res, const Session& session) {
          const WebReport* report = FindReport(req.matches[1].str());
          if (report == nullptr) {
            res.status = 404;
            res.set_content(
                Layout(&session, "Report", "/reports",
                       absl::StrCat("<h1>Report</h1>",
                                    ErrorBox(absl::NotFoundError(absl::StrCat(
                                        "no report '", req.matches[1].str(), "'"))),
                                    "<p><a href=\"/reports\">Reports</a></p>")),
                kHtml);
            return;
          }
          const ReportFilters filters(req);
          std::string body = absl::StrCat("<h1>", report->title, "</h1><p class=\"muted\">",
                                          report->about, "</p>", FilterForm(*report, filters));
          v1::ListSitesRequest sites_req;
          sites_req.set_page_size(1000);
          if (absl::StatusOr<v1::ListSitesResponse> sites = s_.fleet.ListSites(sites_req);
              sites.ok()) {
            body += "<datalist id=\"sites\">";
            for (const v1::Site& s : sites->sites()) {
              absl::StrAppend(&body, "<option value=\"", Escape(s.code()), "\">",
                              Escape(s.name()), "</option>");
            }
            body += "</datalist>";
          }
          const std::string page_token = Param(req, "page_token");
          absl::StatusOr<v1::RunReportResponse> page =
              [&]() -> absl::StatusOr<v1::RunReportResponse> {
            absl::StatusOr<v1::RunReportRequest> request =
                ReportRequest(*report, filters, kReportPageSize, page_token);
            if (!request.ok()) return request.status();
            return IfAllowed(session, ReportMethod("RunReport"),
                             [&] { return s_.reports.RunReport(*request); });
          }();
          if (!page.ok()) {
            res.status = HttpStatus(page.status());
            body += ErrorBox(page.status());
            res.set_content(Layout(&session, report->title, "/reports", body), kHtml);
            return;
          }
          const std::string query = filters.Query();
          absl::StrAppend(&body, "<p>As of ", When(page->as_of()), " &middot; <a id=\"csv\" "
                                 "href=\"/reports/", report->name, ".csv",
                          query.empty() ? "" : "?", Escape(query),
                          "\" download>Download the whole report as CSV</a></p>");
          body += "<table id=\"report\" class=\"report\"><thead><tr>";
          for (const v1::ReportColumn& c : page->columns()) {
            absl::StrAppend(&body, "<th>", Escape(ColumnTitle(c.name())), "</th>");
          }
          body += "</tr></thead><tbody>";
          for (const v1::ReportRow& row : page->rows()) {
            body += "<tr>";
            for (int i = 0; i < row.cells_size() && i < page->columns_size(); ++i) {
              const v1::ReportColumn& c = page->columns(i);
              absl::StrAppend(&body,
                              c.type() == v1::REPORT_COLUMN_TYPE_INTEGER ? "<td class=\"num\">"
                                                                         : "<td>",
                              CellHtml(c, row.cells(i)), "</td>");
            }
            body += "</tr>";
          }
          if (page->rows_size() == 0) {
            absl::StrAppend(&body, "<tr><td colspan=\"", std::max(page->columns_size(), 1),
                            "\" class=\"muted\">nothing to report</td></tr>");
          }
          absl::StrAppend(&body, "</tbody></table><p class=\"muted\">", page->rows_size(),
                          page->rows_size() == 1 ? " row" : " rows",
                          page_token.empty() ? "" : " (a later page)", "</p>");
          if (!page->next_page_token().empty() || !page_token.empty()) {
            body += "<p class=\"pager\">";
            if (!page_token.empty()) {
              absl::StrAppend(&body, "<a href=\"/reports/", report->name,
                              query.empty() ? "" : "?", Escape(query), "\">First page</a> ");
            }
            if (!page->next_page_token().empty()) {
              absl::StrAppend(&body, "<a id=\"next-page\" href=\"/reports/", report->name, "?",
                              Escape(query), query.empty() ? "" : "&amp;", "page_token=",
                              UrlEncode(page->next_page_token()), "\">Next page</a>");
            }
            body += "</p>";
          }
          res.set_content(Layout(&session, report->title, "/reports", body), kHtml);
        }));
}

}  // namespace camfleet::web
