#include "common/sqlite.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace camfleet::common {

absl::Status SqliteStatus(int rc, absl::string_view context, absl::string_view detail) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return absl::OkStatus();
  std::string msg = absl::StrCat(context, ": ", detail, " (", sqlite3_errstr(rc), ")");
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return absl::AlreadyExistsError(msg);
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_FULL:
      // Not worth an immediate retry (UNAVAILABLE would invite one): space must be freed first.
      // SQLite also says FULL when the database reaches PRAGMA max_page_count.
      return absl::ResourceExhaustedError(absl::StrCat(
          "the disk holding the database is full (or the database reached its size limit): ",
          context, " failed: ", detail, " (", sqlite3_errstr(rc),
          "); free disk space, then retry"));
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      slot_(other.slot_),
      bind_status_(std::move(other.bind_status_)) {}

Statement::~Statement() {
  if (stmt_ != nullptr) db_->Release(stmt_, slot_);
}

namespace {
absl::Status BindResult(sqlite3_stmt* stmt, int rc, int index) {
  if (rc == SQLITE_OK) return absl::OkStatus();
  return SqliteStatus(rc, absl::StrCat("binding parameter ", index),
                      sqlite3_sql(stmt) != nullptr ? sqlite3_sql(stmt) : "");
}
}  // namespace

Statement& Statement::Bind(int index, int64_t value) {
  if (bind_status_.ok()) {
    bind_status_ = BindResult(stmt_, sqlite3_bind_int64(stmt_, index, value), index);
  }
  return *this;
}

Statement& Statement::Bind(int index, absl::string_view text) {
  if (bind_status_.ok()) {
    bind_status_ =
        BindResult(stmt_,
                   sqlite3_bind_text64(stmt_, index, text.data() != nullptr ? text.data() : "",
                                       text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
                   index);
  }
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view bytes) {
  if (bind_status_.ok()) {
    bind_status_ =
        BindResult(stmt_,
                   sqlite3_bind_blob64(stmt_, index, bytes.data() != nullptr ? bytes.data() : "",
                                       bytes.size(), SQLITE_TRANSIENT),
                   index);
  }
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (bind_status_.ok()) bind_status_ = BindResult(stmt_, sqlite3_bind_null(stmt_, index), index);
  return *this;
}

Statement& Statement::BindOptional(int index, const std::optional<int64_t>& value) {
  return value.has_value() ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindOptional(int index, const std::optional<std::string>& value) {
  return value.has_value() ? Bind(index, absl::string_view(*value)) : BindNull(index);
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(sqlite3_extended_errcode(db_->db_), "executing statement",
                      sqlite3_errmsg(db_->db_));
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string Statement::ColumnBlob(int col) const {
  const void* blob = sqlite3_column_blob(stmt_, col);
  if (blob == nullptr) return {};
  return std::string(static_cast<const char*>(blob),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::optional<int64_t> Statement::ColumnOptionalInt(int col) const {
  if (ColumnIsNull(col)) return std::nullopt;
  return ColumnInt(col);
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         const OpenOptions& options) {
  sqlite3* raw = nullptr;
  int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = raw != nullptr ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    return SqliteStatus(rc, absl::StrCat("opening database ", path), detail);
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // WAL lets readers run beside the one writer; FULL makes every commit durable (fsync of the
  // WAL) before COMMIT returns, which is what "acknowledged means on disk" needs.
  // temp_store=MEMORY keeps the statement journals of the store's per-write savepoints in memory;
  // they only serve a rollback inside a live transaction, so durability is unaffected, and
  // spilling them to a temp file cost the writer most of its time (bench/README.md).
  std::string pragmas =
      "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;";
  if (!options.read_only) pragmas = "PRAGMA journal_mode=WAL; " + pragmas;
  if (absl::Status s = db->Exec(pragmas); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("configuring database ", path, ": ", s.message()));
  }
  return db;
}

Database::~Database() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

absl::Status Database::Exec(absl::string_view sql) {
  char* err = nullptr;
  std::string sql_copy(sql);
  int rc = sqlite3_exec(db_, sql_copy.c_str(), nullptr, nullptr, &err);
  std::string detail = err != nullptr ? err : "";
  sqlite3_free(err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  return SqliteStatus(sqlite3_extended_errcode(db_), "executing SQL", detail);
}

absl::StatusOr<Statement> Database::Prepare(absl::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && it->second != nullptr) {
    sqlite3_stmt* stmt = std::exchange(it->second, nullptr);  // checked out
    return Statement(this, stmt, &it->second);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(sqlite3_extended_errcode(db_), "preparing statement",
                        absl::StrCat(sqlite3_errmsg(db_), " in: ", sql));
  }
  if (stmt == nullptr) {
    return absl::InternalError(absl::StrCat("no SQL statement in: ", sql));
  }
  // A statement prepared while the cached one is checked out (a second concurrent use of the
  // same SQL) is not cached: it is finalized when released.
  if (it != cache_.end()) return Statement(this, stmt, nullptr);
  it = cache_.try_emplace(std::string(sql), nullptr).first;
  return Statement(this, stmt, &it->second);
}

void Database::Release(sqlite3_stmt* stmt, sqlite3_stmt** slot) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (slot != nullptr && *slot == nullptr) {
    *slot = stmt;  // back into the cache
  } else {
    sqlite3_finalize(stmt);
  }
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int Database::Changes() const { return sqlite3_changes(db_); }

}  // namespace camfleet::common
