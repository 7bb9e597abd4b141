#include "tests/testing/power_cut_vfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace camfleet::testing {

namespace {
constexpr char kVfsName[] = "camfleet-power-cut";
// The unit in which an interrupted write reaches the disk, or does not.
constexpr int64_t kSector = 512;
}  // namespace

struct PowerCutVfs::File {
  sqlite3_file base;
  PowerCutVfs* owner;
  FileModel* model;  // null for a file not tracked (temporary files)
  sqlite3_file* real;
};

namespace {
PowerCutVfs::File* AsFile(sqlite3_file* f) { return reinterpret_cast<PowerCutVfs::File*>(f); }
}  // namespace

PowerCutVfs::PowerCutVfs() {
  root_ = sqlite3_vfs_find(nullptr);
  vfs_.iVersion = 2;
  vfs_.szOsFile = static_cast<int>(sizeof(File)) + root_->szOsFile;
  vfs_.mxPathname = root_->mxPathname;
  vfs_.zName = kVfsName;
  vfs_.pAppData = this;
  vfs_.xOpen = &Open;
  vfs_.xDelete = &Delete;
  vfs_.xAccess = &Access;
  vfs_.xFullPathname = &FullPathname;
  vfs_.xDlOpen = &DlOpen;
  vfs_.xDlError = &DlError;
  vfs_.xDlSym = &DlSym;
  vfs_.xDlClose = &DlClose;
  vfs_.xRandomness = &Randomness;
  vfs_.xSleep = &Sleep;
  vfs_.xCurrentTime = &CurrentTime;
  vfs_.xGetLastError = &GetLastError;
  vfs_.xCurrentTimeInt64 = &CurrentTimeInt64;

  // Version 2: shared memory (WAL) but no memory-mapped reads, which would bypass xRead.
  methods_.iVersion = 2;
  methods_.xClose = &Close;
  methods_.xRead = &Read;
  methods_.xWrite = &Write;
  methods_.xTruncate = &Truncate;
  methods_.xSync = &Sync;
  methods_.xFileSize = &FileSize;
  methods_.xLock = &Lock;
  methods_.xUnlock = &Unlock;
  methods_.xCheckReservedLock = &CheckReservedLock;
  methods_.xFileControl = &FileControl;
  methods_.xSectorSize = &SectorSize;
  methods_.xDeviceCharacteristics = &DeviceCharacteristics;
  methods_.xShmMap = &ShmMap;
  methods_.xShmLock = &ShmLock;
  methods_.xShmBarrier = &ShmBarrier;
  methods_.xShmUnmap = &ShmUnmap;
  sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
}

PowerCutVfs::~PowerCutVfs() {
  sqlite3_vfs_unregister(&vfs_);
  sqlite3_vfs_register(root_, /*makeDflt=*/1);
}

void PowerCutVfs::CutAfter(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_at_ = operations_ + (n < 1 ? 1 : n);
}

void PowerCutVfs::CutNow() {
  std::lock_guard<std::mutex> lock(mu_);
  cut_ = true;
}

bool PowerCutVfs::cut() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cut_;
}

int64_t PowerCutVfs::operations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return operations_;
}

bool PowerCutVfs::CountAndCheckCut() {
  if (cut_) return true;
  ++operations_;
  if (cut_at_ > 0 && operations_ >= cut_at_) cut_ = true;
  return cut_;
}

void PowerCutVfs::ApplyPending(FileModel& model) {
  for (Op& op : model.pending) {
    if (op.truncate) {
      model.durable.resize(static_cast<size_t>(op.offset));
      continue;
    }
    const size_t end = static_cast<size_t>(op.offset) + op.data.size();
    if (model.durable.size() < end) model.durable.resize(end, '\0');
    model.durable.replace(static_cast<size_t>(op.offset), op.data.size(), op.data);
  }
  model.pending.clear();
}

