#include "services/firmware/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"

namespace camfleet::firmware_service {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Errno("creating", path);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("writing", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::atomic<uint64_t> temp_counter{0};

}  // namespace

absl::StatusOr<std::unique_ptr<ImageStore>> ImageStore::Open(const std::string& root) {
  RETURN_IF_ERROR(MakeDir(root));
  RETURN_IF_ERROR(MakeDir(provisioning::JoinPath(root, "objects")));
  const std::string tmp = provisioning::JoinPath(root, "tmp");
  RETURN_IF_ERROR(MakeDir(tmp));
  // What an interrupted upload or a crash left: never referenced by anything.
  if (DIR* d = ::opendir(tmp.c_str()); d != nullptr) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      ::unlink(provisioning::JoinPath(tmp, name).c_str());
    }
    ::closedir(d);
  }
  return std::unique_ptr<ImageStore>(new ImageStore(root));
}

std::string ImageStore::PathOf(const std::string& digest) const {
  return provisioning::JoinPath(provisioning::JoinPath(root_, "objects"), digest);
}

bool ImageStore::Has(const std::string& digest) const {
  struct stat st {};
  return ::stat(PathOf(digest).c_str(), &st) == 0;
}

int ImageStore::TempFileCount() const {
  int count = 0;
  const std::string tmp = provisioning::JoinPath(root_, "tmp");
  if (DIR* d = ::opendir(tmp.c_str()); d != nullptr) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ++count;
    }
    ::closedir(d);
  }
  return count;
}

absl::StatusOr<std::vector<ImageStore::Object>> ImageStore::List() const {
  const std::string objects = provisioning::JoinPath(root_, "objects");
  DIR* d = ::opendir(objects.c_str());
  if (d == nullptr) return Errno("reading", objects);
  std::vector<Object> out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::stat(provisioning::JoinPath(objects, name).c_str(), &st) != 0) continue;
    out.push_back({name, static_cast<uint64_t>(st.st_size)});
  }
  ::closedir(d);
  return out;
}

absl::Status ImageStore::Remove(const std::string& digest) const {
  const std::string path = PathOf(digest);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno("removing", path);
  }
  return provisioning::SyncDirectory(provisioning::JoinPath(root_, "objects"));
}

absl::StatusOr<std::unique_ptr<ImageStore::Upload>> ImageStore::BeginUpload() {
  const std::string path =
      provisioning::JoinPath(provisioning::JoinPath(root_, "tmp"),
                             absl::StrCat("upload-", ::getpid(), "-", temp_counter.fetch_add(1)));
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("creating", path);
  return std::unique_ptr<Upload>(new Upload(*this, path, fd));
}

ImageStore::Upload::~Upload() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
}

absl::Status ImageStore::Upload::Append(absl::string_view data) {
  RETURN_IF_ERROR(WriteAll(fd_, data, path_));
  sha_.Update(data);
  size_ += data.size();
  return absl::OkStatus();
}

std::string ImageStore::Upload::Digest() { return provisioning::ToHex(sha_.Finish()); }

absl::Status ImageStore::Upload::Commit(const std::string& digest) {
  if (::fsync(fd_) != 0) return Errno("syncing", path_);
  ::close(fd_);
  fd_ = -1;
  RETURN_IF_ERROR(store_.MoveIn(path_, digest));
  committed_ = true;
  return absl::OkStatus();
}

absl::Status ImageStore::MoveIn(const std::string& tmp_path, const std::string& digest) const {
  const std::string final_path = PathOf(digest);
  if (Has(digest)) {
    // The same content is there already (a re-upload): keep the one in place.
    ::unlink(tmp_path.c_str());
    return absl::OkStatus();
  }
  ::chmod(tmp_path.c_str(), 0444);
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) return Errno("storing", final_path);
  return provisioning::SyncDirectory(provisioning::JoinPath(root_, "objects"));
}

absl::StatusOr<std::string> ImageStore::Put(absl::string_view bytes) {
  const std::string digest = provisioning::ToHex(provisioning::Sha256(bytes));
  if (Has(digest)) return digest;
  ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload, BeginUpload());
  RETURN_IF_ERROR(upload->Append(bytes));
  RETURN_IF_ERROR(upload->Commit(digest));
  return digest;
}

absl::StatusOr<std::string> ImageStore::Read(const std::string& digest, uint64_t max_bytes) const {
  const std::string path = PathOf(digest);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("firmware object ", digest, " is not in the store"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
  }
  ASSIGN_OR_RETURN(provisioning::FileContents file,
                   provisioning::ReadSmallFile(path, static_cast<size_t>(max_bytes)));
  if (provisioning::ToHex(provisioning::Sha256(file.data)) != digest) {
    return absl::DataLossError(absl::StrCat(path, " no longer matches its SHA-256"));
  }
  return std::move(file.data);
}

}  // namespace camfleet::firmware_service
