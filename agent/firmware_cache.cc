#include "agent/firmware_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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

absl::Status WriteAll(int fd, absl::string_view bytes, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot write", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Starts writing a range just written to disk without waiting for it, so the sync that makes
// it durable later finds it (mostly) done, rather than the whole backlog at once. Only a hint:
// what is durable is still decided by fdatasync/fsync.
void StartWriteback(int fd, uint64_t offset, size_t size) {
  (void)::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(size),
                          SYNC_FILE_RANGE_WRITE);
}

// Reads up to `max` bytes at `offset`; fewer only at the end of the file.
absl::StatusOr<size_t> ReadSome(int fd, char* out, size_t max, uint64_t offset,
                                const std::string& path) {
  size_t got = 0;
  while (got < max) {
    const ssize_t n = ::pread(fd, out + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// The .held record: the durable length, zero-padded to a fixed width (so rewriting it in place
// never leaves old digits behind), and a SHA-256 over it and the payload's hash, so a torn or
// stale record does not parse as a length.
constexpr size_t kHeldDigits = 20;
constexpr size_t kHeldRecordBytes = kHeldDigits + 1 + 64 + 1;

std::string HeldCheck(absl::string_view payload_sha256, uint64_t held) {
  return provisioning::ToHex(provisioning::Sha256(absl::StrCat(payload_sha256, " ", held)));
}

std::string HeldRecord(absl::string_view payload_sha256, uint64_t held) {
  return absl::StrFormat("%020d %s\n", held, HeldCheck(payload_sha256, held));
}

std::optional<uint64_t> ParseHeldRecord(absl::string_view record,
                                        absl::string_view payload_sha256) {
  uint64_t held = 0;
  if (record.size() != kHeldRecordBytes || record[kHeldDigits] != ' ' || record.back() != '\n' ||
      !std::all_of(record.begin(), record.begin() + kHeldDigits,
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(record.substr(0, kHeldDigits), &held) ||
      record.substr(kHeldDigits + 1, 64) != HeldCheck(payload_sha256, held)) {
    return std::nullopt;
  }
  return held;
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
    return absl::FailedPreconditionError(
        absl::StrCat("the dock trusts no firmware signing key; put the fleet's public key in ",
                     root_, "/keys/ (camfleet-dock firmware trust-key FILE)"));
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
  return Keep(ReleaseIdOf(manifest_bytes), manifest_bytes, signature,
              [&](const std::string& path) { return WriteSynced(path, image); });
}

absl::StatusOr<CachedRelease> FirmwareCache::StoreFromPartial(const std::string& manifest_bytes,
                                                              const std::string& signature) {
  ASSIGN_OR_RETURN(firmware::Manifest manifest, Verify(manifest_bytes, signature));
  const std::string id = ReleaseIdOf(manifest_bytes);
  std::optional<PartialDownload> p = Partial(id);
  if (!p.has_value() || p->bytes_held != p->payload_size) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", id, ": no whole payload is held to rebuild its image from"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ImageWriter> image, BeginImage(id, manifest.image_size));
  const std::string path = PartialBase(id) + ".payload";
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Errno("cannot read", path);
  std::string buf(1 << 20, '\0');
  absl::Status fed;
  for (uint64_t at = 0; fed.ok() && at < p->payload_size;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), p->payload_size - at));
    absl::StatusOr<size_t> got = ReadSome(in, buf.data(), want, at, path);
    if (!got.ok()) {
      fed = got.status();
    } else if (*got != want) {
      fed = absl::DataLossError(absl::StrCat(path, " ends before its held length"));
    } else {
      fed = image->Feed(absl::string_view(buf.data(), *got));
      at += *got;
    }
  }
  ::close(in);
  RETURN_IF_ERROR(fed);
  return KeepImage(manifest_bytes, signature, std::move(image));
}

ImageWriter::~ImageWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!kept_) ::unlink(path_.c_str());
  ZSTD_freeDCtx(dctx_);
}

