#pragma once
// The real camfleetd as it runs in production: a home made by InitHome in a temp dir (fleet CA,
// server credentials, store, first admin "root-admin"), server::Server started from it with
// mutual TLS on 127.0.0.1:0. Tests reach it only over TLS through the loopback socket, with
// credentials they make the way a real client would: a key made locally, a CSR, a certificate
// from the API. Certificates the API would never issue (expired ones, ones from another CA) are
// made directly with the CA (LoadCa) or a second CA.
//
// Time: the CA, the server certificate and root-admin's certificate are made at `init_now`
// (default: the clock's time, or the real time). The server checks client certificates with
// its own clock (`clock`), but gRPC clients check the server's certificate against the real
// time, so a fake clock must stay within a year of the real time (the server certificate's
// validity) and init_now must lie in the past year.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/clock.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/key.h"
#include "provisioning/role.h"
#include "services/server/home.h"
#include "services/server/server.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {

// The admin InitHome makes.
inline constexpr char kRootAdmin[] = "root-admin";
// The name the server certificate is checked against (its DNS SAN).
inline constexpr char kServerName[] = "localhost";
// Every call through the helpers gets this deadline.
inline constexpr absl::Duration kTlsCallDeadline = absl::Seconds(10);

struct TlsTestServerOptions {
  // Time for the server; null for the real clock. Must outlive the TlsTestServer.
  const common::Clock* clock = nullptr;
  // When InitHome makes the CA and the first certificates; InfinitePast means clock->Now()
  // (or the real time without a clock).
  absl::Time init_now = absl::InfinitePast();
  // ServerOptions::metrics_listen: e.g. "127.0.0.1:0" to serve /metrics
  // (server().metrics_port()); empty for none.
  std::string metrics_listen{};
  // How the server renews and reloads its own certificate (server_certificate.h).
  server::ServerCertificateOptions server_certificate{};
  // Serve the web page too, on 127.0.0.1:0 (server().web_port()).
  bool web = false;
};

// A client's credentials as it holds them: its key (kept to make renewal CSRs and to write
// bundles) and the PEMs a TLS channel needs.
struct ClientCredentials {
  std::string name;
  provisioning::CredentialBundle bundle;
};

// A dock enrolled through the API: its credentials and the EnrollDock answer.
struct EnrolledDock {
  ClientCredentials credentials;
  v1::EnrollDockResponse response;
};

// A context with a deadline `deadline` from now.
std::unique_ptr<grpc::ClientContext> TlsContext(absl::Duration deadline = kTlsCallDeadline);

// A fresh EC P-256 key and a PEM CSR for it with subject CN = `common_name`.
struct KeyAndCsr {
  std::string key_pem;
  std::string csr_pem;
};
absl::StatusOr<KeyAndCsr> MakeKeyAndCsr(const std::string& common_name);

// The API's name for a role.
v1::Role ToProtoRole(provisioning::Role role);

class TlsTestServer {
 public:
  // Makes the home and starts the server. Errors: InitHome's or Server::Start's.
  static absl::StatusOr<std::unique_ptr<TlsTestServer>> Start(TlsTestServerOptions options = {});
  ~TlsTestServer();
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  // Shuts the server down and starts it again on the same home. The port changes: channels
  // made before point at the old one, so make new ones.
  absl::Status Restart();
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  const std::string& home() const { return home_; }
  server::HomePaths paths() const { return server::HomePaths{home_}; }
  int port() const { return port_; }
  // "127.0.0.1:<port>".
  const std::string& target() const { return target_; }
  // The live server; valid between Start/Restart and Shutdown.
  server::Server& server() { return *server_; }

  // The fleet CA certificate, PEM.
  const std::string& ca_pem() const { return admin_.bundle.ca_pem; }
  // root-admin's credentials as InitHome wrote them.
  const ClientCredentials& admin() const { return admin_; }
  // The fleet CA with its key, loaded from HOME/ca, to craft certificates the API would not
  // issue. Loaded afresh on every call.
  absl::StatusOr<provisioning::CertificateAuthority> LoadCa() const;

  // A dedicated connection (not shared with other channels) over mutual TLS presenting
  // `bundle`'s certificate and key (bundle.ca_pem is ignored); the server's certificate is
  // checked against the fleet CA and the name "localhost".
  std::shared_ptr<grpc::Channel> Channel(const provisioning::CredentialBundle& bundle) const;
  // A dedicated TLS connection that checks the server but presents no client certificate
  // (what a new dock has before EnrollDock).
  std::shared_ptr<grpc::Channel> ChannelWithoutCertificate() const;
  // A channel for the acting admin (root-admin unless set_acting_admin said otherwise), made
  // once per server start.
  const std::shared_ptr<grpc::Channel>& AdminChannel() const { return admin_channel_; }
  // The helpers below (and AdminChannel) act as `admin` from now on: for a home whose
  // root-admin certificate has expired, say.
  void set_acting_admin(const ClientCredentials& admin);

  // Makes a key and CSR here and has the acting admin issue operator `name` a certificate with
  // `role` (admin, quartermaster or auditor). Errors: the API's.
  absl::StatusOr<ClientCredentials> IssueOperator(const std::string& name, provisioning::Role role);
  // Creates a site as the acting admin (code and a name made from it). Errors: the API's.
  absl::Status CreateSite(const std::string& code);
  // The acting admin makes an enrollment token for `site` (which must exist); the dock makes its
  // key and CSR (CN = dock_id) and enrolls over a connection without a client certificate.
  absl::StatusOr<EnrolledDock> EnrollDock(const std::string& site, const std::string& dock_id);
  // Signs a certificate directly with the fleet CA for a fresh key, as of `now` (which must be
  // within the CA's validity): e.g. an operator certificate that has long expired.
  absl::StatusOr<ClientCredentials> IssueDirect(provisioning::Role role,
                                                const std::string& identity, absl::Time now) const;

 private:
  explicit TlsTestServer(TlsTestServerOptions options);
  absl::Status Init();
  absl::Status StartServer();

  TlsTestServerOptions options_;
  TempDir dir_;
  std::string home_;
  ClientCredentials admin_;
  ClientCredentials acting_admin_;
  std::unique_ptr<server::Server> server_;
  int port_ = 0;
  std::string target_;
  std::shared_ptr<grpc::Channel> admin_channel_;
};

}  // namespace camfleet::testing
