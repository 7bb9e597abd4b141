#pragma once
// Reading and writing the small files provisioning keeps on disk: keys, certificates, CRLs.

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::provisioning {

// Writes `contents` to `path`, which must not exist yet, so that `path` never holds partial
// contents, even across a crash: the bytes go to a new temporary file in the same directory
// (O_CREAT|O_EXCL|O_WRONLY, `mode`), which is fsynced and then hard-linked to `path`; link(2)
// fails rather than replace an existing file, so a racing writer cannot be overwritten either.
// The directory is fsynced so the new name survives a power cut. `mode` is applied exactly,
// whatever the umask.
// ALREADY_EXISTS if `path` exists; NOT_FOUND if its directory does not; PERMISSION_DENIED if
// the directory is not writable; INTERNAL on any other I/O error. Messages name the path.
absl::Status WriteNewFile(const std::string& path, absl::string_view contents, mode_t mode);

struct FileContents {
  std::string data;
  mode_t mode = 0;  // Permission bits only (st_mode & 07777).
};

// fsyncs directory `dir`, so that names created, linked or renamed in it survive a power cut.
// Errors as WriteNewFile's, naming the directory.
absl::Status SyncDirectory(const std::string& dir);

// Reads a regular file of at most `max_bytes`.
// NOT_FOUND if it does not exist; PERMISSION_DENIED if unreadable; INVALID_ARGUMENT if it is
// not a regular file or is larger than `max_bytes`; INTERNAL on other I/O errors.
absl::StatusOr<FileContents> ReadSmallFile(const std::string& path, size_t max_bytes);

// True if `path` exists (as anything). Errors other than "no such file" count as existing, so
// a caller refusing to overwrite errs on the safe side.
bool PathExists(const std::string& path);

// True if `path` is a directory (following symlinks).
bool IsDirectory(const std::string& path);

// `dir` + "/" + `name`, without doubling a trailing slash.
std::string JoinPath(absl::string_view dir, absl::string_view name);

}  // namespace camfleet::provisioning
