#include "services/fleet/fleet_manager.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "firmware/manifest.h"
#include "google/protobuf/util/time_util.h"
#include "services/fleet/custody.h"
#include "services/fleet/lifecycle.h"
#include "services/fleet/manifest.h"
#include "services/fleet/manifest_import.h"
#include "provisioning/digest.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/health_repository.h"
#include "services/storage/identity_repository.h"

namespace camfleet::fleet {
namespace {

using google::protobuf::util::TimeUtil;
using storage::WriteTx;
using Details = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxNote = 1024;

absl::Status Audit(WriteTx& tx, const rpc::Identity& who, std::string action,
                   std::string object_type, std::string object_id, const Details& details) {
  return storage::Audit(tx, who.actor(), std::move(action), std::move(object_type),
                        std::move(object_id), details);
}

absl::Status ValidateNote(absl::string_view field, absl::string_view note, bool required) {
  return rpc::ValidateText(field, note, required ? 1 : 0, kMaxNote);
}

// The lifecycle step shared by every camera transition but issue: checks the transition,
// closes the open assignment where the action ends custody, sets the new state and writes the
// audit event. Returns the camera as it is afterwards; `closed` gets the assignment it closed.
absl::StatusOr<v1::Camera> Transition(WriteTx& tx, const rpc::Identity& who,
                                      const std::string& serial, CameraAction action,
                                      const std::string& note, Details details,
                                      rpc::RevocationSet& revoked,
                                      std::optional<v1::Assignment>* closed = nullptr) {
  // The camera and its open assignment in one read.
  ASSIGN_OR_RETURN(storage::CameraWithAssignment found,
                   storage::FindCameraWithOpenAssignment(tx.db(), serial));
  storage::CameraRow& cam = found.camera;
  const v1::CameraState from = cam.camera.state();
  ASSIGN_OR_RETURN(v1::CameraState to, NextState(serial, from, action));

  std::optional<v1::ReturnCondition> close_as;
  switch (action) {
    case CameraAction::kReturnGood: close_as = v1::RETURN_CONDITION_GOOD; break;
    case CameraAction::kReturnDamaged: close_as = v1::RETURN_CONDITION_DAMAGED; break;
    case CameraAction::kReportFaulty:
    case CameraAction::kReportFound:
    case CameraAction::kRetire: close_as = v1::RETURN_CONDITION_NOT_RETURNED; break;
    default: break;  // a lost camera stays with its holder until it is found
  }
  if (close_as.has_value()) {
    std::optional<v1::Assignment>& open = found.open;
    if (!open.has_value() && from == v1::CAMERA_STATE_ISSUED) {
      return absl::InternalError(
          absl::StrCat("camera '", serial, "' is ISSUED but has no open assignment"));
    }
    if (open.has_value()) {
      RETURN_IF_ERROR(storage::CloseAssignment(tx, open->id(), who.actor(), *close_as, note));
      details.emplace_back("assignment", absl::StrCat(open->id()));
      details.emplace_back("holder", open->holder_badge());
      details.emplace_back("condition", storage::ConditionName(*close_as));
      if (closed != nullptr) {
        // As CloseAssignment left it (no second read of the row).
        v1::Assignment after = std::move(*open);
        *after.mutable_return_time() = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(tx.now()));
        after.set_returned_by(who.actor());
        after.set_return_condition(*close_as);
        after.set_return_note(note);
        *closed = std::move(after);
      }
      // The camera has no holder any more.
      cam.camera.clear_holder_badge();
      cam.camera.clear_due_back_time();
    }
  }
  // A lost unit's key may be in anyone's hands; a retired one must never be trusted again.
  // Either way every certificate it still holds (not only the linked one: older enrollments',
  // renewals' predecessors, the factory one) is revoked in this same transaction.
  if (action == CameraAction::kReportLost || action == CameraAction::kRetire) {
    ASSIGN_OR_RETURN(std::vector<std::string> revoked_serials,
                     identity::RevokeCameraCertificates(
                         tx, serial,
                         action == CameraAction::kReportLost
                             ? v1::REVOCATION_REASON_KEY_COMPROMISE
                             : v1::REVOCATION_REASON_CESSATION_OF_OPERATION,
                         who.actor(), revoked));
    if (!revoked_serials.empty()) {
      details.emplace_back("revoked_certificate", absl::StrJoin(revoked_serials, ","));
    }
  }
  RETURN_IF_ERROR(storage::UpdateCameraState(tx, cam.id, to, note));
  Details all = {{"from", storage::StateName(from)}, {"to", storage::StateName(to)}};
  if (!note.empty()) all.emplace_back("note", note);
  all.insert(all.end(), details.begin(), details.end());
  RETURN_IF_ERROR(Audit(tx, who, absl::StrCat("camera.", ActionName(action)), "camera", serial,
                        all));
  // The camera as this write left it, built here instead of read back (what FindCamera would
  // return now: only state, note, update time and, above, the holder changed).
  cam.camera.set_state(to);
  cam.camera.set_state_note(note);
  *cam.camera.mutable_update_time() =
      TimeUtil::MicrosecondsToTimestamp(common::ToMicros(tx.now()));
  return std::move(cam.camera);
}

absl::Status ValidateSerialAndNote(const std::string& serial, const std::string& note_field,
                                   const std::string& note, bool note_required) {
  RETURN_IF_ERROR(rpc::ValidateSerial("serial", serial));
  return ValidateNote(note_field, note, note_required);
}

}  // namespace

