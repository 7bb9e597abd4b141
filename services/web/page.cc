#include "services/web/page.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "provisioning/role.h"
#include "services/rpc/authorization.h"
#include "services/web/html.h"

namespace camfleet::web {
namespace {

// The navigation bar; a new page adds its entry here and its routes in WebServer::Routes().
struct NavEntry {
  absl::string_view path;
  absl::string_view label;
};
constexpr NavEntry kNav[] = {
    {"/fleet", "Fleet"},
    {"/docks", "Docks"},
    {"/alerts", "Alerts and conflicts"},
    {"/reports", "Reports"},
    {"/rollouts", "Rollouts"},
};

}  // namespace

absl::Status Allowed(const Session& session, absl::string_view method) {
  const rpc::MethodRule* rule = rpc::FindRule(method);
  if (rule == nullptr) return absl::InternalError(absl::StrCat("no rule for ", method));
  // A session is only ever opened for an operator (WebAccess::CreateLink), so it has a role.
  if (!session.who.role) return absl::PermissionDeniedError("this session has no role");
  return rpc::Authorize(*rule, *session.who.role, session.who.name);
}

int HttpStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}
std::string When(const google::protobuf::Timestamp& ts) { return Escape(ShowTime(FromProto(ts))); }

// "CAMERA_STATE_ISSUED" -> "ISSUED".
std::string StateName(v1::CameraState state) {
  return std::string(absl::StripPrefix(v1::CameraState_Name(state), "CAMERA_STATE_"));
}
std::string StateBadge(v1::CameraState state) {
  const std::string name = StateName(state);
  return absl::StrCat("<span class=\"state state-", name, "\">", name, "</span>");
}

std::string SessionCookie(const httplib::Request& req) {
  const std::string header = req.get_header_value("Cookie");
  for (absl::string_view part : absl::StrSplit(header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, kSessionCookie) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

std::string CsrfField(const Session& session) {
  return absl::StrCat("<input type=\"hidden\" name=\"csrf\" value=\"", Escape(session.csrf_token),
                      "\">");
}

std::string Layout(const Session* session, absl::string_view title, absl::string_view current,
                   absl::string_view body) {
  std::string html = absl::StrCat(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>",
      Escape(title),
      " - camfleet</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body>"
      "<header><span class=\"brand\">camfleet</span><nav>");
  if (session != nullptr) {
    for (const NavEntry& entry : kNav) {
      absl::StrAppend(&html, "<a href=\"", entry.path, "\"",
                      entry.path == current ? " class=\"current\"" : "", ">", entry.label, "</a>");
    }
  }
  html += "</nav>";
  if (session != nullptr) {
    absl::StrAppend(&html, "<span class=\"who\" id=\"who\">", Escape(session->who.name), " (",
                    provisioning::RoleName(session->who.role.value_or(provisioning::Role::kAuditor)),
                    ")</span><form method=\"post\" action=\"/sign-out\">", CsrfField(*session),
                    "<button class=\"plain\">Sign out</button></form>");
  }
  absl::StrAppend(&html, "</header><main>", body,
                  "</main><script src=\"/assets/app.js\"></script></body></html>");
  return html;
}

std::string ErrorBox(const absl::Status& status) {
  return absl::StrCat("<p class=\"error\" role=\"alert\">", Escape(status.message()), "</p>");
}

std::string Param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? std::string(absl::StripAsciiWhitespace(req.get_param_value(name)))
                             : "";
}

// The origin the browser must be on: the Host it asked for, over https.
bool SameOrigin(const httplib::Request& req, const std::string& public_url) {
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty()) return true;  // not sent: the CSRF token alone decides
  if (origin == public_url) return true;
  return origin == absl::StrCat("https://", req.get_header_value("Host"));
}

}  // namespace camfleet::web
