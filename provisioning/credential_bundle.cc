#include "provisioning/credential_bundle.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "provisioning/file_io.h"

namespace camfleet::provisioning {
namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;
constexpr char kVersionPrefix = 'v';
constexpr const char* kBundleFiles[] = {kBundleKeyFile, kBundleCertFile, kBundleCaFile};

absl::Status IoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

absl::Status EnsureDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || (errno == EEXIST && IsDirectory(dir))) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("cannot create directory ", dir));
}

std::string VersionName(int64_t version) { return absl::StrCat("v", version); }

// The version a directory entry names ("v12" -> 12), or nullopt for anything else.
std::optional<int64_t> ParseVersionName(absl::string_view name) {
  if (name.size() < 2 || name[0] != kVersionPrefix) return std::nullopt;
  name.remove_prefix(1);
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t version = 0;
  if (!absl::SimpleAtoi(name, &version) || version <= 0) return std::nullopt;
  return version;
}

// The target of DIR/current: nullopt if there is no such link (a bundle from before versions).
// INVALID_ARGUMENT if it names anything but a version directory beside it: a link to elsewhere
// would let whoever wrote it pick the key we load.
absl::StatusOr<std::optional<std::string>> ReadCurrent(const std::string& dir) {
  const std::string link = JoinPath(dir, kBundleCurrentLink);
  char buf[64];
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EINVAL) {
      return absl::InvalidArgumentError(absl::StrCat(link, " is not a symlink"));
    }
    return IoError("reading the link", link);
  }
  std::string target(buf, static_cast<size_t>(n));
  if (static_cast<size_t>(n) == sizeof(buf) || !ParseVersionName(target).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(link, " must point at a version directory like v1 in ", dir));
  }
  return target;
}

// Points DIR/<name> at `target` by making the link under a temporary name and renaming it over
// the old one: rename(2) replaces atomically, so DIR/<name> always resolves to one or the other.
absl::Status SwapSymlink(const std::string& dir, const std::string& name,
                         const std::string& target) {
  const std::string tmp = JoinPath(dir, absl::StrCat(name, ".tmp"));
  ::unlink(tmp.c_str());  // a leftover of a crash; absent normally
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return IoError("making the link", tmp);
  const std::string path = JoinPath(dir, name);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return IoError("replacing", path);
  return absl::OkStatus();
}

// Deletes a version directory and what is in it (its three files, or the debris of a write that
// crashed half way). Only for directories `current` does not point at.
absl::Status RemoveVersionDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    return IoError("opening directory", path);
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const absl::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  for (const std::string& name : names) {
    const std::string file = JoinPath(path, name);
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) return IoError("removing", file);
  }
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return IoError("removing", path);
  return absl::OkStatus();
}

// Version numbers of every vN directory in DIR.
absl::StatusOr<std::vector<int64_t>> ListVersions(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return IoError("opening directory", dir);
  std::vector<int64_t> versions;
  while (const dirent* e = ::readdir(d)) {
    if (std::optional<int64_t> v = ParseVersionName(e->d_name)) versions.push_back(*v);
  }
  ::closedir(d);
  return versions;
}

// Writes the three files into a new version directory DIR/v<version>, synced, not yet current.
absl::Status WriteVersion(const std::string& dir, int64_t version, const std::string& key_pem,
                          absl::string_view cert_pem, absl::string_view ca_pem) {
  const std::string vdir = JoinPath(dir, VersionName(version));
  if (absl::Status s = RemoveVersionDir(vdir); !s.ok()) return s;  // a crashed attempt's debris
  if (::mkdir(vdir.c_str(), 0700) != 0) return IoError("creating directory", vdir);
  if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  if (absl::Status s = WriteNewFile(JoinPath(vdir, kBundleKeyFile), key_pem, kPrivateKeyFileMode);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteNewFile(JoinPath(vdir, kBundleCertFile), cert_pem, 0644); !s.ok()) {
    return s;
  }
  return WriteNewFile(JoinPath(vdir, kBundleCaFile), ca_pem, 0644);
}

// Makes DIR/v<version> current, then makes sure DIR/<file> are links through `current`. The
// first rename is the commit point; everything after it only tidies up.
absl::Status Publish(const std::string& dir, int64_t version) {
  if (absl::Status s = SwapSymlink(dir, kBundleCurrentLink, VersionName(version)); !s.ok()) {
    return s;
  }
  if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  for (const char* name : kBundleFiles) {
    const std::string path = JoinPath(dir, name);
    const std::string target = JoinPath(kBundleCurrentLink, name);
    char buf[64];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    if (n >= 0 && std::string(buf, static_cast<size_t>(n)) == target) continue;
    // A plain file from before versions, or missing: replaced by the link in one rename.
    if (absl::Status s = SwapSymlink(dir, name, target); !s.ok()) return s;
  }
  return SyncDirectory(dir);
}

