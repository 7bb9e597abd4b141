#include "agent/firmware_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"

namespace camfleet::agent {
namespace {

using provisioning::JoinPath;

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create", path);
  return absl::OkStatus();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  return out;
}

void RemoveTree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    for (const std::string& name : ListDir(path)) RemoveTree(JoinPath(path, name));
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

bool IsReleaseId(absl::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status WriteSynced(const std::string& path, absl::string_view bytes) {
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot write", path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno("cannot write", path);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Errno("cannot sync", path);
  return absl::OkStatus();
}

}  // namespace

std::string ReleaseIdOf(const std::string& manifest_bytes) {
  return provisioning::ToHex(provisioning::Sha256(manifest_bytes));
}

absl::StatusOr<std::unique_ptr<FirmwareCache>> FirmwareCache::Open(const std::string& dir) {
  std::unique_ptr<FirmwareCache> cache(new FirmwareCache(dir));
  for (const std::string& sub : {std::string(), std::string("keys"), std::string("releases"),
                                 std::string("partial"), std::string("tmp")}) {
    RETURN_IF_ERROR(MakeDir(sub.empty() ? dir : JoinPath(dir, sub)));
  }
  for (const std::string& name : ListDir(JoinPath(dir, "tmp"))) {
    RemoveTree(JoinPath(JoinPath(dir, "tmp"), name));
  }
  const std::string keys = JoinPath(dir, "keys");
  for (const std::string& name : ListDir(keys)) {
    if (!absl::EndsWith(name, ".pem")) continue;
    ASSIGN_OR_RETURN(provisioning::FileContents pem,
                     provisioning::ReadSmallFile(JoinPath(keys, name), 64 * 1024));
    RETURN_IF_ERROR(common::Annotate(cache->trust_.Add(pem.data),
                                     absl::StrCat("trusted firmware key ", JoinPath(keys, name))));
  }
  absl::StatusOr<provisioning::FileContents> retired =
      provisioning::ReadSmallFile(JoinPath(keys, "retired"), 1 << 20);
  if (retired.ok()) {
    for (absl::string_view line : absl::StrSplit(retired->data, '\n', absl::SkipWhitespace())) {
      (void)cache->trust_.Retire(absl::StripAsciiWhitespace(line));
    }
  }
  return cache;
}

absl::StatusOr<std::string> FirmwareCache::TrustKey(const std::string& public_key_pem) {
  firmware::Trust one;
  RETURN_IF_ERROR(one.Add(public_key_pem));
  const std::string id = one.keys().begin()->first;
  const std::string path = JoinPath(JoinPath(root_, "keys"), id + ".pem");
  if (!provisioning::PathExists(path)) {
    RETURN_IF_ERROR(provisioning::WriteNewFile(path, public_key_pem, 0644));
  }
  // A key known here already keeps its state: trusting it again never undoes a retirement.
  if (!trust_.keys().contains(id)) RETURN_IF_ERROR(trust_.Add(public_key_pem));
  return id;
}

absl::Status FirmwareCache::RetireKey(const std::string& key_id) {
  RETURN_IF_ERROR(trust_.Retire(key_id));
  const std::string path = JoinPath(JoinPath(root_, "keys"), "retired");
  FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return Errno("cannot write", path);
  std::fprintf(f, "%s\n", key_id.c_str());
  const bool ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok) return Errno("cannot sync", path);
  return absl::OkStatus();
}

absl::StatusOr<firmware::Manifest> FirmwareCache::Verify(const std::string& manifest_bytes,
                                                         const std::string& signature) const {
  if (trust_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the dock trusts no firmware signing key; put the fleet's public key in ", root_,
        "/keys/ (camfleet-dock firmware trust-key FILE)"));
  }
  return trust_.Verify(manifest_bytes, signature);
}

std::string FirmwareCache::ReleaseDir(const std::string& id) const {
  return JoinPath(JoinPath(root_, "releases"), id);
}

std::string FirmwareCache::PartialBase(const std::string& id) const {
  return JoinPath(JoinPath(root_, "partial"), id);
}

absl::StatusOr<CachedRelease> FirmwareCache::Store(const std::string& manifest_bytes,
                                                   const std::string& signature,
                                                   const std::string& image) {
  ASSIGN_OR_RETURN(firmware::Manifest manifest, Verify(manifest_bytes, signature));
  RETURN_IF_ERROR(firmware::CheckImage(manifest, image));
  const std::string id = ReleaseIdOf(manifest_bytes);
  if (!Has(id)) {
    const std::string tmp = JoinPath(JoinPath(root_, "tmp"), id);
    RemoveTree(tmp);
    RETURN_IF_ERROR(MakeDir(tmp));
    RETURN_IF_ERROR(WriteSynced(JoinPath(tmp, "manifest"), manifest_bytes));
    RETURN_IF_ERROR(WriteSynced(JoinPath(tmp, "signature"), signature));
    RETURN_IF_ERROR(WriteSynced(JoinPath(tmp, "image"), image));
    RETURN_IF_ERROR(provisioning::SyncDirectory(tmp));
    if (::rename(tmp.c_str(), ReleaseDir(id).c_str()) != 0) {
      return Errno("cannot move in", ReleaseDir(id));
    }
    RETURN_IF_ERROR(provisioning::SyncDirectory(JoinPath(root_, "releases")));
  }
  DropPartial(id);
  return Get(id);
}

bool FirmwareCache::Has(const std::string& release_id) const {
  return IsReleaseId(release_id) &&
         provisioning::PathExists(JoinPath(ReleaseDir(release_id), "image"));
}

