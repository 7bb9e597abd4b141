#pragma once
// What the integration suites share: calls through the generated stubs turned into
// absl::StatusOr (so StatusIs/IsOk apply), short request builders, and a snapshot of
// everything the API can show, to prove that a refused call changed nothing.

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "tests/testing/test_server.h"

namespace camfleet::testing {

// IsOkAndHolds(m): an OK absl::StatusOr whose value matches m. (Not in status_matchers.h yet.)
MATCHER_P(IsOkAndHolds, inner, "is OK and holds a value that matches") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(inner, *arg, result_listener);
}

inline absl::Status ToAbsl(const grpc::Status& s) { return common::FromGrpcStatus(s); }

// One unary call with a deadline and the operator header; the stub method is passed as a
// member pointer, e.g. Call(stub, &v1::FleetService::Stub::GetCamera, req).
template <typename Stub, typename Req, typename Resp>
absl::StatusOr<Resp> Call(Stub& stub,
                          grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                          const Req& req, const std::string& operator_name = kTestOperator) {
  std::unique_ptr<grpc::ClientContext> ctx = NewClientContext(operator_name);
  Resp resp;
  grpc::Status s = (stub.*method)(ctx.get(), req, &resp);
  if (!s.ok()) return ToAbsl(s);
  return resp;
}

inline google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

// The fleet API as one operator sees it. Stubs are looked up on every call, so the client keeps
// working across TestServer::Restart.
class FleetClient {
 public:
  FleetClient(TestServer& server, std::string operator_name)
      : server_(server), operator_(std::move(operator_name)) {}

  const std::string& operator_name() const { return operator_; }

  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Fleet(grpc::Status (v1::FleetService::Stub::*method)(grpc::ClientContext*,
                                                                            const Req&, Resp*),
                             const Req& req) {
    return Call(server_.fleet(), method, req, operator_);
  }
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Audit(grpc::Status (v1::AuditService::Stub::*method)(grpc::ClientContext*,
                                                                            const Req&, Resp*),
                             const Req& req) {
    return Call(server_.audit(), method, req, operator_);
  }

