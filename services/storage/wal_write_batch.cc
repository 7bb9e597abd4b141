#include "services/storage/wal_write_batch.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"

namespace camfleet::storage {
namespace {

constexpr int kFrameHeaderBytes = 24;  // SQLite's WAL frame header
// The unix VFS writes at most 0x1ffff bytes per write(2) and gives up (SQLITE_FULL) when a
// write comes back short at a multiple of that: hand it no more than this at a time.
constexpr size_t kMaxWriteBytes = 0x1ffff;

sqlite3_vfs* base_vfs = nullptr;  // the VFS wrapped; set once
sqlite3_vfs batch_vfs;

// Bytes written to a WAL file but not yet handed to it: one run starting at `offset`.
struct Gathered {
  std::string bytes;
  sqlite3_int64 offset = 0;
  bool commit_page_next = false;  // the last write was the header of a commit frame
};

struct BatchFile {
  sqlite3_file base;    // our methods
  sqlite3_file* real;   // the wrapped file, in the same allocation right after this struct
  Gathered* gathered;   // only for WAL files
};
static_assert(sizeof(BatchFile) % 8 == 0);

// The WAL file with gathered bytes on this thread (SQLite writes a commit and publishes it in
// the wal-index on one thread): what a wal-index barrier or lock writes out.
thread_local BatchFile* pending_on_thread = nullptr;

BatchFile* Of(sqlite3_file* file) { return reinterpret_cast<BatchFile*>(file); }

// Hands the gathered run to the file with one write. On failure the bytes are kept and the
// next flush tries again, so nothing written later ever lands before them.
int Flush(BatchFile* f) {
  if (f->gathered == nullptr || f->gathered->bytes.empty()) return SQLITE_OK;
  Gathered& g = *f->gathered;
  size_t done = 0;
  while (done < g.bytes.size()) {
    const size_t piece = std::min(g.bytes.size() - done, kMaxWriteBytes);
    const int rc = f->real->pMethods->xWrite(f->real, g.bytes.data() + done,
                                             static_cast<int>(piece),
                                             g.offset + static_cast<sqlite3_int64>(done));
    if (rc != SQLITE_OK) {
      g.bytes.erase(0, done);
      g.offset += static_cast<sqlite3_int64>(done);
      return rc;
    }
    done += piece;
  }
  g.bytes.clear();
  g.commit_page_next = false;
  if (pending_on_thread == f) pending_on_thread = nullptr;
  return SQLITE_OK;
}

int FlushPendingOnThread() {
  return pending_on_thread != nullptr ? Flush(pending_on_thread) : SQLITE_OK;
}

int Close(sqlite3_file* file) {
  BatchFile* f = Of(file);
  Flush(f);  // an error here has nowhere to go; SQLite closes a WAL only after a checkpoint
  if (pending_on_thread == f) pending_on_thread = nullptr;
  delete f->gathered;
  f->gathered = nullptr;
  return f->real->pMethods->xClose(f->real);
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  BatchFile* f = Of(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  BatchFile* f = Of(file);
  if (f->gathered == nullptr) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  Gathered& g = *f->gathered;
  if (!g.bytes.empty() &&
      offset != g.offset + static_cast<sqlite3_int64>(g.bytes.size())) {
    // Not the continuation of the run (a frame rewritten in place, a checksum fixed up).
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  }
  if (g.bytes.empty()) g.offset = offset;
  const bool commit_page = g.commit_page_next;
  g.bytes.append(static_cast<const char*>(data), static_cast<size_t>(amount));
  pending_on_thread = f;
  // A frame header whose "database size after commit" field (bytes 4..7) is set belongs to a
  // commit frame: the page written next is the last write of the commit.
  const auto* bytes = static_cast<const unsigned char*>(data);
  g.commit_page_next =
      amount == kFrameHeaderBytes && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  if (commit_page || g.bytes.size() >= static_cast<size_t>(kMaxGathered)) return Flush(f);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  BatchFile* f = Of(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  BatchFile* f = Of(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  BatchFile* f = Of(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  return Of(file)->real->pMethods->xLock(Of(file)->real, level);
}
int Unlock(sqlite3_file* file, int level) {
  return Of(file)->real->pMethods->xUnlock(Of(file)->real, level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Of(file)->real->pMethods->xCheckReservedLock(Of(file)->real, out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  BatchFile* f = Of(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}
int SectorSize(sqlite3_file* file) {
  return Of(file)->real->pMethods->xSectorSize(Of(file)->real);
}
int DeviceCharacteristics(sqlite3_file* file) {
  return Of(file)->real->pMethods->xDeviceCharacteristics(Of(file)->real);
}

// The wal-index (shared memory) belongs to the database file. SQLite publishes a commit there
// after writing its frames, with a barrier between the two copies of the header, and takes
// its locks there: whatever is still gathered on this thread is written out first.
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  sqlite3_file* real = Of(file)->real;
  if (real->pMethods->iVersion < 2) return SQLITE_IOERR;
  return real->pMethods->xShmMap(real, region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  sqlite3_file* real = Of(file)->real;
  if (real->pMethods->iVersion < 2) return SQLITE_IOERR;
  if (int rc = FlushPendingOnThread(); rc != SQLITE_OK) return rc;
  return real->pMethods->xShmLock(real, offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) {
  sqlite3_file* real = Of(file)->real;
  // A failure leaves the bytes gathered for the next flush (which reports it); the commit frame
  // flush (Write) normally emptied the run before SQLite gets here.
  FlushPendingOnThread();
  if (real->pMethods->iVersion >= 2) real->pMethods->xShmBarrier(real);
}
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* real = Of(file)->real;
  if (real->pMethods->iVersion < 2) return SQLITE_IOERR;
  return real->pMethods->xShmUnmap(real, delete_flag);
}
int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  sqlite3_file* real = Of(file)->real;
  *out = nullptr;
  if (real->pMethods->iVersion < 3) return SQLITE_OK;
  if (int rc = Flush(Of(file)); rc != SQLITE_OK) return rc;
  return real->pMethods->xFetch(real, offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  sqlite3_file* real = Of(file)->real;
  if (real->pMethods->iVersion < 3) return SQLITE_OK;
  return real->pMethods->xUnfetch(real, offset, page);
}

const sqlite3_io_methods kMethods = {
    3,           Close,        Read,     Write,    Truncate,          Sync,
    FileSize,    Lock,         Unlock,   CheckReservedLock,           FileControl,
    SectorSize,  DeviceCharacteristics,  ShmMap,   ShmLock,           ShmBarrier,
    ShmUnmap,    Fetch,        Unfetch,
};

int Open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  BatchFile* f = Of(file);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->gathered = nullptr;
  std::memset(f->real, 0, static_cast<size_t>(base_vfs->szOsFile));
  const int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
  // SQLite calls xClose on a file whose pMethods is set, even after a failed open.
  file->pMethods = f->real->pMethods != nullptr ? &kMethods : nullptr;
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0) f->gathered = new Gathered;
  return rc;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return base_vfs->xDelete(base_vfs, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return base_vfs->xAccess(base_vfs, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return base_vfs->xFullPathname(base_vfs, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return base_vfs->xDlOpen(base_vfs, name); }
void DlError(sqlite3_vfs*, int n, char* out) { base_vfs->xDlError(base_vfs, n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return base_vfs->xDlSym(base_vfs, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { base_vfs->xDlClose(base_vfs, handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return base_vfs->xRandomness(base_vfs, n, out); }
int Sleep(sqlite3_vfs*, int micros) { return base_vfs->xSleep(base_vfs, micros); }
int CurrentTime(sqlite3_vfs*, double* out) { return base_vfs->xCurrentTime(base_vfs, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return base_vfs->xGetLastError(base_vfs, n, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

}  // namespace

absl::Status InstallWalWriteBatching() {
  static std::once_flag once;
  static int result = SQLITE_OK;
  std::call_once(once, [] {
    base_vfs = sqlite3_vfs_find(nullptr);
    if (base_vfs == nullptr) {
      result = SQLITE_ERROR;
      return;
    }
    std::memset(&batch_vfs, 0, sizeof(batch_vfs));
    batch_vfs.iVersion = 2;
    batch_vfs.szOsFile = static_cast<int>(sizeof(BatchFile)) + base_vfs->szOsFile;
    batch_vfs.mxPathname = base_vfs->mxPathname;
    batch_vfs.zName = "camfleet-wal-batch";
    batch_vfs.xOpen = Open;
    batch_vfs.xDelete = Delete;
    batch_vfs.xAccess = Access;
    batch_vfs.xFullPathname = FullPathname;
    batch_vfs.xDlOpen = DlOpen;
    batch_vfs.xDlError = DlError;
    batch_vfs.xDlSym = DlSym;
    batch_vfs.xDlClose = DlClose;
    batch_vfs.xRandomness = Randomness;
    batch_vfs.xSleep = Sleep;
    batch_vfs.xCurrentTime = CurrentTime;
    batch_vfs.xGetLastError = GetLastError;
    batch_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    result = sqlite3_vfs_register(&batch_vfs, /*makeDflt=*/1);
  });
  if (result != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("registering the WAL write-batching VFS: ",
                                            sqlite3_errstr(result)));
  }
  return absl::OkStatus();
}

}  // namespace camfleet::storage
