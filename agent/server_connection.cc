#include "agent/server_connection.h"

namespace camfleet::agent {
namespace {

std::shared_ptr<grpc::Channel> TlsChannel(const ServerEndpoint& endpoint,
                                          const grpc::SslCredentialsOptions& tls) {
  grpc::ChannelArguments args;
  if (!endpoint.server_name.empty()) args.SetSslTargetNameOverride(endpoint.server_name);
  // A dedicated connection: after a renewal the next channel must present the new certificate,
  // not share a subchannel that still carries the old handshake.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // The CRL of a big fleet outgrows gRPC's 4 MiB default: take whatever the server may send.
  args.SetMaxReceiveMessageSize(kMaxMessageFromServer);
  return grpc::CreateCustomChannel(endpoint.address, grpc::SslCredentials(tls), args);
}

}  // namespace

std::shared_ptr<grpc::Channel> MutualTlsChannel(const ServerEndpoint& endpoint,
                                                const provisioning::CredentialBundle& bundle) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = bundle.ca_pem;
  tls.pem_private_key = bundle.key_pem;
  tls.pem_cert_chain = bundle.cert_pem;
  return TlsChannel(endpoint, tls);
}

std::shared_ptr<grpc::Channel> ServerOnlyTlsChannel(const ServerEndpoint& endpoint,
                                                    const std::string& ca_pem) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem;
  return TlsChannel(endpoint, tls);
}

std::unique_ptr<grpc::ClientContext> CallContext(const ServerEndpoint& endpoint) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + endpoint.call_deadline));
  return ctx;
}

}  // namespace camfleet::agent
