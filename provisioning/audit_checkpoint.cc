#include "provisioning/audit_checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "provisioning/file_io.h"

namespace camfleet::provisioning {
namespace {

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutBytes(std::string& out, absl::string_view bytes) {
  PutU64(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

}  // namespace

std::string CheckpointSignedBytes(const CheckpointFacts& facts) {
  std::string out = "camfleet.audit.checkpoint.v1";
  PutU64(out, static_cast<uint64_t>(facts.sequence));
  PutBytes(out, facts.head_hash_hex);
  PutU64(out, static_cast<uint64_t>(facts.time_us));
  PutBytes(out, facts.database_generation);
  return out;
}

absl::StatusOr<CheckpointSigner> CheckpointSigner::LoadOrCreate(const std::string& dir,
                                                                bool* created) {
  const std::string key_path = JoinPath(dir, kCheckpointKeyFile);
  const std::string pub_path = JoinPath(dir, kCheckpointPublicKeyFile);
  if (created != nullptr) *created = false;
  if (!PathExists(key_path)) {
    if (PathExists(pub_path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          pub_path, " exists but its private key ", key_path,
          " does not: restore the key from where it was kept, or move the public key aside to "
          "make a new one (auditors must then pin the new public key)"));
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create directory ", dir, ": ", std::strerror(errno)));
    }
    absl::StatusOr<FirmwareSigningKey> fresh = FirmwareSigningKey::Generate();
    if (!fresh.ok()) return fresh.status();
    if (absl::Status s = fresh->WriteFile(key_path); !s.ok()) return s;
    absl::StatusOr<std::string> pem = fresh->PublicKeyPem();
    if (!pem.ok()) return pem.status();
    if (absl::Status s = WriteNewFile(pub_path, *pem, 0644); !s.ok()) return s;
    if (created != nullptr) *created = true;
  }
  absl::StatusOr<FirmwareSigningKey> key = FirmwareSigningKey::ReadFile(key_path);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> pem = key->PublicKeyPem();
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::string> id = key->KeyId();
  if (!id.ok()) return id.status();
  return CheckpointSigner(*std::move(key), *std::move(pem), *std::move(id));
}

absl::StatusOr<std::string> CheckpointSigner::Sign(const CheckpointFacts& facts) const {
  return key_.Sign(CheckpointSignedBytes(facts));
}

absl::Status VerifyCheckpointSignature(absl::string_view public_key_pem,
                                       const CheckpointFacts& facts, absl::string_view signature) {
  absl::Status s = VerifyFirmwareSignature(public_key_pem, CheckpointSignedBytes(facts), signature);
  if (absl::IsUnauthenticated(s)) {
    return absl::UnauthenticatedError(
        "the checkpoint's signature does not verify with the pinned checkpoint key: it was "
        "altered, or made with another key");
  }
  return s;
}

}  // namespace camfleet::provisioning
