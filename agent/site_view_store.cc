#include "agent/site_view_store.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/migrations.h"
#include "common/clock.h"
#include "common/migration.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::agent {
namespace {

using google::protobuf::util::TimeUtil;

}  // namespace

absl::StatusOr<std::unique_ptr<SiteViewStore>> SiteViewStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(path));
  RETURN_IF_ERROR(common::Annotate(common::ApplyMigrations(*db, site_view_schema::Migrations()),
                                   absl::StrCat("site view ", path)));
  return std::unique_ptr<SiteViewStore>(new SiteViewStore(std::move(db), path));
}

absl::Status SiteViewStore::DiskAware(absl::Status status) const {
  if ((absl::IsUnavailable(status) || absl::IsResourceExhausted(status)) &&
      absl::StrContains(status.message(), sqlite3_errstr(SQLITE_FULL))) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the disk holding the site view ", path_,
                     " is full; the view held before is kept. Free space on that disk (",
                     status.message(), ")"));
  }
  return status;
}

absl::Status SiteViewStore::Replace(const v1::SiteView& view, absl::Time received_at) {
  if (view.site_code().empty()) {
    return absl::InvalidArgumentError("site view from the server has no site code");
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status s = db_->Exec("BEGIN IMMEDIATE"); !s.ok()) return DiskAware(std::move(s));
  absl::Status s = ReplaceLocked(view, received_at);
  if (s.ok()) s = db_->Exec("COMMIT");
  if (s.ok()) return s;
  s = DiskAware(std::move(s));
  db_->Exec("ROLLBACK").IgnoreError();
  return s;
}

absl::Status SiteViewStore::ReplaceLocked(const v1::SiteView& view, absl::Time received_at) {
  RETURN_IF_ERROR(db_->Exec("DELETE FROM site_holder; DELETE FROM site_camera;"));
  for (const v1::SiteHolder& h : view.holders()) {
    if (h.badge().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "site view from the server lists a holder without a badge (", h.name(), ")"));
    }
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("INSERT INTO site_holder (badge, name, holds_serial) "
                                  "VALUES (?1, ?2, ?3)"));
    s.Bind(1, absl::string_view(h.badge()))
        .Bind(2, absl::string_view(h.name()))
        .Bind(3, absl::string_view(h.holds_serial()));
    absl::Status st = s.Run();
    if (absl::IsAlreadyExists(st)) {
      return absl::InvalidArgumentError(
          absl::StrCat("site view from the server lists badge ", h.badge(), " twice"));
    }
    RETURN_IF_ERROR(st);
  }
  for (const v1::SiteCamera& c : view.cameras()) {
    if (c.serial().empty()) {
      return absl::InvalidArgumentError("site view from the server lists a camera without serial");
    }
    ASSIGN_OR_RETURN(common::Statement s,
                     db_->Prepare("INSERT INTO site_camera (serial, state, holder_badge, revoked) "
                                  "VALUES (?1, ?2, ?3, ?4)"));
    s.Bind(1, absl::string_view(c.serial()))
        .Bind(2, int64_t{c.state()})
        .Bind(3, absl::string_view(c.holder_badge()))
        .Bind(4, int64_t{c.revoked() ? 1 : 0});
    absl::Status st = s.Run();
    if (absl::IsAlreadyExists(st)) {
      return absl::InvalidArgumentError(
          absl::StrCat("site view from the server lists camera ", c.serial(), " twice"));
    }
    RETURN_IF_ERROR(st);
  }
  std::string blob;
  if (!view.SerializeToString(&blob)) return absl::InternalError("serializing the site view");
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("INSERT OR REPLACE INTO site_view (id, site_code, view_us, "
                                "received_us, view) VALUES (1, ?1, ?2, ?3, ?4)"));
  s.Bind(1, absl::string_view(view.site_code()))
      .BindOptional(
          2, view.has_view_time()
                 ? std::optional<int64_t>(TimeUtil::TimestampToMicroseconds(view.view_time()))
                 : std::nullopt)
      .Bind(3, common::ToMicros(received_at))
      .BindBlob(4, blob);
  return s.Run();
}

absl::StatusOr<std::optional<v1::SiteView>> SiteViewStore::View() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s, db_->Prepare("SELECT view FROM site_view WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::nullopt;
  v1::SiteView view;
  if (!view.ParseFromString(s.ColumnBlob(0))) {
    return absl::InternalError(
        absl::StrCat("site view ", path_, ": the stored view does not parse"));
  }
  return view;
}

absl::StatusOr<std::optional<absl::Time>> SiteViewStore::ReceivedAt() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT received_us FROM site_view WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::nullopt;
  return common::FromMicros(s.ColumnInt(0));
}

absl::StatusOr<v1::SiteHolder> SiteViewStore::FindHolder(absl::string_view badge) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT name, holds_serial FROM site_holder WHERE badge = ?1"));
  s.Bind(1, badge);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("badge ", badge, " is not in this dock's view of its site"));
  }
  v1::SiteHolder h;
  h.set_badge(std::string(badge));
  h.set_name(s.ColumnText(0));
  h.set_holds_serial(s.ColumnText(1));
  return h;
}

absl::StatusOr<v1::SiteCamera> SiteViewStore::FindCamera(absl::string_view serial) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      common::Statement s,
      db_->Prepare("SELECT state, holder_badge, revoked FROM site_camera WHERE serial = ?1"));
  s.Bind(1, serial);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("camera ", serial, " is not in this dock's view of its site"));
  }
  v1::SiteCamera c;
  c.set_serial(std::string(serial));
  const int64_t state = s.ColumnInt(0);
  // A state this binary does not know (a newer server) is kept as sent: proto3 enums are open.
  c.set_state(static_cast<v1::CameraState>(state));
  c.set_holder_badge(s.ColumnText(1));
  c.set_revoked(s.ColumnInt(2) != 0);
  return c;
}

absl::StatusOr<v1::CheckoutRules> SiteViewStore::Rules() {
  ASSIGN_OR_RETURN(std::optional<v1::SiteView> view, View());
  if (!view.has_value()) {
    return absl::FailedPreconditionError(
        "this dock has not received its site view yet: no check-out rules");
  }
  return view->rules();
}

absl::StatusOr<std::string> SiteViewStore::Generation() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT generation FROM sync_state WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError(absl::StrCat("site view ", path_, " has no sync state"));
  return s.ColumnText(0);
}

absl::Status SiteViewStore::SetGeneration(absl::string_view generation) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("UPDATE sync_state SET generation = ?1 WHERE id = 1"));
  s.Bind(1, generation);
  return DiskAware(s.Run());
}

absl::StatusOr<std::optional<StoredClockOffset>> SiteViewStore::Offset() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s,
                   db_->Prepare("SELECT clock_offset_us, offset_measured_us FROM sync_state "
                                "WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row || s.ColumnIsNull(0)) return std::nullopt;
  return StoredClockOffset{absl::Microseconds(s.ColumnInt(0)), common::FromMicros(s.ColumnInt(1))};
}

absl::Status SiteViewStore::SetOffset(const StoredClockOffset& offset) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(common::Statement s, db_->Prepare("UPDATE sync_state SET clock_offset_us = ?1, "
                                                     "offset_measured_us = ?2 WHERE id = 1"));
  s.Bind(1, absl::ToInt64Microseconds(offset.offset)).Bind(2, common::ToMicros(offset.measured_at));
  return DiskAware(s.Run());
}

}  // namespace camfleet::agent
