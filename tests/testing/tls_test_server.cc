#include "tests/testing/tls_test_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "provisioning/csr.h"

namespace camfleet::testing {
namespace {

absl::Status FromGrpc(const grpc::Status& s) { return common::FromGrpcStatus(s); }

// Annotates `s` with what the helper was doing, keeping its code.
absl::Status Context(const absl::Status& s, absl::string_view doing) {
  return absl::Status(s.code(), absl::StrCat(doing, ": ", s.message()));
}

}  // namespace

std::unique_ptr<grpc::ClientContext> TlsContext(absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return ctx;
}

absl::StatusOr<KeyAndCsr> MakeKeyAndCsr(const std::string& common_name) {
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, common_name);
  if (!csr.ok()) return csr.status();
  absl::StatusOr<std::string> key_pem = key->ToPem();
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> csr_pem = csr->ToPem();
  if (!csr_pem.ok()) return csr_pem.status();
  return KeyAndCsr{*std::move(key_pem), *std::move(csr_pem)};
}

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

TlsTestServer::TlsTestServer(TlsTestServerOptions options)
    : options_(options), home_(dir_.File("home")) {}

TlsTestServer::~TlsTestServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<TlsTestServer>> TlsTestServer::Start(TlsTestServerOptions options) {
  std::unique_ptr<TlsTestServer> server(new TlsTestServer(options));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  if (absl::Status s = server->StartServer(); !s.ok()) return s;
  return server;
}

absl::Status TlsTestServer::Init() {
  server::InitOptions init;
  init.home = home_;
  init.admin_name = kRootAdmin;
  init.now = options_.init_now;
  if (init.now == absl::InfinitePast()) {
    init.now = options_.clock != nullptr ? options_.clock->Now() : absl::Now();
  }
  if (absl::Status s = server::InitHome(init); !s.ok()) return Context(s, "InitHome");
  absl::StatusOr<provisioning::CredentialBundle> admin =
      provisioning::LoadCredentialBundle(paths().AdminCredentials(kRootAdmin));
  if (!admin.ok()) return Context(admin.status(), "loading root-admin's credentials");
  admin_ = ClientCredentials{kRootAdmin, *std::move(admin)};
  acting_admin_ = admin_;
  return absl::OkStatus();
}

absl::Status TlsTestServer::StartServer() {
  server::ServerOptions options;
  options.home = home_;
  options.listen = {"127.0.0.1:0"};
  // Set explicitly: the default is still plaintext while the rest of the tree catches up.
  options.insecure_dev = false;
  options.clock = options_.clock;
  options.metrics_listen = options_.metrics_listen;
  options.server_certificate = options_.server_certificate;
  if (options_.web) options.web_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<server::Server>> started = server::Server::Start(options);
  if (!started.ok()) return Context(started.status(), "starting camfleetd over TLS");
  server_ = *std::move(started);
  port_ = server_->port();
  target_ = absl::StrCat("127.0.0.1:", port_);
  admin_channel_ = Channel(acting_admin_.bundle);
  return absl::OkStatus();
}

void TlsTestServer::set_acting_admin(const ClientCredentials& admin) {
  acting_admin_ = admin;
  if (server_ != nullptr) admin_channel_ = Channel(acting_admin_.bundle);
}

void TlsTestServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  admin_channel_.reset();
  server_->Shutdown(grace);
  server_.reset();
}

absl::Status TlsTestServer::Restart() {
  Shutdown();
  return StartServer();
}

absl::StatusOr<provisioning::CertificateAuthority> TlsTestServer::LoadCa() const {
  return provisioning::CertificateAuthority::Load(paths().CaDir());
}

std::shared_ptr<grpc::Channel> TlsTestServer::Channel(
    const provisioning::CredentialBundle& bundle) const {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem();
  tls.pem_private_key = bundle.key_pem;
  tls.pem_cert_chain = bundle.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(kServerName);
  // Each channel gets its own connection: one identity per connection, as on real machines.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target_, grpc::SslCredentials(tls), args);
}

