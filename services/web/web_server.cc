#include "services/web/web_server.h"

#include <httplib.h>

#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "provisioning/digest.h"
#include "provisioning/role.h"
#include "provisioning/serving_certificate.h"
#include "services/rpc/authorization.h"
#include "services/web/assets.h"
#include "services/web/html.h"
#include "services/web/page.h"

namespace camfleet::web {
namespace {

using httplib::Request;
using httplib::Response;

constexpr int kFleetPageSize = 100;

}  // namespace

WebServer::WebServer(WebServices services) : s_(services) {}

WebServer::~WebServer() { Shutdown(); }

void WebServer::Shutdown() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<WebServer>> WebServer::Start(const WebServerOptions& options,
                                                            WebServices services) {
  const size_t colon = options.listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--web-listen '", options.listen,
                                                   "' needs HOST:PORT, e.g. 127.0.0.1:7444"));
  }
  std::string host = options.listen.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<WebServer> server(new WebServer(services));
  absl::StatusOr<std::unique_ptr<provisioning::ServingCertificate>> certificate =
      provisioning::ServingCertificate::Load(
          options.credentials_dir, [dir = options.credentials_dir](const absl::Status& why) {
            common::LogError("the web page keeps serving its previous certificate: the one in ",
                             dir, " cannot be served: ", why.message());
          });
  if (!certificate.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the web page could not load the server's certificate and key from ",
                     options.credentials_dir, ": ", certificate.status().message()));
  }
  server->certificate_ = *std::move(certificate);
  absl::Status configured;
  server->http_ = std::make_unique<httplib::SSLServer>(
      [&configured, cert = server->certificate_.get()](SSL_CTX& ctx) {
        configured = cert->ConfigureServerContext(&ctx);
        return configured.ok();
      });
  if (!server->http_->is_valid()) {
    return absl::InternalError(absl::StrCat("the web page could not set up TLS: ",
                                            configured.ok() ? "no SSL_CTX" : configured.message()));
  }
  server->Routes();
  if (port == 0) {
    server->port_ = server->http_->bind_to_any_port(host);
  } else if (server->http_->bind_to_port(host, port)) {
    server->port_ = port;
  }
  if (server->port_ <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the web page could not listen on ", options.listen, "; is it in use?"));
  }
  server->public_url_ = options.public_url;
  if (server->public_url_.empty()) {
    std::string shown = options.listen.substr(0, colon);
    if (shown == "0.0.0.0" || shown == "[::]" || shown.empty()) shown = "localhost";
    server->public_url_ = absl::StrCat("https://", shown, ":", server->port_);
  }
  while (!server->public_url_.empty() && server->public_url_.back() == '/') {
    server->public_url_.pop_back();
  }
  httplib::SSLServer* http = server->http_.get();
  server->thread_ = std::thread([http] { http->listen_after_bind(); });
  // httplib's stop() does nothing until the accept loop runs: wait for it, so that a Shutdown
  // right after Start cannot leave the loop running for ever.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!http->is_running()) {
    if (absl::Now() > give_up) {
      server->Shutdown();
      return absl::InternalError("the web page's accept loop did not start");
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  common::LogInfo("web page on ", server->public_url_);
  return server;
}

