#include "services/rpc/authorization.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace camfleet::rpc {
namespace {

using provisioning::Role;

constexpr Role kAdmin = Role::kAdmin;
constexpr Role kQuartermaster = Role::kQuartermaster;
constexpr Role kAuditor = Role::kAuditor;
constexpr Role kDock = Role::kDock;

std::vector<MethodRule> BuildRules() {
  const std::vector<Role> readers = {kAdmin, kQuartermaster, kAuditor};
  const std::vector<Role> stock = {kAdmin, kQuartermaster};
  const std::vector<Role> admin = {kAdmin};
  const std::vector<Role> oversight = {kAdmin, kAuditor};
  auto fleet = [](absl::string_view m) { return absl::StrCat("camfleet.v1.FleetService/", m); };
  auto audit = [](absl::string_view m) { return absl::StrCat("camfleet.v1.AuditService/", m); };
  auto prov = [](absl::string_view m) {
    return absl::StrCat("camfleet.v1.ProvisioningService/", m);
  };
  auto dock = [](absl::string_view m) { return absl::StrCat("camfleet.v1.DockService/", m); };
  auto monitoring = [](absl::string_view m) {
    return absl::StrCat("camfleet.v1.MonitoringService/", m);
  };
  auto report = [](absl::string_view m) { return absl::StrCat("camfleet.v1.ReportService/", m); };
  auto firmware = [](absl::string_view m) {
    return absl::StrCat("camfleet.v1.FirmwareService/", m);
  };
  auto rollout = [](absl::string_view m) {
    return absl::StrCat("camfleet.v1.RolloutService/", m);
  };
  auto web = [](absl::string_view m) { return absl::StrCat("camfleet.v1.WebService/", m); };
  return {
      // Sites are the shape of the organisation: admins only. Holders and stock: the
      // quartermaster's daily work. Commissioning without enrollment vouches for a unit: admin.
      {fleet("CreateSite"), admin},
      {fleet("GetSite"), readers},
      {fleet("ListSites"), readers},
      {fleet("CreateHolder"), stock},
      {fleet("GetHolder"), readers},
      {fleet("ListHolders"), readers},
      {fleet("RegisterCamera"), stock},
      {fleet("ImportManifest"), stock},
      {fleet("StartManifestImport"), stock},
      {fleet("GetManifestImport"), stock},
      {fleet("GetCamera"), readers},
      {fleet("ListCameras"), readers},
      {fleet("CommissionCamera"), admin},
      {fleet("IssueCamera"), stock},
      {fleet("ReturnCamera"), stock},
      {fleet("ReportCameraLost"), stock},
      {fleet("ReportCameraFound"), stock},
      {fleet("ReportCameraFaulty"), stock},
      {fleet("RepairCamera"), stock},
      {fleet("RetireCamera"), stock},
      {fleet("ListOverdueAssignments"), readers},
      {fleet("GetCustodyTrail"), readers},
      {audit("ListAuditEvents"), readers},
      {audit("VerifyAuditChain"), oversight},
      // A checkpoint is a signed statement of the chain's head, for those who check the trail.
      {audit("CreateAuditCheckpoint"), oversight},
      {prov("IssueOperatorCertificate"), admin},
      {prov("RenewOperatorCertificate"), readers, false, true},
      {prov("ListOperators"), oversight},
      {prov("RevokeOperator"), admin},
      {prov("CreateEnrollmentToken"), admin},
      {prov("ListEnrollmentTokens"), oversight},
      {prov("ListDocks"), readers},
      {prov("RevokeDock"), admin},
      {prov("ListCertificates"), oversight},
      {prov("RevokeCertificate"), admin},
      // Docks pull the CRL to refuse revoked cameras; people read it too.
      {prov("GetCrl"), {kAdmin, kQuartermaster, kAuditor, kDock}},
      {prov("ResetCameraEnrollment"), admin},
      {prov("AddSupplierCa"), admin},
      {prov("ListSupplierCas"), oversight},
      {dock("EnrollDock"), {}, true},
      {dock("RenewDockCertificate"), {kDock}, false, true},
      {dock("EnrollCamera"), {kDock}},
      {dock("RenewCameraCertificate"), {kDock}},
      {dock("Sync"), {kDock}},
      // Firmware for the dock's cameras, on its own stream (services/firmware/release_download.h).
      {dock("DownloadRelease"), {kDock}},
      // What docks report from the field: read by people; alerts and conflicts are handled by
      // the quartermaster's side (an auditor only reads).
      {monitoring("ListAlerts"), readers},
      {monitoring("AcknowledgeAlert"), stock},
      {monitoring("ListConflicts"), readers},
      {monitoring("ResolveConflict"), stock},
      {monitoring("ListHealthReadings"), readers},
      // A site's check-out rules: read by people, set by the quartermaster's side.
      {monitoring("GetSiteRules"), readers},
      {monitoring("SetSiteRules"), stock},
      // Reports are read by everyone who reads (auditors export them); recording a stock
      // check and setting how often one is due are the quartermaster's side.
      {report("RunReport"), readers},
      {report("CheckStock"), readers},
      {report("RecordStockCheck"), stock},
      {report("ListStockChecksDue"), readers},
      {report("SetStockCheckInterval"), stock},
      // Firmware: admins put releases and keys on the server; everyone who reads may list.
      {firmware("UploadRelease"), admin},
      {firmware("ListReleases"), readers},
      {firmware("WithdrawRelease"), admin},
      {firmware("AddSigningKey"), admin},
      {firmware("ListSigningKeys"), readers},
      {firmware("RetireSigningKey"), admin},
      // Rollouts: admins run them; everyone who reads may follow them.
      {rollout("CreateRollout"), admin},
      {rollout("GetRollout"), readers},
      {rollout("ListRollouts"), readers},
      {rollout("PauseRollout"), admin},
      {rollout("ResumeRollout"), admin},
      {rollout("NextWave"), admin},
      {rollout("AbortRollout"), admin},
      {rollout("RetryFailed"), admin},
      // A release carried to a post by hand: the people who run the fleet's stock.
      {firmware("ExportRelease"), stock},
      // Every operator may sign in to the web page; there the same table decides what a page
      // may read and write (services/web/web_server.h).
      {web("CreateSignInLink"), readers},
  };
}

}  // namespace

const std::vector<MethodRule>& AllRules() {
  static const auto* const kRules = new std::vector<MethodRule>(BuildRules());
  return *kRules;
}

const MethodRule* FindRule(absl::string_view method) {
  static const auto* const kIndex = [] {
    auto* index = new absl::flat_hash_map<std::string, const MethodRule*>();
    for (const MethodRule& rule : AllRules()) (*index)[rule.method] = &rule;
    return index;
  }();
  auto it = kIndex->find(method);
  return it == kIndex->end() ? nullptr : it->second;
}

absl::Status Authorize(const MethodRule& rule, provisioning::Role role,
                       absl::string_view identity) {
  if (rule.without_certificate) return absl::OkStatus();
  for (Role allowed : rule.roles) {
    if (allowed == role) return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (Role allowed : rule.roles) names.emplace_back(provisioning::RoleName(allowed));
  absl::string_view short_name = rule.method;
  if (size_t slash = short_name.rfind('/'); slash != absl::string_view::npos) {
    short_name.remove_prefix(slash + 1);
  }
  return absl::PermissionDeniedError(absl::StrCat(short_name, " needs role ",
                                                  absl::StrJoin(names, " or "), "; '", identity,
                                                  "' has role ", provisioning::RoleName(role)));
}

}  // namespace camfleet::rpc