absl::StatusOr<v1::IssueCameraResponse> IssueInTransaction(WriteTx& tx, const rpc::Identity& who,
                                                           const IssueStep& step) {
  ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(tx.db(), step.serial));
  ASSIGN_OR_RETURN(storage::HolderRef holder, storage::FindHolderRef(tx.db(), step.holder_badge));
  ASSIGN_OR_RETURN(v1::CameraState to,
                   NextState(step.serial, cam.camera.state(), CameraAction::kIssue));
  absl::StatusOr<int64_t> id = storage::OpenAssignment(
      tx, {cam.id, holder.id, who.actor(), step.due_us, step.note, step.force_reason});
  if (absl::IsAlreadyExists(id.status())) {
    return absl::AbortedError(
        absl::StrCat("camera '", step.serial, "' was issued by another request; reload it"));
  }
  RETURN_IF_ERROR(id.status());
  RETURN_IF_ERROR(storage::UpdateCameraState(tx, cam.id, to, step.note));
  Details details = {{"from", storage::StateName(cam.camera.state())},
                     {"to", storage::StateName(to)},
                     {"holder", step.holder_badge},
                     {"assignment", absl::StrCat(*id)},
                     {"due_back", TimeUtil::ToString(TimeUtil::MicrosecondsToTimestamp(step.due_us))}};
  if (!step.note.empty()) details.emplace_back("note", step.note);
  if (!step.force_reason.empty()) details.emplace_back("force_reason", step.force_reason);
  details.insert(details.end(), step.extra_details.begin(), step.extra_details.end());
  RETURN_IF_ERROR(Audit(tx, who, "camera.issue", "camera", step.serial, details));
  // The response is built from what this write stored instead of read back (two statements
  // fewer on the writer): the assignment as OpenAssignment inserted it, the camera as
  // FindCamera would now return it.
  v1::IssueCameraResponse resp;
  const google::protobuf::Timestamp now = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(tx.now()));
  const google::protobuf::Timestamp due = TimeUtil::MicrosecondsToTimestamp(step.due_us);
  v1::Assignment& a = *resp.mutable_assignment();
  a.set_id(*id);
  a.set_camera_serial(cam.camera.serial());
  a.set_holder_badge(step.holder_badge);
  a.set_holder_name(holder.name);
  *a.mutable_issue_time() = now;
  a.set_issued_by(who.actor());
  *a.mutable_due_back_time() = due;
  a.set_issue_note(step.note);
  a.set_force_reason(step.force_reason);
  v1::Camera& c = *resp.mutable_camera();
  c = std::move(cam.camera);
  c.set_state(to);
  c.set_state_note(step.note);
  c.set_holder_badge(step.holder_badge);
  *c.mutable_due_back_time() = due;
  *c.mutable_update_time() = now;
  return resp;
}