void WebServer::CameraPage(const Request& req, Response& res, const Session& session,
                           bool handover) {
  const std::string serial = absl::AsciiStrToUpper(req.matches[1].str());
  v1::GetCustodyTrailRequest trail_req;
  trail_req.set_serial(serial);
  absl::StatusOr<v1::GetCustodyTrailResponse> trail =
      IfAllowed(session, FleetMethod("GetCustodyTrail"),
                [&] { return s_.fleet.GetCustodyTrail(trail_req); });
  if (!trail.ok()) {
    res.status = HttpStatus(trail.status());
    res.set_content(Layout(&session, serial, "/fleet",
                           absl::StrCat("<h1>", Escape(serial), "</h1>", ErrorBox(trail.status()))),
                    "text/html; charset=utf-8");
    return;
  }
  const v1::Camera& c = trail->camera();
  // The open assignment, if any, or else the newest.
  const v1::Assignment* open = nullptr;
  const v1::Assignment* newest = nullptr;
  for (const v1::Assignment& a : trail->assignments()) {
    newest = &a;
    if (!a.has_return_time()) open = &a;
  }
  std::string holder_name;
  std::string holder_unit;
  if (open != nullptr) holder_name = open->holder_name();
  const std::string url = absl::StrCat("/cameras/", UrlEncode(c.serial()));

  if (handover) {
    const v1::Assignment* a = open != nullptr ? open : newest;
    std::string body = absl::StrCat(
        "<div class=\"handover\" id=\"handover\"><h1>Camera hand-over record</h1>"
        "<p class=\"noprint\"><a href=\"",
        url, "\">Back to the camera</a> &middot; <button data-print>Print</button></p>");
    absl::StrAppend(&body, "<h2>Camera</h2><div class=\"card\"><dl><dt>Serial</dt><dd>",
                    Escape(c.serial()), "</dd><dt>Model</dt><dd>", Escape(c.model()),
                    "</dd><dt>Hardware revision</dt><dd>", Escape(c.hardware_revision()),
                    "</dd><dt>Site</dt><dd>", Escape(c.site_code()), "</dd><dt>State</dt><dd>",
                    StateName(c.state()), "</dd><dt>Battery</dt><dd>",
                    c.has_latest_health()
                        ? absl::StrCat(c.latest_health().battery_percent(), "% charged, ",
                                       c.latest_health().battery_health_percent(),
                                       "% of design capacity, ", c.latest_health().cycle_count(),
                                       " cycles (", When(c.latest_health().device_time()), ")")
                        : "no reading",
                    "</dd><dt>Firmware</dt><dd>",
                    c.has_latest_health() ? Escape(c.latest_health().firmware_version()) : "-",
                    "</dd></dl></div>");
    if (a == nullptr) {
      body += "<p>This camera has never been issued.</p>";
    } else {
      absl::StrAppend(
          &body, "<h2>", a == open ? "Issued to" : "Last issued to",
          "</h2><div class=\"card\"><dl><dt>Holder</dt><dd>", Escape(a->holder_name()),
          "</dd><dt>Badge</dt><dd>", Escape(a->holder_badge()), "</dd><dt>Issued</dt><dd>",
          When(a->issue_time()), " by ", Escape(a->issued_by()), "</dd><dt>Due back</dt><dd>",
          When(a->due_back_time()), "</dd><dt>Note</dt><dd>", Escape(a->issue_note()), "</dd>",
          a->force_reason().empty()
              ? ""
              : absl::StrCat("<dt>Issued despite warnings</dt><dd>", Escape(a->force_reason()),
                             "</dd>"),
          a->has_return_time()
              ? absl::StrCat("<dt>Returned</dt><dd>", When(a->return_time()), " to ",
                             Escape(a->returned_by()), "</dd><dt>Return note</dt><dd>",
                             Escape(a->return_note()), "</dd>")
              : "",
          "</dl></div>");
    }
    absl::StrAppend(&body, "<p class=\"muted\">Record ", a != nullptr ? absl::StrCat(a->id()) : "-",
                    ", printed ", Escape(ShowTime(s_.clock.Now())), " by ",
                    Escape(session.who.name),
                    ".</p><div class=\"signature\"><div>Handed over by (name, signature)</div>"
                    "<div>Received by (name, signature)</div></div></div>");
    res.set_content(Layout(&session, absl::StrCat("Hand-over ", serial), "/fleet", body),
                    "text/html; charset=utf-8");
    return;
  }

  std::string body = absl::StrCat("<h1>Camera ", Escape(c.serial()), " ", StateBadge(c.state()),
                                  "</h1>");
  const std::string notice = Param(req, "done");
  // Summary and latest health.
  absl::StrAppend(
      &body, "<div class=\"grid2\"><div class=\"card\" id=\"summary\"><dl><dt>State</dt><dd>",
      StateName(c.state()),
      c.state_note().empty() ? "" : absl::StrCat(" &middot; ", Escape(c.state_note())),
      "</dd><dt>Model</dt><dd>", Escape(c.model()), " (rev ", Escape(c.hardware_revision()),
      ")</dd><dt>Site</dt><dd>", Escape(c.site_code()), "</dd><dt>Holder</dt><dd id=\"holder\">",
      c.holder_badge().empty()
          ? "-"
          : absl::StrCat(Escape(holder_name), " (", Escape(c.holder_badge()), ")"),
      "</dd><dt>Due back</dt><dd>", When(c.due_back_time()), "</dd><dt>Last seen</dt><dd>",
      When(c.last_seen_time()),
      c.last_dock_id().empty()
          ? ""
          : absl::StrCat(" at ", Escape(c.last_dock_id()), " slot ", c.last_slot()),
      "</dd><dt>Registered</dt><dd>", When(c.create_time()), "</dd></dl><p><a href=\"", url,
      "/handover\" id=\"handover-link\">Printable hand-over record</a></p></div>");
  body += "<div class=\"card\" id=\"latest-health\"><h2>Latest health</h2>";
  if (c.has_latest_health()) {
    const v1::CameraHealth& hl = c.latest_health();
    absl::StrAppend(&body, "<dl><dt>Battery</dt><dd>", hl.battery_percent(),
                    "%</dd><dt>Battery health</dt><dd>", hl.battery_health_percent(),
                    "% of design capacity</dd><dt>Cycles</dt><dd>", hl.cycle_count(),
                    "</dd><dt>Firmware</dt><dd>", Escape(hl.firmware_version()),
                    "</dd><dt>Reading taken</dt><dd>", When(hl.device_time()), "</dd></dl>");
  } else {
    body += "<p class=\"muted\">No dock has reported this camera's health yet.</p>";
  }
  body += "</div></div>";

  // The quartermaster's actions, each only where the role table and the state allow it.
  auto may = [&](absl::string_view m) { return May(session, FleetMethod(m)); };
  std::string actions;
  auto form = [&](absl::string_view action, absl::string_view title, absl::string_view fields,
                  absl::string_view button, bool danger) {
    absl::StrAppend(&actions, "<form class=\"action\" id=\"", action, "-form\" method=\"post\" "
                              "action=\"", url, "/", action, "\"><strong>", title, "</strong>",
                    CsrfField(session), fields, "<button", danger ? " class=\"danger\"" : "",
                    ">", button, "</button></form>");
  };
  const std::string note = "<label>Note<input name=\"note\" maxlength=\"1024\"></label>";
  if (c.state() == v1::CAMERA_STATE_AVAILABLE && may("IssueCamera")) {
    std::string holders = "<datalist id=\"holders\">";
    v1::ListHoldersRequest holders_req;
    holders_req.set_page_size(1000);
    if (auto list = s_.fleet.ListHolders(holders_req); list.ok()) {
      for (const v1::Holder& hd : list->holders()) {
        absl::StrAppend(&holders, "<option value=\"", Escape(hd.badge()), "\">", Escape(hd.name()),
                        "</option>");
      }
    }
    holders += "</datalist>";
    form("issue", "Issue",
         absl::StrCat("<label>Holder badge<input name=\"badge\" list=\"holders\" required "
                      "maxlength=\"32\"></label>",
                      holders,
                      "<label>Due back in hours<input name=\"due_hours\" type=\"number\" "
                      "min=\"1\" max=\"720\" value=\"12\"></label>",
                      note,
                      "<label>Issue despite warnings, because<input name=\"force_reason\" "
                      "maxlength=\"1024\"></label>"),
         "Issue", false);
  }
  if (c.state() == v1::CAMERA_STATE_ISSUED && may("ReturnCamera")) {
    form("return", "Return",
         absl::StrCat("<label>Condition<select name=\"condition\"><option value=\"good\">good"
                      "</option><option value=\"damaged\">damaged (goes to FAULTY)</option>"
                      "</select></label>",
                      note),
         "Return", false);
  }
  const bool in_service =
      c.state() == v1::CAMERA_STATE_AVAILABLE || c.state() == v1::CAMERA_STATE_ISSUED;
  if (in_service && may("ReportCameraLost")) form("lost", "Mark lost", note, "Mark lost", true);
  if (in_service && may("ReportCameraFaulty")) {
    form("faulty", "Mark faulty", note, "Mark faulty", true);
  }
  if (c.state() == v1::CAMERA_STATE_LOST && may("ReportCameraFound")) {
    form("found", "Found", note, "Mark found", false);
  }
  if (c.state() == v1::CAMERA_STATE_FAULTY && may("RepairCamera")) {
    form("repair", "Repaired", note, "Mark repaired", false);
  }
  if (!actions.empty()) absl::StrAppend(&body, "<h2>Actions</h2><div class=\"actions\">", actions, "</div>");
  if (!notice.empty()) absl::StrAppend(&body, "<p class=\"notice\">", Escape(notice), "</p>");

  // Battery health over time.
  body += "<h2>Battery</h2>";
  v1::ListHealthReadingsRequest health_req;
  health_req.set_serial(c.serial());
  health_req.set_page_size(1000);
  absl::StatusOr<v1::ListHealthReadingsResponse> health =
      IfAllowed(session, MonitoringMethod("ListHealthReadings"),
                [&] { return s_.monitoring.ListHealthReadings(health_req); });
  if (!health.ok()) {
    body += ErrorBox(health.status());
  } else {
    ChartSeries capacity{"health (% of design capacity)", "health", {}};
    ChartSeries charge{"charge %", "charge", {}};
    for (const v1::HealthRecord& r : health->readings()) {
      const v1::HealthReading& hr = r.reading();
      const absl::Time t = FromProto(hr.device_time());
      if (hr.design_capacity_mah() > 0) {
        capacity.points.push_back(
            {t, 100.0 * hr.full_charge_capacity_mah() / hr.design_capacity_mah()});
      }
      charge.points.push_back({t, static_cast<double>(hr.battery_percent())});
    }
    body += PercentChart("battery-chart", absl::StrCat("Battery of ", c.serial()),
                         {capacity, charge});
    absl::StrAppend(&body, "<p class=\"muted\">", health->readings_size(),
                    " readings (the newest 1000)</p>");
  }

  // Custody trail.
  body += "<h2>Custody trail</h2><table id=\"custody\"><thead><tr><th>Holder</th><th>Issued</th>"
          "<th>By</th><th>Due back</th><th>Returned</th><th>By</th><th>Condition</th>"
          "<th>Notes</th></tr></thead><tbody>";
  for (const v1::Assignment& a : trail->assignments()) {
    absl::StrAppend(
        &body, "<tr><td>", Escape(a.holder_name()), " (", Escape(a.holder_badge()), ")</td><td>",
        When(a.issue_time()), "</td><td>", Escape(a.issued_by()), "</td><td>",
        When(a.due_back_time()), "</td><td>",
        a.has_return_time() ? When(a.return_time()) : "<strong>out</strong>", "</td><td>",
        Escape(a.returned_by()), "</td><td>",
        a.has_return_time()
            ? Escape(absl::StripPrefix(v1::ReturnCondition_Name(a.return_condition()),
                                       "RETURN_CONDITION_"))
            : "",
        "</td><td>", Escape(a.issue_note()),
        a.return_note().empty() ? "" : absl::StrCat(" / ", Escape(a.return_note())),
        a.force_reason().empty() ? "" : absl::StrCat(" / forced: ", Escape(a.force_reason())),
        "</td></tr>");
  }
  if (trail->assignments_size() == 0) {
    body += "<tr><td colspan=\"8\" class=\"muted\">never issued</td></tr>";
  }
  body += "</tbody></table>";

  // Certificates (the role table keeps these to admins and auditors).
  body += "<h2>Certificate</h2>";
  v1::ListCertificatesRequest certs_req;
  certs_req.set_role(v1::ROLE_CAMERA);
  certs_req.set_identity(c.serial());
  certs_req.set_include_revoked(true);
  absl::StatusOr<v1::ListCertificatesResponse> certs =
      IfAllowed(session, ProvisioningMethod("ListCertificates"),
                [&] { return s_.identity.ListCertificates(certs_req); });
  if (!certs.ok()) {
    absl::StrAppend(&body, "<p class=\"muted\">", Escape(certs.status().message()), "</p>");
  } else if (certs->certificates_size() == 0) {
    body += "<p class=\"muted\">No certificate (not enrolled yet).</p>";
  } else {
    body += "<table id=\"certificates\"><thead><tr><th>Serial</th><th>Subject</th><th>Valid from"
            "</th><th>Until</th><th>Status</th><th>Issued by</th></tr></thead><tbody>";
    for (const v1::Certificate& cert : certs->certificates()) {
      absl::StrAppend(
          &body, "<tr><td><code>", Escape(cert.serial()), "</code></td><td>",
          Escape(cert.subject()), "</td><td>", When(cert.not_before()), "</td><td>",
          When(cert.not_after()), "</td><td>",
          cert.has_revoke_time()
              ? absl::StrCat("revoked ", When(cert.revoke_time()), " (",
                             Escape(absl::StripPrefix(
                                 v1::RevocationReason_Name(cert.revocation_reason()),
                                 "REVOCATION_REASON_")),
                             ")")
              : "valid",
          "</td><td>", Escape(cert.issued_by()), "</td></tr>");
    }
    body += "</tbody></table>";
  }

  // Audit events about this camera.
  body += "<h2>Audit events</h2>";
  v1::ListAuditEventsRequest audit_req;
  audit_req.set_object_id(c.serial());
  audit_req.set_page_size(1000);
  absl::StatusOr<v1::ListAuditEventsResponse> events =
      IfAllowed(session, AuditMethod("ListAuditEvents"),
                [&] { return s_.audit.ListAuditEvents(audit_req); });
  if (!events.ok()) {
    body += ErrorBox(events.status());
  } else {
    body += "<table id=\"audit\"><thead><tr><th>#</th><th>Time</th><th>Actor</th><th>Action</th>"
            "<th>Details</th></tr></thead><tbody>";
    for (const v1::AuditEvent& e : events->events()) {
      absl::StrAppend(&body, "<tr><td>", e.sequence(), "</td><td>", When(e.time()), "</td><td>",
                      Escape(e.actor()), "</td><td>", Escape(e.action()), "</td><td><code>",
                      Escape(e.details_json()), "</code></td></tr>");
    }
    body += "</tbody></table>";
  }
  res.set_content(Layout(&session, c.serial(), "/fleet", body), "text/html; charset=utf-8");
}

