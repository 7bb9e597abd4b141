#include "agent/sim/camera_simulator.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/identity.h"
#include "provisioning/possession.h"
#include "provisioning/supplier_certificate.h"

namespace camfleet::camsim {
namespace {

using provisioning::JoinPath;

constexpr char kStateFile[] = "camera.state";
constexpr char kPendingKeyFile[] = "pending-key.pem";
constexpr char kPendingCsrFile[] = "pending-csr.pem";
constexpr size_t kMaxStateBytes = 64 * 1024;
constexpr char kCounterPrefix[] = "counter.";
// 1080p video at about 6 Mbit/s fills this much an hour of recording.
constexpr double kRecordingBytesPerHour = 2.7e9;
// The dock offloads evidence at about 40 MB/s while the camera sits in it.
constexpr double kOffloadBytesPerHour = 144e9;

using StateMap = std::map<std::string, std::string>;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Puts `path` in place of `final_path` with rename(2) and makes it durable.
absl::Status RenameDurably(const std::string& dir, const std::string& path,
                           const std::string& final_path) {
  if (::rename(path.c_str(), final_path.c_str()) != 0) return ErrnoError("replacing", final_path);
  return provisioning::SyncDirectory(dir);
}

absl::Status WriteState(const std::string& dir, const StateMap& state) {
  std::string text;
  for (const auto& [key, value] : state) absl::StrAppend(&text, key, "=", value, "\n");
  const std::string path = JoinPath(dir, kStateFile);
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // a crashed write's leftover
  RETURN_IF_ERROR(provisioning::WriteNewFile(tmp, text, 0644));
  return RenameDurably(dir, tmp, path);
}

absl::StatusOr<StateMap> ReadState(const std::string& dir) {
  const std::string path = JoinPath(dir, kStateFile);
  ASSIGN_OR_RETURN(provisioning::FileContents file,
                   provisioning::ReadSmallFile(path, kMaxStateBytes));
  StateMap state;
  for (absl::string_view line : absl::StrSplit(file.data, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.first.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is damaged: '", line, "'"));
    }
    state[kv.first] = kv.second;
  }
  return state;
}

std::string FormatDouble(double v) { return absl::StrFormat("%.17g", v); }

// Reads number `key` from `state`, or `fallback` if absent (a state written before it existed).
template <typename T>
absl::Status ParseField(const StateMap& state, const std::string& key, T fallback, T* out) {
  auto it = state.find(key);
  if (it == state.end()) {
    *out = fallback;
    return absl::OkStatus();
  }
  bool ok = false;
  if constexpr (std::is_same_v<T, double>) {
    ok = absl::SimpleAtod(it->second, out) && std::isfinite(*out);
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = absl::SimpleAtob(it->second, out);
  } else {
    ok = absl::SimpleAtoi(it->second, out);
  }
  if (!ok) {
    return absl::FailedPreconditionError(
        absl::StrCat(kStateFile, " is damaged: ", key, "='", it->second, "'"));
  }
  return absl::OkStatus();
}

// Writes the pending key and its CSR. Each file is complete or absent after a crash; a crash
// between the two renames leaves the new key with the old CSR, which Load notices (the CSR is
// not for the key) and mends by making the key's CSR again.
absl::Status WritePending(const std::string& dir, const provisioning::PrivateKey& key,
                          const std::string& csr_pem) {
  const std::string key_path = JoinPath(dir, kPendingKeyFile);
  const std::string csr_path = JoinPath(dir, kPendingCsrFile);
  ::unlink((key_path + ".tmp").c_str());  // a crashed write's leftovers
  ::unlink((csr_path + ".tmp").c_str());
  RETURN_IF_ERROR(key.WriteFile(key_path + ".tmp"));
  RETURN_IF_ERROR(provisioning::WriteNewFile(csr_path + ".tmp", csr_pem, 0644));
  if (::rename((key_path + ".tmp").c_str(), key_path.c_str()) != 0) {
    return ErrnoError("replacing", key_path);
  }
  return RenameDurably(dir, csr_path + ".tmp", csr_path);
}

absl::StatusOr<std::string> MakeCsrPem(const provisioning::PrivateKey& key,
                                       const std::string& serial) {
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, serial));
  return csr.ToPem();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CameraSimulator>> CameraSimulator::Open(
    CameraSimulatorOptions options) {
  RETURN_IF_ERROR(common::Annotate(provisioning::ValidateIdentity(options.serial), "serial"));
  if (options.model.empty()) return absl::InvalidArgumentError("model: give the camera's model");
  const std::string& dir = options.state_dir;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("creating", dir);
  }
  std::unique_ptr<CameraSimulator> camera(new CameraSimulator(std::move(options)));
  RETURN_IF_ERROR(camera->Load());
  return camera;
}