absl::Status ImageWriter::Feed(absl::string_view frame_piece) {
  if (status_.ok()) status_ = Decompress(frame_piece);
  return status_;
}

absl::Status ImageWriter::Decompress(absl::string_view piece) {
  ZSTD_inBuffer src{piece.data(), piece.size(), 0};
  while (src.pos < src.size) {
    if (rc_ == 0) return absl::InvalidArgumentError("the compressed data has trailing bytes");
    RETURN_IF_ERROR(Step(src));
  }
  // zstd may hold output for what it took (the output buffer was full): drain it.
  size_t before = size_ + 1;
  while (rc_ != 0 && size_ != before) {
    before = size_;
    RETURN_IF_ERROR(Step(src));
  }
  return absl::OkStatus();
}

absl::Status ImageWriter::Step(ZSTD_inBuffer& src) {
  ZSTD_outBuffer dst{out_buf_.data(), out_buf_.size(), 0};
  rc_ = ZSTD_decompressStream(dctx_, &dst, &src);
  if (ZSTD_isError(rc_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the compressed data is damaged: ", ZSTD_getErrorName(rc_)));
  }
  if (size_ + dst.pos > max_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the compressed data expands past the signed size of ", max_size_, " bytes"));
  }
  const absl::string_view piece(out_buf_.data(), dst.pos);
  RETURN_IF_ERROR(WriteAll(fd_, piece, size_, path_));
  StartWriteback(fd_, size_, piece.size());
  sha_.Update(piece);
  size_ += dst.pos;
  return absl::OkStatus();
}

absl::Status ImageWriter::Finish() {
  RETURN_IF_ERROR(status_);
  if (rc_ != 0) return status_ = absl::InvalidArgumentError("the compressed data is truncated");
  if (::fsync(fd_) != 0) return status_ = Errno("cannot sync", path_);
  sha256_hex_ = provisioning::ToHex(sha_.Finish());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ImageWriter>> FirmwareCache::BeginImage(
    const std::string& release_id, uint64_t image_size) {
  if (!IsReleaseId(release_id)) return absl::InvalidArgumentError("release_id: 64 hex digits");
  std::unique_ptr<ImageWriter> w(new ImageWriter());
  w->path_ = JoinPath(JoinPath(root_, "tmp"), release_id + ".image");
  w->max_size_ = image_size;
  w->out_buf_.resize(1 << 20);
  w->dctx_ = ZSTD_createDCtx();
  if (w->dctx_ == nullptr) return absl::InternalError("zstd: out of memory");
  // The largest window zstd takes on a 64-bit machine, as firmware::Decompress allows.
  if (ZSTD_isError(ZSTD_DCtx_setParameter(w->dctx_, ZSTD_d_windowLogMax, 31))) {
    return absl::InternalError("zstd: cannot set the window limit");
  }
  w->fd_ = ::open(w->path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (w->fd_ < 0) return Errno("cannot write", w->path_);
  return w;
}

absl::StatusOr<CachedRelease> FirmwareCache::KeepImage(const std::string& manifest_bytes,
                                                       const std::string& signature,
                                                       std::unique_ptr<ImageWriter> image) {
  ASSIGN_OR_RETURN(firmware::Manifest manifest, Verify(manifest_bytes, signature));
  const std::string id = ReleaseIdOf(manifest_bytes);
  if (image->path_ != JoinPath(JoinPath(root_, "tmp"), id + ".image")) {
    return absl::InvalidArgumentError("the image was rebuilt for another release");
  }
  RETURN_IF_ERROR(image->Finish());
  RETURN_IF_ERROR(firmware::CheckImageDigest(manifest, image->size_, image->sha256_hex_));
  return Keep(id, manifest_bytes, signature, [&](const std::string& path) -> absl::Status {
    if (::rename(image->path_.c_str(), path.c_str()) != 0) return Errno("cannot move", path);
    image->kept_ = true;
    return absl::OkStatus();
  });
}

absl::StatusOr<CachedRelease> FirmwareCache::Keep(
    const std::string& id, const std::string& manifest_bytes, const std::string& signature,
    const std::function<absl::Status(const std::string& image_path)>& write_image) {
  if (!Has(id)) {
    const std::string tmp = JoinPath(JoinPath(root_, "tmp"), id);
    RemoveTree(tmp);
    RETURN_IF_ERROR(MakeDir(tmp));
    absl::Status written = write_image(JoinPath(tmp, "image"));
    if (written.ok()) written = WriteSynced(JoinPath(tmp, "manifest"), manifest_bytes);
    if (written.ok()) written = WriteSynced(JoinPath(tmp, "signature"), signature);
    if (written.ok()) written = provisioning::SyncDirectory(tmp);
    if (!written.ok()) {
      RemoveTree(tmp);
      return written;
    }
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
  ASSIGN_OR_RETURN(
      provisioning::FileContents m,
      provisioning::ReadSmallFile(JoinPath(dir, "manifest"), firmware::kMaxManifestBytes));
  ASSIGN_OR_RETURN(provisioning::FileContents s,
                   provisioning::ReadSmallFile(JoinPath(dir, "signature"), 1024));
  r.manifest_bytes = std::move(m.data);
  r.signature = std::move(s.data);
  // What is on disk is checked again: keys may have been retired since it was cached.
  ASSIGN_OR_RETURN(r.manifest, Verify(r.manifest_bytes, r.signature));
  r.image_path = JoinPath(dir, "image");
  if (FileSize(r.image_path) != r.manifest.image_size) {
    return absl::DataLossError(
        absl::StrCat("cached image ", r.image_path, " is not its signed size; remove the release"));
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
  // Only a record that checks, for bytes the payload file still has, counts: anything else
  // (no record, a torn one, a file cut short) resumes from 0.
  absl::StatusOr<provisioning::FileContents> record =
      provisioning::ReadSmallFile(PartialBase(release_id) + ".held", 4096);
  if (record.ok()) {
    std::optional<uint64_t> held = ParseHeldRecord(record->data, p.payload_sha256);
    if (held.has_value() && *held <= p.payload_size &&
        *held <= FileSize(PartialBase(release_id) + ".payload")) {
      p.bytes_held = *held;
    }
  }
  return p;
}

absl::Status FirmwareCache::BeginPartial(const std::string& release_id,
                                         const PartialDownload& header) {
  if (!IsReleaseId(release_id)) return absl::InvalidArgumentError("release_id: 64 hex digits");
  DropPartial(release_id);
  RETURN_IF_ERROR(WriteSynced(PartialBase(release_id) + ".payload", ""));
  RETURN_IF_ERROR(
      WriteSynced(PartialBase(release_id) + ".held", HeldRecord(header.payload_sha256, 0)));
  RETURN_IF_ERROR(WriteSynced(
      PartialBase(release_id) + ".meta",
      absl::StrCat(static_cast<int>(header.encoding), " ",
                   header.delta_from_release_id.empty() ? "-" : header.delta_from_release_id, " ",
                   header.payload_size, " ", header.payload_sha256, "\n")));
  return provisioning::SyncDirectory(JoinPath(root_, "partial"));
}

absl::StatusOr<std::unique_ptr<PartialWriter>> FirmwareCache::OpenPartial(
    const std::string& release_id, const PartialSyncPolicy& policy) {
  std::optional<PartialDownload> p = Partial(release_id);
  if (!p.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no download of ", release_id, " in progress"));
  }
  std::unique_ptr<PartialWriter> w(new PartialWriter());
  w->header_ = *p;
  w->policy_ = policy;
  w->payload_path_ = PartialBase(release_id) + ".payload";
  w->record_path_ = PartialBase(release_id) + ".held";
  w->payload_fd_ = ::open(w->payload_path_.c_str(), O_RDWR | O_CLOEXEC);
  if (w->payload_fd_ < 0) return Errno("cannot open", w->payload_path_);
  w->record_fd_ = ::open(w->record_path_.c_str(), O_RDWR | O_CLOEXEC);
  if (w->record_fd_ < 0) return Errno("cannot open", w->record_path_);
  // Bytes past the record were never synced and recorded (a crash mid-way): not trusted.
  if (::ftruncate(w->payload_fd_, static_cast<off_t>(p->bytes_held)) != 0) {
    return Errno("cannot cut back", w->payload_path_);
  }
  // The bytes held, hashed once, so the rest can be hashed as it arrives.
  std::string buf(static_cast<size_t>(std::min<uint64_t>(p->bytes_held, 1 << 20)), '\0');
  for (uint64_t at = 0; at < p->bytes_held;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), p->bytes_held - at));
    ASSIGN_OR_RETURN(size_t got, ReadSome(w->payload_fd_, buf.data(), want, at, w->payload_path_));
    if (got != want) {
      return absl::DataLossError(absl::StrCat(w->payload_path_, " ends before its held length"));
    }
    w->sha_.Update(absl::string_view(buf.data(), got));
    at += got;
  }
  w->written_ = w->durable_ = p->bytes_held;
  w->last_sync_ = absl::Now();
  return w;
}

PartialWriter::~PartialWriter() {
  if (payload_fd_ >= 0) ::close(payload_fd_);
  if (record_fd_ >= 0) ::close(record_fd_);
}

absl::Status PartialWriter::Append(absl::string_view bytes) {
  if (written_ + bytes.size() > header_.payload_size) {
    return absl::InvalidArgumentError(absl::StrCat("the server sent bytes past the payload's ",
                                                   header_.payload_size,
                                                   " bytes; the download was cut off there"));
  }
  RETURN_IF_ERROR(WriteAll(payload_fd_, bytes, written_, payload_path_));
  StartWriteback(payload_fd_, written_, bytes.size());
  sha_.Update(bytes);
  written_ += bytes.size();
  if (written_ - durable_ >= policy_.every_bytes || absl::Now() - last_sync_ >= policy_.every) {
    return Sync();
  }
  return absl::OkStatus();
}

absl::Status PartialWriter::Sync() {
  if (written_ == durable_) return absl::OkStatus();
  // The bytes first, then the record that claims them.
  if (::fdatasync(payload_fd_) != 0) return Errno("cannot sync", payload_path_);
  RETURN_IF_ERROR(
      WriteAll(record_fd_, HeldRecord(header_.payload_sha256, written_), 0, record_path_));
  if (::fdatasync(record_fd_) != 0) return Errno("cannot sync", record_path_);
  durable_ = written_;
  last_sync_ = absl::Now();
  return absl::OkStatus();
}

std::string PartialWriter::FinishSha256() { return provisioning::ToHex(sha_.Finish()); }

absl::StatusOr<std::string> FirmwareCache::ReadPartial(const std::string& release_id) const {
  std::optional<PartialDownload> p = Partial(release_id);
  if (!p.has_value()) return absl::NotFoundError(absl::StrCat("no download of ", release_id));
  ASSIGN_OR_RETURN(
      provisioning::FileContents payload,
      provisioning::ReadSmallFile(PartialBase(release_id) + ".payload", p->payload_size));
  // Only the durable bytes: anything past them is not trusted.
  if (payload.data.size() > p->bytes_held) payload.data.resize(static_cast<size_t>(p->bytes_held));
  return std::move(payload.data);
}

void FirmwareCache::DropPartial(const std::string& release_id) {
  if (!IsReleaseId(release_id)) return;
  ::unlink((PartialBase(release_id) + ".payload").c_str());
  ::unlink((PartialBase(release_id) + ".held").c_str());
  ::unlink((PartialBase(release_id) + ".meta").c_str());
}

}  // namespace camfleet::agent