  absl::StatusOr<v1::CreateSiteResponse> CreateSite(const std::string& code,
                                                    const std::string& parent = "") {
    v1::CreateSiteRequest req;
    req.set_code(code);
    req.set_name(absl::StrCat("Site ", code));
    req.set_parent_code(parent);
    return Fleet(&v1::FleetService::Stub::CreateSite, req);
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
  absl::StatusOr<v1::RegisterCameraResponse> Register(const std::string& serial,
                                                      const std::string& site,
                                                      const std::string& model = "AXON-4") {
    v1::RegisterCameraRequest req;
    req.set_serial(serial);
    req.set_model(model);
    req.set_hardware_revision("R1");
    req.set_site_code(site);
    return Fleet(&v1::FleetService::Stub::RegisterCamera, req);
  }
  absl::StatusOr<v1::ImportManifestResponse> Import(const std::string& csv) {
    v1::ImportManifestRequest req;
    req.set_csv(csv);
    return Fleet(&v1::FleetService::Stub::ImportManifest, req);
  }
  absl::StatusOr<v1::CommissionCameraResponse> Commission(const std::string& serial) {
    v1::CommissionCameraRequest req;
    req.set_serial(serial);
    req.set_reason("delivered sealed, checked by hand");
    return Fleet(&v1::FleetService::Stub::CommissionCamera, req);
  }
  absl::StatusOr<v1::IssueCameraResponse> Issue(const std::string& serial, const std::string& badge,
                                                absl::Time due) {
    v1::IssueCameraRequest req;
    req.set_serial(serial);
    req.set_holder_badge(badge);
    *req.mutable_due_back_time() = ToProto(due);
    return Fleet(&v1::FleetService::Stub::IssueCamera, req);
  }
  absl::StatusOr<v1::ReturnCameraResponse> Return(
      const std::string& serial, v1::ReturnCondition condition = v1::RETURN_CONDITION_GOOD) {
    v1::ReturnCameraRequest req;
    req.set_serial(serial);
    req.set_condition(condition);
    return Fleet(&v1::FleetService::Stub::ReturnCamera, req);
  }
  absl::StatusOr<v1::ReportCameraLostResponse> Lost(const std::string& serial) {
    v1::ReportCameraLostRequest req;
    req.set_serial(serial);
    req.set_note("left in a patrol car");
    return Fleet(&v1::FleetService::Stub::ReportCameraLost, req);
  }
  absl::StatusOr<v1::ReportCameraFoundResponse> Found(const std::string& serial) {
    v1::ReportCameraFoundRequest req;
    req.set_serial(serial);
    req.set_note("handed in at the front desk");
    return Fleet(&v1::FleetService::Stub::ReportCameraFound, req);
  }
  absl::StatusOr<v1::ReportCameraFaultyResponse> Faulty(const std::string& serial) {
    v1::ReportCameraFaultyRequest req;
    req.set_serial(serial);
    req.set_note("does not power on");
    return Fleet(&v1::FleetService::Stub::ReportCameraFaulty, req);
  }
  absl::StatusOr<v1::RepairCameraResponse> Repair(const std::string& serial) {
    v1::RepairCameraRequest req;
    req.set_serial(serial);
    req.set_note("battery replaced");
    return Fleet(&v1::FleetService::Stub::RepairCamera, req);
  }
  absl::StatusOr<v1::RetireCameraResponse> Retire(const std::string& serial) {
    v1::RetireCameraRequest req;
    req.set_serial(serial);
    req.set_reason("end of life");
    return Fleet(&v1::FleetService::Stub::RetireCamera, req);
  }
  absl::StatusOr<v1::GetCameraResponse> GetCamera(const std::string& serial) {
    v1::GetCameraRequest req;
    req.set_serial(serial);
    return Fleet(&v1::FleetService::Stub::GetCamera, req);
  }
  absl::StatusOr<v1::GetCustodyTrailResponse> Trail(const std::string& serial) {
    v1::GetCustodyTrailRequest req;
    req.set_serial(serial);
    return Fleet(&v1::FleetService::Stub::GetCustodyTrail, req);
  }
  absl::StatusOr<v1::GetHolderResponse> GetHolder(const std::string& badge) {
    v1::GetHolderRequest req;
    req.set_badge(badge);
    return Fleet(&v1::FleetService::Stub::GetHolder, req);
  }
  absl::StatusOr<v1::VerifyAuditChainResponse> VerifyChain() {
    return Audit(&v1::AuditService::Stub::VerifyAuditChain, v1::VerifyAuditChainRequest());
  }

  // Every camera matching `filter`, following next_page_token; the filter's page_token is
  // ignored. `pages` gets the number of pages read.
  absl::StatusOr<std::vector<v1::Camera>> AllCameras(v1::ListCamerasRequest filter,
                                                     int* pages = nullptr) {
    std::vector<v1::Camera> out;
    filter.clear_page_token();
    int read = 0;
    while (true) {
      absl::StatusOr<v1::ListCamerasResponse> page =
          Fleet(&v1::FleetService::Stub::ListCameras, filter);
      if (!page.ok()) return page.status();
      ++read;
      for (const v1::Camera& c : page->cameras()) out.push_back(c);
      if (page->next_page_token().empty()) break;
      if (read > 10000) return absl::InternalError("ListCameras never reached its last page");
      filter.set_page_token(page->next_page_token());
    }
    if (pages != nullptr) *pages = read;
    return out;
  }

  // Every audit event matching `filter`, in sequence order.
  absl::StatusOr<std::vector<v1::AuditEvent>> AllAuditEvents(v1::ListAuditEventsRequest filter) {
    std::vector<v1::AuditEvent> out;
    filter.set_page_size(1000);
    filter.clear_page_token();
    while (true) {
      absl::StatusOr<v1::ListAuditEventsResponse> page =
          Audit(&v1::AuditService::Stub::ListAuditEvents, filter);
      if (!page.ok()) return page.status();
      for (const v1::AuditEvent& e : page->events()) out.push_back(e);
      if (page->next_page_token().empty()) break;
      filter.set_page_token(page->next_page_token());
    }
    return out;
  }

  // Everything the API shows: every site, holder (with open assignments), camera (with its
  // custody trail) and the head of the audit chain, as text. Two equal snapshots mean nothing
  // visible changed in between.
  absl::StatusOr<std::string> Snapshot() {
    std::string out;
    v1::ListSitesRequest sites_req;
    sites_req.set_page_size(1000);
    absl::StatusOr<v1::ListSitesResponse> sites =
        Fleet(&v1::FleetService::Stub::ListSites, sites_req);
    if (!sites.ok()) return sites.status();
    absl::StrAppend(&out, "sites:\n", sites->DebugString());
    v1::ListHoldersRequest holders_req;
    holders_req.set_page_size(1000);
    absl::StatusOr<v1::ListHoldersResponse> holders =
        Fleet(&v1::FleetService::Stub::ListHolders, holders_req);
    if (!holders.ok()) return holders.status();
    for (const v1::Holder& h : holders->holders()) {
      absl::StatusOr<v1::GetHolderResponse> full = GetHolder(h.badge());
      if (!full.ok()) return full.status();
      absl::StrAppend(&out, "holder:\n", full->DebugString());
    }
    v1::ListCamerasRequest cameras_req;
    cameras_req.set_page_size(1000);
    absl::StatusOr<std::vector<v1::Camera>> cameras = AllCameras(cameras_req);
    if (!cameras.ok()) return cameras.status();
    for (const v1::Camera& c : *cameras) {
      absl::StatusOr<v1::GetCustodyTrailResponse> trail = Trail(c.serial());
      if (!trail.ok()) return trail.status();
      absl::StrAppend(&out, "camera:\n", trail->DebugString());
    }
    absl::StatusOr<v1::VerifyAuditChainResponse> chain = VerifyChain();
    if (!chain.ok()) return chain.status();
    absl::StrAppend(&out, "audit:\n", chain->DebugString());
    return out;
  }

 private:
  TestServer& server_;
  std::string operator_;
};

}  // namespace camfleet::testing
