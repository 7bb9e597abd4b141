#pragma once
// A body-worn camera as the dock sees it, for running the agent without hardware. It behaves as
// the real device does where the agent can tell: it makes its own key pair and never gives the
// key out, checks a certificate before taking it, has a battery that charges in the dock,
// drains on patrol and wears out (battery_model.h), and keeps everything on disk so that a
// restart (a reboot, a battery swap) keeps its identity, its wear and its counters.
//
// Time is the Clock's: the battery is integrated up to the clock's present whenever the camera
// is asked anything, in bounded steps, so a test that moves a FakeClock months ahead sees months
// of charging or draining. Time the simulator process was not running counts too (the state
// file says when the battery was last integrated and whether the camera was in a slot).
//
// State directory (mode 0700):
//   DIR/camera.state      key=value lines: identity, firmware slots, clock offset, reading
//                         sequence, in a slot or not, battery, storage, error counters.
//                         Replaced whole by rename(2) and fsynced, so it is old or new after a
//                         crash, never torn.
//   DIR/key.pem, cert.pem, ca.pem   its key (0600), certificate and fleet CA: a credential bundle
//                         (provisioning/credential_bundle.h), so key and certificate change
//                         together even if the camera loses power mid-install
//   DIR/pending-key.pem   a key made by CreateCsr and not yet certified (0600)
//   DIR/pending-csr.pem   its CSR, handed out again until the key is certified
//   DIR/slot-A.img, slot-B.img   the firmware slots' images (camera_firmware.cc). A slot holds
//                         no file while it runs the factory image.
//
// Firmware (camera_firmware.cc): a release is staged into the inactive slot only after the
// camera checked its signature with its own trusted keys (options), that it is for this model,
// and that it is newer than what runs unless signed as an allowed downgrade. Activation checks
// the staged image's SHA-256, records the slot as on trial, boots it, self-checks and confirms
// (the slot becomes active); a failed self-check, or power lost before confirming (seen at the
// next start), falls back to the old slot and reports a rollback. The active slot is never
// written, so a power cut or a pulled camera at any point leaves a bootable image.
//
// Faults: a worn battery (a given state of health), a clock skewed by an offset (SetClock
// corrects it), a link that loses the answers of the next calls. In or out of a slot is
// SetInSlot; CameraUnit (camera_unit.h) pairs it with serving the slot's socket.
//
// Thread-safe; calls are served one at a time, as by the camera's single CPU.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/sim/battery_model.h"
#include "common/clock.h"
#include "provisioning/key.h"

namespace camfleet::camsim {

struct CameraSimulatorOptions {
  std::string state_dir;
  // Burned in at the factory: on a restart they must match what the state directory holds.
  std::string serial;
  std::string model;
  std::string hardware_revision = "A";
  // The running firmware; taken from the state directory when it holds one.
  std::string firmware_version = "1.0.0";
  // Real time when null. Not owned.
  const common::Clock* clock = nullptr;
  // Fault: the camera's clock runs this far ahead (negative: behind), replacing the offset the
  // state holds. Unset: the stored offset (zero for a new camera) stays.
  std::optional<absl::Duration> clock_skew;
  // Fault, for a new state only: the battery starts worn to this fraction (0.05-1) of its design
  // capacity. Later, SetBatteryHealth.
  std::optional<double> battery_health;
  // The cell and where the camera lives; not stored (the same camera may move somewhere hot).
  BatteryParams battery;
  // Whether a new camera starts in a slot; a stored state keeps its own.
  bool in_slot = true;
  uint64_t storage_total_bytes = uint64_t{64} << 30;
  // Public keys (Ed25519 PEM) the camera trusts to sign firmware: burned in, like the serial.
  std::vector<std::string> firmware_keys_pem;
  // Key ids among those that are retired: releases they sign are refused.
  std::vector<std::string> retired_firmware_key_ids;
};

// Where the camera stands with firmware: what each slot holds, what is staged, and the result
// of the last activation.
struct FirmwareStatus {
  std::string running_version;
  char active_slot = 'A';
  std::string slot_a_version;
  std::string slot_b_version;
  // The release being staged into the inactive slot ("" if none) and how far it got.
  std::string staged_version;
  uint64_t staged_bytes = 0;
  uint64_t staged_size = 0;
  // The last activation: the version tried, "confirmed" or "rolled_back", and why it rolled back.
  std::string last_install_version;
  std::string last_install_result;
  std::string last_install_error;
  // Counts activations with an outcome, so a dock can tell a new result from an old one.
  uint64_t install_sequence = 0;
  // The active slot's image matches what was confirmed (always true for the factory image).
  bool active_image_ok = true;
};

struct CameraIdentity {
  std::string serial;
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  std::string certificate_pem;  // empty without one
  absl::Time device_time;
};

// camera_link.h's HealthSnapshot, as the camera takes it.
struct HealthReading {
  absl::Time device_time;
  uint64_t sequence = 0;
  uint32_t battery_percent = 0;
  uint32_t full_charge_capacity_mah = 0;
  uint32_t design_capacity_mah = 0;
  uint32_t cycle_count = 0;
  int32_t temperature_decicelsius = 0;
  uint32_t voltage_mv = 0;
  bool charging = false;
  uint64_t storage_used_bytes = 0;
  uint64_t storage_total_bytes = 0;
  std::string firmware_version;
  std::string slot_a_version;
  std::string slot_b_version;
  std::map<std::string, uint64_t> error_counters;
  absl::Duration uptime;
};

// For the simulator's operator (control socket, tests); uses up no sequence number.
struct CameraStatus {
  bool in_slot = false;
  BatteryState battery;
  double state_of_health = 1;
  uint32_t cycle_count = 0;
};

class CameraSimulator {
 public:
  // Opens (creating if new) the state directory.
  // Errors: INVALID_ARGUMENT for a malformed serial or an empty model; FAILED_PRECONDITION if the
  // directory holds another camera (serial or model differ) or is damaged; I/O errors naming the
  // path.
  static absl::StatusOr<std::unique_ptr<CameraSimulator>> Open(CameraSimulatorOptions options);

