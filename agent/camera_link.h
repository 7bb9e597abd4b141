#pragma once
// The one narrow interface between the dock agent and the camera in a slot (DESIGN.md, "Dock
// agent"). On real hardware it is USB; here camfleet-camsim serves it over a unix socket per
// slot (GrpcCameraLink): identity, certificates, health, the clock, and firmware (stage into the
// inactive slot, activate; the camera confirms or rolls back by itself and reports it).
//
// The camera holds its own private key: the agent asks it for a CSR and hands it the certificate,
// and never sees the key.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace camfleet::agent {

// What a camera says it is.
struct CameraIdentity {
  std::string serial;
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  // The certificate it holds, PEM; empty if it has none.
  std::string certificate_pem;
  // The camera's own clock.
  absl::Time device_time;
};

// One health reading, as the camera took it. The fields are those of camfleet.v1.HealthReading
// (proto/camfleet/v1/dock_sync.proto) but the two the dock adds (serial, slot).
struct HealthSnapshot {
  // The camera's own clock when it took the reading.
  absl::Time device_time;
  // The camera's reading sequence: never repeats for a camera, also across reboots; may skip.
  uint64_t sequence = 0;
  // State of charge, 0-100.
  uint32_t battery_percent = 0;
  // Full charge now, and what the cell was designed for; their ratio is the state of health.
  uint32_t full_charge_capacity_mah = 0;
  uint32_t design_capacity_mah = 0;
  uint32_t cycle_count = 0;
  int32_t temperature_decicelsius = 0;
  uint32_t voltage_mv = 0;
  bool charging = false;
  uint64_t storage_used_bytes = 0;
  uint64_t storage_total_bytes = 0;
  // The version it runs, and what each firmware slot holds (empty: nothing).
  std::string firmware_version;
  std::string slot_a_version;
  std::string slot_b_version;
  // Error counters by name, e.g. "link_drops", "power_loss_resets".
  std::map<std::string, uint64_t> error_counters;
  // Time since the camera booted.
  absl::Duration uptime;
};

// Where a camera stands with firmware (camera_link.proto, FirmwareStatus).
enum class InstallResult { kNone, kConfirmed, kRolledBack };
struct CameraFirmwareStatus {
  std::string running_version;
  char active_slot = 'A';
  std::string slot_a_version;
  std::string slot_b_version;
  std::string staged_version;
  uint64_t staged_bytes = 0;
  uint64_t staged_size = 0;
  std::string last_install_version;
  InstallResult last_install_result = InstallResult::kNone;
  std::string last_install_error;
  uint64_t install_sequence = 0;
};

// One camera in one slot. Calls are blocking and bounded by a deadline the implementation
// chooses. Errors from every method: UNAVAILABLE when no camera answers (empty slot, camera
// rebooting, cable pulled), DEADLINE_EXCEEDED when it answers too slowly, INTERNAL for a camera
// that failed to do it.
class CameraLink {
 public:
  virtual ~CameraLink() = default;

  virtual absl::StatusOr<CameraIdentity> Identify() = 0;

  // Returns a CSR, PEM, subject CN = the serial, for the camera's pending key, which the camera
  // makes first if it has none. The camera keeps using its current key until
  // InstallCertificate. Until a certificate for the pending key is installed, every call
  // returns the same CSR (also after a reboot or a move to another dock), so an enrollment
  // whose answer was lost is finished by asking again (camera_link.proto, CreateCsr).
  virtual absl::StatusOr<std::string> CreateCsr() = 0;

  // As CreateCsr, but always makes a new pending key, discarding a pending one. Rare: for a
  // pending key the server refuses for good.
  virtual absl::StatusOr<std::string> CreateFreshCsr() = 0;

  // For a renewal: the camera's signature with its CURRENT key over `csr_pem`, which must be
  // the CSR of its pending key (camera_link.proto, ProveCurrentKey; provisioning/possession.h).
  // The server renews a camera only with it, so a dock cannot renew a camera it does not hold.
  // FAILED_PRECONDITION without a current or pending key; INVALID_ARGUMENT for another CSR.
  virtual absl::StatusOr<std::string> ProveCurrentKey(const std::string& csr_pem) = 0;

  // Gives the camera a certificate for its pending (or current) key and the fleet CA; the camera
  // checks both and stores them. INVALID_ARGUMENT or FAILED_PRECONDITION, with the camera's
  // reason, if it refuses.
  virtual absl::Status InstallCertificate(const std::string& certificate_pem,
                                          const std::string& ca_certificate_pem) = 0;

  // Takes a health reading; each uses up one number of the camera's reading sequence.
  virtual absl::StatusOr<HealthSnapshot> ReadHealth() = 0;

  // Sets the camera's clock to `now`. INVALID_ARGUMENT for a time the camera cannot hold.
  virtual absl::Status SetClock(absl::Time now) = 0;

  // Firmware (camera_link.proto has the details and errors). Not every link has it: the
  // defaults answer UNIMPLEMENTED.
  //
  // The camera checks the release (its own trusted keys, model, anti-rollback) and answers the
  // offset to send the image from (non-zero when resuming the same release).
  virtual absl::StatusOr<uint64_t> BeginFirmwareStage(const std::string& manifest,
                                                      const std::string& signature) {
    (void)manifest;
    (void)signature;
    return absl::UnimplementedError("this camera link has no firmware support");
  }
  // Writes the next bytes (at most 1 MiB) of the staged image at `offset`.
  virtual absl::Status WriteFirmwareChunk(uint64_t offset, const std::string& data) {
    (void)offset;
    (void)data;
    return absl::UnimplementedError("this camera link has no firmware support");
  }
  // Boots the staged image; the camera self-checks and confirms, or falls back. The outcome is
  // in the returned status (last_install_result).
  virtual absl::StatusOr<CameraFirmwareStatus> ActivateFirmware() {
    return absl::UnimplementedError("this camera link has no firmware support");
  }
  virtual absl::StatusOr<CameraFirmwareStatus> GetFirmwareStatus() {
    return absl::UnimplementedError("this camera link has no firmware support");
  }
};

}  // namespace camfleet::agent
