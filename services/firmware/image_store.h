#pragma once
// The firmware content store: images, compressed images and deltas as files under the server's
// home, each named by the SHA-256 of its bytes (not in SQLite: a 64 MiB image would bloat the
// WAL and every backup of the database).
//
//   ROOT/objects/<sha256 hex>   one file per distinct content, read-only (0444)
//   ROOT/tmp/                   uploads and writes in progress; emptied on open
//
// A file reaches objects/ only complete and verified: bytes go to a temporary file in tmp/,
// which is fsynced, checked against its expected digest, renamed into objects/ and the
// directory fsynced. So a crash or an interrupted upload leaves at most a file in tmp/, which
// the next open removes, and objects/ never holds a torn file. Writing content that is there
// already changes nothing. Objects leave only through Remove, which the firmware manager's
// collection calls for objects no release row, delta row or unfinished rollout still names
// (FirmwareManager::CollectGarbage).
//
// Thread-safe: every method works on its own files.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/firmware_signing.h"

namespace camfleet::firmware_service {

class ImageStore {
 public:
  // Opens ROOT, creating it (0700) and its folders; removes what tmp/ holds.
  // INTERNAL naming the path on I/O errors.
  static absl::StatusOr<std::unique_ptr<ImageStore>> Open(const std::string& root);

  // A file being written: its bytes are hashed as they come.
  class Upload {
   public:
    ~Upload();  // removes the temporary file unless committed
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;
    // INTERNAL on a write error.
    absl::Status Append(absl::string_view data);
    uint64_t size() const { return size_; }
    // The digest of what was appended (lower-case hex); call once, before Commit.
    std::string Digest();
    // fsyncs and moves the file into objects/ under `digest` (what Digest() returned).
    absl::Status Commit(const std::string& digest);

   private:
    friend class ImageStore;
    Upload(const ImageStore& store, std::string path, int fd)
        : store_(store), path_(std::move(path)), fd_(fd) {}
    const ImageStore& store_;
    std::string path_;
    int fd_;
    uint64_t size_ = 0;
    bool committed_ = false;
    provisioning::Sha256Stream sha_;
  };
  absl::StatusOr<std::unique_ptr<Upload>> BeginUpload();

  // Stores `bytes`; returns their digest. Nothing is written if the object exists.
  absl::StatusOr<std::string> Put(absl::string_view bytes);
  // The object's bytes, checked against its name. NOT_FOUND; DATA_LOSS if the file no longer
  // matches its digest (disk corruption); INVALID_ARGUMENT if larger than `max_bytes`.
  absl::StatusOr<std::string> Read(const std::string& digest, uint64_t max_bytes) const;
  bool Has(const std::string& digest) const;
  std::string PathOf(const std::string& digest) const;
  // Files in tmp/ now (a test checks an interrupted upload leaves none).
  int TempFileCount() const;

  struct Object {
    std::string digest;
    uint64_t size = 0;
  };
  // Every object in objects/, in no particular order. INTERNAL if the folder cannot be read.
  absl::StatusOr<std::vector<Object>> List() const;
  // Deletes an object and syncs the folder; one that is not there is no error. A stream that
  // has the file open goes on reading it (POSIX keeps an unlinked file until it is closed).
  absl::Status Remove(const std::string& digest) const;
  const std::string& root() const { return root_; }

 private:
  explicit ImageStore(std::string root) : root_(std::move(root)) {}
  absl::Status MoveIn(const std::string& tmp_path, const std::string& digest) const;

  std::string root_;
};

}  // namespace camfleet::firmware_service