// Holds flock(2) on DIR for as long as it lives, so two writers cannot interleave, and a reader
// that lost a race with writers can read without one.
class DirLock {
 public:
  // `operation`: LOCK_EX for a writer, LOCK_SH for a reader.
  static absl::StatusOr<DirLock> Acquire(const std::string& dir, int operation = LOCK_EX) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IoError("opening directory", dir);
    while (::flock(fd, operation) != 0) {
      if (errno == EINTR) continue;
      absl::Status s = IoError("locking", dir);
      ::close(fd);
      return s;
    }
    return DirLock(fd);
  }
  DirLock(DirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirLock& operator=(DirLock&&) = delete;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

// Reads the three files from `base` (a version directory, or DIR itself for an old bundle).
absl::StatusOr<CredentialBundle> ReadFiles(const std::string& base) {
  CredentialBundle bundle;
  absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(JoinPath(base, kBundleKeyFile));
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> key_pem = key->ToPem();
  if (!key_pem.ok()) return key_pem.status();
  bundle.key_pem = *std::move(key_pem);
  absl::StatusOr<FileContents> cert = ReadSmallFile(JoinPath(base, kBundleCertFile), kMaxPemBytes);
  if (!cert.ok()) return cert.status();
  bundle.cert_pem = std::move(cert->data);
  absl::StatusOr<FileContents> ca = ReadSmallFile(JoinPath(base, kBundleCaFile), kMaxPemBytes);
  if (!ca.ok()) return ca.status();
  bundle.ca_pem = std::move(ca->data);
  return bundle;
}

}  // namespace

absl::Status WriteCredentialBundle(const std::string& dir, const PrivateKey& key,
                                   absl::string_view cert_pem, absl::string_view ca_pem) {
  if (absl::Status s = EnsureDir(dir); !s.ok()) return s;
  for (const char* name : {kBundleKeyFile, kBundleCertFile, kBundleCaFile, kBundleCurrentLink}) {
    if (PathExists(JoinPath(dir, name))) {
      return absl::AlreadyExistsError(
          absl::StrCat(JoinPath(dir, name), " exists; choose an empty directory"));
    }
  }
  absl::StatusOr<DirLock> lock = DirLock::Acquire(dir);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::string> key_pem = key.ToPem();
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::vector<int64_t>> versions = ListVersions(dir);
  if (!versions.ok()) return versions.status();
  int64_t version = 1;
  for (int64_t v : *versions) version = std::max(version, v + 1);
  if (absl::Status s = WriteVersion(dir, version, *key_pem, cert_pem, ca_pem); !s.ok()) return s;
  return Publish(dir, version);
}

absl::Status ReplaceCredentialBundle(const std::string& dir, const PrivateKey& key,
                                     absl::string_view cert_pem, absl::string_view ca_pem) {
  if (absl::Status s = EnsureDir(dir); !s.ok()) return s;
  absl::StatusOr<DirLock> lock = DirLock::Acquire(dir);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::string> key_pem = key.ToPem();
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::optional<std::string>> current = ReadCurrent(dir);
  if (!current.ok()) return current.status();
  const std::optional<int64_t> previous =
      current->has_value() ? ParseVersionName(**current) : std::nullopt;
  // Above every version on disk, so that no directory a reader may still be reading is reused.
  absl::StatusOr<std::vector<int64_t>> versions = ListVersions(dir);
  if (!versions.ok()) return versions.status();
  int64_t next = 1;
  for (int64_t v : *versions) next = std::max(next, v + 1);

  if (absl::Status s = WriteVersion(dir, next, *key_pem, cert_pem, ca_pem); !s.ok()) {
    (void)RemoveVersionDir(JoinPath(dir, VersionName(next)));
    return s;
  }
  if (absl::Status s = Publish(dir, next); !s.ok()) return s;

  // Keep the new version and the one before it; anything older (or the debris of a crashed
  // attempt) is no longer reachable through `current`.
  for (int64_t v : *versions) {
    if (v == next || (previous.has_value() && v == *previous)) continue;
    if (absl::Status s = RemoveVersionDir(JoinPath(dir, VersionName(v))); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<CredentialBundle> LoadCredentialBundle(const std::string& dir) {
  // Lock-free first: a writer may swap `current` between our resolving it and reading the
  // files, and the version we resolved stays on disk for one more swap, so the read is good
  // unless `current` moved under it. Then, rather than race on, read once more holding a shared
  // lock, which excludes writers (renewals are rare; this costs a reader one replacement's time).
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::optional<std::string>> current = ReadCurrent(dir);
    if (!current.ok()) return current.status();
    const std::string base = current->has_value() ? JoinPath(dir, **current) : dir;
    absl::StatusOr<CredentialBundle> bundle = ReadFiles(base);
    absl::StatusOr<std::optional<std::string>> after = ReadCurrent(dir);
    if (!after.ok()) return after.status();
    // Unchanged under us: what we read is one version, whether it worked or not.
    if (*after == *current) return bundle;
  }
  absl::StatusOr<DirLock> lock = DirLock::Acquire(dir, LOCK_SH);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<std::optional<std::string>> current = ReadCurrent(dir);
  if (!current.ok()) return current.status();
  return ReadFiles(current->has_value() ? JoinPath(dir, **current) : dir);
}

}  // namespace camfleet::provisioning
