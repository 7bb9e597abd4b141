#pragma once
// A camfleetd with its web page, for the web tests: TlsTestServer (the real server over mutual
// TLS, with --web-listen 127.0.0.1:0), operators made through the API, sign-in links asked for
// over mutual TLS as `camfleet web` does, and an HTTPS client that talks to the page as a
// browser would (cookies by hand, forms as application/x-www-form-urlencoded).

#include <httplib.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "camfleet/v1/rollout.pb.h"
#include "common/clock.h"
#include "provisioning/role.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {

class WebFleet {
 public:
  // Starts the server on `clock` (which must outlive this).
  static absl::StatusOr<std::unique_ptr<WebFleet>> Start(const common::Clock* clock);

  TlsTestServer& server() { return *server_; }
  std::string db_path() const { return server_->paths().Database(); }

  // Operator `name` with `role`, made through the API by root-admin.
  absl::StatusOr<ClientCredentials> Operator(const std::string& name, provisioning::Role role);
  // A one-time sign-in link for `who`, from WebService over mutual TLS.
  absl::StatusOr<std::string> SignInLink(const ClientCredentials& who);
  // The admin's FleetService calls: a site, a holder, a camera made AVAILABLE (commissioned).
  absl::Status Site(const std::string& code);
  absl::Status Holder(const std::string& badge, const std::string& name, const std::string& site);
  absl::Status AvailableCamera(const std::string& serial, const std::string& site,
                               const std::string& model = "Patrol-BWC-4");
  // FleetService calls as root-admin, for the demo-like fleet.
  absl::Status NamedSite(const std::string& code, const std::string& name,
                         const std::string& parent);
  absl::Status Issue(const std::string& serial, const std::string& badge, absl::Duration due,
                     const std::string& note);
  absl::Status Lost(const std::string& serial, const std::string& note);
  absl::Status Faulty(const std::string& serial, const std::string& note);
  // Revokes operator `name` through the API.
  absl::Status RevokeOperator(const std::string& name);

  // Firmware `version` for `model`, signed as camfleet-sign signs it (a key made for this
  // fleet, added through the API) and uploaded; returns its release id.
  absl::StatusOr<std::string> Release(const std::string& version, const std::string& model);
  // RolloutService.CreateRollout as root-admin: `release_id` to the cameras of `site` (and
  // below), in one wave, with `note`.
  absl::StatusOr<v1::Rollout> StartRollout(const std::string& release_id, const std::string& site,
                                           const std::string& note);
  // What a dock of the camera's site reports up its custody lane for an install of `rollout`
  // (rollout_engine's ApplyProgress, the sync stream's own step, in one transaction).
  absl::Status InstallProgress(const v1::Rollout& rollout, const std::string& serial,
                               v1::FirmwareInstallState state, const std::string& error);

  // The certificate (PEM) a new TLS connection to the web port is served.
  absl::StatusOr<std::string> ServedWebCertificate() const;

  // An HTTPS client for the web page that checks camfleetd's certificate against the fleet CA.
  std::unique_ptr<httplib::SSLClient> Client() const;
  // "https://127.0.0.1:PORT".
  std::string origin() const;

 private:
  std::unique_ptr<TlsTestServer> server_;
};

// The token in a sign-in link ("...?token=T").
std::string TokenOf(const std::string& link);
// The value of the session cookie a response sets ("" if none); `attributes` gets the rest.
std::string SessionCookieOf(const httplib::Result& result, std::string* attributes = nullptr);
// The CSRF token in a page's forms ("" if none).
std::string CsrfOf(const std::string& html);

}  // namespace camfleet::testing
