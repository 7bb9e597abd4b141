// Firmware rollouts (RolloutService) as pages: the list, and one rollout with its progress per
// wave and per site and the cameras whose install failed, with their last error. Admins also
// get the rollout's controls (pause, resume, next wave, retry the failed, abort) as forms that
// go through WebServer::Write like every other write: the session, the CSRF token, our origin
// and the role table's rule for the gRPC method, with the operator as the audit actor.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "services/web/html.h"
#include "services/web/page.h"
#include "services/web/web_server.h"

namespace camfleet::web {
namespace {

using httplib::Request;
using httplib::Response;

constexpr int kRolloutsPageSize = 100;
// Failed cameras shown on a rollout's page; the failed-updates report lists every one.
constexpr int kFailedUnitsShown = 500;

std::string RolloutStateName(v1::RolloutState state) {
  return std::string(absl::StripPrefix(v1::RolloutState_Name(state), "ROLLOUT_STATE_"));
}
std::string RolloutBadge(v1::RolloutState state) {
  const std::string name = RolloutStateName(state);
  return absl::StrCat("<span class=\"state rollout-", name, "\">", name, "</span>");
}
std::string UnitStateName(v1::RolloutUnitState state) {
  return std::string(absl::StripPrefix(v1::RolloutUnitState_Name(state), "ROLLOUT_UNIT_STATE_"));
}

// The count cells of a progress row, in the order of kCountHeaders.
constexpr absl::string_view kCountHeaders =
    "<th class=\"num\">Cameras</th><th class=\"num\">Pending</th><th class=\"num\">Downloading"
    "</th><th class=\"num\">Installing</th><th class=\"num\">Succeeded</th><th class=\"num\">"
    "Failed</th><th class=\"num\">Rolled back</th><th>Progress</th>";
std::string CountCells(const v1::RolloutCounts& c) {
  return absl::StrCat("<td class=\"num\">", c.total(), "</td><td class=\"num\">", c.pending(),
                      "</td><td class=\"num\">", c.downloading(), "</td><td class=\"num\">",
                      c.installing(), "</td><td class=\"num\">", c.succeeded(),
                      "</td><td class=\"num", c.failed() > 0 ? " bad" : "", "\">", c.failed(),
                      "</td><td class=\"num", c.rolled_back() > 0 ? " bad" : "", "\">",
                      c.rolled_back(), "</td><td><progress max=\"", std::max(c.total(), 1u),
                      "\" value=\"", c.succeeded(), "\">", c.succeeded(), " of ", c.total(),
                      "</progress></td>");
}

std::string MinuteOfDay(uint32_t minute) {
  return absl::StrCat(minute / 60 < 10 ? "0" : "", minute / 60, ":", minute % 60 < 10 ? "0" : "",
                      minute % 60);
}

std::string TargetText(const v1::RolloutTarget& t) {
  std::vector<std::string> parts;
  if (t.models_size() > 0) parts.push_back(absl::StrCat("models ", absl::StrJoin(t.models(), ", ")));
  if (t.site_codes_size() > 0) {
    parts.push_back(absl::StrCat("sites ", absl::StrJoin(t.site_codes(), ", "), " (and below)"));
  }
  if (t.current_versions_size() > 0) {
    parts.push_back(absl::StrCat("running ", absl::StrJoin(t.current_versions(), ", ")));
  }
  if (t.serials_size() > 0) parts.push_back(absl::StrCat(t.serials_size(), " named cameras"));
  return parts.empty() ? "-" : Escape(absl::StrJoin(parts, "; "));
}

absl::StatusOr<std::string> RolloutIdOf(const Request& req) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(req.matches[1].str(), &id) || id <= 0) {
    return absl::InvalidArgumentError("the rollout id in the address is not a number");
  }
  return absl::StrCat(id);
}

}  // namespace

