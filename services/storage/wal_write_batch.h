#pragma once
// A SQLite VFS shim that writes each commit's WAL frames with one write(2) instead of two per
// frame (SQLite writes a frame's 24-byte header and its page separately: a lifecycle write that
// dirties ten pages cost the writer twenty pwrite calls, most of its CPU in the kernel).
//
// Writes to a WAL file that continue the previous one (SQLite appends frames in order) are
// gathered in memory and handed to the real file in one write when SQLite writes the page of a
// commit frame (the frame whose header carries the database size), which is the last write of
// a commit before SQLite publishes the frames to readers in the wal-index. Anything else done to
// that file (a read, a write elsewhere, a sync, a truncation, its size, closing it) and any
// wal-index barrier or lock on the writing thread writes out what is gathered first. So no
// reader, no checkpoint and no fsync ever sees the file without bytes SQLite believes written:
// durability is exactly SQLite's (the store's syncer fdatasyncs the WAL after the COMMIT, as
// before). Only files SQLite opens as WAL are gathered; every other file passes straight
// through. At most `kMaxGathered` bytes are held (a long transaction that spills pages writes
// them out as it goes), and they are handed over in writes of up to 128 KiB (what the unix VFS
// takes in one write(2)): a lifecycle group commit is one or two writes.

#include "absl/status/status.h"

namespace camfleet::storage {

inline constexpr int kMaxGathered = 1 << 20;

// Registers the shim once per process as SQLite's default VFS, wrapping the default VFS found
// then, so that every connection opened afterwards uses it. Safe to call from many threads.
absl::Status InstallWalWriteBatching();

}  // namespace camfleet::storage
