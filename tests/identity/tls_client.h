#pragma once
// One identity's view of the API over its own mutual-TLS connection: calls through the
// generated stubs turned into absl::StatusOr (so StatusIs/IsOk apply), and the few requests
// the identity suites make again and again.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/grpc_status.h"
#include "provisioning/key.h"
#include "provisioning/possession.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {

inline absl::Status ToAbslStatus(const grpc::Status& s) { return common::FromGrpcStatus(s); }

// A context with the usual deadline and, when `forged_operator` is not empty, the development
// mode's `camfleet-operator` header, which a TLS server must ignore.
inline std::unique_ptr<grpc::ClientContext> CallContext(const std::string& forged_operator) {
  std::unique_ptr<grpc::ClientContext> ctx = TlsContext();
  if (!forged_operator.empty()) ctx->AddMetadata("camfleet-operator", forged_operator);
  return ctx;
}

// One unary call with a deadline, e.g. TlsCall(stub, &v1::FleetService::Stub::GetCamera, req).
template <typename Stub, typename Req, typename Resp>
absl::StatusOr<Resp> TlsCall(Stub& stub,
                             grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                             const Req& req, const std::string& forged_operator = "") {
  std::unique_ptr<grpc::ClientContext> ctx = CallContext(forged_operator);
  Resp resp;
  grpc::Status s = (stub.*method)(ctx.get(), req, &resp);
  if (!s.ok()) return ToAbslStatus(s);
  return resp;
}