absl::StatusOr<v1::ReturnCameraResponse> ReturnInTransaction(WriteTx& tx, const rpc::Identity& who,
                                                             const ReturnStep& step,
                                                             rpc::RevocationSet& revoked) {
  const CameraAction action = step.condition == v1::RETURN_CONDITION_DAMAGED
                                  ? CameraAction::kReturnDamaged
                                  : CameraAction::kReturnGood;
  v1::ReturnCameraResponse resp;
  std::optional<v1::Assignment> closed;
  ASSIGN_OR_RETURN(*resp.mutable_camera(), Transition(tx, who, step.serial, action, step.note,
                                                      step.extra_details, revoked, &closed));
  if (closed.has_value()) *resp.mutable_assignment() = std::move(*closed);
  return resp;
}

template <typename Resp, typename Fn>
void FleetManager::RunWrite(Fn fn, Done<Resp> done) {
  storage::WriteWithResponse<Resp>(store_, std::move(fn), std::move(done));
}

// ---------------------------------------------------------------------------------- sites

void FleetManager::CreateSite(const rpc::Identity& who, const v1::CreateSiteRequest& req,
                              Done<v1::CreateSiteResponse> done) {
  absl::Status valid = rpc::ValidateSiteCode("code", req.code());
  if (valid.ok()) valid = rpc::ValidateText("name", req.name(), 1, 128);
  if (valid.ok() && !req.parent_code().empty()) {
    valid = rpc::ValidateSiteCode("parent_code", req.parent_code());
  }
  if (!valid.ok()) return done(valid);
  RunWrite<v1::CreateSiteResponse>(
      [who, req](WriteTx& tx, v1::CreateSiteResponse& resp) -> absl::Status {
        std::optional<int64_t> parent_id;
        if (!req.parent_code().empty()) {
          ASSIGN_OR_RETURN(storage::SiteRow parent, storage::FindSite(tx.db(), req.parent_code()));
          parent_id = parent.id;
        }
        ASSIGN_OR_RETURN(storage::SiteRow site,
                         storage::InsertSite(tx, req.code(), req.name(), parent_id));
        RETURN_IF_ERROR(Audit(tx, who, "site.create", "site", req.code(),
                              {{"name", req.name()}, {"parent", req.parent_code()}}));
        *resp.mutable_site() = std::move(site.site);
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::GetSiteResponse> FleetManager::GetSite(const v1::GetSiteRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateSiteCode("code", req.code()));
  v1::GetSiteResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(db, req.code()));
    *resp.mutable_site() = std::move(site.site);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::ListSitesResponse> FleetManager::ListSites(const v1::ListSitesRequest& req) {
  if (!req.parent_code().empty()) {
    RETURN_IF_ERROR(rpc::ValidateSiteCode("parent_code", req.parent_code()));
  }
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query = absl::StrCat("sites|", req.parent_code());
  ASSIGN_OR_RETURN(std::string after, tokens_.Decode(query, req.page_token()));
  v1::ListSitesResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> root,
                     storage::FindSiteIdIfGiven(db, req.parent_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Site> sites, storage::ListSites(db, root, after, limit + 1));
    if (static_cast<int>(sites.size()) > limit) {
      sites.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, sites.back().code()));
    }
    for (v1::Site& s : sites) *resp.add_sites() = std::move(s);
    return absl::OkStatus();
  }));
  return resp;
}

// -------------------------------------------------------------------------------- holders