absl::Status CameraSimulator::Load() {
  const std::string& dir = options_.state_dir;
  absl::MutexLock lock(&mu_);
  const absl::Time now = Now();
  boot_time_ = now;
  if (provisioning::PathExists(JoinPath(dir, kStateFile))) {
    ASSIGN_OR_RETURN(StateMap state, ReadState(dir));
    if (state["serial"] != options_.serial || state["model"] != options_.model) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds camera ", state["serial"], " (", state["model"], "), not ", options_.serial,
          " (", options_.model, "); a camera's serial and model do not change"));
    }
    // A state from before the firmware slots existed ran its one version from slot A.
    slot_a_version_ = state.count("slot_a") != 0 ? state["slot_a"] : state["firmware_version"];
    slot_b_version_ = state["slot_b"];
    active_slot_ = state["active_slot"] == "B" ? 'B' : 'A';
    slot_a_sha_ = state["slot_a_sha"];
    slot_b_sha_ = state["slot_b_sha"];
    // A damaged value parses to a manifest that no longer verifies, and staging starts over.
    stage_manifest_ = absl::HexStringToBytes(state["stage_manifest"]);
    stage_signature_ = absl::HexStringToBytes(state["stage_signature"]);
    trial_slot_ = state["trial_slot"] == "A" ? 'A' : state["trial_slot"] == "B" ? 'B' : 0;
    install_version_ = state["install_version"];
    install_result_ = state["install_result"];
    install_error_ = state["install_error"];
    RETURN_IF_ERROR(ParseField<uint64_t>(state, "install_sequence", 0, &install_sequence_));
    int64_t offset_us = 0;
    int64_t battery_time_us = 0;
    BatteryState b;
    RETURN_IF_ERROR(ParseField<int64_t>(state, "clock_offset_us", 0, &offset_us));
    RETURN_IF_ERROR(ParseField<uint64_t>(state, "health_sequence", 0, &health_sequence_));
    RETURN_IF_ERROR(ParseField<bool>(state, "in_slot", true, &in_slot_));
    RETURN_IF_ERROR(
        ParseField<int64_t>(state, "battery_time_us", common::ToMicros(now), &battery_time_us));
    RETURN_IF_ERROR(ParseField<double>(state, "battery.state_of_charge", 1.0, &b.state_of_charge));
    RETURN_IF_ERROR(ParseField<double>(state, "battery.equivalent_full_cycles", 0.0,
                                       &b.equivalent_full_cycles));
    RETURN_IF_ERROR(ParseField<double>(state, "battery.cycle_stress", 0.0, &b.cycle_stress));
    RETURN_IF_ERROR(
        ParseField<double>(state, "battery.calendar_stress_days", 0.0, &b.calendar_stress_days));
    RETURN_IF_ERROR(ParseField<double>(state, "battery.temperature_celsius",
                                       options_.battery.ambient_celsius, &b.temperature_celsius));
    RETURN_IF_ERROR(ParseField<bool>(state, "battery.charge_complete", true, &b.charge_complete));
    RETURN_IF_ERROR(ParseField<double>(state, "storage_used_bytes", 0.0, &storage_used_bytes_));
    for (const auto& [key, value] : state) {
      if (!absl::StartsWith(key, kCounterPrefix)) continue;
      uint64_t count = 0;
      RETURN_IF_ERROR(ParseField<uint64_t>(state, key, 0, &count));
      error_counters_[key.substr(sizeof(kCounterPrefix) - 1)] = count;
    }
    clock_offset_ = absl::Microseconds(offset_us);
    battery_ = BatteryModel(options_.battery, b);
    battery_time_ = common::FromMicros(battery_time_us);
  } else {
    slot_a_version_ = options_.firmware_version;
    in_slot_ = options_.in_slot;
    battery_time_ = now;
    if (options_.battery_health.has_value()) {
      if (!(*options_.battery_health >= 0.05 && *options_.battery_health <= 1)) {
        return absl::InvalidArgumentError("battery_health: give a fraction of design, 0.05-1");
      }
      battery_.SetStateOfHealth(*options_.battery_health);
    }
  }
  if (options_.clock_skew.has_value()) clock_offset_ = *options_.clock_skew;
  // The time the simulator was not running passed for the camera too.
  CatchUp();
  RecoverFirmware();
  RETURN_IF_ERROR(SaveState());

  if (provisioning::PathExists(JoinPath(dir, provisioning::kBundleCurrentLink))) {
    ASSIGN_OR_RETURN(provisioning::CredentialBundle bundle,
                     provisioning::LoadCredentialBundle(dir));
    ASSIGN_OR_RETURN(provisioning::PrivateKey key,
                     provisioning::PrivateKey::FromPem(bundle.key_pem));
    key_ = std::move(key);
    cert_pem_ = std::move(bundle.cert_pem);
    // The CA of the first fleet enrollment, kept in every later bundle: the camera's pinned
    // root. A factory bundle (the supplier's certificate, no camfleet:// URI) pins nothing: the
    // fleet root is pinned when the first fleet certificate is installed.
    if (provisioning::ParseCertificate(cert_pem_).ok()) pinned_ca_pem_ = std::move(bundle.ca_pem);
  }
  const std::string pending_key_path = JoinPath(dir, kPendingKeyFile);
  const std::string pending_csr_path = JoinPath(dir, kPendingCsrFile);
  if (!provisioning::PathExists(pending_key_path)) {
    // A CSR alone is what a crash in InstallCertificate's clean-up leaves.
    ::unlink(pending_csr_path.c_str());
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(provisioning::PrivateKey key,
                   provisioning::PrivateKey::ReadFile(pending_key_path));
  ASSIGN_OR_RETURN(std::string fingerprint, key.PublicKeyFingerprint());
  if (key_.has_value() && key_->PublicKeyFingerprint().value_or("") == fingerprint) {
    // InstallCertificate made it current and crashed before removing the pending copy: it is
    // certified, so it is not pending.
    ::unlink(pending_key_path.c_str());
    ::unlink(pending_csr_path.c_str());
    return provisioning::SyncDirectory(dir);
  }
  std::string csr_pem;
  if (provisioning::PathExists(pending_csr_path)) {
    ASSIGN_OR_RETURN(provisioning::FileContents file,
                     provisioning::ReadSmallFile(pending_csr_path, kMaxStateBytes));
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::FromPem(file.data);
    if (csr.ok() && csr->PublicKeyFingerprint().value_or("") == fingerprint) {
      csr_pem = std::move(file.data);
    }
  }
  if (csr_pem.empty()) {
    // No CSR (a state from before CSRs were kept) or one for an older key (a crash between
    // WritePending's renames): this key's CSR is made again and kept.
    ASSIGN_OR_RETURN(csr_pem, MakeCsrPem(key, options_.serial));
    RETURN_IF_ERROR(WritePending(dir, key, csr_pem));
  }
  pending_key_ = std::move(key);
  pending_csr_pem_ = std::move(csr_pem);
  return absl::OkStatus();
}

