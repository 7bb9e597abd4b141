// CameraSimulator's firmware slots: staging into the inactive slot, activation with self-check
// and confirm, fallback. See camera_simulator.h.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "agent/sim/camera_simulator.h"
#include "common/status_macros.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"
#include "provisioning/firmware_signing.h"

namespace camfleet::camsim {
namespace {

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// SHA-256 (hex) of a file's first `size` bytes; empty if it cannot be read.
std::string FileSha256(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  provisioning::Sha256Stream sha;
  std::string buffer(1 << 20, '\0');
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sha.Update(absl::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return provisioning::ToHex(sha.Finish());
}

// Messages go into the one-line state file.
std::string OneLine(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"\n", " "}, {"\r", " "}});
}

}  // namespace

std::string CameraSimulator::SlotPath(char slot) const {
  return provisioning::JoinPath(options_.state_dir, slot == 'B' ? "slot-B.img" : "slot-A.img");
}

absl::Status CameraSimulator::CheckPowered() const {
  if (powered_down_) return absl::UnavailableError("the camera has no power");
  return absl::OkStatus();
}

void CameraSimulator::RecoverFirmware() {
  if (trial_slot_ == 0) return;
  // The bootloader found a trial that never confirmed: power was lost mid-boot.
  install_result_ = "rolled_back";
  install_error_ =
      absl::StrCat("power was lost before ", install_version_, " confirmed; back on slot ",
                   std::string(1, active_slot_), " running ", RunningFirmware());
  ++install_sequence_;
  ++error_counters_["firmware_rollbacks"];
  trial_slot_ = 0;
}

FirmwareStatus CameraSimulator::FirmwareStatusLocked() const {
  FirmwareStatus s;
  s.running_version = RunningFirmware();
  s.active_slot = active_slot_;
  s.slot_a_version = slot_a_version_;
  s.slot_b_version = slot_b_version_;
  if (!stage_manifest_.empty()) {
    absl::StatusOr<firmware::Manifest> m = firmware::ParseManifest(stage_manifest_);
    if (m.ok()) {
      s.staged_version = firmware::FormatVersion(m->version);
      s.staged_size = m->image_size;
      s.staged_bytes = std::min(FileSize(SlotPath(InactiveSlot())), m->image_size);
    }
  }
  s.last_install_version = install_version_;
  s.last_install_result = install_result_;
  s.last_install_error = install_error_;
  s.install_sequence = install_sequence_;
  const std::string& sha = active_slot_ == 'B' ? slot_b_sha_ : slot_a_sha_;
  s.active_image_ok = sha.empty() || FileSha256(SlotPath(active_slot_)) == sha;
  return s;
}

FirmwareStatus CameraSimulator::GetFirmwareStatus() {
  absl::MutexLock lock(&mu_);
  return FirmwareStatusLocked();
}

absl::StatusOr<uint64_t> CameraSimulator::BeginFirmwareStage(const std::string& manifest_bytes,
                                                             const std::string& signature) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckPowered());
  firmware::Trust trust;
  for (const std::string& pem : options_.firmware_keys_pem) {
    RETURN_IF_ERROR(common::Annotate(trust.Add(pem), "the camera's trusted firmware keys"));
  }
  for (const std::string& id : options_.retired_firmware_key_ids) (void)trust.Retire(id);
  absl::StatusOr<firmware::Manifest> manifest = trust.Verify(manifest_bytes, signature);
  if (!manifest.ok()) {
    // A signature that does not verify is a bad release, not an unauthenticated dock.
    if (manifest.status().code() == absl::StatusCode::kUnauthenticated) {
      return absl::InvalidArgumentError(manifest.status().message());
    }
    return manifest.status();
  }
  RETURN_IF_ERROR(firmware::CheckInstallable(*manifest, options_.model, RunningFirmware()));
  const std::string path = SlotPath(InactiveSlot());
  if (manifest_bytes == stage_manifest_) {
    // The same release again (a link drop, a reboot, another dock): go on where it stopped.
    return std::min(FileSize(path), manifest->image_size);
  }
  // The inactive slot no longer holds what it held: say so before touching its bytes.
  (InactiveSlot() == 'A' ? slot_a_version_ : slot_b_version_).clear();
  (InactiveSlot() == 'A' ? slot_a_sha_ : slot_b_sha_).clear();
  stage_manifest_ = manifest_bytes;
  stage_signature_ = signature;
  RETURN_IF_ERROR(SaveState());
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("flash: ", std::strerror(errno)));
  ::fsync(fd);
  ::close(fd);
  return 0;
}

