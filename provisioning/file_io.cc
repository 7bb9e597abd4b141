#include "provisioning/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "provisioning/digest.h"

namespace camfleet::provisioning {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, const std::string& path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

// Closes the descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int Get() const { return fd_; }
  // Closes now and reports the result, which for a written file can carry a late I/O error.
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view contents, const std::string& path) {
  while (!contents.empty()) {
    const ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "writing", path);
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Everything but the final link: a complete, synced file at `tmp`.
absl::Status WriteTemporary(const std::string& tmp, absl::string_view contents, mode_t mode) {
  FileDescriptor fd(
      ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.Get() < 0) return ErrnoStatus(errno, "creating", tmp);
  if (::fchmod(fd.Get(), mode) != 0) return ErrnoStatus(errno, "setting the mode of", tmp);
  if (absl::Status s = WriteAll(fd.Get(), contents, tmp); !s.ok()) return s;
  if (::fsync(fd.Get()) != 0) return ErrnoStatus(errno, "syncing", tmp);
  if (fd.Close() != 0) return ErrnoStatus(errno, "closing", tmp);
  return absl::OkStatus();
}

}  // namespace

absl::Status SyncDirectory(const std::string& dir) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.Get() < 0) return ErrnoStatus(errno, "opening directory", dir);
  if (::fsync(fd.Get()) != 0) return ErrnoStatus(errno, "syncing directory", dir);
  return absl::OkStatus();
}

absl::Status WriteNewFile(const std::string& path, absl::string_view contents, mode_t mode) {
  // Checked first only for a clear message; link() below is what makes the refusal race-free.
  if (PathExists(path)) return ErrnoStatus(EEXIST, "refusing to overwrite", path);
  const std::string dir = DirectoryOf(path);
  absl::StatusOr<std::string> suffix = RandomBytes(8);
  if (!suffix.ok()) return suffix.status();
  const std::string tmp = absl::StrCat(path, ".tmp-", ToHex(*suffix));

  absl::Status written = WriteTemporary(tmp, contents, mode);
  if (written.ok() && ::link(tmp.c_str(), path.c_str()) != 0) {
    written = ErrnoStatus(errno, errno == EEXIST ? "refusing to overwrite" : "linking", path);
  }
  // The temporary name goes whether or not the link worked; the data stays under `path`.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT && written.ok()) {
    written = ErrnoStatus(errno, "removing", tmp);
  }
  if (!written.ok()) return written;
  return SyncDirectory(dir);
}

absl::StatusOr<FileContents> ReadSmallFile(const std::string& path, size_t max_bytes) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.Get() < 0) return ErrnoStatus(errno, "opening", path);
  struct stat st {};
  if (::fstat(fd.Get(), &st) != 0) return ErrnoStatus(errno, "examining", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", st.st_size, " bytes; at most ", max_bytes, " expected"));
  }
  FileContents out;
  out.mode = st.st_mode & 07777;
  out.data.resize(static_cast<size_t>(st.st_size));
  size_t have = 0;
  while (have < out.data.size()) {
    const ssize_t n = ::read(fd.Get(), out.data.data() + have, out.data.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "reading", path);
    }
    if (n == 0) break;  // Shrunk while we read: keep what is there.
    have += static_cast<size_t>(n);
  }
  out.data.resize(have);
  return out;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

}  // namespace camfleet::provisioning