class TlsClient {
 public:
  explicit TlsClient(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)),
        fleet_(v1::FleetService::NewStub(channel_)),
        audit_(v1::AuditService::NewStub(channel_)),
        provisioning_(v1::ProvisioningService::NewStub(channel_)),
        dock_(v1::DockService::NewStub(channel_)) {}

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Sent with every call from now on (see CallContext).
  void set_forged_operator(std::string name) { forged_operator_ = std::move(name); }

  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Fleet(grpc::Status (v1::FleetService::Stub::*method)(grpc::ClientContext*,
                                                                            const Req&, Resp*),
                             const Req& req) {
    return TlsCall(*fleet_, method, req, forged_operator_);
  }
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Audit(grpc::Status (v1::AuditService::Stub::*method)(grpc::ClientContext*,
                                                                            const Req&, Resp*),
                             const Req& req) {
    return TlsCall(*audit_, method, req, forged_operator_);
  }
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Prov(grpc::Status (v1::ProvisioningService::Stub::*method)(
                                grpc::ClientContext*, const Req&, Resp*),
                            const Req& req) {
    return TlsCall(*provisioning_, method, req, forged_operator_);
  }
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Dock(grpc::Status (v1::DockService::Stub::*method)(grpc::ClientContext*,
                                                                          const Req&, Resp*),
                            const Req& req) {
    return TlsCall(*dock_, method, req, forged_operator_);
  }

  // ---- fleet
  absl::StatusOr<v1::CreateSiteResponse> CreateSite(const std::string& code) {
    v1::CreateSiteRequest req;
    req.set_code(code);
    req.set_name(absl::StrCat("Site ", code));
    return Fleet(&v1::FleetService::Stub::CreateSite, req);
  }
  absl::StatusOr<v1::ListSitesResponse> ListSites() {
    return Fleet(&v1::FleetService::Stub::ListSites, v1::ListSitesRequest());
  }
  absl::StatusOr<v1::CreateHolderResponse> CreateHolder(const std::string& badge,
                                                        const std::string& site) {
    v1::CreateHolderRequest req;
    req.set_badge(badge);
    req.set_name(absl::StrCat("Officer ", badge));
    req.set_unit("Patrol");
    req.set_home_site_code(site);
    return Fleet(&v1::FleetService::Stub::CreateHolder, req);
  }
  absl::StatusOr<v1::RegisterCameraResponse> RegisterCamera(const std::string& serial,
                                                            const std::string& site) {
    v1::RegisterCameraRequest req;
    req.set_serial(serial);
    req.set_model("AXON-4");
    req.set_hardware_revision("R1");
    req.set_site_code(site);
    return Fleet(&v1::FleetService::Stub::RegisterCamera, req);
  }
  absl::StatusOr<v1::Camera> GetCamera(const std::string& serial) {
    v1::GetCameraRequest req;
    req.set_serial(serial);
    absl::StatusOr<v1::GetCameraResponse> resp = Fleet(&v1::FleetService::Stub::GetCamera, req);
    if (!resp.ok()) return resp.status();
    return resp->camera();
  }
  absl::StatusOr<v1::ReportCameraLostResponse> ReportLost(const std::string& serial) {
    v1::ReportCameraLostRequest req;
    req.set_serial(serial);
    req.set_note("left in a patrol car");
    return Fleet(&v1::FleetService::Stub::ReportCameraLost, req);
  }
  absl::StatusOr<v1::ReportCameraFoundResponse> ReportFound(const std::string& serial) {
    v1::ReportCameraFoundRequest req;
    req.set_serial(serial);
    req.set_note("handed in at the front desk");
    return Fleet(&v1::FleetService::Stub::ReportCameraFound, req);
  }
  absl::StatusOr<v1::RetireCameraResponse> Retire(const std::string& serial) {
    v1::RetireCameraRequest req;
    req.set_serial(serial);
    req.set_reason("end of life");
    return Fleet(&v1::FleetService::Stub::RetireCamera, req);
  }
  absl::StatusOr<v1::CommissionCameraResponse> Commission(const std::string& serial,
                                                          const std::string& factory_pem) {
    v1::CommissionCameraRequest req;
    req.set_serial(serial);
    req.set_reason("delivered sealed, checked by hand");
    req.set_factory_certificate_pem(factory_pem);
    return Fleet(&v1::FleetService::Stub::CommissionCamera, req);
  }

  // ---- audit
  // Every event matching `filter`, in sequence order.
  absl::StatusOr<std::vector<v1::AuditEvent>> AuditEvents(v1::ListAuditEventsRequest filter) {
    std::vector<v1::AuditEvent> out;
    filter.set_page_size(1000);
    while (true) {
      absl::StatusOr<v1::ListAuditEventsResponse> page =
          Audit(&v1::AuditService::Stub::ListAuditEvents, filter);
      if (!page.ok()) return page.status();
      for (const v1::AuditEvent& e : page->events()) out.push_back(e);
      if (page->next_page_token().empty()) return out;
      filter.set_page_token(page->next_page_token());
    }
  }
  absl::StatusOr<v1::VerifyAuditChainResponse> VerifyAuditChain() {
    return Audit(&v1::AuditService::Stub::VerifyAuditChain, v1::VerifyAuditChainRequest());
  }

  // ---- provisioning
  absl::StatusOr<v1::GetCrlResponse> GetCrl() {
    return Prov(&v1::ProvisioningService::Stub::GetCrl, v1::GetCrlRequest());
  }
  absl::StatusOr<v1::RevokeOperatorResponse> RevokeOperator(
      const std::string& name,
      v1::RevocationReason reason = v1::REVOCATION_REASON_AFFILIATION_CHANGED) {
    v1::RevokeOperatorRequest req;
    req.set_name(name);
    req.set_reason(reason);
    req.set_note("moved to another unit");
    return Prov(&v1::ProvisioningService::Stub::RevokeOperator, req);
  }
  absl::StatusOr<v1::RevokeCertificateResponse> RevokeCertificate(const std::string& serial,
                                                                  v1::RevocationReason reason) {
    v1::RevokeCertificateRequest req;
    req.set_serial(serial);
    req.set_reason(reason);
    return Prov(&v1::ProvisioningService::Stub::RevokeCertificate, req);
  }
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> CreateToken(
      const std::string& site, absl::Duration ttl = absl::Hours(24)) {
    v1::CreateEnrollmentTokenRequest req;
    req.set_site_code(site);
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    return Prov(&v1::ProvisioningService::Stub::CreateEnrollmentToken, req);
  }
  // Every certificate naming `identity`, revoked ones included, newest first.
  absl::StatusOr<std::vector<v1::Certificate>> CertificatesOf(const std::string& identity) {
    v1::ListCertificatesRequest req;
    req.set_identity(identity);
    req.set_include_revoked(true);
    req.set_page_size(1000);
    absl::StatusOr<v1::ListCertificatesResponse> resp =
        Prov(&v1::ProvisioningService::Stub::ListCertificates, req);
    if (!resp.ok()) return resp.status();
    return std::vector<v1::Certificate>(resp->certificates().begin(), resp->certificates().end());
  }
  absl::StatusOr<v1::ResetCameraEnrollmentResponse> ResetEnrollment(const std::string& serial) {
    v1::ResetCameraEnrollmentRequest req;
    req.set_serial(serial);
    req.set_reason("camera board replaced");
    return Prov(&v1::ProvisioningService::Stub::ResetCameraEnrollment, req);
  }
  absl::StatusOr<v1::AddSupplierCaResponse> AddSupplierCa(const std::string& name,
                                                          const std::string& pem) {
    v1::AddSupplierCaRequest req;
    req.set_name(name);
    req.set_certificate_pem(pem);
    return Prov(&v1::ProvisioningService::Stub::AddSupplierCa, req);
  }

  // ---- dock
  absl::StatusOr<v1::EnrollDockResponse> EnrollDock(const std::string& token,
                                                    const std::string& csr_pem) {
    v1::EnrollDockRequest req;
    req.set_token(token);
    req.set_csr_pem(csr_pem);
    req.set_slot_count(8);
    return Dock(&v1::DockService::Stub::EnrollDock, req);
  }
  absl::StatusOr<v1::EnrollCameraResponse> EnrollCamera(const std::string& serial,
                                                        const std::string& csr_pem) {
    v1::EnrollCameraRequest req;
    req.set_serial(serial);
    req.set_csr_pem(csr_pem);
    return Dock(&v1::DockService::Stub::EnrollCamera, req);
  }
  // A fresh camera key and CSR (CN = serial) relayed to EnrollCamera.
  absl::StatusOr<v1::EnrollCameraResponse> EnrollNewCamera(const std::string& serial,
                                                           std::string* key_pem = nullptr) {
    absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(serial);
    if (!made.ok()) return made.status();
    if (key_pem != nullptr) *key_pem = made->key_pem;
    absl::StatusOr<v1::EnrollCameraResponse> enrolled = EnrollCamera(serial, made->csr_pem);
    if (enrolled.ok()) camera_keys_[serial] = made->key_pem;
    return enrolled;
  }
  // A renewal as a camera in this dock's slot makes it: a fresh key and CSR, signed with the
  // camera's current key (the one the last EnrollNewCamera or RenewCameraWithProof through this
  // client got certified) as proof of possession (provisioning/possession.h).
  absl::StatusOr<v1::RenewCameraCertificateResponse> RenewCameraWithProof(
      const std::string& serial, std::string* key_pem = nullptr) {
    auto current = camera_keys_.find(serial);
    if (current == camera_keys_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("test: no key of ", serial, " was enrolled through this client"));
    }
    absl::StatusOr<KeyAndCsr> made = MakeKeyAndCsr(serial);
    if (!made.ok()) return made.status();
    absl::StatusOr<std::string> proof = SignWithKey(current->second, made->csr_pem);
    if (!proof.ok()) return proof.status();
    v1::RenewCameraCertificateRequest req;
    req.set_serial(serial);
    req.set_csr_pem(made->csr_pem);
    req.set_current_key_signature(*proof);
    absl::StatusOr<v1::RenewCameraCertificateResponse> renewed =
        Dock(&v1::DockService::Stub::RenewCameraCertificate, req);
    if (renewed.ok()) camera_keys_[serial] = made->key_pem;
    if (key_pem != nullptr) *key_pem = made->key_pem;
    return renewed;
  }
  // The cameras' keys this client knows, to hand over to a client with the dock's next
  // certificate (the cameras stay in the dock when it renews).
  const std::map<std::string, std::string>& camera_keys() const { return camera_keys_; }
  void set_camera_keys(std::map<std::string, std::string> keys) { camera_keys_ = std::move(keys); }
  // The renewal proof over `csr_pem` made with `key_pem`.
  static absl::StatusOr<std::string> SignWithKey(const std::string& key_pem,
                                                 const std::string& csr_pem) {
    absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::FromPem(key_pem);
    if (!key.ok()) return key.status();
    return provisioning::SignRenewalProof(*key, csr_pem);
  }
  absl::StatusOr<v1::RenewDockCertificateResponse> RenewDock(const std::string& csr_pem) {
    v1::RenewDockCertificateRequest req;
    req.set_csr_pem(csr_pem);
    return Dock(&v1::DockService::Stub::RenewDockCertificate, req);
  }

 private:
  // The cameras' current keys, by serial, as the cameras enrolled through this client hold them.
  std::map<std::string, std::string> camera_keys_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  std::unique_ptr<v1::ProvisioningService::Stub> provisioning_;
  std::unique_ptr<v1::DockService::Stub> dock_;
  std::string forged_operator_;
};

}  // namespace camfleet::testing
