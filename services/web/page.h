#pragma once
// What every page of the web page is built with (internal to services/web): the role table
// asked the way the gRPC handlers ask it, the layout with its navigation, form fields, request
// parameters, times, and waiting for a manager's write. web_server.cc, report_pages.cc and
// rollout_pages.cc use these.

#include <httplib.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/fleet.pb.h"
#include "common/call_deadline.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/web/web_access.h"

namespace camfleet::web {

inline constexpr char kSessionCookie[] = "camfleet_session";
inline constexpr char kHtml[] = "text/html; charset=utf-8";
// How long a page waits for a write to become durable.
inline constexpr absl::Duration kWriteDeadline = absl::Seconds(30);

// "camfleet.v1.FleetService/M" and the like: the gRPC method a page stands for.
inline std::string FleetMethod(absl::string_view m) {
  return absl::StrCat("camfleet.v1.FleetService/", m);
}
inline std::string MonitoringMethod(absl::string_view m) {
  return absl::StrCat("camfleet.v1.MonitoringService/", m);
}
inline std::string ProvisioningMethod(absl::string_view m) {
  return absl::StrCat("camfleet.v1.ProvisioningService/", m);
}
inline std::string AuditMethod(absl::string_view m) {
  return absl::StrCat("camfleet.v1.AuditService/", m);
}
inline std::string ReportMethod(absl::string_view m) {
  return absl::StrCat("camfleet.v1.ReportService/", m);
}
inline std::string RolloutMethod(absl::string_view m) {
  return absl::StrCat("camfleet.v1.RolloutService/", m);
}

// The role table (services/rpc/authorization.cc), asked for the session's role.
absl::Status Allowed(const Session& session, absl::string_view method);
inline bool May(const Session& session, absl::string_view method) {
  return Allowed(session, method).ok();
}
// `read()` if the role table lets the session call `method`, else why not.
template <typename Fn>
auto IfAllowed(const Session& session, absl::string_view method, Fn read) -> decltype(read()) {
  if (absl::Status allowed = Allowed(session, method); !allowed.ok()) return allowed;
  return read();
}

// The HTTP status that says what a Status says.
int HttpStatus(const absl::Status& status);

absl::Time FromProto(const google::protobuf::Timestamp& ts);
// A timestamp shown, escaped ("-" when unset).
std::string When(const google::protobuf::Timestamp& ts);
// "CAMERA_STATE_ISSUED" -> "ISSUED", and as a coloured badge.
std::string StateName(v1::CameraState state);
std::string StateBadge(v1::CameraState state);

// The session cookie's value in a request ("" if none).
std::string SessionCookie(const httplib::Request& req);
// The hidden form field carrying the session's CSRF token.
std::string CsrfField(const Session& session);
// A whole page: head, navigation (for a signed-in `session`; `current` is highlighted), who is
// signed in with the sign-out button, `body`, the script.
std::string Layout(const Session* session, absl::string_view title, absl::string_view current,
                   absl::string_view body);
std::string ErrorBox(const absl::Status& status);
// A query or form parameter, trimmed ("" if absent).
std::string Param(const httplib::Request& req, const char* name);
// True if the request's Origin (when sent) is ours.
bool SameOrigin(const httplib::Request& req, const std::string& public_url);

// Waits for a manager's write to be answered (durable, or refused).
template <typename Resp, typename Start>
absl::StatusOr<Resp> Await(Start start) {
  absl::Notification done;
  absl::StatusOr<Resp> result = absl::UnknownError("the write was not answered");
  {
    common::ScopedCallDeadline deadline(absl::Now() + kWriteDeadline);
    start([&result, &done](absl::StatusOr<Resp> r) {
      result = std::move(r);
      done.Notify();
    });
  }
  done.WaitForNotification();
  return result;
}

}  // namespace camfleet::web
