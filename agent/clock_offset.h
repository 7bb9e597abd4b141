#pragma once
// How far the dock's clock is from the server's, measured from the times the server puts in its
// answers (EnrollDock, RenewDockCertificate, EnrollCamera, RenewCameraCertificate; later the
// sync stream's ServerTime), and kept in the dock's directory so a restart, or a pass without a
// call that carries the time, still corrects by it.
//
// Why: certificates start at the server's time minus provisioning::kClockSkewAllowance. A dock
// whose clock is further behind than that would find every new certificate "not yet valid" and
// throw it away (and ask again every pass). Checked at server time, it keeps them.
//
// One measurement: the dock reads its clock just before the call (`sent`) and just after the
// answer (`received`); the server read its clock somewhere in between, assumed the midpoint, so
// the error is at most half the round trip. The newest measurement wins.
//
// Thread-safe: the certificate keeper and the sync stream feed and read the same one.

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace camfleet::agent {

struct ClockOffsetSample {
  // Server time minus the dock's time: positive when the dock's clock is slow.
  absl::Duration offset;
  absl::Duration round_trip;
  // When it was measured, by the dock's own clock.
  absl::Time measured_at;
};

class ClockOffset {
 public:
  // Offsets that differ by less than this from the stored one are not written again: the sync
  // stream's time every few seconds must not mean an fsync every few seconds.
  static constexpr absl::Duration kPersistStep = absl::Seconds(1);

  // Kept in `path` (DockPaths::ClockOffset()); empty `path`: memory only.
  explicit ClockOffset(std::string path) : path_(std::move(path)) {}

  // Reads the stored offset, if the file exists (none is not an error: zero until measured).
  // INVALID_ARGUMENT if the file is damaged (the offset stays unmeasured; the next measurement
  // rewrites it); I/O errors naming the path.
  absl::Status Load();

  // Takes one measurement. INVALID_ARGUMENT (and nothing changes) if `received` is before
  // `sent`: the dock's clock was set back during the call. Otherwise the offset is in force at
  // once; the error returned, if any, is from storing it (INTERNAL/PERMISSION_DENIED naming the
  // path), and it is stored again by the next measurement.
  absl::Status Record(absl::Time sent, absl::Time received, absl::Time server_time);

  // The newest measurement, if any (stored or made since).
  std::optional<ClockOffsetSample> Latest() const;

  // Zero until measured.
  absl::Duration Offset() const;
  // `local` (a time read from the dock's clock) as server time.
  absl::Time ToServerTime(absl::Time local) const { return local + Offset(); }

 private:
  absl::Status Store(const ClockOffsetSample& sample) const;

  const std::string path_;
  mutable absl::Mutex mu_;
  std::optional<ClockOffsetSample> latest_ ABSL_GUARDED_BY(mu_);
  // What the file holds, so Record writes only when that moved by kPersistStep or more.
  std::optional<absl::Duration> stored_ ABSL_GUARDED_BY(mu_);
};

// "dock clock is 7m12s slow against the server", "camera clock is 2h fast against the server",
// "dock clock is in step with the server" (within half a second), to the nearest second.
// `whose` is "dock", "camera", ... `offset` is server time minus that clock's time.
std::string DescribeClockOffset(absl::string_view whose, absl::Duration offset);

}  // namespace camfleet::agent