absl::Time CameraSimulator::Now() const {
  const common::Clock& clock = options_.clock != nullptr ? *options_.clock : real_clock_;
  return clock.Now();
}

absl::Time CameraSimulator::DeviceNowLocked() const { return Now() + clock_offset_; }

void CameraSimulator::CatchUp() {
  const absl::Time now = Now();
  // A clock set back (a test rewinding its FakeClock) does not undo what happened.
  if (now <= battery_time_) return;
  const bool in_slot = in_slot_;
  const absl::Duration elapsed = now - battery_time_;
  const absl::Duration powered = battery_.Advance(elapsed, in_slot);
  const double total = static_cast<double>(options_.storage_total_bytes);
  if (in_slot) {
    storage_used_bytes_ =
        std::max(0.0, storage_used_bytes_ - kOffloadBytesPerHour * absl::ToDoubleHours(elapsed));
  } else {
    storage_used_bytes_ = std::min(
        total, storage_used_bytes_ + kRecordingBytesPerHour * absl::ToDoubleHours(powered));
    if (battery_.Empty()) powered_off_ = true;
  }
  battery_time_ = now;
}

absl::Status CameraSimulator::SaveState() {
  const BatteryState& b = battery_.state();
  StateMap state = {
      {"serial", options_.serial},
      {"model", options_.model},
      {"hardware_revision", options_.hardware_revision},
      {"firmware_version", RunningFirmware()},
      {"slot_a", slot_a_version_},
      {"slot_b", slot_b_version_},
      {"active_slot", std::string(1, active_slot_)},
      {"slot_a_sha", slot_a_sha_},
      {"slot_b_sha", slot_b_sha_},
      {"stage_manifest", absl::BytesToHexString(stage_manifest_)},
      {"stage_signature", absl::BytesToHexString(stage_signature_)},
      {"trial_slot", trial_slot_ == 0 ? "" : std::string(1, trial_slot_)},
      {"install_version", install_version_},
      {"install_result", install_result_},
      {"install_error", install_error_},
      {"install_sequence", absl::StrCat(install_sequence_)},
      {"clock_offset_us", absl::StrCat(absl::ToInt64Microseconds(clock_offset_))},
      {"health_sequence", absl::StrCat(health_sequence_)},
      {"in_slot", in_slot_ ? "true" : "false"},
      {"battery_time_us", absl::StrCat(common::ToMicros(battery_time_))},
      {"battery.state_of_charge", FormatDouble(b.state_of_charge)},
      {"battery.equivalent_full_cycles", FormatDouble(b.equivalent_full_cycles)},
      {"battery.cycle_stress", FormatDouble(b.cycle_stress)},
      {"battery.calendar_stress_days", FormatDouble(b.calendar_stress_days)},
      {"battery.temperature_celsius", FormatDouble(b.temperature_celsius)},
      {"battery.charge_complete", b.charge_complete ? "true" : "false"},
      {"storage_used_bytes", FormatDouble(storage_used_bytes_)},
  };
  for (const auto& [name, count] : error_counters_) {
    state[absl::StrCat(kCounterPrefix, name)] = absl::StrCat(count);
  }
  return WriteState(options_.state_dir, state);
}