void FleetManager::CreateHolder(const rpc::Identity& who, const v1::CreateHolderRequest& req,
                                Done<v1::CreateHolderResponse> done) {
  absl::Status valid = rpc::ValidateBadge("badge", req.badge());
  if (valid.ok()) valid = rpc::ValidateText("name", req.name(), 1, 128);
  if (valid.ok()) valid = rpc::ValidateText("unit", req.unit(), 0, 128);
  if (valid.ok()) valid = rpc::ValidateSiteCode("home_site_code", req.home_site_code());
  if (!valid.ok()) return done(valid);
  RunWrite<v1::CreateHolderResponse>(
      [who, req](WriteTx& tx, v1::CreateHolderResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(tx.db(), req.home_site_code()));
        v1::Holder h;
        h.set_badge(req.badge());
        h.set_name(req.name());
        h.set_unit(req.unit());
        ASSIGN_OR_RETURN(storage::HolderRow row, storage::InsertHolder(tx, h, site.id));
        RETURN_IF_ERROR(Audit(tx, who, "holder.create", "holder", req.badge(),
                              {{"name", req.name()},
                               {"unit", req.unit()},
                               {"home_site", req.home_site_code()}}));
        *resp.mutable_holder() = std::move(row.holder);
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::GetHolderResponse> FleetManager::GetHolder(const v1::GetHolderRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateBadge("badge", req.badge()));
  v1::GetHolderResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::HolderRow h, storage::FindHolder(db, req.badge()));
    ASSIGN_OR_RETURN(std::vector<v1::Assignment> open,
                     storage::ListHolderOpenAssignments(db, h.id));
    *resp.mutable_holder() = std::move(h.holder);
    for (v1::Assignment& a : open) *resp.add_open_assignments() = std::move(a);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::ListHoldersResponse> FleetManager::ListHolders(
    const v1::ListHoldersRequest& req) {
  if (!req.site_code().empty()) RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query = absl::StrCat("holders|", req.site_code());
  ASSIGN_OR_RETURN(std::string after, tokens_.Decode(query, req.page_token()));
  v1::ListHoldersResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> site, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Holder> holders,
                     storage::ListHolders(db, site, after, limit + 1));
    if (static_cast<int>(holders.size()) > limit) {
      holders.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, holders.back().badge()));
    }
    for (v1::Holder& h : holders) *resp.add_holders() = std::move(h);
    return absl::OkStatus();
  }));
  return resp;
}

// -------------------------------------------------------------------------------- cameras

void FleetManager::RegisterCamera(const rpc::Identity& who, const v1::RegisterCameraRequest& req,
                                  Done<v1::RegisterCameraResponse> done) {
  absl::Status valid = rpc::ValidateSerial("serial", req.serial());
  if (valid.ok()) valid = firmware::ValidateModelName("model", req.model());
  if (valid.ok()) valid = rpc::ValidateText("hardware_revision", req.hardware_revision(), 0, 32);
  if (valid.ok()) valid = rpc::ValidateSiteCode("site_code", req.site_code());
  if (!valid.ok()) return done(valid);
  RunWrite<v1::RegisterCameraResponse>(
      [who, req](WriteTx& tx, v1::RegisterCameraResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(tx.db(), req.site_code()));
        v1::Camera c;
        c.set_serial(req.serial());
        c.set_model(req.model());
        c.set_hardware_revision(req.hardware_revision());
        c.set_state(v1::CAMERA_STATE_REGISTERED);
        ASSIGN_OR_RETURN(storage::CameraRow row, storage::InsertCamera(tx, c, site.id));
        RETURN_IF_ERROR(Audit(tx, who, "camera.register", "camera", req.serial(),
                              {{"model", req.model()},
                               {"hardware_revision", req.hardware_revision()},
                               {"site", req.site_code()}}));
        *resp.mutable_camera() = std::move(row.camera);
        return absl::OkStatus();
      },
      std::move(done));
}

FleetManager::FleetManager(storage::Store& store, const rpc::PageTokens& tokens,
                           rpc::RevocationSet& revoked, const ManifestImportOptions& imports)
    : store_(store), tokens_(tokens), revoked_(&revoked),
      importer_(std::make_unique<ManifestImporter>(store, imports)) {}

FleetManager::FleetManager(storage::Store& store, const rpc::PageTokens& tokens)
    : store_(store), tokens_(tokens), own_revoked_(std::make_unique<rpc::RevocationSet>()),
      revoked_(own_revoked_.get()), importer_(std::make_unique<ManifestImporter>(store)) {}

FleetManager::~FleetManager() = default;

