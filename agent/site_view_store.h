#pragma once
// What the dock knows about its site when the link is down: the last SiteView the control plane
// sent (holders and their badges, cameras with state, holder and revocation, check-out rules),
// the server's database generation last seen and the last measured offset of the dock's clock
// to the server's. Kept durably, so a dock restarted with the link down still knows who may
// check out.
//
// Its own SQLite file (DIR/site_view.db; schema in agent/migrations/site_view/), not the
// outbox's: the site view is a cache the server resends on every connect, while the outbox holds
// the only copy of what the dock saw. Apart, a damaged or deleted site view never costs the
// outbox its epoch or items, a large view being replaced never holds the write lock an Append is
// waiting for, and the outbox's byte bounds count only the outbox.
//
// Thread-safe: one connection behind a mutex.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/sqlite.h"

namespace camfleet::agent {

// The dock's clock minus the server's, and when that was measured (dock clock).
struct StoredClockOffset {
  absl::Duration offset;
  absl::Time measured_at;
};

class SiteViewStore {
 public:
  // Opens or creates the store at `path` and applies its migrations.
  // Errors: FAILED_PRECONDITION for a database newer than this binary; DATA_LOSS for a file that
  // is not a database; UNAVAILABLE/INTERNAL from SQLite, with the path.
  static absl::StatusOr<std::unique_ptr<SiteViewStore>> Open(const std::string& path);
  SiteViewStore(const SiteViewStore&) = delete;
  SiteViewStore& operator=(const SiteViewStore&) = delete;

  // Replaces the whole view with `view`, in one transaction (a crash leaves the old view or the
  // new one, never a mix). `received_at` is the dock's clock.
  // Errors: INVALID_ARGUMENT for a view without a site code, a holder without a badge, a camera
  // without a serial, or a badge or serial listed twice (the old view stays);
  // UNAVAILABLE/RESOURCE_EXHAUSTED (disk full) from SQLite.
  absl::Status Replace(const v1::SiteView& view, absl::Time received_at);

  // The view last stored; nullopt before the first one.
  absl::StatusOr<std::optional<v1::SiteView>> View();
  // When the view was received (dock clock); nullopt before the first one.
  absl::StatusOr<std::optional<absl::Time>> ReceivedAt();

  // NOT_FOUND if the badge is not in the view (or there is no view yet): the dock refuses the
  // check-out.
  absl::StatusOr<v1::SiteHolder> FindHolder(absl::string_view badge);
  // NOT_FOUND if the serial is not in the view (or there is no view yet): the dock raises
  // DOCK_ALERT_KIND_UNKNOWN_CAMERA.
  absl::StatusOr<v1::SiteCamera> FindCamera(absl::string_view serial);
  // FAILED_PRECONDITION before the first view: there are no rules to check out by.
  absl::StatusOr<v1::CheckoutRules> Rules();

  // The server's database generation from the last welcome; empty before the first.
  absl::StatusOr<std::string> Generation();
  // Errors: UNAVAILABLE/RESOURCE_EXHAUSTED from SQLite.
  absl::Status SetGeneration(absl::string_view generation);

  // nullopt until first measured.
  absl::StatusOr<std::optional<StoredClockOffset>> Offset();
  absl::Status SetOffset(const StoredClockOffset& offset);

 private:
  SiteViewStore(std::unique_ptr<common::Database> db, std::string path)
      : path_(std::move(path)), db_(std::move(db)) {}
  absl::Status ReplaceLocked(const v1::SiteView& view, absl::Time received_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status DiskAware(absl::Status status) const;

  const std::string path_;
  absl::Mutex mu_;
  std::unique_ptr<common::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::agent