std::string CameraSimulator::RunningFirmware() const {
  return active_slot_ == 'B' ? slot_b_version_ : slot_a_version_;
}

absl::Time CameraSimulator::DeviceNow() const {
  absl::MutexLock lock(&mu_);
  return DeviceNowLocked();
}

CameraIdentity CameraSimulator::Identify() const {
  absl::MutexLock lock(&mu_);
  return CameraIdentity{options_.serial,   options_.model, options_.hardware_revision,
                        RunningFirmware(), cert_pem_,      DeviceNowLocked()};
}

absl::StatusOr<std::string> CameraSimulator::CreateCsr(bool fresh) {
  absl::MutexLock lock(&mu_);
  // The same CSR again: the dock may have lost the answer, or the server's certificate for it.
  if (!fresh && pending_key_.has_value()) return pending_csr_pem_;
  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(std::string csr_pem, MakeCsrPem(key, options_.serial));
  // Durable before the CSR leaves: a certificate may come back after a reboot.
  RETURN_IF_ERROR(WritePending(options_.state_dir, key, csr_pem));
  pending_key_ = std::move(key);
  pending_csr_pem_ = csr_pem;
  return csr_pem;
}

absl::StatusOr<std::string> CameraSimulator::ProveCurrentKey(const std::string& csr_pem) {
  absl::MutexLock lock(&mu_);
  if (!key_.has_value()) {
    return absl::FailedPreconditionError(
        "the camera has no current key to prove (never enrolled): it enrolls instead");
  }
  if (!pending_key_.has_value()) {
    return absl::FailedPreconditionError("the camera has no pending key; call CreateCsr first");
  }
  if (csr_pem != pending_csr_pem_) {
    return absl::InvalidArgumentError(
        "csr_pem is not the CSR of this camera's pending key; the camera vouches only for its "
        "own keys");
  }
  return provisioning::SignRenewalProof(*key_, csr_pem);
}