namespace {

// Rows of a manifest that one write imports with an audit event per camera; a bigger one runs
// as an import job in chunks (manifest_import.h).
constexpr int64_t kSingleWriteManifestRows = 2000;

}  // namespace

void FleetManager::ImportManifest(const rpc::Identity& who, const v1::ImportManifestRequest& req,
                                  Done<v1::ImportManifestResponse> done) {
  absl::StatusOr<ParsedManifest> parsed = ParseManifest(req.csv());
  if (!parsed.ok()) return done(parsed.status());
  auto manifest = std::make_shared<ParsedManifest>(*std::move(parsed));
  if (manifest->row_count > kSingleWriteManifestRows) {
    auto shared_done = std::make_shared<Done<v1::ImportManifestResponse>>(std::move(done));
    absl::StatusOr<std::string> started = importer_->Start(
        who, manifest, provisioning::ToHex(provisioning::Sha256(req.csv())), req.partial(),
        req.dry_run(), [shared_done](absl::StatusOr<v1::ImportManifestResponse> result) {
          (*shared_done)(std::move(result));
        });
    if (!started.ok()) (*shared_done)(started.status());
    return;
  }
  RunWrite<v1::ImportManifestResponse>(
      [who, manifest, partial = req.partial(), dry_run = req.dry_run()](
          WriteTx& tx, v1::ImportManifestResponse& resp) -> absl::Status {
        ManifestCheck check;
        RETURN_IF_ERROR(CheckManifestRows(tx.db(), *manifest, 0, manifest->rows.size(), check));
        const bool any_bad = !manifest->bad_lines.empty() || !check.bad_lines.empty();
        std::vector<size_t> good = std::move(check.good);
        resp = SummarizeManifestCheck(*manifest, check);
        if (dry_run || (any_bad && !partial)) return absl::OkStatus();
        for (size_t i : good) {
          const ManifestRow* row = &manifest->rows[i];
          v1::Camera c;
          c.set_serial(row->serial);
          c.set_model(row->model);
          c.set_hardware_revision(row->hardware_revision);
          c.set_state(v1::CAMERA_STATE_REGISTERED);
          RETURN_IF_ERROR(storage::InsertCamera(tx, c, check.site_ids[row->site]).status());
          RETURN_IF_ERROR(Audit(tx, who, "camera.register", "camera", row->serial,
                                {{"model", row->model},
                                 {"hardware_revision", row->hardware_revision},
                                 {"site", row->site},
                                 {"manifest_line", absl::StrCat(row->line)}}));
        }
        resp.set_imported(static_cast<int64_t>(good.size()));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::StartManifestImport(const rpc::Identity& who,
                                       const v1::ImportManifestRequest& req,
                                       Done<v1::StartManifestImportResponse> done) {
  absl::StatusOr<ParsedManifest> parsed = ParseManifest(req.csv());
  if (!parsed.ok()) return done(parsed.status());
  auto manifest = std::make_shared<ParsedManifest>(*std::move(parsed));
  const int64_t rows = manifest->row_count;
  absl::StatusOr<std::string> id =
      importer_->Start(who, std::move(manifest), provisioning::ToHex(provisioning::Sha256(req.csv())),
                       req.partial(), req.dry_run());
  if (!id.ok()) return done(id.status());
  v1::StartManifestImportResponse resp;
  resp.set_import_id(*id);
  resp.set_rows(rows);
  done(std::move(resp));
}

absl::StatusOr<v1::GetManifestImportResponse> FleetManager::GetManifestImport(
    const v1::GetManifestImportRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateText("import_id", req.import_id(), 1, 64));
  return importer_->Get(req.import_id());
}

absl::StatusOr<v1::GetCameraResponse> FleetManager::GetCamera(const v1::GetCameraRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateSerial("serial", req.serial()));
  v1::GetCameraResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::CameraRow row, storage::FindCamera(db, req.serial()));
    ASSIGN_OR_RETURN(storage::CameraStatus status, storage::GetCameraStatus(db, row.id));
    if (status.health.has_value()) {
      v1::CameraHealth* health = row.camera.mutable_latest_health();
      health->set_cycle_count(status.health->cycle_count());
      health->set_firmware_version(status.health->firmware_version());
    }
    if (status.clock_skew_us.has_value()) {
      *row.camera.mutable_latest_health()->mutable_clock_skew() =
          TimeUtil::MicrosecondsToDuration(*status.clock_skew_us);
    }
    *resp.mutable_camera() = std::move(row.camera);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::ListCamerasResponse> FleetManager::ListCameras(
    const v1::ListCamerasRequest& req) {
  storage::CameraFilter filter;
  if (!v1::CameraState_IsValid(req.state())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state ", req.state(),
        " is not a camera state; use REGISTERED, AVAILABLE, ISSUED, LOST, FAULTY or RETIRED"));
  }
  filter.state = req.state();
  if (!req.site_code().empty()) RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  if (!req.holder_badge().empty()) {
    RETURN_IF_ERROR(rpc::ValidateBadge("holder_badge", req.holder_badge()));
  }
  // Free text, not ValidateModelName: a database from before that rule may hold models it
  // refuses, and they must still be listable.
  if (!req.model().empty()) RETURN_IF_ERROR(rpc::ValidateText("model", req.model(), 1, 64));
  filter.model = req.model();
  if (req.has_not_seen_since()) {
    ASSIGN_OR_RETURN(filter.not_seen_since_us,
                     rpc::TimestampMicros("not_seen_since", true, req.not_seen_since()));
  }
  if (req.battery_below() > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "battery_below is ", req.battery_below(), "; give 1-100, or 0 for no filter"));
  }
  if (req.battery_below() > 0) filter.battery_below = int64_t{req.battery_below()};
  ASSIGN_OR_RETURN(filter.limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query =
      absl::StrCat("cameras|", req.state(), "|", req.site_code(), "|", req.model(), "|",
                   req.holder_badge(), "|", filter.not_seen_since_us.value_or(-1), "|",
                   req.battery_below());
  ASSIGN_OR_RETURN(filter.after_serial, tokens_.Decode(query, req.page_token()));
  const int limit = filter.limit;
  filter.limit = limit + 1;
  v1::ListCamerasResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(filter.site_id, storage::FindSiteIdIfGiven(db, req.site_code()));
    if (!req.holder_badge().empty()) {
      ASSIGN_OR_RETURN(storage::HolderRow holder, storage::FindHolder(db, req.holder_badge()));
      filter.holder_id = holder.id;
    }
    ASSIGN_OR_RETURN(std::vector<v1::Camera> cameras, storage::ListCameras(db, filter));
    if (static_cast<int>(cameras.size()) > limit) {
      cameras.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, cameras.back().serial()));
    }
    for (v1::Camera& c : cameras) *resp.add_cameras() = std::move(c);
    return absl::OkStatus();
  }));
  return resp;
}

