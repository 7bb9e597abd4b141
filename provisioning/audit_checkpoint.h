#pragma once
// Signed checkpoints of the audit chain's head: (sequence, head hash, time, database
// generation) signed with an Ed25519 key that camfleetd keeps in its home directory, apart from
// the database (HOME/audit/checkpoint.key, mode 0600). A checkpoint kept off the server lets
// `camfleet audit verify --checkpoint FILE` see what the chain alone cannot: a cut tail (the
// chain ends before the checkpoint's sequence) or a chain rewritten or replaced by an older copy
// (the event at the checkpoint's sequence has another hash). Whoever has the database file but
// not the key cannot make a checkpoint that matches a forged chain.
//
// The signed bytes are a fixed encoding with its own domain string, so a checkpoint signature
// can never be taken for a firmware signature or anything else signed with Ed25519.
// Ed25519 for the reasons firmware_signing.h gives; FirmwareSigningKey is the Ed25519 key type.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/firmware_signing.h"

namespace camfleet::provisioning {

inline constexpr char kCheckpointKeyFile[] = "checkpoint.key";
inline constexpr char kCheckpointPublicKeyFile[] = "checkpoint.pub";

// What a checkpoint vouches for.
struct CheckpointFacts {
  int64_t sequence = 0;             // the head event's sequence (0: empty chain)
  std::string head_hash_hex;        // its hash, lower-case hex (64 zeros for an empty chain)
  int64_t time_us = 0;              // when the checkpoint was made, UTC microseconds
  std::string database_generation;  // the store's generation (changes on restore)
};

// The bytes that are signed.
std::string CheckpointSignedBytes(const CheckpointFacts& facts);

class CheckpointSigner {
 public:
  // Reads DIR/checkpoint.key, or when neither it nor DIR/checkpoint.pub exists makes a new key
  // and writes both (the key mode 0600, DIR made mode 0700); `created` says which happened.
  // FAILED_PRECONDITION if checkpoint.pub exists without the key, or the key file is readable
  // by group or others; INVALID_ARGUMENT if it holds no Ed25519 key; I/O errors naming the path.
  static absl::StatusOr<CheckpointSigner> LoadOrCreate(const std::string& dir,
                                                       bool* created = nullptr);
  // Signs `facts`. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Sign(const CheckpointFacts& facts) const;
  // The public key ("PUBLIC KEY" PEM) and its id (hex SHA-256 of the DER SubjectPublicKeyInfo).
  const std::string& public_key_pem() const { return public_key_pem_; }
  const std::string& key_id() const { return key_id_; }

 private:
  CheckpointSigner(FirmwareSigningKey key, std::string pem, std::string id)
      : key_(std::move(key)), public_key_pem_(std::move(pem)), key_id_(std::move(id)) {}
  FirmwareSigningKey key_;
  std::string public_key_pem_;
  std::string key_id_;
};

// Checks `signature` over `facts` with the Ed25519 public key `public_key_pem`.
// INVALID_ARGUMENT if the key is not an Ed25519 public key; UNAUTHENTICATED if the signature
// does not verify (another key, or altered facts).
absl::Status VerifyCheckpointSignature(absl::string_view public_key_pem,
                                       const CheckpointFacts& facts, absl::string_view signature);

}  // namespace camfleet::provisioning