absl::StatusOr<CachedRelease> FirmwareCache::Get(const std::string& release_id) const {
  if (!Has(release_id)) {
    return absl::NotFoundError(absl::StrCat("release ", release_id, " is not in the dock's cache"));
  }
  CachedRelease r;
  r.release_id = release_id;
  const std::string dir = ReleaseDir(release_id);
  ASSIGN_OR_RETURN(provisioning::FileContents m,
                   provisioning::ReadSmallFile(JoinPath(dir, "manifest"), firmware::kMaxManifestBytes));
  ASSIGN_OR_RETURN(provisioning::FileContents s,
                   provisioning::ReadSmallFile(JoinPath(dir, "signature"), 1024));
  r.manifest_bytes = std::move(m.data);
  r.signature = std::move(s.data);
  // What is on disk is checked again: keys may have been retired since it was cached.
  ASSIGN_OR_RETURN(r.manifest, Verify(r.manifest_bytes, r.signature));
  r.image_path = JoinPath(dir, "image");
  if (FileSize(r.image_path) != r.manifest.image_size) {
    return absl::DataLossError(absl::StrCat("cached image ", r.image_path,
                                            " is not its signed size; remove the release"));
  }
  return r;
}

absl::StatusOr<std::string> FirmwareCache::ReadImage(const std::string& release_id) const {
  ASSIGN_OR_RETURN(CachedRelease r, Get(release_id));
  ASSIGN_OR_RETURN(provisioning::FileContents image,
                   provisioning::ReadSmallFile(r.image_path, r.manifest.image_size));
  RETURN_IF_ERROR(firmware::CheckImage(r.manifest, image.data));
  return std::move(image.data);
}

std::vector<std::string> FirmwareCache::ReleaseIds() const {
  std::vector<std::string> out;
  for (const std::string& name : ListDir(JoinPath(root_, "releases"))) {
    if (Has(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status FirmwareCache::Remove(const std::string& release_id) {
  if (!IsReleaseId(release_id)) return absl::InvalidArgumentError("release_id: 64 hex digits");
  RemoveTree(ReleaseDir(release_id));
  DropPartial(release_id);
  return absl::OkStatus();
}

std::optional<PartialDownload> FirmwareCache::Partial(const std::string& release_id) const {
  if (!IsReleaseId(release_id)) return std::nullopt;
  absl::StatusOr<provisioning::FileContents> meta =
      provisioning::ReadSmallFile(PartialBase(release_id) + ".meta", 4096);
  if (!meta.ok()) return std::nullopt;
  std::vector<std::string> f = absl::StrSplit(absl::StripSuffix(meta->data, "\n"), ' ');
  PartialDownload p;
  int encoding = 0;
  if (f.size() != 4 || !absl::SimpleAtoi(f[0], &encoding) ||
      !absl::SimpleAtoi(f[2], &p.payload_size) || f[3].size() != 64) {
    return std::nullopt;
  }
  p.encoding = static_cast<v1::FirmwarePayloadEncoding>(encoding);
  p.delta_from_release_id = f[1] == "-" ? "" : f[1];
  p.payload_sha256 = f[3];
  p.bytes_held = std::min(FileSize(PartialBase(release_id) + ".payload"), p.payload_size);
  return p;
}

absl::Status FirmwareCache::BeginPartial(const std::string& release_id,
                                         const PartialDownload& header) {
  if (!IsReleaseId(release_id)) return absl::InvalidArgumentError("release_id: 64 hex digits");
  DropPartial(release_id);
  RETURN_IF_ERROR(WriteSynced(PartialBase(release_id) + ".payload", ""));
  RETURN_IF_ERROR(WriteSynced(
      PartialBase(release_id) + ".meta",
      absl::StrCat(static_cast<int>(header.encoding), " ",
                   header.delta_from_release_id.empty() ? "-" : header.delta_from_release_id, " ",
                   header.payload_size, " ", header.payload_sha256, "\n")));
  return provisioning::SyncDirectory(JoinPath(root_, "partial"));
}

absl::Status FirmwareCache::AppendPartial(const std::string& release_id,
                                          const std::string& bytes) {
  std::optional<PartialDownload> p = Partial(release_id);
  if (!p.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("no download of ", release_id, " in progress"));
  }
  if (p->bytes_held + bytes.size() > p->payload_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("the server sent bytes past the payload's ", p->payload_size,
                     " bytes; the download was cut off there"));
  }
  const std::string path = PartialBase(release_id) + ".payload";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot write", path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                               static_cast<off_t>(p->bytes_held + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno("cannot write", path);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  const bool ok = ::fdatasync(fd) == 0;
  ::close(fd);
  if (!ok) return Errno("cannot sync", path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FirmwareCache::ReadPartial(const std::string& release_id) const {
  std::optional<PartialDownload> p = Partial(release_id);
  if (!p.has_value()) return absl::NotFoundError(absl::StrCat("no download of ", release_id));
  ASSIGN_OR_RETURN(provisioning::FileContents payload,
                   provisioning::ReadSmallFile(PartialBase(release_id) + ".payload",
                                               p->payload_size));
  return std::move(payload.data);
}

void FirmwareCache::DropPartial(const std::string& release_id) {
  if (!IsReleaseId(release_id)) return;
  ::unlink((PartialBase(release_id) + ".payload").c_str());
  ::unlink((PartialBase(release_id) + ".meta").c_str());
}

}  // namespace camfleet::agent