WebServer::Handler WebServer::Page(PageFn fn) {
  return [this, fn = std::move(fn)](const Request& req, Response& res) {
    absl::StatusOr<Session> session = s_.access.Find(SessionCookie(req));
    if (!session.ok()) {
      res.status = 401;
      res.set_content(Layout(nullptr, "Sign in", "",
                             absl::StrCat("<h1>Sign in</h1>", ErrorBox(session.status()),
                                          "<p>Ask for a link with <code>camfleet web</code>; "
                                          "it signs you in as the operator of your "
                                          "certificate.</p>")),
                      kHtml);
      return;
    }
    fn(req, res, *session);
  };
}

WebServer::Handler WebServer::Write(std::string method, WriteFn fn) {
  return [this, method = std::move(method), fn = std::move(fn)](const Request& req,
                                                                 Response& res) {
    auto fail = [&res](const Session* session, const absl::Status& why) {
      res.status = HttpStatus(why);
      res.set_content(Layout(session, "Not done", "",
                             absl::StrCat("<h1>Not done</h1>", ErrorBox(why),
                                          "<p><a href=\"/fleet\">Back to the fleet</a></p>")),
                      kHtml);
    };
    absl::StatusOr<Session> session = s_.access.Find(SessionCookie(req));
    if (!session.ok()) return fail(nullptr, session.status());
    if (!SameOrigin(req, public_url_)) {
      return fail(&*session, absl::PermissionDeniedError(
                                 "this form was sent from another site; nothing was changed"));
    }
    const std::string csrf = req.has_param("csrf") ? req.get_param_value("csrf") : "";
    if (csrf.empty() || !provisioning::ConstantTimeEquals(csrf, session->csrf_token)) {
      return fail(&*session,
                  absl::PermissionDeniedError("this form lacks this session's CSRF token (an old "
                                              "page, or sent from elsewhere); reload the page "
                                              "and try again. Nothing was changed."));
    }
    if (absl::Status allowed = Allowed(*session, method); !allowed.ok()) {
      return fail(&*session, allowed);
    }
    absl::StatusOr<std::string> next = fn(req, *session);
    if (!next.ok()) return fail(&*session, next.status());
    res.status = 303;
    res.set_header("Location", *next);
  };
}