absl::StatusOr<HealthReading> CameraSimulator::ReadHealth() {
  absl::MutexLock lock(&mu_);
  CatchUp();
  // Used up even if the write fails: a number may be skipped, never repeated.
  const uint64_t sequence = ++health_sequence_;
  RETURN_IF_ERROR(common::Annotate(SaveState(), "keeping the reading sequence"));
  HealthReading h;
  h.device_time = DeviceNowLocked();
  h.sequence = sequence;
  const BatteryState& b = battery_.state();
  h.battery_percent = static_cast<uint32_t>(std::lround(b.state_of_charge * 100));
  h.full_charge_capacity_mah = static_cast<uint32_t>(std::lround(battery_.FullChargeCapacityMah()));
  h.design_capacity_mah = static_cast<uint32_t>(std::lround(battery_.params().design_capacity_mah));
  h.cycle_count = battery_.CycleCount();
  h.temperature_decicelsius = static_cast<int32_t>(std::lround(b.temperature_celsius * 10));
  h.voltage_mv = static_cast<uint32_t>(std::lround(battery_.VoltageMv(in_slot_)));
  h.charging = battery_.Charging(in_slot_);
  h.storage_used_bytes = static_cast<uint64_t>(storage_used_bytes_);
  h.storage_total_bytes = options_.storage_total_bytes;
  h.firmware_version = RunningFirmware();
  h.slot_a_version = slot_a_version_;
  h.slot_b_version = slot_b_version_;
  h.error_counters = error_counters_;
  h.uptime = Now() - boot_time_;
  return h;
}

absl::StatusOr<absl::Time> CameraSimulator::SetClock(absl::Time now) {
  absl::MutexLock lock(&mu_);
  const absl::Time previous = DeviceNowLocked();
  CatchUp();
  clock_offset_ = now - Now();
  RETURN_IF_ERROR(SaveState());
  return previous;
}

absl::Status CameraSimulator::SetInSlot(bool in_slot) {
  absl::MutexLock lock(&mu_);
  CatchUp();
  if (in_slot == in_slot_) return absl::OkStatus();
  if (in_slot && powered_off_) {
    powered_off_ = false;
    boot_time_ = Now();
    ++error_counters_["power_loss_resets"];
  }
  in_slot_ = in_slot;
  return SaveState();
}

bool CameraSimulator::InSlot() const {
  absl::MutexLock lock(&mu_);
  // A camera that lost power answers nothing, as if it were not there.
  return in_slot_ && !powered_down_;
}

absl::Status CameraSimulator::SetBatteryHealth(double fraction) {
  if (!(fraction >= 0.05 && fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("battery health ", fraction, ": give a fraction of design, 0.05-1"));
  }
  absl::MutexLock lock(&mu_);
  CatchUp();
  battery_.SetStateOfHealth(fraction);
  return SaveState();
}

absl::Status CameraSimulator::SkewClock(absl::Duration skew) {
  absl::MutexLock lock(&mu_);
  CatchUp();
  clock_offset_ = skew;
  return SaveState();
}

void CameraSimulator::DropLinkAnswers(int calls) {
  absl::MutexLock lock(&mu_);
  link_drops_pending_ += std::max(0, calls);
}