void WebServer::RolloutRoutes() {
  httplib::SSLServer& h = *http_;

  h.Get("/rollouts", Page([this](const Request& req, Response& res, const Session& session) {
    std::string body = "<h1>Firmware rollouts</h1>";
    v1::ListRolloutsRequest list;
    list.set_page_size(kRolloutsPageSize);
    list.set_page_token(Param(req, "page_token"));
    const std::string state = absl::AsciiStrToUpper(Param(req, "state"));
    absl::Status problem;
    if (!state.empty()) {
      v1::RolloutState parsed = v1::ROLLOUT_STATE_UNSPECIFIED;
      if (!v1::RolloutState_Parse(absl::StrCat("ROLLOUT_STATE_", state), &parsed) ||
          parsed == v1::ROLLOUT_STATE_UNSPECIFIED) {
        problem = absl::InvalidArgumentError(absl::StrCat("state '", state, "' is unknown"));
      }
      list.set_state(parsed);
    }
    absl::StrAppend(&body, "<form class=\"filters\" method=\"get\" action=\"/rollouts\" "
                           "id=\"filters\"><label>State<select name=\"state\">");
    for (const char* option :
         {"", "RUNNING", "PAUSED", "AWAITING_NEXT_WAVE", "COMPLETED", "ABORTED"}) {
      absl::StrAppend(&body, "<option value=\"", option, "\"", state == option ? " selected" : "",
                      ">", *option == '\0' ? "any" : option, "</option>");
    }
    body += "</select></label><button id=\"apply-filters\">Show</button></form>";
    absl::StatusOr<v1::ListRolloutsResponse> rollouts =
        problem.ok() ? IfAllowed(session, RolloutMethod("ListRollouts"),
                                 [&] { return s_.rollouts.ListRollouts(list); })
                     : absl::StatusOr<v1::ListRolloutsResponse>(problem);
    if (!rollouts.ok()) {
      res.status = HttpStatus(rollouts.status());
      body += ErrorBox(rollouts.status());
      res.set_content(Layout(&session, "Rollouts", "/rollouts", body), kHtml);
      return;
    }
    absl::StrAppend(&body, "<table id=\"rollouts\"><thead><tr><th>Rollout</th><th>Release</th>"
                           "<th>State</th><th>Waves open</th>",
                    kCountHeaders, "<th>Started</th><th>By</th></tr></thead><tbody>");
    for (const v1::Rollout& r : rollouts->rollouts()) {
      absl::StrAppend(&body, "<tr id=\"rollout-", Escape(r.rollout_id()),
                      "\"><td><a href=\"/rollouts/", UrlEncode(r.rollout_id()), "\">",
                      Escape(r.rollout_id()), "</a></td><td>", Escape(r.release_version()),
                      " <span class=\"muted\">", Escape(absl::StrJoin(r.release_models(), ", ")),
                      "</span></td><td>", RolloutBadge(r.state()),
                      r.reason().empty()
                          ? ""
                          : absl::StrCat("<br><span class=\"muted\">", Escape(r.reason()),
                                         "</span>"),
                      "</td><td>", r.open_waves(), " of ", r.wave_count(), "</td>",
                      CountCells(r.counts()), "<td>", When(r.create_time()), "</td><td>",
                      Escape(r.created_by()), "</td></tr>");
    }
    if (rollouts->rollouts_size() == 0) {
      body += "<tr><td colspan=\"12\" class=\"muted\">no rollouts yet (<code>camfleet rollout "
              "create</code>)</td></tr>";
    }
    body += "</tbody></table>";
    if (!rollouts->next_page_token().empty()) {
      absl::StrAppend(&body, "<p class=\"pager\"><a id=\"next-page\" href=\"/rollouts?state=",
                      UrlEncode(state), "&amp;page_token=", UrlEncode(rollouts->next_page_token()),
                      "\">Next page</a></p>");
    }
    res.set_content(Layout(&session, "Rollouts", "/rollouts", body), kHtml);
  }));

  h.Get(R"(/rollouts/([0-9]{1,18}))",
        Page([this](const Request& req, Response& res, const Session& session) {
          const std::string id = req.matches[1].str();
          v1::GetRolloutRequest get;
          get.set_rollout_id(id);
          get.set_include_units(true);
          absl::StatusOr<v1::GetRolloutResponse> got =
              IfAllowed(session, RolloutMethod("GetRollout"),
                        [&] { return s_.rollouts.GetRollout(get); });
          if (!got.ok()) {
            res.status = HttpStatus(got.status());
            res.set_content(Layout(&session, absl::StrCat("Rollout ", id), "/rollouts",
                                   absl::StrCat("<h1>Rollout ", Escape(id), "</h1>",
                                                ErrorBox(got.status()))),
                            kHtml);
            return;
          }
          const v1::Rollout& r = got->rollout();
          const std::string url = absl::StrCat("/rollouts/", UrlEncode(r.rollout_id()));
          std::string body = absl::StrCat("<h1>Rollout ", Escape(r.rollout_id()), ": firmware ",
                                          Escape(r.release_version()), " ", RolloutBadge(r.state()),
                                          "</h1>");
          if (!r.reason().empty()) {
            absl::StrAppend(&body, "<p class=\"warning\" id=\"reason\">", Escape(r.reason()),
                            "</p>");
          }
          std::string threshold = "the first failure pauses";
          if (r.failure_threshold().has_fraction() && r.failure_threshold().fraction() > 0) {
            threshold = absl::StrCat("more than ", r.failure_threshold().fraction() * 100,
                                     "% of a wave failed pauses");
          } else if (r.failure_threshold().has_count() && r.failure_threshold().count() > 0) {
            threshold = absl::StrCat("more than ", r.failure_threshold().count(),
                                     " failed in a wave pauses");
          }
          std::vector<std::string> waves;
          for (uint32_t p : r.wave_percents()) waves.push_back(absl::StrCat(p, "%"));
          absl::StrAppend(
              &body, "<div class=\"grid2\"><div class=\"card\" id=\"summary\"><dl>"
                     "<dt>Release</dt><dd>",
              Escape(r.release_version()), " <code>", Escape(r.release_id().substr(0, 12)),
              "</code> for ", Escape(absl::StrJoin(r.release_models(), ", ")),
              "</dd><dt>Target</dt><dd>", TargetText(r.target()), "</dd><dt>Waves</dt><dd>",
              r.canary_site_code().empty()
                  ? ""
                  : absl::StrCat("canary ", Escape(r.canary_site_code()), ", then "),
              waves.empty() ? "100%" : Escape(absl::StrJoin(waves, ", ")),
              r.stop_after_each_wave() ? " (stops after each wave)" : "", "; ", r.open_waves(),
              " of ", r.wave_count(), " open</dd><dt>Failure threshold</dt><dd>",
              Escape(threshold), "</dd><dt>Started</dt><dd>", When(r.create_time()), " by ",
              Escape(r.created_by()), "</dd><dt>Last change</dt><dd>", When(r.update_time()),
              "</dd><dt>Finished</dt><dd>", When(r.finish_time()), "</dd><dt>Note</dt><dd>",
              r.note().empty() ? "-" : Escape(r.note()),
              "</dd></dl></div><div class=\"card\" id=\"overall\"><h2>Progress</h2><p>",
              r.counts().succeeded(), " of ", r.counts().total(),
              " cameras run the new firmware</p><progress max=\"",
              std::max(r.counts().total(), 1u), "\" value=\"", r.counts().succeeded(),
              "\"></progress><p class=\"muted\">", r.counts().failed(), " failed, ",
              r.counts().rolled_back(), " rolled back, ",
              r.counts().pending() + r.counts().downloading() + r.counts().installing(),
              " to go</p></div></div>");

          // The admin's controls, each only where the role table and the state allow it.
          std::string actions;
          auto form = [&](absl::string_view action, absl::string_view title,
                          absl::string_view fields, absl::string_view button, bool danger) {
            absl::StrAppend(&actions, "<form class=\"action\" id=\"", action,
                            "-form\" method=\"post\" action=\"", url, "/", action,
                            "\"><strong>", title, "</strong>", CsrfField(session), fields,
                            "<button", danger ? " class=\"danger\"" : "", ">", button,
                            "</button></form>");
          };
          const std::string reason =
              "<label>Reason<input name=\"reason\" required maxlength=\"500\"></label>";
          const v1::RolloutState st = r.state();
          auto may = [&](absl::string_view m) { return May(session, RolloutMethod(m)); };
          if ((st == v1::ROLLOUT_STATE_RUNNING || st == v1::ROLLOUT_STATE_AWAITING_NEXT_WAVE) &&
              may("PauseRollout")) {
            form("pause", "Pause", reason, "Pause", false);
          }
          if (st == v1::ROLLOUT_STATE_PAUSED && may("ResumeRollout")) {
            form("resume", "Resume", "", "Resume", false);
          }
          if (st == v1::ROLLOUT_STATE_AWAITING_NEXT_WAVE && may("NextWave")) {
            form("next-wave", "Next wave", "", "Open the next wave", false);
          }
          if (st != v1::ROLLOUT_STATE_ABORTED &&
              r.counts().failed() + r.counts().rolled_back() > 0 && may("RetryFailed")) {
            form("retry", "Retry the failed", "", "Retry", false);
          }
          if (st != v1::ROLLOUT_STATE_ABORTED && st != v1::ROLLOUT_STATE_COMPLETED &&
              may("AbortRollout")) {
            form("abort", "Abort", reason, "Abort the rollout", true);
          }
          if (!actions.empty()) {
            absl::StrAppend(&body, "<h2>Actions</h2><div class=\"actions\">", actions, "</div>");
          }

          absl::StrAppend(&body, "<h2>Waves</h2><table id=\"waves\"><thead><tr><th>Wave</th>"
                                 "<th>Reaches</th><th>Open</th>",
                          kCountHeaders, "</tr></thead><tbody>");
          for (const v1::WaveProgress& w : r.waves()) {
            absl::StrAppend(&body, "<tr id=\"wave-", w.wave(), "\"><td>", w.wave(), "</td><td>",
                            w.canary_site_code().empty()
                                ? absl::StrCat(w.percent(), "%")
                                : absl::StrCat("canary ", Escape(w.canary_site_code())),
                            "</td><td>", w.open() ? "open" : "<span class=\"muted\">not yet</span>",
                            "</td>", CountCells(w.counts()), "</tr>");
          }
          body += "</tbody></table>";

          absl::StrAppend(&body, "<h2>Sites</h2><table id=\"sites\"><thead><tr><th>Site</th>"
                                 "<th>Install window</th>",
                          kCountHeaders, "</tr></thead><tbody>");
          for (const v1::SiteProgress& s : r.sites()) {
            absl::StrAppend(&body, "<tr id=\"site-", Escape(s.site_code()), "\"><td>",
                            Escape(s.site_code()), "</td><td>",
                            s.has_window()
                                ? absl::StrCat(MinuteOfDay(s.window().start_minute()), "-",
                                               MinuteOfDay(s.window().end_minute()), " ",
                                               s.window().time_zone().empty()
                                                   ? "UTC"
                                                   : Escape(s.window().time_zone()))
                                : "any time",
                            "</td>", CountCells(s.counts()), "</tr>");
          }
          body += "</tbody></table>";

          body += "<h2>Failed cameras</h2><table id=\"failed\"><thead><tr><th>Camera</th>"
                  "<th>Model</th><th>Site</th><th>Wave</th><th>State</th><th>Attempt</th>"
                  "<th>Last error</th><th>Runs</th><th>When</th></tr></thead><tbody>";
          int shown = 0, failed = 0;
          for (const v1::RolloutUnit& u : r.units()) {
            if (u.state() != v1::ROLLOUT_UNIT_STATE_FAILED &&
                u.state() != v1::ROLLOUT_UNIT_STATE_ROLLED_BACK) {
              continue;
            }
            ++failed;
            if (shown >= kFailedUnitsShown) continue;
            ++shown;
            absl::StrAppend(&body, "<tr><td><a href=\"/cameras/", UrlEncode(u.serial()), "\">",
                            Escape(u.serial()), "</a></td><td>", Escape(u.model()), "</td><td>",
                            Escape(u.site_code()), "</td><td>", u.wave(), "</td><td>",
                            UnitStateName(u.state()), "</td><td>", u.attempt(), "</td><td>",
                            Escape(u.last_error()), "</td><td>",
                            u.running_version().empty() ? "-" : Escape(u.running_version()),
                            "</td><td>", When(u.finish_time()), "</td></tr>");
          }
          if (failed == 0) {
            body += "<tr><td colspan=\"9\" class=\"muted\">none</td></tr>";
          }
          body += "</tbody></table>";
          if (failed > shown) {
            absl::StrAppend(&body, "<p class=\"muted\">", shown, " of ", failed,
                            " shown; <a href=\"/reports/failed-updates\">the failed-updates "
                            "report</a> lists every one.</p>");
          }
          res.set_content(Layout(&session, absl::StrCat("Rollout ", r.rollout_id()), "/rollouts",
                                 body),
                          kHtml);
        }));

  // The admin's controls: each is the gRPC call of the same name, through Write.
  auto rollout_url = [](const std::string& id) { return absl::StrCat("/rollouts/", id); };
  h.Post(R"(/rollouts/([0-9]{1,18})/pause)",
         Write(RolloutMethod("PauseRollout"),
               [this, rollout_url](const Request& req,
                                   const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> id = RolloutIdOf(req);
                 if (!id.ok()) return id.status();
                 v1::PauseRolloutRequest r;
                 r.set_rollout_id(*id);
                 r.set_reason(Param(req, "reason"));
                 auto done = Await<v1::PauseRolloutResponse>(
                     [&](auto cb) { s_.rollouts.PauseRollout(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return rollout_url(*id);
               }));
  h.Post(R"(/rollouts/([0-9]{1,18})/resume)",
         Write(RolloutMethod("ResumeRollout"),
               [this, rollout_url](const Request& req,
                                   const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> id = RolloutIdOf(req);
                 if (!id.ok()) return id.status();
                 v1::ResumeRolloutRequest r;
                 r.set_rollout_id(*id);
                 auto done = Await<v1::ResumeRolloutResponse>(
                     [&](auto cb) { s_.rollouts.ResumeRollout(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return rollout_url(*id);
               }));
  h.Post(R"(/rollouts/([0-9]{1,18})/next-wave)",
         Write(RolloutMethod("NextWave"),
               [this, rollout_url](const Request& req,
                                   const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> id = RolloutIdOf(req);
                 if (!id.ok()) return id.status();
                 v1::NextWaveRequest r;
                 r.set_rollout_id(*id);
                 auto done = Await<v1::NextWaveResponse>(
                     [&](auto cb) { s_.rollouts.NextWave(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return rollout_url(*id);
               }));
  h.Post(R"(/rollouts/([0-9]{1,18})/retry)",
         Write(RolloutMethod("RetryFailed"),
               [this, rollout_url](const Request& req,
                                   const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> id = RolloutIdOf(req);
                 if (!id.ok()) return id.status();
                 v1::RetryFailedRequest r;
                 r.set_rollout_id(*id);
                 auto done = Await<v1::RetryFailedResponse>(
                     [&](auto cb) { s_.rollouts.RetryFailed(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return rollout_url(*id);
               }));
  h.Post(R"(/rollouts/([0-9]{1,18})/abort)",
         Write(RolloutMethod("AbortRollout"),
               [this, rollout_url](const Request& req,
                                   const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> id = RolloutIdOf(req);
                 if (!id.ok()) return id.status();
                 v1::AbortRolloutRequest r;
                 r.set_rollout_id(*id);
                 r.set_reason(Param(req, "reason"));
                 auto done = Await<v1::AbortRolloutResponse>(
                     [&](auto cb) { s_.rollouts.AbortRollout(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return rollout_url(*id);
               }));
}

}  // namespace camfleet::web