  CameraIdentity Identify() const;

  // Signs `csr_pem`, which must be the pending key's CSR, with the current key: the proof of
  // possession a renewal needs (provisioning/possession.h). FAILED_PRECONDITION without a
  // current or pending key; INVALID_ARGUMENT for any other CSR (the camera signs nothing else).
  absl::StatusOr<std::string> ProveCurrentKey(const std::string& csr_pem);

  // Returns the CSR (CN = serial) of the pending key, making key and CSR first if none is pending
  // or `fresh` (which discards a pending one). Both are on disk before the CSR is returned, and
  // the same CSR comes back until a certificate for the pending key is installed.
  // INTERNAL if the key cannot be made or stored.
  absl::StatusOr<std::string> CreateCsr(bool fresh = false);

  // Checks `cert_pem` (parses; a camera certificate for this serial; for the pending or current
  // key; chains to `ca_pem` at the camera's time; `ca_pem` is the root pinned at the first
  // enrollment, PERMISSION_DENIED otherwise) and stores it with its key and the CA, making
  // a pending key current. Returns the certificate's serial (hex).
  // Errors: INVALID_ARGUMENT saying which check failed; FAILED_PRECONDITION if the camera has no
  // key at all; I/O errors (the previous certificate stays then).
  absl::StatusOr<std::string> InstallCertificate(const std::string& cert_pem,
                                                 const std::string& ca_pem);

  // Takes a reading with the next sequence number, which is on disk before it is returned.
  // INTERNAL if the state cannot be written (the number is used up all the same).
  absl::StatusOr<HealthReading> ReadHealth();

  // Sets the camera's clock: the offset to the Clock is stored and kept across restarts.
  // Returns the device time just before. INTERNAL if the state cannot be written.
  absl::StatusOr<absl::Time> SetClock(absl::Time now);

  // Puts the camera in a slot (charging, answering) or takes it out (recording on battery).
  // The battery is integrated up to now in the old place first. A camera that ran flat while
  // out boots again when put in (uptime restarts; counter "power_loss_resets").
  // INTERNAL if the state cannot be written.
  absl::Status SetInSlot(bool in_slot);
  bool InSlot() const;

  // Fault: the battery's full-charge capacity becomes `fraction` of design (see
  // BatteryModel::SetStateOfHealth). INVALID_ARGUMENT outside 0.05-1.
  absl::Status SetBatteryHealth(double fraction);
  // Fault: the clock jumps to `skew` from true time.
  absl::Status SkewClock(absl::Duration skew);
  // Fault: the answers to the next `calls` calls over the link are lost after the camera did the
  // work (counter "link_drops").
  void DropLinkAnswers(int calls);
  // For the link server, after doing a call's work: true if this answer is to be lost.
  bool TakeLinkDrop();

  CameraStatus Status();

