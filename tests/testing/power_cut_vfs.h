#pragma once
// A SQLite VFS that simulates a power cut, the method of SQLite's own crash tests (test6.c): a
// shim over the default VFS that passes every call through (so every connection of the process
// sees the files as the page cache would) and, for each database and WAL file, keeps what a
// disk would have: the content as of the last sync, and the writes (and truncations) made since.
//
// Armed with a cut point (the N-th write, truncate or sync from now), the VFS fails that call
// and every later write, truncate, sync and delete with an I/O error: the machine has lost
// power, nothing more reaches the disk. Restore() then rewrites every file as the disk would
// hold it after the cut: the synced content, plus the unsynced writes dropped, all applied, or
// applied sector by sector at random with some sectors left as garbage (within the bytes that
// were being written: SQLite assumes power-safe overwrite, as the default VFS reports). The
// shared-memory wal-index is deleted, as a reboot loses it.
//
// Files are tracked from their first open; a file existing then counts as synced. Directory
// entries are not modelled: a file once created survives (the Store syncs its directory itself,
// StoreOptions::sync_directory). No real fsync is done: the model is the disk. The VFS is
// registered as the process's default (so a Store opens on it unchanged) and unregistered by
// the destructor. One instance at a time.

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace camfleet::testing {

// What Restore did with the unsynced writes, over all files.
struct CutDamage {
  int64_t sectors_kept = 0;     // unsynced sectors written as written
  int64_t sectors_dropped = 0;  // unsynced sectors that never reached the disk
  int64_t sectors_garbage = 0;  // unsynced sectors left holding random bytes
};

class PowerCutVfs {
 public:
  PowerCutVfs();
  ~PowerCutVfs();
  PowerCutVfs(const PowerCutVfs&) = delete;
  PowerCutVfs& operator=(const PowerCutVfs&) = delete;

  // Cuts the power at the `n`-th write, truncate or sync (n >= 1) from now, the way a Store's
  // own sync of the WAL counts too (SyncFd).
  void CutAfter(int64_t n);
  // Cuts the power now, if it is not cut yet.
  void CutNow();
  bool cut() const;
  // Writes, truncates and syncs so far (to size the range of cut points).
  int64_t operations() const;

  // Makes the tracked file open as `fd` durable, as fdatasync would: the hook for
  // StoreOptions::sync_wal (the Store syncs its WAL itself, not through SQLite). After the cut,
  // UNAVAILABLE, like a failing disk.
  absl::Status SyncFd(int fd);

  // After the cut, with every connection closed: rewrites each tracked file as the disk holds it
  // (see above), choosing with `rng`, removes each database's -shm, forgets every file and turns
  // the power back on. Errors: a file that cannot be rewritten.
  absl::StatusOr<CutDamage> Restore(std::mt19937_64& rng);
  // With every connection closed: forgets every file (the next open reads it afresh as the
  // disk's content) and disarms the cut. For a test that replaces the files itself.
  void ForgetFiles();

  struct File;  // an open file: ours, then the default VFS's

 private:
  struct Op {
    bool truncate = false;
    int64_t offset = 0;  // or the new size, for a truncate
    std::string data;
  };
  struct FileModel {
    std::string path;
    uint64_t dev = 0;
    uint64_t ino = 0;
    std::string durable;
    std::vector<Op> pending;
    bool deleted = false;  // removed with xDelete: not rewritten by Restore
  };
  static int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
                  int* out_flags);
  static int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir);
  static int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out);
  static int FullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out);
  static void* DlOpen(sqlite3_vfs* vfs, const char* name);
  static void DlError(sqlite3_vfs* vfs, int n, char* out);
  static void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void);
  static void DlClose(sqlite3_vfs* vfs, void* handle);
  static int Randomness(sqlite3_vfs* vfs, int n, char* out);
  static int Sleep(sqlite3_vfs* vfs, int micros);
  static int CurrentTime(sqlite3_vfs* vfs, double* out);
  static int GetLastError(sqlite3_vfs* vfs, int n, char* out);
  static int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out);

  static int Close(sqlite3_file* file);
  static int Read(sqlite3_file* file, void* buf, int amount, sqlite3_int64 offset);
  static int Write(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 offset);
  static int Truncate(sqlite3_file* file, sqlite3_int64 size);
  static int Sync(sqlite3_file* file, int flags);
  static int FileSize(sqlite3_file* file, sqlite3_int64* size);
  static int Lock(sqlite3_file* file, int level);
  static int Unlock(sqlite3_file* file, int level);
  static int CheckReservedLock(sqlite3_file* file, int* out);
  static int FileControl(sqlite3_file* file, int op, void* arg);
  static int SectorSize(sqlite3_file* file);
  static int DeviceCharacteristics(sqlite3_file* file);
  static int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out);
  static int ShmLock(sqlite3_file* file, int offset, int n, int flags);
  static void ShmBarrier(sqlite3_file* file);
  static int ShmUnmap(sqlite3_file* file, int delete_flag);

  static PowerCutVfs* Self(sqlite3_vfs* vfs) { return static_cast<PowerCutVfs*>(vfs->pAppData); }
  // Counts one write, truncate or sync; true if the power is (now) off. Needs mu_.
  bool CountAndCheckCut();
  void ApplyPending(FileModel& model);

  sqlite3_vfs vfs_{};
  sqlite3_vfs* root_ = nullptr;
  sqlite3_io_methods methods_{};

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FileModel>> files_;  // by path
  int64_t operations_ = 0;
  int64_t cut_at_ = 0;  // 0: not armed
  bool cut_ = false;
};

}  // namespace camfleet::testing