absl::Status PowerCutVfs::SyncFd(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("fstat of fd ", fd, ": ", std::strerror(errno)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (CountAndCheckCut()) {
    return absl::UnavailableError("the power is cut: the sync never reached the disk");
  }
  for (auto& [path, model] : files_) {
    if (!model->deleted && model->dev == static_cast<uint64_t>(st.st_dev) &&
        model->ino == static_cast<uint64_t>(st.st_ino)) {
      ApplyPending(*model);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();  // a file SQLite has not written through this VFS: nothing pending
}

absl::StatusOr<CutDamage> PowerCutVfs::Restore(std::mt19937_64& rng) {
  std::lock_guard<std::mutex> lock(mu_);
  CutDamage damage;
  // How this cut treats what was not synced: the disk's cache lost it all, wrote it all out
  // (as after kill -9), or wrote some sectors and not others, some half-written.
  enum class Mode { kDropAll, kKeepAll, kTear };
  const Mode mode = static_cast<Mode>(rng() % 3);
  for (auto& [path, model] : files_) {
    // With nothing unsynced the file holds exactly what the disk does.
    if (model->deleted || model->pending.empty()) continue;
    std::string content = std::move(model->durable);
    for (const Op& op : model->pending) {
      if (op.truncate) {
        if (mode == Mode::kKeepAll || (mode == Mode::kTear && rng() % 2 == 0)) {
          content.resize(static_cast<size_t>(op.offset));
        }
        continue;
      }
      const int64_t end = op.offset + static_cast<int64_t>(op.data.size());
      for (int64_t s = op.offset; s < end;) {
        const int64_t e = std::min(end, (s / kSector + 1) * kSector);
        int choice = 0;  // 0 written, 1 lost, 2 garbage
        if (mode == Mode::kDropAll) {
          choice = 1;
        } else if (mode == Mode::kTear) {
          const uint64_t r = rng() % 8;
          choice = r < 4 ? 0 : (r < 7 ? 1 : 2);
        }
        if (choice == 1) {
          ++damage.sectors_dropped;
        } else {
          if (content.size() < static_cast<size_t>(e)) content.resize(static_cast<size_t>(e), '\0');
          for (int64_t i = s; i < e; ++i) {
            content[static_cast<size_t>(i)] = choice == 0
                                                  ? op.data[static_cast<size_t>(i - op.offset)]
                                                  : static_cast<char>(rng() & 0xff);
          }
          ++(choice == 0 ? damage.sectors_kept : damage.sectors_garbage);
        }
        s = e;
      }
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InternalError(absl::StrCat("rewriting ", path, ": ", std::strerror(errno)));
    }
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n <= 0) {
        ::close(fd);
        return absl::InternalError(absl::StrCat("rewriting ", path, ": ", std::strerror(errno)));
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    if (!absl::EndsWith(path, "-wal") && !absl::EndsWith(path, "-journal")) {
      const std::string shm = path + "-shm";
      if (::unlink(shm.c_str()) != 0 && errno != ENOENT) {
        return absl::InternalError(absl::StrCat("removing ", shm, ": ", std::strerror(errno)));
      }
    }
  }
  files_.clear();
  operations_ = 0;
  cut_at_ = 0;
  cut_ = false;
  return damage;
}

void PowerCutVfs::ForgetFiles() {
  std::lock_guard<std::mutex> lock(mu_);
  files_.clear();
  operations_ = 0;
  cut_at_ = 0;
  cut_ = false;
}

// ---- the VFS

int PowerCutVfs::Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
                      int* out_flags) {
  PowerCutVfs* self = Self(vfs);
  File* f = AsFile(file);
  f->base.pMethods = nullptr;
  f->owner = self;
  f->model = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  const int rc = self->root_->xOpen(self->root_, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  f->base.pMethods = &self->methods_;
  constexpr int kTracked = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL;
  if (name == nullptr || (flags & kTracked) == 0) return SQLITE_OK;
  std::lock_guard<std::mutex> lock(self->mu_);
  std::unique_ptr<FileModel>& model = self->files_[name];
  if (model == nullptr || model->deleted) {
    // First sight of the file: what is there now counts as on the disk.
    model = std::make_unique<FileModel>();
    model->path = name;
    struct stat st;
    if (::stat(name, &st) == 0) {
      model->dev = static_cast<uint64_t>(st.st_dev);
      model->ino = static_cast<uint64_t>(st.st_ino);
      model->durable.resize(static_cast<size_t>(st.st_size));
      std::ifstream in(name, std::ios::binary);
      in.read(model->durable.data(), static_cast<std::streamsize>(model->durable.size()));
      model->durable.resize(static_cast<size_t>(in.gcount()));
    }
  }
  f->model = model.get();
  return SQLITE_OK;
}

int PowerCutVfs::Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  PowerCutVfs* self = Self(vfs);
  std::lock_guard<std::mutex> lock(self->mu_);
  auto it = self->files_.find(name);
  if (it != self->files_.end()) {
    if (self->cut_) return SQLITE_IOERR_DELETE;
    it->second->deleted = true;
    it->second->durable.clear();
    it->second->pending.clear();
  }
  return self->root_->xDelete(self->root_, name, sync_dir);
}

int PowerCutVfs::Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Self(vfs)->root_->xAccess(Self(vfs)->root_, name, flags, out);
}
int PowerCutVfs::FullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return Self(vfs)->root_->xFullPathname(Self(vfs)->root_, name, n, out);
}
void* PowerCutVfs::DlOpen(sqlite3_vfs* vfs, const char* name) {
  return Self(vfs)->root_->xDlOpen(Self(vfs)->root_, name);
}
void PowerCutVfs::DlError(sqlite3_vfs* vfs, int n, char* out) {
  Self(vfs)->root_->xDlError(Self(vfs)->root_, n, out);
}
void (*PowerCutVfs::DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Self(vfs)->root_->xDlSym(Self(vfs)->root_, handle, symbol);
}
void PowerCutVfs::DlClose(sqlite3_vfs* vfs, void* handle) {
  Self(vfs)->root_->xDlClose(Self(vfs)->root_, handle);
}
int PowerCutVfs::Randomness(sqlite3_vfs* vfs, int n, char* out) {
  return Self(vfs)->root_->xRandomness(Self(vfs)->root_, n, out);
}
int PowerCutVfs::Sleep(sqlite3_vfs* vfs, int micros) {
  return Self(vfs)->root_->xSleep(Self(vfs)->root_, micros);
}
int PowerCutVfs::CurrentTime(sqlite3_vfs* vfs, double* out) {
  return Self(vfs)->root_->xCurrentTime(Self(vfs)->root_, out);
}
int PowerCutVfs::GetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return Self(vfs)->root_->xGetLastError(Self(vfs)->root_, n, out);
}
int PowerCutVfs::CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Self(vfs)->root_->xCurrentTimeInt64(Self(vfs)->root_, out);
}