std::shared_ptr<grpc::Channel> TlsTestServer::ChannelWithoutCertificate() const {
  return Channel(provisioning::CredentialBundle{});
}

absl::StatusOr<ClientCredentials> TlsTestServer::IssueOperator(const std::string& name,
                                                               provisioning::Role role) {
  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(name);
  if (!made.ok()) return made.status();
  v1::IssueOperatorCertificateRequest req;
  req.set_name(name);
  req.set_role(ToProtoRole(role));
  req.set_csr_pem(made->csr_pem);
  v1::IssueOperatorCertificateResponse resp;
  auto stub = v1::ProvisioningService::NewStub(admin_channel_);
  grpc::Status s = stub->IssueOperatorCertificate(TlsContext().get(), req, &resp);
  if (!s.ok()) return Context(FromGrpc(s), absl::StrCat("issuing operator ", name));
  return ClientCredentials{
      name, {made->key_pem, resp.certificate().certificate_pem(), resp.ca_certificate_pem()}};
}

absl::Status TlsTestServer::CreateSite(const std::string& code) {
  v1::CreateSiteRequest req;
  req.set_code(code);
  req.set_name(absl::StrCat("Site ", code));
  v1::CreateSiteResponse resp;
  auto stub = v1::FleetService::NewStub(admin_channel_);
  grpc::Status s = stub->CreateSite(TlsContext().get(), req, &resp);
  if (!s.ok()) return Context(FromGrpc(s), absl::StrCat("creating site ", code));
  return absl::OkStatus();
}

absl::StatusOr<EnrolledDock> TlsTestServer::EnrollDock(const std::string& site,
                                                       const std::string& dock_id) {
  v1::CreateEnrollmentTokenRequest token_req;
  token_req.set_site_code(site);
  token_req.set_note(absl::StrCat("for ", dock_id));
  v1::CreateEnrollmentTokenResponse token;
  auto admin = v1::ProvisioningService::NewStub(admin_channel_);
  grpc::Status s = admin->CreateEnrollmentToken(TlsContext().get(), token_req, &token);
  if (!s.ok()) return Context(FromGrpc(s), absl::StrCat("making a token for ", site));

  absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(dock_id);
  if (!made.ok()) return made.status();
  v1::EnrollDockRequest req;
  req.set_token(token.token());
  req.set_csr_pem(made->csr_pem);
  req.set_slot_count(8);
  EnrolledDock dock;
  auto stub = v1::DockService::NewStub(ChannelWithoutCertificate());
  s = stub->EnrollDock(TlsContext().get(), req, &dock.response);
  if (!s.ok()) return Context(FromGrpc(s), absl::StrCat("enrolling dock ", dock_id));
  dock.credentials =
      ClientCredentials{dock_id,
                        {made->key_pem, dock.response.certificate().certificate_pem(),
                         dock.response.ca_certificate_pem()}};
  return dock;
}

absl::StatusOr<ClientCredentials> TlsTestServer::IssueDirect(provisioning::Role role,
                                                             const std::string& identity,
                                                             absl::Time now) const {
  absl::StatusOr<provisioning::CertificateAuthority> ca = LoadCa();
  if (!ca.ok()) return ca.status();
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, identity);
  if (!csr.ok()) return csr.status();
  provisioning::IssueRequest request;
  request.role = role;
  request.identity = identity;
  absl::StatusOr<provisioning::IssuedCertificate> cert = ca->Issue(*csr, request, now);
  if (!cert.ok()) return Context(cert.status(), "signing directly with the fleet CA");
  absl::StatusOr<std::string> key_pem = key->ToPem();
  if (!key_pem.ok()) return key_pem.status();
  return ClientCredentials{identity, {*std::move(key_pem), cert->pem, ca->CertificatePem()}};
}

}  // namespace camfleet::testing