// ------------------------------------------------------------------------------ lifecycle

void FleetManager::CommissionCamera(const rpc::Identity& who,
                                    const v1::CommissionCameraRequest& req,
                                    Done<v1::CommissionCameraResponse> done) {
  absl::Status valid = ValidateSerialAndNote(req.serial(), "reason", req.reason(), true);
  if (valid.ok() && req.factory_certificate_pem().size() > 16 * 1024) {
    valid = absl::InvalidArgumentError(
        "factory_certificate_pem is larger than 16 KiB; give the camera's certificate alone");
  }
  if (!valid.ok()) return done(valid);
  RunWrite<v1::CommissionCameraResponse>(
      [who, req, revoked = revoked_](WriteTx& tx, v1::CommissionCameraResponse& resp)
          -> absl::Status {
        Details details = {{"vouched_by", who.actor()}};
        std::optional<storage::CertificateRow> imported;
        if (!req.factory_certificate_pem().empty()) {
          ASSIGN_OR_RETURN(imported, identity::ImportFactoryCertificate(
                                         tx, req.serial(), req.factory_certificate_pem(),
                                         who.actor()));
          details.emplace_back("factory_certificate", imported->certificate.serial());
        }
        ASSIGN_OR_RETURN(*resp.mutable_camera(),
                         Transition(tx, who, req.serial(), CameraAction::kCommission,
                                    req.reason(), details, *revoked));
        if (imported.has_value()) {
          ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(tx.db(), req.serial()));
          RETURN_IF_ERROR(storage::SetCameraCertificate(tx, cam.id, imported->id));
        }
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::IssueCamera(const rpc::Identity& who, const v1::IssueCameraRequest& req,
                               Done<v1::IssueCameraResponse> done) {
  absl::Status valid = rpc::ValidateSerial("serial", req.serial());
  if (valid.ok()) valid = rpc::ValidateBadge("holder_badge", req.holder_badge());
  if (valid.ok()) valid = ValidateNote("note", req.note(), false);
  absl::StatusOr<int64_t> due_us =
      rpc::TimestampMicros("due_back_time", req.has_due_back_time(), req.due_back_time());
  if (valid.ok()) valid = due_us.status();
  if (valid.ok() && *due_us <= common::ToMicros(store_.clock().Now())) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("due_back_time ", TimeUtil::ToString(req.due_back_time()),
                     " is not in the future; give the time the camera must be back"));
  }
  if (valid.ok() && req.force()) valid = ValidateNote("force_reason", req.force_reason(), true);
  if (valid.ok() && !req.force() && !req.force_reason().empty()) {
    valid = absl::InvalidArgumentError("force_reason is given without force; set force or drop it");
  }
  if (!valid.ok()) return done(valid);
  IssueStep step{req.serial(), req.holder_badge(), *due_us, req.note(),
                 req.force() ? req.force_reason() : std::string(), {}};
  RunWrite<v1::IssueCameraResponse>(
      [who, step = std::move(step)](WriteTx& tx, v1::IssueCameraResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(resp, IssueInTransaction(tx, who, step));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::ReturnCamera(const rpc::Identity& who, const v1::ReturnCameraRequest& req,
                                Done<v1::ReturnCameraResponse> done) {
  absl::Status valid = ValidateSerialAndNote(req.serial(), "note", req.note(), false);
  if (valid.ok() && req.condition() != v1::RETURN_CONDITION_GOOD &&
      req.condition() != v1::RETURN_CONDITION_DAMAGED) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "condition ", req.condition(), " is not allowed at return; use GOOD or DAMAGED"));
  }
  if (!valid.ok()) return done(valid);
  ReturnStep step{req.serial(), req.condition(), req.note(), {}};
  RunWrite<v1::ReturnCameraResponse>(
      [who, step = std::move(step), revoked = revoked_](
          WriteTx& tx, v1::ReturnCameraResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(resp, ReturnInTransaction(tx, who, step, *revoked));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::ReportCameraLost(const rpc::Identity& who,
                                    const v1::ReportCameraLostRequest& req,
                                    Done<v1::ReportCameraLostResponse> done) {
  if (absl::Status s = ValidateSerialAndNote(req.serial(), "note", req.note(), true); !s.ok()) {
    return done(s);
  }
  RunWrite<v1::ReportCameraLostResponse>(
      [who, req, revoked = revoked_](WriteTx& tx, v1::ReportCameraLostResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(*resp.mutable_camera(), Transition(tx, who, req.serial(),
                                                            CameraAction::kReportLost,
                                                            req.note(), {}, *revoked));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::ReportCameraFound(const rpc::Identity& who,
                                     const v1::ReportCameraFoundRequest& req,
                                     Done<v1::ReportCameraFoundResponse> done) {
  if (absl::Status s = ValidateSerialAndNote(req.serial(), "note", req.note(), true); !s.ok()) {
    return done(s);
  }
  RunWrite<v1::ReportCameraFoundResponse>(
      [who, req, revoked = revoked_](WriteTx& tx, v1::ReportCameraFoundResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(*resp.mutable_camera(), Transition(tx, who, req.serial(),
                                                            CameraAction::kReportFound,
                                                            req.note(), {}, *revoked));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::ReportCameraFaulty(const rpc::Identity& who,
                                      const v1::ReportCameraFaultyRequest& req,
                                      Done<v1::ReportCameraFaultyResponse> done) {
  if (absl::Status s = ValidateSerialAndNote(req.serial(), "note", req.note(), true); !s.ok()) {
    return done(s);
  }
  RunWrite<v1::ReportCameraFaultyResponse>(
      [who, req, revoked = revoked_](WriteTx& tx, v1::ReportCameraFaultyResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(*resp.mutable_camera(), Transition(tx, who, req.serial(),
                                                            CameraAction::kReportFaulty,
                                                            req.note(), {}, *revoked));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::RepairCamera(const rpc::Identity& who, const v1::RepairCameraRequest& req,
                                Done<v1::RepairCameraResponse> done) {
  if (absl::Status s = ValidateSerialAndNote(req.serial(), "note", req.note(), true); !s.ok()) {
    return done(s);
  }
  RunWrite<v1::RepairCameraResponse>(
      [who, req, revoked = revoked_](WriteTx& tx, v1::RepairCameraResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(*resp.mutable_camera(), Transition(tx, who, req.serial(),
                                                            CameraAction::kRepair, req.note(),
                                                            {}, *revoked));
        return absl::OkStatus();
      },
      std::move(done));
}

void FleetManager::RetireCamera(const rpc::Identity& who, const v1::RetireCameraRequest& req,
                                Done<v1::RetireCameraResponse> done) {
  if (absl::Status s = ValidateSerialAndNote(req.serial(), "reason", req.reason(), true); !s.ok()) {
    return done(s);
  }
  RunWrite<v1::RetireCameraResponse>(
      [who, req, revoked = revoked_](WriteTx& tx, v1::RetireCameraResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(*resp.mutable_camera(), Transition(tx, who, req.serial(),
                                                            CameraAction::kRetire, req.reason(),
                                                            {}, *revoked));
        return absl::OkStatus();
      },
      std::move(done));
}

// ---------------------------------------------------------------------------- assignments

absl::StatusOr<v1::ListOverdueAssignmentsResponse> FleetManager::ListOverdueAssignments(
    const v1::ListOverdueAssignmentsRequest& req) {
  if (!req.site_code().empty()) RETURN_IF_ERROR(rpc::ValidateSiteCode("site_code", req.site_code()));
  storage::OverdueFilter filter;
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  const std::string query = absl::StrCat("overdue|", req.site_code());
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  if (!cursor.empty()) {
    std::pair<std::string, std::string> parts = absl::StrSplit(cursor, ':');
    int64_t due = 0;
    int64_t id = 0;
    if (!absl::SimpleAtoi(parts.first, &due) || !absl::SimpleAtoi(parts.second, &id)) {
      return absl::InvalidArgumentError("page_token is malformed; start again without it");
    }
    filter.after = std::make_pair(due, id);
  }
  filter.now_us = common::ToMicros(store_.clock().Now());
  filter.limit = limit + 1;
  v1::ListOverdueAssignmentsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(filter.site_id, storage::FindSiteIdIfGiven(db, req.site_code()));
    ASSIGN_OR_RETURN(std::vector<v1::Assignment> rows, storage::ListOverdue(db, filter));
    if (static_cast<int>(rows.size()) > limit) {
      rows.pop_back();
      const v1::Assignment& last = rows.back();
      resp.set_next_page_token(tokens_.Encode(
          query, absl::StrCat(TimeUtil::TimestampToMicroseconds(last.due_back_time()), ":",
                              last.id())));
    }
    for (v1::Assignment& a : rows) *resp.add_assignments() = std::move(a);
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::GetCustodyTrailResponse> FleetManager::GetCustodyTrail(
    const v1::GetCustodyTrailRequest& req) {
  RETURN_IF_ERROR(rpc::ValidateSerial("serial", req.serial()));
  v1::GetCustodyTrailResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(db, req.serial()));
    ASSIGN_OR_RETURN(std::vector<v1::Assignment> trail,
                     storage::ListCameraAssignments(db, cam.id));
    *resp.mutable_camera() = std::move(cam.camera);
    for (v1::Assignment& a : trail) *resp.add_assignments() = std::move(a);
    return absl::OkStatus();
  }));
  return resp;
}

}  // namespace camfleet::fleet
