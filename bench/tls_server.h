#pragma once
// camfleetd as it runs in production, for a benchmark: a home made by server::InitHome in a
// scratch directory (fleet CA, server credentials, store, first admin), server::Server started
// from it with mutual TLS on 127.0.0.1:0. The benchmark reaches it only over TLS through the
// loopback socket, with credentials made the way a real client makes them: a key made here, a
// CSR, a certificate from the API.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/role.h"
#include "services/server/server.h"

namespace camfleet::bench {

// The name the server certificate is checked against (InitHome's default DNS name).
inline constexpr char kTlsServerName[] = "localhost";
// Every setup call gets this deadline.
inline constexpr absl::Duration kSetupDeadline = absl::Seconds(60);

// A fresh EC P-256 key, as PEM, and a PEM CSR for it with subject CN = `common_name`.
struct KeyAndCsr {
  std::string key_pem;
  std::string csr_pem;
};
absl::StatusOr<KeyAndCsr> MakeKeyAndCsr(const std::string& common_name);

class TlsServer {
 public:
  // Makes the home in `home` (which must not hold a CA yet) with first admin `admin_name`, and
  // starts the server from it. Errors: InitHome's or Server::Start's, saying which.
  static absl::StatusOr<std::unique_ptr<TlsServer>> Start(const std::string& home,
                                                          const std::string& admin_name);
  // A camfleetd already serving at `target` from `home` (made by `camfleetd init` with first
  // admin `admin_name`), e.g. one this benchmark started as a process: the same calls and
  // channels, without the in-process server (server() must not be called).
  // Errors: loading the admin's credentials.
  static absl::StatusOr<std::unique_ptr<TlsServer>> Connect(const std::string& home,
                                                            const std::string& admin_name,
                                                            const std::string& target);
  ~TlsServer() { Shutdown(); }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  void Shutdown(absl::Duration grace = absl::Seconds(10));

  server::Server& server() { return *server_; }
  // host:port the channels dial.
  const std::string& target() const { return target_; }
  const std::string& home() const { return home_; }
  // The admin's credentials as InitHome wrote them.
  const provisioning::CredentialBundle& admin() const { return admin_; }
  // The fleet CA with its key, loaded afresh from HOME/ca: what the server signs with.
  absl::StatusOr<provisioning::CertificateAuthority> LoadCa() const;

  // A channel over mutual TLS presenting `bundle`'s certificate and key (an empty bundle
  // presents none) and checking the server against the fleet CA and kTlsServerName. Each
  // channel has its own TCP connection, as separate machines would: `index` only keeps
  // channels with the same credentials apart.
  std::shared_ptr<grpc::Channel> Channel(const provisioning::CredentialBundle& bundle,
                                         int index = 0) const;
  const std::shared_ptr<grpc::Channel>& AdminChannel() const { return admin_channel_; }

  // Makes a key and CSR here and has the admin issue operator `name` a certificate with
  // `role`. Errors: the API's.
  absl::StatusOr<provisioning::CredentialBundle> IssueOperator(const std::string& name,
                                                               provisioning::Role role);
  // The admin makes an enrollment token for `site` (which must exist); the dock makes its key
  // and CSR (CN = dock_id) and enrolls over a connection without a client certificate.
  // Errors: the API's.
  absl::StatusOr<provisioning::CredentialBundle> EnrollDock(const std::string& site,
                                                            const std::string& dock_id);

 private:
  TlsServer(std::string home, provisioning::CredentialBundle admin)
      : home_(std::move(home)), admin_(std::move(admin)) {}

  std::string home_;
  provisioning::CredentialBundle admin_;
  std::string target_;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> admin_channel_;
};

}  // namespace camfleet::bench
