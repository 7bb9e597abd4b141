#pragma once
// SQL for sites, holders, cameras and assignments. Functions take the connection they run on:
// a reader's for queries, the writer's (through WriteTx) for changes. They check nothing about
// the lifecycle; services/fleet does, and the schema backs it (UNIQUE, CHECK, the partial
// index that allows one open assignment per camera).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/fleet.pb.h"
#include "common/sqlite.h"
#include "services/storage/store.h"

namespace camfleet::storage {

// ---- sites ----
struct SiteRow {
  int64_t id = 0;
  v1::Site site;
};
// Errors: ALREADY_EXISTS if the code is taken.
absl::StatusOr<SiteRow> InsertSite(WriteTx& tx, const std::string& code, const std::string& name,
                                   std::optional<int64_t> parent_id);
// NOT_FOUND naming the code.
absl::StatusOr<SiteRow> FindSite(common::Database& db, const std::string& code);
// The id of site `code`, or nullopt when `code` is empty (a filter that was not given).
// NOT_FOUND naming the code.
absl::StatusOr<std::optional<int64_t>> FindSiteIdIfGiven(common::Database& db,
                                                         const std::string& code);
// Sites under `root_id` at any depth (not including it), or all when unset; code > after.
absl::StatusOr<std::vector<v1::Site>> ListSites(common::Database& db,
                                                std::optional<int64_t> root_id,
                                                const std::string& after_code, int limit);

// ---- holders ----
struct HolderRow {
  int64_t id = 0;
  v1::Holder holder;
};
absl::StatusOr<HolderRow> InsertHolder(WriteTx& tx, const v1::Holder& holder,
                                       int64_t home_site_id);
// NOT_FOUND naming the badge.
absl::StatusOr<HolderRow> FindHolder(common::Database& db, const std::string& badge);
// What an issue needs of a holder (id and name), without the home site FindHolder joins.
// NOT_FOUND naming the badge.
struct HolderRef {
  int64_t id = 0;
  std::string name;
};
absl::StatusOr<HolderRef> FindHolderRef(common::Database& db, const std::string& badge);
// Holders whose home site is `site_id` or under it (all when unset), badge > after.
absl::StatusOr<std::vector<v1::Holder>> ListHolders(common::Database& db,
                                                    std::optional<int64_t> site_id,
                                                    const std::string& after_badge, int limit);

// ---- cameras ----
struct CameraRow {
  int64_t id = 0;
  int64_t site_id = 0;
  v1::Camera camera;  // with holder and due time of the open assignment
};
// Errors: ALREADY_EXISTS naming the serial.
absl::StatusOr<CameraRow> InsertCamera(WriteTx& tx, const v1::Camera& camera, int64_t site_id);
// NOT_FOUND naming the serial.
absl::StatusOr<CameraRow> FindCamera(common::Database& db, const std::string& serial);
// FindCamera together with the camera's open assignment, if any (as FindOpenAssignment gives
// it), in one statement: what a lifecycle write that may end custody reads.
struct CameraWithAssignment {
  CameraRow camera;
  std::optional<v1::Assignment> open;
};
absl::StatusOr<CameraWithAssignment> FindCameraWithOpenAssignment(common::Database& db,
                                                                  const std::string& serial);
// Which of `serials` already exist.
absl::StatusOr<std::vector<std::string>> ExistingSerials(common::Database& db,
                                                         const std::vector<std::string>& serials);
// Sets state and note; updated time is the transaction's.
absl::Status UpdateCameraState(WriteTx& tx, int64_t camera_id, v1::CameraState state,
                               const std::string& note);

struct CameraFilter {
  v1::CameraState state = v1::CAMERA_STATE_UNSPECIFIED;
  std::optional<int64_t> site_id;  // this site or under it
  std::string model;
  std::optional<int64_t> holder_id;
  std::optional<int64_t> not_seen_since_us;
  std::optional<int64_t> battery_below;  // newest reading's charge < this
  std::string after_serial;
  int limit = 100;
  // With not_seen_since_us or battery_below (and no holder or post): cameras walked in serial
  // order from the cursor before the list, having found less than a page there, seeks on the
  // filter's index instead (ListCameras says why). Tests make it small.
  int walk_window = 10'000;
};
absl::StatusOr<std::vector<v1::Camera>> ListCameras(common::Database& db,
                                                    const CameraFilter& filter);

// ---- assignments ----
struct OpenAssignmentParams {
  int64_t camera_id = 0;
  int64_t holder_id = 0;
  std::string issued_by;
  int64_t due_us = 0;
  std::string note;
  std::string force_reason;
};
// Errors: ALREADY_EXISTS if the camera has an open assignment (the schema refuses a second).
absl::StatusOr<int64_t> OpenAssignment(WriteTx& tx, const OpenAssignmentParams& params);
// The open assignment of a camera, if any.
absl::StatusOr<std::optional<v1::Assignment>> FindOpenAssignment(common::Database& db,
                                                                 int64_t camera_id);
absl::StatusOr<v1::Assignment> GetAssignment(common::Database& db, int64_t id);
// Closes the open assignment `id`. FAILED_PRECONDITION if it is not open.
absl::Status CloseAssignment(WriteTx& tx, int64_t id, const std::string& returned_by,
                             v1::ReturnCondition condition, const std::string& note);
// Every assignment of a camera, oldest first.
absl::StatusOr<std::vector<v1::Assignment>> ListCameraAssignments(common::Database& db,
                                                                  int64_t camera_id);
// Open assignments of one holder.
absl::StatusOr<std::vector<v1::Assignment>> ListHolderOpenAssignments(common::Database& db,
                                                                      int64_t holder_id);
// Open assignments due before `now_us`, most overdue first, after the (due, id) cursor.
struct OverdueFilter {
  int64_t now_us = 0;
  std::optional<int64_t> site_id;
  std::optional<std::pair<int64_t, int64_t>> after;  // (due_us, id)
  int limit = 100;
};
absl::StatusOr<std::vector<v1::Assignment>> ListOverdue(common::Database& db,
                                                        const OverdueFilter& filter);

// ---- settings ----
absl::StatusOr<std::optional<std::string>> GetSetting(common::Database& db, const std::string& key);
absl::Status PutSetting(common::Database& db, const std::string& key, const std::string& value);

// State names as stored in the database.
const char* StateName(v1::CameraState state);
const char* ConditionName(v1::ReturnCondition condition);

}  // namespace camfleet::storage