bool CameraSimulator::TakeLinkDrop() {
  absl::MutexLock lock(&mu_);
  if (link_drops_pending_ == 0) return false;
  --link_drops_pending_;
  // Kept with the next write of the state.
  ++error_counters_["link_drops"];
  return true;
}

CameraStatus CameraSimulator::Status() {
  absl::MutexLock lock(&mu_);
  CatchUp();
  return CameraStatus{in_slot_, battery_.state(), battery_.StateOfHealth(), battery_.CycleCount()};
}

absl::StatusOr<std::string> CameraSimulator::InstallCertificate(const std::string& cert_pem,
                                                                const std::string& ca_pem) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<provisioning::CertificateInfo> info = provisioning::ParseCertificate(cert_pem);
  if (!info.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate_pem: ", info.status().message()));
  }
  if (info->role != provisioning::Role::kCamera || info->identity != options_.serial) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate_pem names ", provisioning::IdentityUri({info->role, info->identity}),
        "; this is camera ", options_.serial));
  }
  if (!key_.has_value() && !pending_key_.has_value()) {
    return absl::FailedPreconditionError(
        "the camera has no key to install a certificate for; call CreateCsr first");
  }
  const provisioning::PrivateKey* key = nullptr;
  bool pending = false;
  for (const auto& [candidate, is_pending] :
       {std::pair{&pending_key_, true}, std::pair{&key_, false}}) {
    if (!candidate->has_value()) continue;
    ASSIGN_OR_RETURN(std::string fingerprint, (*candidate)->PublicKeyFingerprint());
    if (fingerprint == info->key_fingerprint) {
      key = &**candidate;
      pending = is_pending;
      break;
    }
  }
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", info->serial_hex, " is for another key than this camera's"));
  }
  absl::StatusOr<provisioning::CertificateVerifier> verifier =
      provisioning::CertificateVerifier::FromCaPem(ca_pem);
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ca_certificate_pem: ", verifier.status().message()));
  }
  // Trust on first enrollment: the fleet root of the first enrollment is pinned; afterwards the
  // CA certificates offered must have exactly that root as their trust anchor (their issuing
  // CAs may change: the fleet replaces a compromised one from the root), and the certificate
  // must chain to it (a dock cannot move the camera to a root of its own).
  if (!pinned_ca_pem_.empty()) {
    absl::StatusOr<provisioning::CertificateVerifier> pinned =
        provisioning::CertificateVerifier::FromCaPem(pinned_ca_pem_);
    if (!pinned.ok()) return pinned.status();
    absl::StatusOr<provisioning::CertificateInfo> pinned_root =
        provisioning::ParseCaCertificate(pinned_ca_pem_);
    if (pinned->AnchorKeyFingerprints() != verifier->AnchorKeyFingerprints()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "ca_certificate_pem is not the fleet root this camera pinned at its first enrollment",
          pinned_root.ok() ? absl::StrCat(" (", pinned_root->subject_cn, ")") : std::string(),
          "; the camera trusts no other root"));
    }
  }
  if (absl::StatusOr<provisioning::CertificateInfo> trusted =
          verifier->VerifyChain(cert_pem, DeviceNowLocked());
      !trusted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate_pem is not trusted at the camera's time: ", trusted.status().message()));
  }

  // The offered CA certificates have the pinned root as their only anchor (checked above):
  // keep them, so the camera holds the fleet's current issuing CAs.
  RETURN_IF_ERROR(
      provisioning::ReplaceCredentialBundle(options_.state_dir, *key, cert_pem, ca_pem));
  if (pending) {
    key_ = std::move(pending_key_);
    pending_key_.reset();
    pending_csr_pem_.clear();
    // The key is in the bundle now; a crash before these unlinks leaves a copy of the current key
    // as the pending one, which Load recognises and removes.
    for (const char* name : {kPendingKeyFile, kPendingCsrFile}) {
      const std::string path = JoinPath(options_.state_dir, name);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("removing", path);
    }
  }
  cert_pem_ = cert_pem;
  pinned_ca_pem_ = ca_pem;  // the first fleet certificate pins its root; later ones keep it
  return info->serial_hex;
}

}  // namespace camfleet::camsim
