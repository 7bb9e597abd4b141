#include "agent/sim/camera_simulator.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/identity.h"

namespace camfleet::camsim {
namespace {

using provisioning::JoinPath;

constexpr char kStateFile[] = "camera.state";
constexpr char kPendingKeyFile[] = "pending-key.pem";
constexpr size_t kMaxStateBytes = 4096;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Puts `path` in place of `final_path` with rename(2) and makes it durable.
absl::Status RenameDurably(const std::string& dir, const std::string& path,
                           const std::string& final_path) {
  if (::rename(path.c_str(), final_path.c_str()) != 0) return ErrnoError("replacing", final_path);
  return provisioning::SyncDirectory(dir);
}

absl::Status WriteState(const std::string& dir, const std::map<std::string, std::string>& state) {
  std::string text;
  for (const auto& [key, value] : state) absl::StrAppend(&text, key, "=", value, "\n");
  const std::string path = JoinPath(dir, kStateFile);
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // a crashed write's leftover
  RETURN_IF_ERROR(provisioning::WriteNewFile(tmp, text, 0644));
  return RenameDurably(dir, tmp, path);
}

absl::StatusOr<std::map<std::string, std::string>> ReadState(const std::string& dir) {
  const std::string path = JoinPath(dir, kStateFile);
  ASSIGN_OR_RETURN(provisioning::FileContents file,
                   provisioning::ReadSmallFile(path, kMaxStateBytes));
  std::map<std::string, std::string> state;
  for (absl::string_view line : absl::StrSplit(file.data, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.first.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is damaged: '", line, "'"));
    }
    state[kv.first] = kv.second;
  }
  return state;
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
  if (provisioning::PathExists(JoinPath(dir, kStateFile))) {
    ASSIGN_OR_RETURN(auto state, ReadState(dir));
    if (state["serial"] != options_.serial || state["model"] != options_.model) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds camera ", state["serial"], " (", state["model"], "), not ", options_.serial,
          " (", options_.model, "); a camera's serial and model do not change"));
    }
    firmware_version_ = state["firmware_version"];
  } else {
    firmware_version_ = options_.firmware_version;
    RETURN_IF_ERROR(WriteState(dir, {{"serial", options_.serial},
                                     {"model", options_.model},
                                     {"hardware_revision", options_.hardware_revision},
                                     {"firmware_version", firmware_version_}}));
  }
  if (provisioning::PathExists(JoinPath(dir, provisioning::kBundleCurrentLink))) {
    ASSIGN_OR_RETURN(provisioning::CredentialBundle bundle,
                     provisioning::LoadCredentialBundle(dir));
    ASSIGN_OR_RETURN(provisioning::PrivateKey key,
                     provisioning::PrivateKey::FromPem(bundle.key_pem));
    key_ = std::move(key);
    cert_pem_ = std::move(bundle.cert_pem);
  }
  const std::string pending = JoinPath(dir, kPendingKeyFile);
  if (provisioning::PathExists(pending)) {
    ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::ReadFile(pending));
    pending_key_ = std::move(key);
  }
  return absl::OkStatus();
}

absl::Time CameraSimulator::DeviceNow() const {
  const common::Clock& clock = options_.clock != nullptr ? *options_.clock : real_clock_;
  return clock.Now() + options_.clock_skew;
}

CameraIdentity CameraSimulator::Identify() const {
  absl::MutexLock lock(&mu_);
  return CameraIdentity{options_.serial,   options_.model, options_.hardware_revision,
                        firmware_version_, cert_pem_,      DeviceNow()};
}

absl::StatusOr<std::string> CameraSimulator::CreateCsr() {
  absl::MutexLock lock(&mu_);
  // A pending key is certified at most once, so a retried enrollment gets the certificate
  // already issued for it instead of a refusal; a new key would strand the camera.
  if (pending_key_.has_value()) {
    ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                     provisioning::CertificateRequest::Make(*pending_key_, options_.serial));
    return csr.ToPem();
  }
  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, options_.serial));
  ASSIGN_OR_RETURN(std::string csr_pem, csr.ToPem());
  // Durable before the CSR leaves: a certificate may come back after a reboot.
  const std::string& dir = options_.state_dir;
  const std::string path = JoinPath(dir, kPendingKeyFile);
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  RETURN_IF_ERROR(key.WriteFile(tmp));
  RETURN_IF_ERROR(RenameDurably(dir, tmp, path));
  pending_key_ = std::move(key);
  return csr_pem;
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
  if (absl::StatusOr<provisioning::CertificateInfo> trusted =
          verifier->VerifyChain(cert_pem, DeviceNow());
      !trusted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate_pem is not trusted at the camera's time: ", trusted.status().message()));
  }

  RETURN_IF_ERROR(
      provisioning::ReplaceCredentialBundle(options_.state_dir, *key, cert_pem, ca_pem));
  if (pending) {
    key_ = std::move(pending_key_);
    pending_key_.reset();
    // The key is in the bundle now; a crash before this unlink leaves a copy of the current key
    // as the pending one, which is harmless.
    const std::string path = JoinPath(options_.state_dir, kPendingKeyFile);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("removing", path);
  }
  cert_pem_ = cert_pem;
  return info->serial_hex;
}

}  // namespace camfleet::camsim
