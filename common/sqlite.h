#pragma once
// A small RAII layer over the SQLite C API. Every failure comes back as an absl::Status whose
// code follows the SQLite result: constraint violations of a UNIQUE/PRIMARY KEY are
// ALREADY_EXISTS, other constraint failures FAILED_PRECONDITION, BUSY/LOCKED UNAVAILABLE,
// FULL (disk full, or PRAGMA max_page_count reached) RESOURCE_EXHAUSTED saying so,
// CORRUPT/NOTADB DATA_LOSS, anything else INTERNAL.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::common {

// Maps a SQLite result code (extended or primary) and message to a Status.
absl::Status SqliteStatus(int rc, absl::string_view context, absl::string_view detail);

class Database;

// A prepared statement. Bind indexes and column indexes follow SQLite (binds from 1, columns
// from 0). A Statement obtained from Database::Prepare is owned by the database's cache and is
// reset automatically when the Statement handle goes out of scope.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& BindNull(int index);
  // Binds `value` or NULL.
  Statement& BindOptional(int index, const std::optional<int64_t>& value);
  Statement& BindOptional(int index, const std::optional<std::string>& value);

  // Steps once. Returns true when a row is ready, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, expecting no rows back.
  absl::Status Run();

  int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;
  std::optional<int64_t> ColumnOptionalInt(int col) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt, sqlite3_stmt** slot)
      : db_(db), stmt_(stmt), slot_(slot) {}

  Database* db_;
  sqlite3_stmt* stmt_;
  // The database's cache entry this statement goes back to when released; null for a
  // statement prepared while the cached one was in use (finalized instead).
  sqlite3_stmt** slot_;
  absl::Status bind_status_;
};

struct OpenOptions {
  bool read_only = false;
  // How long a statement waits on a lock held by another connection before UNAVAILABLE.
  int busy_timeout_ms = 5000;
};

// One connection. Not thread-safe: each thread uses its own Database.
class Database {
 public:
  // Opens (creating unless read-only) the file at `path` with WAL, synchronous=FULL, foreign
  // keys on and a busy timeout. Errors: UNAVAILABLE/INTERNAL from SQLite with the path.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        const OpenOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that return no rows.
  absl::Status Exec(absl::string_view sql);
  // Returns a cached prepared statement for `sql`.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }

 private:
  friend class Statement;
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void Release(sqlite3_stmt* stmt, sqlite3_stmt** slot);

  sqlite3* db_;
  std::string path_;
  // By SQL text; an entry is null while its statement is checked out. Looked up by the text
  // without copying it (a string_view), and a statement goes back through its entry's address
  // (node_hash_map keeps it stable), not by hashing its text again.
  absl::node_hash_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace camfleet::common