absl::Status CameraSimulator::WriteFirmwareChunk(uint64_t offset, absl::string_view data) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckPowered());
  if (stage_manifest_.empty()) {
    return absl::FailedPreconditionError("nothing is being staged; call BeginFirmwareStage first");
  }
  ASSIGN_OR_RETURN(firmware::Manifest m, firmware::ParseManifest(stage_manifest_));
  const std::string path = SlotPath(InactiveSlot());
  const uint64_t have = std::min(FileSize(path), m.image_size);
  if (offset != have) {
    return absl::FailedPreconditionError(absl::StrCat("offset ", offset, ": the staged image has ",
                                                      have, " bytes; resume from ", have));
  }
  if (offset + data.size() > m.image_size) {
    return absl::InvalidArgumentError(absl::StrCat("the image would go past its signed size of ",
                                                   m.image_size, " bytes; refused"));
  }
  if (flash_write_failures_ > 0) {
    --flash_write_failures_;
    ++error_counters_["flash_write_errors"];
    (void)SaveState();
    return absl::InternalError(absl::StrCat("flash write error at offset ", offset));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("flash: ", std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("flash write: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fdatasync(fd) == 0;
  ::close(fd);
  if (!synced) return absl::InternalError("flash write: sync failed");
  return absl::OkStatus();
}

absl::StatusOr<FirmwareStatus> CameraSimulator::ActivateFirmware() {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckPowered());
  if (stage_manifest_.empty()) {
    return absl::FailedPreconditionError("nothing is staged; stage a release first");
  }
  ASSIGN_OR_RETURN(firmware::Manifest m, firmware::ParseManifest(stage_manifest_));
  const char slot = InactiveSlot();
  const std::string path = SlotPath(slot);
  const uint64_t have = FileSize(path);
  if (have < m.image_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the staged image has ", have, " of ", m.image_size, " bytes; finish staging first"));
  }
  const std::string version = firmware::FormatVersion(m.version);
  // A camera that dies mid-boot falls back safely, but one that cannot finish booting on what
  // is left in its battery would only waste the install: the bootloader refuses to start it.
  CatchUp();
  const double percent = battery_.state().state_of_charge * 100;
  if (percent < m.min_battery_percent) {
    return absl::FailedPreconditionError(
        absl::StrFormat("battery at %.0f%%; release %s needs at least %d%% to install", percent,
                        version, m.min_battery_percent));
  }
  if (absl::Status s = firmware::CheckImageDigest(m, have, FileSha256(path)); !s.ok()) {
    stage_manifest_.clear();
    stage_signature_.clear();
    RETURN_IF_ERROR(SaveState());
    return absl::InvalidArgumentError(absl::StrCat("the staged image of ", version,
                                                   " is refused: ", s.message(),
                                                   "; staging was cleared, stage it again"));
  }
  // Recorded before the boot, so a power cut during it falls back at the next start.
  trial_slot_ = slot;
  install_version_ = version;
  RETURN_IF_ERROR(SaveState());
  if (cut_power_next_boot_) {
    cut_power_next_boot_ = false;
    powered_down_ = true;
    return absl::UnavailableError("the camera lost power while booting the new image");
  }
  trial_slot_ = 0;
  stage_manifest_.clear();
  stage_signature_.clear();
  ++install_sequence_;
  if (fail_next_boot_) {
    fail_next_boot_ = false;
    install_result_ = "rolled_back";
    install_error_ =
        OneLine(absl::StrCat(version, " did not boot (self-check failed); back on slot ",
                             std::string(1, active_slot_), " running ", RunningFirmware()));
    ++error_counters_["firmware_rollbacks"];
    RETURN_IF_ERROR(SaveState());
    return FirmwareStatusLocked();
  }
  // Booted and checked itself: confirm, making the slot active.
  (slot == 'A' ? slot_a_version_ : slot_b_version_) = version;
  (slot == 'A' ? slot_a_sha_ : slot_b_sha_) = m.image_sha256;
  active_slot_ = slot;
  install_result_ = "confirmed";
  install_error_.clear();
  boot_time_ = Now();
  RETURN_IF_ERROR(SaveState());
  return FirmwareStatusLocked();
}

void CameraSimulator::FailFlashWrites(int writes) {
  absl::MutexLock lock(&mu_);
  flash_write_failures_ += std::max(0, writes);
}

void CameraSimulator::FailNextBoot() {
  absl::MutexLock lock(&mu_);
  fail_next_boot_ = true;
}

void CameraSimulator::CutPowerDuringNextBoot() {
  absl::MutexLock lock(&mu_);
  cut_power_next_boot_ = true;
}

}  // namespace camfleet::camsim
