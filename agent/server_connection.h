#pragma once
// How the dock reaches camfleetd: mutual TLS with the dock's credential bundle, the server's
// certificate checked against the fleet CA. The one call made without a client certificate is
// EnrollDock, where the one-time token is the credential.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "provisioning/credential_bundle.h"

namespace camfleet::agent {

// The largest message camfleetd sends (its SetMaxSendMessageSize, services/server/server.cc):
// the dock's channels accept that much, so a CRL as large as the server can send arrives.
inline constexpr int kMaxMessageFromServer = 16 << 20;

struct ServerEndpoint {
  // host:port of camfleetd.
  std::string address;
  // The name the server's certificate must carry when it is not the host in `address` (a
  // server reached by IP whose certificate names its DNS name). Empty: the host in `address`.
  std::string server_name;
  // Deadline of every call.
  absl::Duration call_deadline = absl::Seconds(30);
};

// A channel that presents `bundle`'s certificate and trusts only bundle.ca_pem.
std::shared_ptr<grpc::Channel> MutualTlsChannel(const ServerEndpoint& endpoint,
                                                const provisioning::CredentialBundle& bundle);

// A channel that checks the server against `ca_pem` but presents no certificate.
std::shared_ptr<grpc::Channel> ServerOnlyTlsChannel(const ServerEndpoint& endpoint,
                                                    const std::string& ca_pem);

// A client context whose deadline is endpoint.call_deadline from now.
std::unique_ptr<grpc::ClientContext> CallContext(const ServerEndpoint& endpoint);

}  // namespace camfleet::agent