void WebServer::Routes() {
  httplib::SSLServer& h = *http_;
  h.set_payload_max_length(64 << 10);
  // No page is ever cached or framed, and nothing loads from anywhere but here. Referrers only
  // to ourselves: the sign-in page's URL holds the one-time token. (Not no-referrer: with it
  // Chromium sends "Origin: null" on our own form posts, and the Origin check refuses them.)
  h.set_default_headers({
      {"Content-Security-Policy",
       "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "same-origin"},
      {"Cache-Control", "no-store"},
      {"Strict-Transport-Security", "max-age=31536000"},
  });

  auto page = [this](PageFn fn) { return Page(std::move(fn)); };
  auto write = [this](std::string method, WriteFn fn) {
    return Write(std::move(method), std::move(fn));
  };

  h.Get("/", [](const Request&, Response& res) {
    res.status = 303;
    res.set_header("Location", "/fleet");
  });
  h.Get("/assets/(.+)", [](const Request& req, Response& res) {
    const Asset* asset = FindAsset(req.path);
    if (asset == nullptr) {
      res.status = 404;
      return;
    }
    res.set_content(std::string(asset->body), std::string(asset->content_type));
  });

  // ---- sign-in -------------------------------------------------------------------------
  // The link opens a page whose button redeems it: a link previewer or prefetcher that follows
  // the URL does not use it up, and the token leaves the URL bar at once.
  h.Get("/sign-in", [](const Request& req, Response& res) {
    const std::string token = Param(req, "token");
    res.set_content(
        Layout(nullptr, "Sign in", "",
               absl::StrCat("<h1>Sign in to camfleet</h1><form method=\"post\" "
                            "action=\"/sign-in\"><input type=\"hidden\" name=\"token\" value=\"",
                            Escape(token),
                            "\"><p>This one-time link signs you in as the operator who asked "
                            "for it with <code>camfleet web</code>.</p><button id=\"sign-in\">"
                            "Sign in</button></form>")),
        "text/html; charset=utf-8");
  });
  h.Post("/sign-in", [this](const Request& req, Response& res) {
    auto refuse = [&res](const absl::Status& why) {
      res.status = HttpStatus(why);
      res.set_content(Layout(nullptr, "Sign in", "",
                             absl::StrCat("<h1>Not signed in</h1>", ErrorBox(why))),
                      "text/html; charset=utf-8");
    };
    if (!SameOrigin(req, public_url_)) {
      return refuse(absl::PermissionDeniedError("sign-in sent from another site; refused"));
    }
    absl::StatusOr<OpenedSession> opened = s_.access.Redeem(Param(req, "token"));
    if (!opened.ok()) {
      common::LogInfo("web sign-in refused: ", opened.status().message());
      return refuse(opened.status());
    }
    common::LogInfo("web sign-in: ", opened->session.who.name, " (",
                    provisioning::RoleName(opened->session.who.role.value_or(provisioning::Role::kAuditor)), ")");
    const int64_t max_age = absl::ToInt64Seconds(opened->session.expires - s_.clock.Now());
    res.set_header("Set-Cookie", absl::StrCat(kSessionCookie, "=", opened->id, "; Path=/; Max-Age=",
                                              max_age, "; HttpOnly; Secure; SameSite=Strict"));
    res.status = 303;
    res.set_header("Location", "/fleet");
  });
  h.Post("/sign-out", [this](const Request& req, Response& res) {
    const std::string id = SessionCookie(req);
    absl::StatusOr<Session> session = s_.access.Find(id);
    if (session.ok() && SameOrigin(req, public_url_) &&
        provisioning::ConstantTimeEquals(Param(req, "csrf"), session->csrf_token)) {
      s_.access.End(id);
    }
    res.set_header("Set-Cookie", absl::StrCat(kSessionCookie,
                                              "=; Path=/; Max-Age=0; HttpOnly; Secure; "
                                              "SameSite=Strict"));
    res.set_content(Layout(nullptr, "Signed out", "", "<h1>Signed out</h1>"),
                    "text/html; charset=utf-8");
  });

  // ---- the fleet table -----------------------------------------------------------------
  h.Get("/fleet", page([this](const Request& req, Response& res, const Session& session) {
    std::string body = "<h1>Fleet</h1>";
    absl::Status problem = Allowed(session, FleetMethod("ListCameras"));
    v1::ListCamerasRequest list;
    list.set_page_size(kFleetPageSize);
    const std::string site = absl::AsciiStrToUpper(Param(req, "site"));
    const std::string state = absl::AsciiStrToUpper(Param(req, "state"));
    const std::string model = Param(req, "model");
    const std::string holder = absl::AsciiStrToUpper(Param(req, "holder"));
    const std::string battery = Param(req, "battery_below");
    const std::string not_seen = Param(req, "not_seen_days");
    list.set_site_code(site);
    list.set_model(model);
    list.set_holder_badge(holder);
    list.set_page_token(Param(req, "page_token"));
    if (!state.empty()) {
      v1::CameraState parsed;
      if (!v1::CameraState_Parse(absl::StrCat("CAMERA_STATE_", state), &parsed) ||
          parsed == v1::CAMERA_STATE_UNSPECIFIED) {
        problem.Update(absl::InvalidArgumentError(absl::StrCat("state '", state, "' is unknown")));
      } else {
        list.set_state(parsed);
      }
    }
    if (!battery.empty()) {
      uint32_t below = 0;
      if (!absl::SimpleAtoi(battery, &below) || below < 1 || below > 100) {
        problem.Update(
            absl::InvalidArgumentError("battery below must be a percentage from 1 to 100"));
      } else {
        list.set_battery_below(below);
      }
    }
    if (!not_seen.empty()) {
      int days = 0;
      if (!absl::SimpleAtoi(not_seen, &days) || days < 1 || days > 3650) {
        problem.Update(
            absl::InvalidArgumentError("not seen for must be a number of days from 1 to 3650"));
      } else {
        list.mutable_not_seen_since()->set_seconds(
            absl::ToUnixSeconds(s_.clock.Now() - absl::Hours(24) * days));
      }
    }
    // The filter form, as on the command line (camfleet camera list --site --state --model
    // --holder --battery-below --not-seen-since).
    absl::StrAppend(&body, "<form class=\"filters\" method=\"get\" action=\"/fleet\" "
                           "id=\"filters\"><label>Site (and below)<input name=\"site\" "
                           "list=\"sites\" value=\"",
                    Escape(site), "\" size=\"12\"></label><label>State<select name=\"state\">");
    for (const char* option : {"", "REGISTERED", "AVAILABLE", "ISSUED", "LOST", "FAULTY",
                               "RETIRED"}) {
      absl::StrAppend(&body, "<option value=\"", option, "\"", state == option ? " selected" : "",
                      ">", *option == '\0' ? "any" : option, "</option>");
    }
    absl::StrAppend(&body, "</select></label><label>Model<input name=\"model\" value=\"",
                    Escape(model), "\" size=\"14\"></label><label>Holder badge<input "
                                   "name=\"holder\" value=\"",
                    Escape(holder), "\" size=\"10\"></label><label>Battery below %<input "
                                    "name=\"battery_below\" type=\"number\" min=\"1\" "
                                    "max=\"100\" value=\"",
                    Escape(battery), "\"></label><label>Not seen for days<input "
                                     "name=\"not_seen_days\" type=\"number\" min=\"1\" value=\"",
                    Escape(not_seen),
                    "\"></label><button id=\"apply-filters\">Show</button> <a "
                    "href=\"/fleet\">clear</a></form>");
    v1::ListSitesRequest sites_req;
    sites_req.set_page_size(1000);
    if (absl::StatusOr<v1::ListSitesResponse> sites = s_.fleet.ListSites(sites_req); sites.ok()) {
      body += "<datalist id=\"sites\">";
      for (const v1::Site& s : sites->sites()) {
        absl::StrAppend(&body, "<option value=\"", Escape(s.code()), "\">", Escape(s.name()),
                        "</option>");
      }
      body += "</datalist>";
    }
    absl::StatusOr<v1::ListCamerasResponse> cameras =
        problem.ok() ? s_.fleet.ListCameras(list) : absl::StatusOr<v1::ListCamerasResponse>(problem);
    if (!cameras.ok()) {
      res.status = HttpStatus(cameras.status());
      body += ErrorBox(cameras.status());
      res.set_content(Layout(&session, "Fleet", "/fleet", body), "text/html; charset=utf-8");
      return;
    }
    absl::StrAppend(&body, "<table id=\"fleet\"><thead><tr><th>Serial</th><th>Model</th>"
                           "<th>State</th><th>Site</th><th>Holder</th><th>Due back</th>"
                           "<th>Battery</th><th>Health</th><th>Last seen</th><th>Dock/slot</th>"
                           "</tr></thead><tbody>");
    for (const v1::Camera& c : cameras->cameras()) {
      absl::StrAppend(
          &body, "<tr><td><a href=\"/cameras/", UrlEncode(c.serial()), "\">", Escape(c.serial()),
          "</a></td><td>", Escape(c.model()), "</td><td>", StateBadge(c.state()), "</td><td>",
          Escape(c.site_code()), "</td><td>", Escape(c.holder_badge()), "</td><td>",
          When(c.due_back_time()), "</td><td>",
          c.has_latest_health() ? absl::StrCat(c.latest_health().battery_percent(), "%") : "-",
          "</td><td>",
          c.has_latest_health() && c.latest_health().battery_health_percent() > 0
              ? absl::StrCat(c.latest_health().battery_health_percent(), "%")
              : "-",
          "</td><td>", When(c.last_seen_time()), "</td><td>",
          c.last_dock_id().empty() ? "-" : absl::StrCat(Escape(c.last_dock_id()), " / ", c.last_slot()),
          "</td></tr>");
    }
    absl::StrAppend(&body, "</tbody></table><p class=\"muted\">", cameras->cameras_size(),
                    " cameras shown</p>");
    if (!cameras->next_page_token().empty()) {
      absl::StrAppend(&body, "<p class=\"pager\"><a id=\"next-page\" href=\"/fleet?site=",
                      UrlEncode(site), "&amp;state=", UrlEncode(state), "&amp;model=",
                      UrlEncode(model), "&amp;holder=", UrlEncode(holder),
                      "&amp;battery_below=", UrlEncode(battery), "&amp;not_seen_days=",
                      UrlEncode(not_seen), "&amp;page_token=",
                      UrlEncode(cameras->next_page_token()), "\">Next page</a></p>");
    }
    res.set_content(Layout(&session, "Fleet", "/fleet", body), "text/html; charset=utf-8");
  }));

  // ---- one camera ----------------------------------------------------------------------
  h.Get(R"(/cameras/([A-Za-z0-9-]{1,64}))",
        page([this](const Request& req, Response& res, const Session& session) {
          CameraPage(req, res, session, false);
        }));
  h.Get(R"(/cameras/([A-Za-z0-9-]{1,64})/handover)",
        page([this](const Request& req, Response& res, const Session& session) {
          CameraPage(req, res, session, true);
        }));

  auto serial_of = [](const Request& req) { return absl::AsciiStrToUpper(req.matches[1].str()); };
  auto camera_url = [](absl::string_view serial) {
    return absl::StrCat("/cameras/", UrlEncode(serial));
  };
  h.Post(R"(/cameras/([A-Za-z0-9-]{1,64})/issue)",
         write(FleetMethod("IssueCamera"), [this, serial_of, camera_url](const Request& req,
                                                                          const Session& session)
                   -> absl::StatusOr<std::string> {
           v1::IssueCameraRequest r;
           r.set_serial(serial_of(req));
           r.set_holder_badge(absl::AsciiStrToUpper(Param(req, "badge")));
           r.set_note(Param(req, "note"));
           const std::string hours = Param(req, "due_hours");
           if (!hours.empty()) {
             int h_due = 0;
             if (!absl::SimpleAtoi(hours, &h_due) || h_due < 1 || h_due > 24 * 30) {
               return absl::InvalidArgumentError("due back in must be 1 to 720 hours");
             }
             r.mutable_due_back_time()->set_seconds(
                 absl::ToUnixSeconds(s_.clock.Now() + absl::Hours(h_due)));
           }
           if (!Param(req, "force_reason").empty()) {
             r.set_force(true);
             r.set_force_reason(Param(req, "force_reason"));
           }
           auto done = Await<v1::IssueCameraResponse>(
               [&](auto cb) { s_.fleet.IssueCamera(session.who, r, std::move(cb)); });
           if (!done.ok()) return done.status();
           return camera_url(r.serial());
         }));
  h.Post(R"(/cameras/([A-Za-z0-9-]{1,64})/return)",
         write(FleetMethod("ReturnCamera"), [this, serial_of, camera_url](const Request& req,
                                                                           const Session& session)
                   -> absl::StatusOr<std::string> {
           v1::ReturnCameraRequest r;
           r.set_serial(serial_of(req));
           r.set_condition(Param(req, "condition") == "damaged" ? v1::RETURN_CONDITION_DAMAGED
                                                                : v1::RETURN_CONDITION_GOOD);
           r.set_note(Param(req, "note"));
           auto done = Await<v1::ReturnCameraResponse>(
               [&](auto cb) { s_.fleet.ReturnCamera(session.who, r, std::move(cb)); });
           if (!done.ok()) return done.status();
           return camera_url(r.serial());
         }));
  // Lost, found, faulty and repaired: a serial and a note each.
  auto note_write = [&](absl::string_view action, absl::string_view method, auto call) {
    h.Post(absl::StrCat(R"(/cameras/([A-Za-z0-9-]{1,64})/)", action),
           write(FleetMethod(method), [serial_of, camera_url, call](
                                          const Request& req,
                                          const Session& session) -> absl::StatusOr<std::string> {
             const std::string serial = serial_of(req);
             absl::Status status = call(session, serial, Param(req, "note"));
             if (!status.ok()) return status;
             return camera_url(serial);
           }));
  };
  note_write("lost", "ReportCameraLost",
             [this](const Session& session, const std::string& serial, const std::string& note) {
               v1::ReportCameraLostRequest r;
               r.set_serial(serial);
               r.set_note(note);
               return Await<v1::ReportCameraLostResponse>([&](auto cb) {
                        s_.fleet.ReportCameraLost(session.who, r, std::move(cb));
                      }).status();
             });
  note_write("found", "ReportCameraFound",
             [this](const Session& session, const std::string& serial, const std::string& note) {
               v1::ReportCameraFoundRequest r;
               r.set_serial(serial);
               r.set_note(note);
               return Await<v1::ReportCameraFoundResponse>([&](auto cb) {
                        s_.fleet.ReportCameraFound(session.who, r, std::move(cb));
                      }).status();
             });
  note_write("faulty", "ReportCameraFaulty",
             [this](const Session& session, const std::string& serial, const std::string& note) {
               v1::ReportCameraFaultyRequest r;
               r.set_serial(serial);
               r.set_note(note);
               return Await<v1::ReportCameraFaultyResponse>([&](auto cb) {
                        s_.fleet.ReportCameraFaulty(session.who, r, std::move(cb));
                      }).status();
             });
  note_write("repair", "RepairCamera",
             [this](const Session& session, const std::string& serial, const std::string& note) {
               v1::RepairCameraRequest r;
               r.set_serial(serial);
               r.set_note(note);
               return Await<v1::RepairCameraResponse>([&](auto cb) {
                        s_.fleet.RepairCamera(session.who, r, std::move(cb));
                      }).status();
             });

  // ---- docks ---------------------------------------------------------------------------
  h.Get("/docks", page([this](const Request&, Response& res, const Session& session) {
    std::string body = "<h1>Docks</h1>";
    absl::StatusOr<v1::ListDocksResponse> docks =
        IfAllowed(session, ProvisioningMethod("ListDocks"),
                  [&] { return s_.identity.ListDocks(v1::ListDocksRequest()); });
    if (!docks.ok()) {
      res.status = HttpStatus(docks.status());
      body += ErrorBox(docks.status());
    } else {
      body += "<table id=\"docks\"><thead><tr><th>Dock</th><th>Site</th><th>Last contact</th>"
              "<th>Backlog</th><th>Agent</th><th>Certificate until</th><th>Cameras in slots</th>"
              "</tr></thead><tbody>";
      for (const v1::Dock& d : docks->docks()) {
        std::string slots;
        for (const v1::SlotOccupant& o : d.slots()) {
          absl::StrAppend(&slots, slots.empty() ? "" : ", ", o.slot(), ": <a href=\"/cameras/",
                          UrlEncode(o.serial()), "\">", Escape(o.serial()), "</a>");
        }
        absl::StrAppend(&body, "<tr><td>", Escape(d.dock_id()), "</td><td>",
                        Escape(d.site_code()), "</td><td>", When(d.last_contact_time()),
                        "</td><td>", d.backlog_items(), " items (", d.backlog_bytes(),
                        " bytes)</td><td>", Escape(d.agent_version()), "</td><td>",
                        When(d.certificate_not_after()), "</td><td>",
                        slots.empty() ? "<span class=\"muted\">empty</span>" : slots,
                        d.slot_count() > 0 ? absl::StrCat(" <span class=\"muted\">of ",
                                                          d.slot_count(), " slots</span>")
                                           : "",
                        "</td></tr>");
      }
      body += "</tbody></table>";
    }
    res.set_content(Layout(&session, "Docks", "/docks", body), "text/html; charset=utf-8");
  }));

  // ---- alerts and conflicts ------------------------------------------------------------
  h.Get("/alerts", page([this](const Request& req, Response& res, const Session& session) {
    const bool all = Param(req, "all") == "1";
    std::string body = absl::StrCat(
        "<h1>Alerts and conflicts</h1><p>", all ? "Showing all. <a href=\"/alerts\">Only open</a>"
                                                : "Showing open ones. <a href=\"/alerts?all=1\">"
                                                  "Show all</a>",
        "</p><h2>Alerts</h2>");
    const bool may_ack = May(session, MonitoringMethod("AcknowledgeAlert"));
    const bool may_resolve = May(session, MonitoringMethod("ResolveConflict"));
    v1::ListAlertsRequest alerts_req;
    alerts_req.set_page_size(500);
    if (!all) alerts_req.set_acknowledged(v1::ALERT_ACKNOWLEDGED_FILTER_OPEN);
    absl::StatusOr<v1::ListAlertsResponse> alerts =
        IfAllowed(session, MonitoringMethod("ListAlerts"),
                  [&] { return s_.monitoring.ListAlerts(alerts_req); });
    if (!alerts.ok()) {
      res.status = HttpStatus(alerts.status());
      body += ErrorBox(alerts.status());
    } else {
      body += "<table id=\"alerts\"><thead><tr><th>Raised</th><th>Kind</th><th>Site</th>"
              "<th>Dock/slot</th><th>Camera</th><th>What</th><th>Acknowledged</th></tr></thead>"
              "<tbody>";
      for (const v1::Alert& a : alerts->alerts()) {
        std::string ack;
        if (a.has_acknowledge_time()) {
          ack = absl::StrCat(When(a.acknowledge_time()), " by ", Escape(a.acknowledged_by()));
        } else if (may_ack) {
          ack = absl::StrCat("<form method=\"post\" action=\"/alerts/", a.id(),
                             "/acknowledge\">", CsrfField(session),
                             "<button class=\"ack\">Acknowledge</button></form>");
        } else {
          ack = "<span class=\"muted\">open</span>";
        }
        absl::StrAppend(
            &body, "<tr id=\"alert-", a.id(), "\"><td>", When(a.raise_time()), "</td><td>",
            Escape(absl::StripPrefix(v1::AlertKind_Name(a.kind()), "ALERT_KIND_")), "</td><td>",
            Escape(a.site_code()), "</td><td>",
            a.dock_id().empty() ? "-" : absl::StrCat(Escape(a.dock_id()), " / ", a.slot()),
            "</td><td>",
            a.serial().empty() ? "-"
                               : absl::StrCat("<a href=\"/cameras/", UrlEncode(a.serial()), "\">",
                                              Escape(a.serial()), "</a>"),
            "</td><td>", Escape(a.message()), "</td><td>", ack, "</td></tr>");
      }
      body += "</tbody></table>";
    }
    body += "<h2>Conflicts</h2>";
    v1::ListConflictsRequest conflicts_req;
    conflicts_req.set_page_size(500);
    conflicts_req.set_open_only(!all);
    absl::StatusOr<v1::ListConflictsResponse> conflicts =
        IfAllowed(session, MonitoringMethod("ListConflicts"),
                  [&] { return s_.monitoring.ListConflicts(conflicts_req); });
    if (!conflicts.ok()) {
      res.status = HttpStatus(conflicts.status());
      body += ErrorBox(conflicts.status());
    } else {
      body += "<table id=\"conflicts\"><thead><tr><th>Raised</th><th>Kind</th><th>Camera</th>"
              "<th>At the dock</th><th>At HQ</th><th>Resolution</th></tr></thead><tbody>";
      for (const v1::Conflict& c : conflicts->conflicts()) {
        std::string resolution;
        if (c.has_resolve_time()) {
          resolution = absl::StrCat(Escape(c.resolution()), " <span class=\"muted\">(",
                                    When(c.resolve_time()), ", ", Escape(c.resolved_by()),
                                    ")</span>");
        } else if (may_resolve) {
          resolution = absl::StrCat(
              "<form method=\"post\" action=\"/conflicts/", c.id(), "/resolve\">",
              CsrfField(session),
              "<input name=\"resolution\" required maxlength=\"1024\" placeholder=\"what was "
              "decided\"> <button>Resolve</button></form>");
        } else {
          resolution = "<span class=\"muted\">open</span>";
        }
        absl::StrAppend(&body, "<tr id=\"conflict-", c.id(), "\"><td>", When(c.raise_time()),
                        "</td><td>", Escape(c.kind()), "</td><td><a href=\"/cameras/",
                        UrlEncode(c.serial()), "\">", Escape(c.serial()), "</a></td><td>",
                        Escape(c.physical_fact()), "</td><td>", Escape(c.central_decision()),
                        "</td><td>", resolution, "</td></tr>");
      }
      body += "</tbody></table>";
    }
    res.set_content(Layout(&session, "Alerts", "/alerts", body), "text/html; charset=utf-8");
  }));
  auto id_of = [](const Request& req) -> absl::StatusOr<int64_t> {
    int64_t id = 0;
    if (!absl::SimpleAtoi(req.matches[1].str(), &id)) {
      return absl::InvalidArgumentError("the id in the address is not a number");
    }
    return id;
  };
  h.Post(R"(/alerts/([0-9]{1,18})/acknowledge)",
         write(MonitoringMethod("AcknowledgeAlert"),
               [this, id_of](const Request& req,
                             const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<int64_t> id = id_of(req);
                 if (!id.ok()) return id.status();
                 v1::AcknowledgeAlertRequest r;
                 r.set_id(*id);
                 auto done = Await<v1::AcknowledgeAlertResponse>(
                     [&](auto cb) { s_.monitoring.AcknowledgeAlert(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return std::string("/alerts");
               }));
  h.Post(R"(/conflicts/([0-9]{1,18})/resolve)",
         write(MonitoringMethod("ResolveConflict"),
               [this, id_of](const Request& req,
                             const Session& session) -> absl::StatusOr<std::string> {
                 absl::StatusOr<int64_t> id = id_of(req);
                 if (!id.ok()) return id.status();
                 v1::ResolveConflictRequest r;
                 r.set_id(*id);
                 r.set_resolution(Param(req, "resolution"));
                 auto done = Await<v1::ResolveConflictResponse>(
                     [&](auto cb) { s_.monitoring.ResolveConflict(session.who, r, std::move(cb)); });
                 if (!done.ok()) return done.status();
                 return std::string("/alerts");
               }));

  ReportRoutes();
  RolloutRoutes();

  h.set_error_handler([](const Request&, Response& res) {
    if (!res.body.empty()) return;
    res.set_content(Layout(nullptr, "Not found", "",
                           absl::StrCat("<h1>", res.status == 404 ? "Not found" : "Refused",
                                        "</h1><p><a href=\"/fleet\">The fleet</a></p>")),
                    "text/html; charset=utf-8");
  });
}

}  // namespace camfleet::web