  // Firmware (see the header comment). Errors common to these: UNAVAILABLE after a simulated
  // power cut (reopen the camera), INTERNAL for flash errors.
  //
  // Checks the release and starts staging it into the inactive slot, or, for the release being
  // staged already, returns how many bytes are on flash so the dock resumes from there.
  // INVALID_ARGUMENT (malformed manifest, bad signature), PERMISSION_DENIED (untrusted or retired
  // key), FAILED_PRECONDITION (another model, not newer and no allowed downgrade).
  absl::StatusOr<uint64_t> BeginFirmwareStage(const std::string& manifest,
                                              const std::string& signature);
  // Writes `data` at `offset` of the staged image. FAILED_PRECONDITION if nothing is staged or
  // `offset` is not where the staged bytes end (the message gives it); INVALID_ARGUMENT past the
  // signed size; INTERNAL on a (simulated) flash write error.
  absl::Status WriteFirmwareChunk(uint64_t offset, absl::string_view data);
  // Verifies the staged image, boots it, self-checks and confirms, or falls back. Returns the
  // status after (last_install_result says which). FAILED_PRECONDITION if the staged image is
  // incomplete; INVALID_ARGUMENT if it does not match its signed SHA-256 (staging is cleared).
  absl::StatusOr<FirmwareStatus> ActivateFirmware();
  FirmwareStatus GetFirmwareStatus();
  // Faults: the next `writes` chunk writes fail; the next activated image does not boot; power
  // is lost during the next boot, after the trial slot is recorded and before confirming.
  void FailFlashWrites(int writes);
  void FailNextBoot();
  void CutPowerDuringNextBoot();

  // The camera's clock (skew included).
  absl::Time DeviceNow() const;

 private:
  explicit CameraSimulator(CameraSimulatorOptions options)
      : options_(std::move(options)), battery_(options_.battery) {}
  absl::Status Load();
  absl::Time Now() const;
  absl::Time DeviceNowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Integrates the battery and storage from battery_time_ to the clock's present.
  void CatchUp() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SaveState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string RunningFirmware() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SlotPath(char slot) const;
  char InactiveSlot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return active_slot_ == 'A' ? 'B' : 'A';
  }
  absl::Status CheckPowered() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FirmwareStatus FirmwareStatusLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // At start: a trial slot that never confirmed falls back to the active one.
  void RecoverFirmware() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CameraSimulatorOptions options_;
  common::RealClock real_clock_;
  mutable absl::Mutex mu_;
  std::optional<provisioning::PrivateKey> key_ ABSL_GUARDED_BY(mu_);
  std::optional<provisioning::PrivateKey> pending_key_ ABSL_GUARDED_BY(mu_);
  std::string pending_csr_pem_ ABSL_GUARDED_BY(mu_);
  std::string cert_pem_ ABSL_GUARDED_BY(mu_);
  // The fleet root pinned at the first enrollment (the bundle's ca.pem); empty before it.
  std::string pinned_ca_pem_ ABSL_GUARDED_BY(mu_);
  std::string slot_a_version_ ABSL_GUARDED_BY(mu_);
  std::string slot_b_version_ ABSL_GUARDED_BY(mu_);
  char active_slot_ ABSL_GUARDED_BY(mu_) = 'A';
  absl::Duration clock_offset_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  uint64_t health_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_slot_ ABSL_GUARDED_BY(mu_) = true;
  BatteryModel battery_ ABSL_GUARDED_BY(mu_);
  // The clock time the battery and storage are integrated up to.
  absl::Time battery_time_ ABSL_GUARDED_BY(mu_);
  double storage_used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> error_counters_ ABSL_GUARDED_BY(mu_);
  // Clock time of the last boot: this process starting, or a flat camera put back in a slot.
  absl::Time boot_time_ ABSL_GUARDED_BY(mu_);
  // Ran flat while out of a slot; off until put back.
  bool powered_off_ ABSL_GUARDED_BY(mu_) = false;
  int link_drops_pending_ ABSL_GUARDED_BY(mu_) = 0;
  // Firmware (kept in the state file).
  std::string slot_a_sha_ ABSL_GUARDED_BY(mu_);
  std::string slot_b_sha_ ABSL_GUARDED_BY(mu_);
  std::string stage_manifest_ ABSL_GUARDED_BY(mu_);
  std::string stage_signature_ ABSL_GUARDED_BY(mu_);
  char trial_slot_ ABSL_GUARDED_BY(mu_) = 0;
  std::string install_version_ ABSL_GUARDED_BY(mu_);
  std::string install_result_ ABSL_GUARDED_BY(mu_);
  std::string install_error_ ABSL_GUARDED_BY(mu_);
  uint64_t install_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Firmware faults (not kept).
  int flash_write_failures_ ABSL_GUARDED_BY(mu_) = 0;
  bool fail_next_boot_ ABSL_GUARDED_BY(mu_) = false;
  bool cut_power_next_boot_ ABSL_GUARDED_BY(mu_) = false;
  bool powered_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace camfleet::camsim
