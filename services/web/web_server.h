#pragma once
// The web page: camfleetd's fleet for people at a desk, over HTTPS on its own port with the
// server's certificate. Server-rendered HTML; the stylesheet and a few lines of script come from
// camfleetd itself (assets.h), nothing from anywhere else.
//
// Pages read and write through the same managers as the gRPC handlers, and every one of them
// first asks the same role table (services/rpc/authorization.cc) whether the session's role may
// call the gRPC method the page stands for: a page is a gRPC call made by a person in a browser.
// Writes carry the operator as the audit actor. Every write (POST) needs the session's CSRF token
// in its form and, when the browser sends an Origin, our own origin; the session itself is
// checked against the revocation set on every request (web_access.h).
//
// Pages: /fleet (the camera table with the CLI's filters), /cameras/SERIAL (state, holder,
// custody trail, battery chart, latest health, audit, certificate, and the quartermaster's
// actions), /cameras/SERIAL/handover (a printable hand-over record), /docks, /alerts (alerts and
// conflicts), /reports and /reports/NAME with its CSV download (report_pages.cc), /rollouts and
// /rollouts/ID (rollout_pages.cc). A new page adds its routes in Routes() and an entry in kNav
// (page.cc).
//
// The certificate is the server's credential bundle (HOME/server), followed as camfleetd renews
// it (provisioning/serving_certificate.h): a new connection gets the current certificate, with
// no restart and no reload interval.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "services/audit/audit_manager.h"
#include "services/fleet/fleet_manager.h"
#include "services/identity/identity_manager.h"
#include "services/monitoring/monitoring_manager.h"
#include "services/reports/report_manager.h"
#include "services/rollout/rollout_manager.h"
#include "services/web/web_access.h"

namespace camfleet::provisioning {
class ServingCertificate;
}  // namespace camfleet::provisioning

namespace httplib {
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace camfleet::web {

struct WebServerOptions {
  // "127.0.0.1:7444", "0.0.0.0:7444", "[::1]:0"; port 0 picks a free port.
  std::string listen;
  // The server's credential bundle (HOME/server: key.pem, cert.pem); re-read when renewed.
  std::string credentials_dir;
  // The address people's browsers reach the page at, for sign-in links, e.g.
  // "https://camfleet.hq.example:7444". Empty: https://HOST:PORT from `listen` (localhost for a
  // wildcard host).
  std::string public_url;
};

struct WebServices {
  fleet::FleetManager& fleet;
  monitoring::MonitoringManager& monitoring;
  audit::AuditManager& audit;
  identity::IdentityManager& identity;
  reports::ReportManager& reports;
  rollout::RolloutManager& rollouts;
  WebAccess& access;
  const common::Clock& clock;
};

class WebServer {
 public:
  // Binds and starts serving on its own threads. Errors: INVALID_ARGUMENT for a malformed
  // listen address, an address that cannot be bound or a certificate that cannot be loaded.
  static absl::StatusOr<std::unique_ptr<WebServer>> Start(const WebServerOptions& options,
                                                          WebServices services);
  ~WebServer();
  // Stops taking requests and waits for the ones in flight.
  void Shutdown();

  int port() const { return port_; }
  // Where browsers reach the page, without a trailing slash.
  const std::string& public_url() const { return public_url_; }

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // Renders a page for a signed-in session.
  using PageFn =
      std::function<void(const httplib::Request&, httplib::Response&, const Session&)>;
  // A write; returns where to go next.
  using WriteFn =
      std::function<absl::StatusOr<std::string>(const httplib::Request&, const Session&)>;

  explicit WebServer(WebServices services);
  void Routes();
  // /reports, /reports/NAME, /reports/NAME.csv (report_pages.cc).
  void ReportRoutes();
  // /rollouts, /rollouts/ID and its admin actions (rollout_pages.cc).
  void RolloutRoutes();
  // `fn` for a signed-in session, or a 401 page saying why there is none.
  Handler Page(PageFn fn);
  // A write: the session, its CSRF token, our origin and the role table's rule for `method`,
  // in that order; then `fn` returns where to go next (303), or an error shown with its HTTP
  // status.
  Handler Write(std::string method, WriteFn fn);
  // The camera's page, or with `handover` its printable hand-over record.
  void CameraPage(const httplib::Request& req, httplib::Response& res, const Session& session,
                  bool handover);

  WebServices s_;
  // Before http_: its SSL_CTX calls into it on every handshake.
  std::unique_ptr<provisioning::ServingCertificate> certificate_;
  std::unique_ptr<httplib::SSLServer> http_;
  std::thread thread_;
  int port_ = 0;
  std::string public_url_;
};

}  // namespace camfleet::web
