#include "agent/firmware_installer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/outbox_item.h"
#include "common/status_macros.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"

namespace camfleet::agent {
namespace {

constexpr uint32_t kMinutesPerDay = 24 * 60;
// What is sent to the camera per call (CameraLink takes at most 1 MiB).
constexpr size_t kStageChunkBytes = 256 * 1024;

// A camera that does not answer now may answer at the next pass.
bool CameraAway(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsCancelled(s);
}

std::string JobName(const v1::FirmwareJob& job) {
  return absl::StrCat(job.serial(), " (rollout ", job.rollout_id(), ", attempt ", job.attempt(),
                      ")");
}

}  // namespace

absl::StatusOr<bool> InsideWindow(const v1::InstallWindow& window, absl::Time now) {
  if (window.start_minute() >= kMinutesPerDay || window.end_minute() >= kMinutesPerDay) {
    return absl::InvalidArgumentError(
        "install window: start_minute and end_minute are minutes after midnight, 0-1439");
  }
  absl::TimeZone zone = absl::UTCTimeZone();
  if (!window.time_zone().empty() && !absl::LoadTimeZone(window.time_zone(), &zone)) {
    return absl::InvalidArgumentError(absl::StrCat("install window: unknown time zone \"",
                                                   window.time_zone(), "\""));
  }
  if (window.start_minute() == window.end_minute()) return true;
  const absl::CivilSecond local = absl::ToCivilSecond(now, zone);
  const uint32_t minute = static_cast<uint32_t>(local.hour() * 60 + local.minute());
  if (window.start_minute() < window.end_minute()) {
    return minute >= window.start_minute() && minute < window.end_minute();
  }
  return minute >= window.start_minute() || minute < window.end_minute();
}

absl::StatusOr<bool> FirmwareInstaller::SetPlan(const v1::FirmwarePlan& plan) {
  return options_.outbox->SetFirmwarePlan(plan);
}

absl::Status FirmwareInstaller::Report(const v1::FirmwareJob& job,
                                       v1::FirmwareInstallState state, const std::string& error,
                                       const std::string& running_version) {
  v1::OutboxItem item;
  v1::FirmwareProgress* p = item.mutable_firmware();
  p->set_rollout_id(job.rollout_id());
  p->set_serial(job.serial());
  p->set_release_id(job.release_id());
  p->set_attempt(job.attempt());
  p->set_state(state);
  p->set_error(error.substr(0, 1000));
  p->set_running_version(running_version);
  std::optional<absl::Duration> server_minus_dock;
  if (options_.clock_offset != nullptr && options_.clock_offset->Latest().has_value()) {
    server_minus_dock = options_.clock_offset->Offset();
  }
  StampItem(item, options_.clock->Now(), server_minus_dock);
  ASSIGN_OR_RETURN(std::optional<AppendResult> appended,
                   options_.outbox->AppendFirmwareProgress(std::move(item)));
  if (appended.has_value() && options_.appended) options_.appended();
  return absl::OkStatus();
}

absl::StatusOr<InstallPass> FirmwareInstaller::RunOnce() {
  InstallPass pass;
  ASSIGN_OR_RETURN(std::optional<v1::FirmwarePlan> plan, options_.outbox->FirmwarePlan());
  if (!plan.has_value()) return pass;
  const std::set<std::string> withdrawn(plan->withdrawn_release_ids().begin(),
                                        plan->withdrawn_release_ids().end());
  std::map<std::string, const v1::PlannedRelease*> releases;
  for (const v1::PlannedRelease& r : plan->releases()) releases[r.release_id()] = &r;

  // The jobs still open, by release.
  std::map<std::string, std::vector<const v1::FirmwareJob*>> open;
  for (const v1::FirmwareJob& job : plan->jobs()) {
    ASSIGN_OR_RETURN(std::optional<v1::FirmwareInstallState> outcome,
                     options_.outbox->FirmwareOutcome(job.rollout_id(), job.serial(),
                                                      job.attempt()));
    if (outcome.has_value()) continue;
    if (withdrawn.contains(job.release_id())) {
      pass.waiting.push_back(absl::StrCat(JobName(job), ": release withdrawn; not installed"));
      continue;
    }
    if (!releases.contains(job.release_id())) {
      pass.waiting.push_back(absl::StrCat(JobName(job), ": the plan does not carry its release"));
      continue;
    }
    open[job.release_id()].push_back(&job);
  }

  // Each release verified with the dock's keys, and fetched once.
  std::map<std::string, CachedRelease> ready;
  for (const auto& [release_id, jobs] : open) {
    const v1::PlannedRelease& planned = *releases[release_id];
    absl::Status refused;
    absl::StatusOr<firmware::Manifest> verified =
        options_.cache->Verify(planned.manifest(), planned.signature());
    if (!verified.ok()) {
      refused = verified.status();
    } else if (ReleaseIdOf(planned.manifest()) != release_id) {
      refused = absl::InvalidArgumentError("the release id is not the SHA-256 of its manifest");
    }
    if (refused.ok()) {
      if (absl::StatusOr<CachedRelease> cached = options_.cache->Get(release_id); cached.ok()) {
        ready.emplace(release_id, *std::move(cached));
        continue;
      }
      if (options_.downloader == nullptr) {
        for (const v1::FirmwareJob* job : jobs) {
          pass.waiting.push_back(absl::StrCat(JobName(*job), ": release not cached, no link"));
        }
        continue;
      }
      for (const v1::FirmwareJob* job : jobs) {
        RETURN_IF_ERROR(Report(*job, v1::FIRMWARE_INSTALL_STATE_DOWNLOADING, "", ""));
      }
      absl::StatusOr<FetchResult> fetched = options_.downloader->Fetch(planned);
      if (fetched.ok()) {
        ++pass.fetched;
        ready.emplace(release_id, fetched->release);
        continue;
      }
      const absl::StatusCode code = fetched.status().code();
      if (code != absl::StatusCode::kInvalidArgument &&
          code != absl::StatusCode::kPermissionDenied &&
          code != absl::StatusCode::kUnauthenticated && code != absl::StatusCode::kDataLoss) {
        // The link, or the server's word (withdrawn, unknown): try again at the next pass.
        for (const v1::FirmwareJob* job : jobs) {
          pass.waiting.push_back(
              absl::StrCat(JobName(*job), ": download: ", fetched.status().message()));
        }
        continue;
      }
      refused = fetched.status();
    }
    for (const v1::FirmwareJob* job : jobs) {
      RETURN_IF_ERROR(Report(*job, v1::FIRMWARE_INSTALL_STATE_FAILED,
                             absl::StrCat("the dock refused the release: ", refused.message()),
                             ""));
      ++pass.failed;
    }
  }

  // Installs, camera by camera.
  std::map<std::string, int> slot_of;
  for (const SlotInfo& s : options_.board->Snapshot()) {
    if (s.occupied) slot_of[s.serial] = s.slot;
  }
  for (const auto& [release_id, jobs] : open) {
    auto it = ready.find(release_id);
    if (it == ready.end()) continue;
    for (const v1::FirmwareJob* job : jobs) {
      auto slot = slot_of.find(job->serial());
      if (slot == slot_of.end()) {
        pass.waiting.push_back(absl::StrCat(JobName(*job), ": not docked"));
        continue;
      }
      RETURN_IF_ERROR(InstallOne(*job, it->second, slot->second, pass));
    }
  }
  return pass;
}

absl::Status FirmwareInstaller::InstallOne(const v1::FirmwareJob& job,
                                           const CachedRelease& release, int slot,
                                           InstallPass& pass) {
  auto wait = [&](absl::string_view why) {
    pass.waiting.push_back(absl::StrCat(JobName(job), ": ", why));
    return absl::OkStatus();
  };
  const firmware::Manifest& m = release.manifest;
  const std::string version = firmware::FormatVersion(m.version);
  std::optional<SlotInfo> info = options_.board->Get(slot);
  if (!info.has_value() || !info->occupied || info->serial != job.serial()) {
    return wait("not docked");
  }
  if (options_.ledger != nullptr) {
    std::optional<v1::SiteView> view;
    if (options_.site_view != nullptr) {
      ASSIGN_OR_RETURN(view, options_.site_view->View());
    }
    const std::string holder =
        options_.ledger->HolderOf(job.serial(), view.has_value() ? &*view : nullptr);
    if (!holder.empty()) return wait(absl::StrCat("issued to ", holder));
  }
  if (info->released) return wait("released to an officer");
  if (!info->health.has_value()) return wait("no health reading yet");
  if (info->health->battery_percent < m.min_battery_percent) {
    return wait(absl::StrCat("battery ", info->health->battery_percent, "% below the ",
                             m.min_battery_percent, "% release ", version, " needs"));
  }
  if (job.has_window()) {
    absl::StatusOr<bool> inside = InsideWindow(job.window(), options_.clock->Now());
    if (!inside.ok()) return wait(inside.status().message());
    if (!*inside) return wait("outside the site's install window");
  }
  if (!options_.board->BeginUpdate(slot, job.serial())) {
    return wait("being checked out");
  }
  struct EndUpdate {
    SlotBoard* board;
    int slot;
    ~EndUpdate() { board->EndUpdate(slot); }
  } end_update{options_.board, slot};

  std::unique_ptr<CameraLink> link = options_.link_for_slot(slot);
  absl::StatusOr<CameraIdentity> id = link->Identify();
  if (!id.ok()) return wait(absl::StrCat("camera: ", id.status().message()));
  if (id->serial != job.serial()) return wait("another camera is in the slot");
  absl::StatusOr<CameraFirmwareStatus> status = link->GetFirmwareStatus();
  if (!status.ok()) return wait(absl::StrCat("camera: ", status.status().message()));
  // What an earlier pass (perhaps of an agent killed since) left.
  if (status->running_version == version) {
    ++pass.succeeded;
    return Report(job, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED, "", status->running_version);
  }
  ASSIGN_OR_RETURN(bool installing,
                   options_.outbox->FirmwareStepReported(job.rollout_id(), job.serial(),
                                                         job.attempt(),
                                                         v1::FIRMWARE_INSTALL_STATE_INSTALLING));
  if (installing && status->last_install_version == version &&
      status->last_install_result == InstallResult::kRolledBack) {
    ++pass.rolled_back;
    return Report(job, v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK, status->last_install_error,
                  status->running_version);
  }
  if (absl::Status s = firmware::CheckInstallable(m, id->model, status->running_version);
      !s.ok()) {
    ++pass.failed;
    return Report(job, v1::FIRMWARE_INSTALL_STATE_FAILED,
                  absl::StrCat("the dock refused to install: ", s.message()),
                  status->running_version);
  }
  RETURN_IF_ERROR(Report(job, v1::FIRMWARE_INSTALL_STATE_INSTALLING, "", status->running_version));

  auto camera_failed = [&](const absl::Status& s, absl::string_view step) {
    if (CameraAway(s) || absl::IsFailedPrecondition(s)) {
      // Pulled, rebooting, out of step, or too little battery to boot: the next pass resumes.
      return wait(absl::StrCat(step, ": ", s.message()));
    }
    ++pass.failed;
    return Report(job, v1::FIRMWARE_INSTALL_STATE_FAILED, absl::StrCat(step, ": ", s.message()),
                  status->running_version);
  };
  absl::StatusOr<uint64_t> offset = link->BeginFirmwareStage(release.manifest_bytes,
                                                             release.signature);
  if (!offset.ok()) return camera_failed(offset.status(), "the camera refused the release");
  const int fd = ::open(release.image_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return wait(absl::StrCat("cannot read ", release.image_path, ": ", std::strerror(errno)));
  }
  std::string chunk;
  for (uint64_t at = *offset; at < m.image_size;) {
    chunk.resize(static_cast<size_t>(std::min<uint64_t>(kStageChunkBytes, m.image_size - at)));
    const ssize_t n = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(at));
    if (n <= 0) {
      ::close(fd);
      return wait(absl::StrCat("cannot read ", release.image_path));
    }
    chunk.resize(static_cast<size_t>(n));
    if (absl::Status s = link->WriteFirmwareChunk(at, chunk); !s.ok()) {
      ::close(fd);
      return camera_failed(s, "writing the image to the camera");
    }
    at += static_cast<uint64_t>(n);
  }
  ::close(fd);
  absl::StatusOr<CameraFirmwareStatus> after = link->ActivateFirmware();
  if (!after.ok()) return camera_failed(after.status(), "booting the new image");
  if (after->last_install_result == InstallResult::kConfirmed &&
      after->running_version == version) {
    ++pass.succeeded;
    return Report(job, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED, "", after->running_version);
  }
  ++pass.rolled_back;
  return Report(job, v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK,
                after->last_install_error.empty() ? "the camera did not confirm the new image"
                                                  : after->last_install_error,
                after->running_version);
}

}  // namespace camfleet::agent
