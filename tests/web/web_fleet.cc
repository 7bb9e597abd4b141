#include "tests/web/web_fleet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "camfleet/v1/web.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "provisioning/file_io.h"
#include "services/rollout/rollout_engine.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/db_query.h"

namespace camfleet::testing {
namespace {

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  const absl::Status s = common::FromGrpcStatus(status);
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebFleet>> WebFleet::Start(const common::Clock* clock) {
  auto fleet = std::make_unique<WebFleet>();
  ASSIGN_OR_RETURN(fleet->server_, TlsTestServer::Start({.clock = clock, .web = true}));
  if (fleet->server_->server().web_port() == 0) return absl::InternalError("no web port");
  return fleet;
}

absl::StatusOr<ClientCredentials> WebFleet::Operator(const std::string& name,
                                                     provisioning::Role role) {
  return server_->IssueOperator(name, role);
}

absl::StatusOr<std::string> WebFleet::SignInLink(const ClientCredentials& who) {
  auto stub = v1::WebService::NewStub(server_->Channel(who.bundle));
  v1::CreateSignInLinkResponse response;
  RETURN_IF_ERROR(
      FromGrpc(stub->CreateSignInLink(TlsContext().get(), v1::CreateSignInLinkRequest(), &response),
               "CreateSignInLink"));
  return response.url();
}

absl::Status WebFleet::Site(const std::string& code) { return server_->CreateSite(code); }

absl::Status WebFleet::Holder(const std::string& badge, const std::string& name,
                              const std::string& site) {
  auto stub = v1::FleetService::NewStub(server_->AdminChannel());
  v1::CreateHolderRequest request;
  request.set_badge(badge);
  request.set_name(name);
  request.set_unit("Border patrol");
  request.set_home_site_code(site);
  v1::CreateHolderResponse response;
  return FromGrpc(stub->CreateHolder(TlsContext().get(), request, &response), "CreateHolder");
}

absl::Status WebFleet::AvailableCamera(const std::string& serial, const std::string& site,
                                       const std::string& model) {
  auto stub = v1::FleetService::NewStub(server_->AdminChannel());
  v1::RegisterCameraRequest reg;
  reg.set_serial(serial);
  reg.set_model(model);
  reg.set_hardware_revision("B");
  reg.set_site_code(site);
  v1::RegisterCameraResponse registered;
  RETURN_IF_ERROR(
      FromGrpc(stub->RegisterCamera(TlsContext().get(), reg, &registered), "RegisterCamera"));
  v1::CommissionCameraRequest commission;
  commission.set_serial(serial);
  commission.set_reason("delivered sealed; checked at the armory");
  v1::CommissionCameraResponse commissioned;
  return FromGrpc(stub->CommissionCamera(TlsContext().get(), commission, &commissioned),
                  "CommissionCamera");
}

absl::Status WebFleet::NamedSite(const std::string& code, const std::string& name,
                                 const std::string& parent) {
  auto stub = v1::FleetService::NewStub(server_->AdminChannel());
  v1::CreateSiteRequest request;
  request.set_code(code);
  request.set_name(name);
  request.set_parent_code(parent);
  v1::CreateSiteResponse response;
  return FromGrpc(stub->CreateSite(TlsContext().get(), request, &response), "CreateSite");
}

absl::Status WebFleet::Issue(const std::string& serial, const std::string& badge,
                             absl::Duration due, const std::string& note) {
  auto stub = v1::FleetService::NewStub(server_->AdminChannel());
  v1::IssueCameraRequest request;
  request.set_serial(serial);
  request.set_holder_badge(badge);
  request.mutable_due_back_time()->set_seconds(absl::ToUnixSeconds(absl::Now() + due));
  request.set_note(note);
  request.set_force(true);  // demo batteries may be low
  request.set_force_reason("demo data");
  v1::IssueCameraResponse response;
  return FromGrpc(stub->IssueCamera(TlsContext().get(), request, &response), "IssueCamera");
}

absl::Status WebFleet::Lost(const std::string& serial, const std::string& note) {
  auto stub = v1::FleetService::NewStub(server_->AdminChannel());
  v1::ReportCameraLostRequest request;
  request.set_serial(serial);
  request.set_note(note);
  v1::ReportCameraLostResponse response;
  return FromGrpc(stub->ReportCameraLost(TlsContext().get(), request, &response),
                  "ReportCameraLost");
}

absl::Status WebFleet::Faulty(const std::string& serial, const std::string& note) {
  auto stub = v1::FleetService::NewStub(server_->AdminChannel());
  v1::ReportCameraFaultyRequest request;
  request.set_serial(serial);
  request.set_note(note);
  v1::ReportCameraFaultyResponse response;
  return FromGrpc(stub->ReportCameraFaulty(TlsContext().get(), request, &response),
                  "ReportCameraFaulty");
}

absl::Status WebFleet::RevokeOperator(const std::string& name) {
  auto stub = v1::ProvisioningService::NewStub(server_->AdminChannel());
  v1::RevokeOperatorRequest request;
  request.set_name(name);
  request.set_reason(v1::REVOCATION_REASON_AFFILIATION_CHANGED);
  v1::RevokeOperatorResponse response;
  return FromGrpc(stub->RevokeOperator(TlsContext().get(), request, &response), "RevokeOperator");
}

absl::StatusOr<std::string> WebFleet::Release(const std::string& version,
                                              const std::string& model) {
  const std::string dir =
      provisioning::JoinPath(server_->home(), absl::StrCat("release-", version));
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot make ", dir, ": ", error.message()));
  ASSIGN_OR_RETURN(TestSigningKey key, MakeSigningKey(dir));
  auto firmware = v1::FirmwareService::NewStub(server_->AdminChannel());
  v1::AddSigningKeyRequest add;
  add.set_name(absl::StrCat("release-key-", version));
  add.set_public_key_pem(key.public_pem);
  v1::AddSigningKeyResponse added;
  RETURN_IF_ERROR(
      FromGrpc(firmware->AddSigningKey(TlsContext().get(), add, &added), "AddSigningKey"));
  ASSIGN_OR_RETURN(ReleaseFiles files,
                   SignImage(dir, "image", RandomImage(4096, 11), key, {model}, version));
  v1::UploadReleaseResponse uploaded;
  std::unique_ptr<grpc::ClientContext> ctx = TlsContext();
  auto writer = firmware->UploadRelease(ctx.get(), &uploaded);
  v1::UploadReleaseRequest header;
  header.mutable_header()->set_manifest(files.release.manifest_bytes);
  header.mutable_header()->set_signature(files.release.signature);
  v1::UploadReleaseRequest chunk;
  chunk.set_chunk(files.image);
  if (writer->Write(header) && writer->Write(chunk)) writer->WritesDone();
  RETURN_IF_ERROR(FromGrpc(writer->Finish(), "UploadRelease"));
  return uploaded.release().release_id();
}

absl::StatusOr<v1::Rollout> WebFleet::StartRollout(const std::string& release_id,
                                                   const std::string& site,
                                                   const std::string& note) {
  auto rollouts = v1::RolloutService::NewStub(server_->AdminChannel());
  v1::CreateRolloutRequest request;
  request.set_release_id(release_id);
  request.mutable_target()->add_site_codes(site);
  request.set_note(note);
  v1::CreateRolloutResponse response;
  RETURN_IF_ERROR(
      FromGrpc(rollouts->CreateRollout(TlsContext().get(), request, &response), "CreateRollout"));
  return response.rollout();
}

absl::Status WebFleet::InstallProgress(const v1::Rollout& rollout, const std::string& serial,
                                       v1::FirmwareInstallState state, const std::string& error) {
  ASSIGN_OR_RETURN(int64_t site_id,
                   QueryInt(db_path(), absl::StrCat("SELECT site_id FROM cameras WHERE serial = '",
                                                    serial, "'")));
  v1::FirmwareProgress progress;
  progress.set_rollout_id(rollout.rollout_id());
  progress.set_serial(serial);
  progress.set_release_id(rollout.release_id());
  progress.set_attempt(1);
  progress.set_state(state);
  progress.set_error(error);
  return server_->server().store().WriteAndWait([&](storage::WriteTx& tx) {
    return rollout::ApplyProgress(tx, "dock-test", site_id, progress);
  });
}

absl::StatusOr<std::string> WebFleet::ServedWebCertificate() const {
  // A bare OpenSSL client: the handshake alone, so nothing (no session cache, no keep-alive)
  // carries a certificate over from an earlier connection.
  struct Closer {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    int fd = -1;
    ~Closer() {
      if (ssl != nullptr) SSL_free(ssl);
      if (ctx != nullptr) SSL_CTX_free(ctx);
      if (fd >= 0) ::close(fd);
    }
  } c;
  c.ctx = SSL_CTX_new(TLS_client_method());
  if (c.ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_session_cache_mode(c.ctx, SSL_SESS_CACHE_OFF);
  c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (c.fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->server().web_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError("cannot connect to the web port");
  }
  c.ssl = SSL_new(c.ctx);
  if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) return absl::InternalError("SSL_new");
  SSL_set_tlsext_host_name(c.ssl, kServerName);
  if (SSL_connect(c.ssl) != 1)
    return absl::UnavailableError("TLS handshake with the web port failed");
  X509* peer = SSL_get1_peer_certificate(c.ssl);
  if (peer == nullptr) return absl::InternalError("the web port sent no certificate");
  BIO* mem = BIO_new(BIO_s_mem());
  std::string pem;
  if (mem != nullptr && PEM_write_bio_X509(mem, peer) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(mem, &data);
    pem.assign(data, static_cast<size_t>(size));
  }
  BIO_free(mem);
  X509_free(peer);
  if (pem.empty()) return absl::InternalError("cannot write the served certificate as PEM");
  return pem;
}

std::unique_ptr<httplib::SSLClient> WebFleet::Client() const {
  auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->server().web_port());
  // The fleet's CA certificates as clients hold them: the root and the issuing CA.
  const std::string ca_file =
      server_->paths().AdminCredentials(kRootAdmin) + "/" + provisioning::kBundleCaFile;
  client->set_ca_cert_path(ca_file.c_str());
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(10);
  client->set_read_timeout(30);
  return client;
}

std::string WebFleet::origin() const {
  return absl::StrCat("https://127.0.0.1:", server_->server().web_port());
}

std::string TokenOf(const std::string& link) {
  const size_t at = link.find("token=");
  return at == std::string::npos ? "" : link.substr(at + 6);
}

std::string SessionCookieOf(const httplib::Result& result, std::string* attributes) {
  if (!result) return "";
  const std::string header = result->get_header_value("Set-Cookie");
  const std::string kName = "camfleet_session=";
  if (!absl::StartsWith(header, kName)) return "";
  const size_t end = header.find(';');
  if (attributes != nullptr && end != std::string::npos) *attributes = header.substr(end);
  return header.substr(kName.size(),
                       end == std::string::npos ? std::string::npos : end - kName.size());
}

std::string CsrfOf(const std::string& html) {
  const std::string kField = "name=\"csrf\" value=\"";
  const size_t at = html.find(kField);
  if (at == std::string::npos) return "";
  const size_t start = at + kField.size();
  return html.substr(start, html.find('"', start) - start);
}

}  // namespace camfleet::testing