// ---- files

int PowerCutVfs::Close(sqlite3_file* file) {
  File* f = AsFile(file);
  return f->real->pMethods->xClose(f->real);
}

int PowerCutVfs::Read(sqlite3_file* file, void* buf, int amount, sqlite3_int64 offset) {
  File* f = AsFile(file);
  return f->real->pMethods->xRead(f->real, buf, amount, offset);
}

int PowerCutVfs::Write(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 offset) {
  File* f = AsFile(file);
  if (f->model == nullptr) return f->real->pMethods->xWrite(f->real, buf, amount, offset);
  std::lock_guard<std::mutex> lock(f->owner->mu_);
  if (f->owner->CountAndCheckCut()) return SQLITE_IOERR_WRITE;
  const int rc = f->real->pMethods->xWrite(f->real, buf, amount, offset);
  if (rc == SQLITE_OK) {
    f->model->pending.push_back(
        Op{false, offset, std::string(static_cast<const char*>(buf), static_cast<size_t>(amount))});
  }
  return rc;
}

int PowerCutVfs::Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = AsFile(file);
  if (f->model == nullptr) return f->real->pMethods->xTruncate(f->real, size);
  std::lock_guard<std::mutex> lock(f->owner->mu_);
  if (f->owner->CountAndCheckCut()) return SQLITE_IOERR_TRUNCATE;
  const int rc = f->real->pMethods->xTruncate(f->real, size);
  if (rc == SQLITE_OK) f->model->pending.push_back(Op{true, size, {}});
  return rc;
}

int PowerCutVfs::Sync(sqlite3_file* file, int /*flags*/) {
  File* f = AsFile(file);
  if (f->model == nullptr) return SQLITE_OK;  // temporary files need no durability
  std::lock_guard<std::mutex> lock(f->owner->mu_);
  if (f->owner->CountAndCheckCut()) return SQLITE_IOERR_FSYNC;
  // The model is the disk: no real fsync (the test would only wait for it).
  f->owner->ApplyPending(*f->model);
  return SQLITE_OK;
}

int PowerCutVfs::FileSize(sqlite3_file* file, sqlite3_int64* size) {
  File* f = AsFile(file);
  return f->real->pMethods->xFileSize(f->real, size);
}
int PowerCutVfs::Lock(sqlite3_file* file, int level) {
  File* f = AsFile(file);
  return f->real->pMethods->xLock(f->real, level);
}
int PowerCutVfs::Unlock(sqlite3_file* file, int level) {
  File* f = AsFile(file);
  return f->real->pMethods->xUnlock(f->real, level);
}
int PowerCutVfs::CheckReservedLock(sqlite3_file* file, int* out) {
  File* f = AsFile(file);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}
int PowerCutVfs::FileControl(sqlite3_file* file, int op, void* arg) {
  File* f = AsFile(file);
  if (op == SQLITE_FCNTL_MMAP_SIZE) return SQLITE_NOTFOUND;  // reads go through xRead
  return f->real->pMethods->xFileControl(f->real, op, arg);
}
int PowerCutVfs::SectorSize(sqlite3_file* file) {
  File* f = AsFile(file);
  return f->real->pMethods->xSectorSize(f->real);
}
int PowerCutVfs::DeviceCharacteristics(sqlite3_file* file) {
  File* f = AsFile(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}
int PowerCutVfs::ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  File* f = AsFile(file);
  return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}
int PowerCutVfs::ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = AsFile(file);
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
void PowerCutVfs::ShmBarrier(sqlite3_file* file) {
  File* f = AsFile(file);
  f->real->pMethods->xShmBarrier(f->real);
}
int PowerCutVfs::ShmUnmap(sqlite3_file* file, int delete_flag) {
  File* f = AsFile(file);
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

}  // namespace camfleet::testing
