#include "bench/tls_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/client_call.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/status_macros.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "services/server/home.h"

namespace camfleet::bench {
namespace {

v1::Role ToProtoRole(provisioning::Role role) {
  switch (role) {
    case provisioning::Role::kAdmin:
      return v1::ROLE_ADMIN;
    case provisioning::Role::kQuartermaster:
      return v1::ROLE_QUARTERMASTER;
    case provisioning::Role::kAuditor:
      return v1::ROLE_AUDITOR;
    case provisioning::Role::kDock:
      return v1::ROLE_DOCK;
    case provisioning::Role::kCamera:
      return v1::ROLE_CAMERA;
    case provisioning::Role::kServer:
      break;
  }
  return v1::ROLE_UNSPECIFIED;
}

// A setup call's context: a deadline, no operator header (the certificate says who calls).
std::unique_ptr<grpc::ClientContext> SetupContext() {
  return NewContext(/*operator_name=*/"", kSetupDeadline);
}

}  // namespace

absl::StatusOr<KeyAndCsr> MakeKeyAndCsr(const std::string& common_name) {
  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, common_name));
  ASSIGN_OR_RETURN(std::string key_pem, key.ToPem());
  ASSIGN_OR_RETURN(std::string csr_pem, csr.ToPem());
  return KeyAndCsr{std::move(key_pem), std::move(csr_pem)};
}

absl::StatusOr<std::unique_ptr<TlsServer>> TlsServer::Start(const std::string& home,
                                                            const std::string& admin_name) {
  server::InitOptions init;
  init.home = home;
  init.admin_name = admin_name;
  RETURN_IF_ERROR(common::Annotate(server::InitHome(init), "InitHome"));
  const server::HomePaths paths{home};
  absl::StatusOr<provisioning::CredentialBundle> admin =
      provisioning::LoadCredentialBundle(paths.AdminCredentials(admin_name));
  if (!admin.ok()) return common::Annotate(admin.status(), "loading the admin's credentials");
  std::unique_ptr<TlsServer> out(new TlsServer(home, *std::move(admin)));
  server::ServerOptions options;
  options.home = home;
  options.listen = {"127.0.0.1:0"};
  options.insecure_dev = false;  // said explicitly: mutual TLS is what this server is for
  absl::StatusOr<std::unique_ptr<server::Server>> started = server::Server::Start(options);
  if (!started.ok()) return common::Annotate(started.status(), "starting camfleetd over TLS");
  out->server_ = *std::move(started);
  out->target_ = out->server_->target();
  out->admin_channel_ = out->Channel(out->admin_);
  return out;
}

absl::StatusOr<std::unique_ptr<TlsServer>> TlsServer::Connect(const std::string& home,
                                                              const std::string& admin_name,
                                                              const std::string& target) {
  absl::StatusOr<provisioning::CredentialBundle> admin =
      provisioning::LoadCredentialBundle(server::HomePaths{home}.AdminCredentials(admin_name));
  if (!admin.ok()) return common::Annotate(admin.status(), "loading the admin's credentials");
  std::unique_ptr<TlsServer> out(new TlsServer(home, *std::move(admin)));
  out->target_ = target;
  out->admin_channel_ = out->Channel(out->admin_);
  return out;
}

void TlsServer::Shutdown(absl::Duration grace) {
  admin_channel_.reset();
  if (server_ == nullptr) return;
  server_->Shutdown(grace);
  server_.reset();
}

absl::StatusOr<provisioning::CertificateAuthority> TlsServer::LoadCa() const {
  return provisioning::CertificateAuthority::Load(server::HomePaths{home_}.CaDir());
}

std::shared_ptr<grpc::Channel> TlsServer::Channel(const provisioning::CredentialBundle& bundle,
                                                  int index) const {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = admin_.ca_pem;
  tls.pem_private_key = bundle.key_pem;
  tls.pem_cert_chain = bundle.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(kTlsServerName);
  // Without these gRPC would share one connection among channels with equal arguments.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("camfleet.bench.channel", index);
  return grpc::CreateCustomChannel(target_, grpc::SslCredentials(tls), args);
}

absl::StatusOr<provisioning::CredentialBundle> TlsServer::IssueOperator(const std::string& name,
                                                                        provisioning::Role role) {
  ASSIGN_OR_RETURN(KeyAndCsr made, MakeKeyAndCsr(name));
  v1::IssueOperatorCertificateRequest req;
  req.set_name(name);
  req.set_role(ToProtoRole(role));
  req.set_csr_pem(made.csr_pem);
  v1::IssueOperatorCertificateResponse resp;
  auto stub = v1::ProvisioningService::NewStub(admin_channel_);
  RETURN_IF_ERROR(
      common::Annotate(FromGrpc(stub->IssueOperatorCertificate(SetupContext().get(), req, &resp)),
                       absl::StrCat("issuing operator ", name)));
  return provisioning::CredentialBundle{
      std::move(made.key_pem), resp.certificate().certificate_pem(), resp.ca_certificate_pem()};
}

absl::StatusOr<provisioning::CredentialBundle> TlsServer::EnrollDock(const std::string& site,
                                                                     const std::string& dock_id) {
  v1::CreateEnrollmentTokenRequest token_req;
  token_req.set_site_code(site);
  token_req.set_note(absl::StrCat("benchmark dock ", dock_id));
  v1::CreateEnrollmentTokenResponse token;
  auto admin = v1::ProvisioningService::NewStub(admin_channel_);
  RETURN_IF_ERROR(common::Annotate(
      FromGrpc(admin->CreateEnrollmentToken(SetupContext().get(), token_req, &token)),
      absl::StrCat("making an enrollment token for site ", site)));

  ASSIGN_OR_RETURN(KeyAndCsr made, MakeKeyAndCsr(dock_id));
  v1::EnrollDockRequest req;
  req.set_token(token.token());
  req.set_csr_pem(made.csr_pem);
  req.set_slot_count(8);
  v1::EnrollDockResponse resp;
  // The token is the credential: this connection presents no certificate.
  auto stub = v1::DockService::NewStub(Channel(provisioning::CredentialBundle{}));
  RETURN_IF_ERROR(common::Annotate(FromGrpc(stub->EnrollDock(SetupContext().get(), req, &resp)),
                                   absl::StrCat("enrolling dock ", dock_id)));
  return provisioning::CredentialBundle{
      std::move(made.key_pem), resp.certificate().certificate_pem(), resp.ca_certificate_pem()};
}

}  // namespace camfleet::bench
