// common/sqlite.h and common/migration.h against real files in a temp dir.

#include "common/sqlite.h"

#include <sqlite3.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/migration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::common {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

MATCHER_P(HoldsValue, value, "is OK and holds " + ::testing::PrintToString(value)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == value;
}

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.File("test.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    ASSERT_THAT(db_->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, "
                          "n INTEGER CHECK (n >= 0), b BLOB, must TEXT NOT NULL DEFAULT '');"
                          "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                          "t_id INTEGER NOT NULL REFERENCES t(id));"),
                IsOk());
  }

  // Prepared statements the connection holds right now (cached or checked out).
  int LiveStatements() {
    int n = 0;
    for (sqlite3_stmt* s = sqlite3_next_stmt(db_->handle(), nullptr); s != nullptr;
         s = sqlite3_next_stmt(db_->handle(), s)) {
      ++n;
    }
    return n;
  }

  int64_t Count(const std::string& sql) {
    absl::StatusOr<Statement> s = db_->Prepare(sql);
    EXPECT_THAT(s, IsOk());
    if (!s.ok()) return -1;
    absl::StatusOr<bool> row = s->Step();
    EXPECT_THAT(row, IsOk());
    return row.ok() && *row ? s->ColumnInt(0) : -1;
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
};

int64_t PragmaInt(Database& db, const std::string& pragma) {
  absl::StatusOr<Statement> s = db.Prepare("PRAGMA " + pragma);
  if (!s.ok()) return -1;
  absl::StatusOr<bool> row = s->Step();
  return row.ok() && *row ? s->ColumnInt(0) : -1;
}

// ------------------------------------------------------------------------------- basics

TEST_F(SqliteTest, OpenCreatesTheFile) {
  EXPECT_TRUE(std::ifstream(dir_.File("test.db")).good());
  EXPECT_EQ(db_->path(), dir_.File("test.db"));
}

TEST_F(SqliteTest, OpenTurnsOnWalFullSyncForeignKeysAndBusyTimeout) {
  absl::StatusOr<Statement> mode = db_->Prepare("PRAGMA journal_mode");
  ASSERT_THAT(mode, IsOk());
  ASSERT_THAT(mode->Step(), IsOk());
  EXPECT_EQ(mode->ColumnText(0), "wal");
  EXPECT_EQ(PragmaInt(*db_, "synchronous"), 2);
  EXPECT_EQ(PragmaInt(*db_, "foreign_keys"), 1);
  EXPECT_EQ(PragmaInt(*db_, "busy_timeout"), 5000);
}

TEST_F(SqliteTest, InsertedValuesReadBackThroughEveryColumnAccessor) {
  absl::StatusOr<Statement> ins =
      db_->Prepare("INSERT INTO t (id, name, n, b) VALUES (?, ?, ?, ?)");
  ASSERT_THAT(ins, IsOk());
  const std::string blob("\0\x01\xfe", 3);
  ins->Bind(1, int64_t{7}).Bind(2, "seven").Bind(3, int64_t{1} << 40).BindBlob(4, blob);
  ASSERT_THAT(ins->Run(), IsOk());
  EXPECT_EQ(db_->LastInsertRowId(), 7);
  EXPECT_EQ(db_->Changes(), 1);

  absl::StatusOr<Statement> sel = db_->Prepare("SELECT id, name, n, b FROM t");
  ASSERT_THAT(sel, IsOk());
  absl::StatusOr<bool> row = sel->Step();
  ASSERT_THAT(row, IsOk());
  ASSERT_TRUE(*row);
  EXPECT_EQ(sel->ColumnInt(0), 7);
  EXPECT_EQ(sel->ColumnText(1), "seven");
  EXPECT_EQ(sel->ColumnInt(2), int64_t{1} << 40);
  EXPECT_EQ(sel->ColumnBlob(3), blob);
  EXPECT_FALSE(sel->ColumnIsNull(3));
  row = sel->Step();
  ASSERT_THAT(row, IsOk());
  EXPECT_FALSE(*row);
}

TEST_F(SqliteTest, TextWithEmbeddedNulRoundTrips) {
  const std::string text("a\0b", 3);
  absl::StatusOr<Statement> ins = db_->Prepare("INSERT INTO t (name) VALUES (?)");
  ASSERT_THAT(ins, IsOk());
  ASSERT_THAT(ins->Bind(1, text).Run(), IsOk());
  absl::StatusOr<Statement> sel = db_->Prepare("SELECT name FROM t");
  ASSERT_THAT(sel, IsOk());
  ASSERT_THAT(sel->Step(), IsOk());
  EXPECT_EQ(sel->ColumnText(0), text);
}

TEST_F(SqliteTest, EmptyStringViewBindsEmptyTextNotNull) {
  // A default absl::string_view has data() == nullptr, which sqlite3_bind_text64 takes as
  // NULL; Bind(int, string_view) promises text.
  absl::StatusOr<Statement> ins = db_->Prepare("INSERT INTO t (id, must) VALUES (1, ?)");
  ASSERT_THAT(ins, IsOk());
  EXPECT_THAT(ins->Bind(1, absl::string_view()).Run(), IsOk());
}

TEST_F(SqliteTest, EmptyBlobViewBindsAnEmptyBlobNotNull) {
  absl::StatusOr<Statement> ins = db_->Prepare("INSERT INTO t (id, b) VALUES (1, ?)");
  ASSERT_THAT(ins, IsOk());
  ASSERT_THAT(ins->BindBlob(1, absl::string_view()).Run(), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t WHERE b IS NOT NULL AND length(b) = 0"), 1);
}

TEST_F(SqliteTest, BindOptionalBindsNullWhenUnset) {
  absl::StatusOr<Statement> ins = db_->Prepare("INSERT INTO t (id, name, n) VALUES (1, ?, ?)");
  ASSERT_THAT(ins, IsOk());
  ASSERT_THAT(ins->BindOptional(1, std::optional<std::string>())
                  .BindOptional(2, std::optional<int64_t>())
                  .Run(),
              IsOk());
  absl::StatusOr<Statement> sel = db_->Prepare("SELECT name, n FROM t WHERE id = 1");
  ASSERT_THAT(sel, IsOk());
  ASSERT_THAT(sel->Step(), IsOk());
  EXPECT_TRUE(sel->ColumnIsNull(0));
  EXPECT_EQ(sel->ColumnOptionalInt(1), std::nullopt);
}

TEST_F(SqliteTest, BindOptionalBindsTheValueWhenSet) {
  absl::StatusOr<Statement> ins = db_->Prepare("INSERT INTO t (id, name, n) VALUES (1, ?, ?)");
  ASSERT_THAT(ins, IsOk());
  ASSERT_THAT(ins->BindOptional(1, std::optional<std::string>("x"))
                  .BindOptional(2, std::optional<int64_t>(5))
                  .Run(),
              IsOk());
  absl::StatusOr<Statement> sel = db_->Prepare("SELECT name, n FROM t WHERE id = 1");
  ASSERT_THAT(sel, IsOk());
  ASSERT_THAT(sel->Step(), IsOk());
  EXPECT_EQ(sel->ColumnText(0), "x");
  EXPECT_EQ(sel->ColumnOptionalInt(1), std::optional<int64_t>(5));
}

TEST_F(SqliteTest, ExecRunsSeveralStatements) {
  ASSERT_THAT(db_->Exec("INSERT INTO t (name) VALUES ('a'); INSERT INTO t (name) VALUES ('b');"),
              IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM t"), 2);
}

TEST_F(SqliteTest, SyntaxErrorInPrepareIsInternalWithTheSql) {
  EXPECT_THAT(db_->Prepare("SELEC nonsense FROM t"),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("preparing statement"), HasSubstr("SELEC nonsense"))));
}

TEST_F(SqliteTest, PrepareOfTextWithoutAStatementIsAnError) {
  // sqlite3_prepare_v3 succeeds with a null statement for a comment or empty text; handing
  // that out would make Step() call sqlite3_step(NULL).
  EXPECT_FALSE(db_->Prepare("-- nothing here").ok());
}

TEST_F(SqliteTest, BindingAMissingParameterFailsAtStep) {
  absl::StatusOr<Statement> s = db_->Prepare("SELECT ?");
  ASSERT_THAT(s, IsOk());
  s->Bind(5, int64_t{1});
  EXPECT_THAT(s->Step(), StatusIs(absl::StatusCode::kInternal, HasSubstr("binding parameter 5")));
}

TEST_F(SqliteTest, StepOnAMissingTableIsInternal) {
  ASSERT_THAT(db_->Exec("CREATE TABLE gone (x)"), IsOk());
  absl::StatusOr<Statement> s = db_->Prepare("SELECT x FROM gone");
  ASSERT_THAT(s, IsOk());
  ASSERT_THAT(db_->Exec("DROP TABLE gone"), IsOk());
  EXPECT_FALSE(s->Step().ok());
}

// ------------------------------------------------------------------------ status mapping

TEST_F(SqliteTest, UniqueViolationIsAlreadyExists) {
  ASSERT_THAT(db_->Exec("INSERT INTO t (name) VALUES ('dup')"), IsOk());
  absl::StatusOr<Statement> s = db_->Prepare("INSERT INTO t (name) VALUES (?)");
  ASSERT_THAT(s, IsOk());
  EXPECT_THAT(s->Bind(1, "dup").Run(),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("UNIQUE")));
}

TEST_F(SqliteTest, PrimaryKeyViolationIsAlreadyExists) {
  ASSERT_THAT(db_->Exec("INSERT INTO t (id) VALUES (1)"), IsOk());
  EXPECT_THAT(db_->Exec("INSERT INTO t (id) VALUES (1)"),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(SqliteTest, CheckViolationIsFailedPrecondition) {
  absl::StatusOr<Statement> s = db_->Prepare("INSERT INTO t (n) VALUES (?)");
  ASSERT_THAT(s, IsOk());
  EXPECT_THAT(s->Bind(1, int64_t{-1}).Run(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CHECK")));
}

TEST_F(SqliteTest, NotNullViolationIsFailedPrecondition) {
  EXPECT_THAT(db_->Exec("INSERT INTO t (must) VALUES (NULL)"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("NOT NULL")));
}

TEST_F(SqliteTest, ForeignKeyViolationIsFailedPrecondition) {
  EXPECT_THAT(db_->Exec("INSERT INTO child (t_id) VALUES (99)"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("FOREIGN KEY")));
}

TEST_F(SqliteTest, TriggerRaiseAbortIsFailedPrecondition) {
  ASSERT_THAT(db_->Exec("CREATE TRIGGER no_delete BEFORE DELETE ON t BEGIN "
                        "SELECT RAISE(ABORT, 'rows are forever'); END;"
                        "INSERT INTO t (name) VALUES ('x');"),
              IsOk());
  EXPECT_THAT(db_->Exec("DELETE FROM t"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("rows are forever")));
}

TEST(SqliteStatusTest, MapsResultCodesToStatusCodes) {
  EXPECT_THAT(SqliteStatus(SQLITE_OK, "ctx", ""), IsOk());
  EXPECT_THAT(SqliteStatus(SQLITE_DONE, "ctx", ""), IsOk());
  EXPECT_THAT(SqliteStatus(SQLITE_ROW, "ctx", ""), IsOk());
  EXPECT_THAT(SqliteStatus(SQLITE_CONSTRAINT_UNIQUE, "ctx", ""),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(SqliteStatus(SQLITE_CONSTRAINT_PRIMARYKEY, "ctx", ""),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(SqliteStatus(SQLITE_CONSTRAINT_CHECK, "ctx", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(SqliteStatus(SQLITE_CONSTRAINT_FOREIGNKEY, "ctx", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(SqliteStatus(SQLITE_BUSY, "ctx", ""), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(SqliteStatus(SQLITE_BUSY_SNAPSHOT, "ctx", ""),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(SqliteStatus(SQLITE_LOCKED, "ctx", ""), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(SqliteStatus(SQLITE_CORRUPT, "ctx", ""), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(SqliteStatus(SQLITE_NOTADB, "ctx", ""), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(SqliteStatus(SQLITE_IOERR_FSYNC, "ctx", ""),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(SqliteStatus(SQLITE_MISUSE, "ctx", ""), StatusIs(absl::StatusCode::kInternal));
}

TEST(SqliteStatusTest, MessageHoldsContextDetailAndSqliteText) {
  EXPECT_THAT(SqliteStatus(SQLITE_BUSY, "committing", "locked by pid 7"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("committing"), HasSubstr("locked by pid 7"),
                             HasSubstr(sqlite3_errstr(SQLITE_BUSY)))));
}

TEST(SqliteOpenTest, FileThatIsNotADatabaseIsDataLoss) {
  TempDir dir;
  {
    std::ofstream out(dir.File("junk.db"));
    out << std::string(4096, 'x');
  }
  EXPECT_THAT(Database::Open(dir.File("junk.db")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("junk.db")));
}

TEST(SqliteOpenTest, MissingDirectoryIsUnavailableNamingThePath) {
  TempDir dir;
  EXPECT_THAT(Database::Open(dir.File("no/such/dir/x.db")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no/such/dir/x.db")));
}

TEST(SqliteOpenTest, ReadOnlyOpenOfMissingFileFails) {
  TempDir dir;
  OpenOptions options;
  options.read_only = true;
  EXPECT_FALSE(Database::Open(dir.File("absent.db"), options).ok());
}

TEST(SqliteOpenTest, ReadOnlyConnectionCannotWrite) {
  TempDir dir;
  {
    absl::StatusOr<std::unique_ptr<Database>> rw = Database::Open(dir.File("ro.db"));
    ASSERT_THAT(rw, IsOk());
    ASSERT_THAT((*rw)->Exec("CREATE TABLE x (a)"), IsOk());
  }
  OpenOptions options;
  options.read_only = true;
  absl::StatusOr<std::unique_ptr<Database>> ro = Database::Open(dir.File("ro.db"), options);
  ASSERT_THAT(ro, IsOk());
  EXPECT_THAT((*ro)->Exec("INSERT INTO x VALUES (1)"), StatusIs(absl::StatusCode::kUnavailable));
}

// ----------------------------------------------------------------------- statement cache

TEST_F(SqliteTest, SameSqlReusesOneCompiledStatement) {
  const int before = LiveStatements();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Statement> s = db_->Prepare("SELECT COUNT(*) FROM t WHERE n = ?");
    ASSERT_THAT(s, IsOk());
    ASSERT_THAT(s->Bind(1, int64_t{i}).Step(), IsOk());
  }
  EXPECT_EQ(LiveStatements(), before + 1);
}

TEST_F(SqliteTest, TwoHandlesOfTheSameSqlAtOnceEachWork) {
  ASSERT_THAT(db_->Exec("INSERT INTO t (id) VALUES (1), (2), (3)"), IsOk());
  const int before = LiveStatements();
  {
    absl::StatusOr<Statement> outer = db_->Prepare("SELECT id FROM t ORDER BY id");
    ASSERT_THAT(outer, IsOk());
    ASSERT_THAT(outer->Step(), IsOk());
    EXPECT_EQ(outer->ColumnInt(0), 1);
    absl::StatusOr<Statement> inner = db_->Prepare("SELECT id FROM t ORDER BY id");
    ASSERT_THAT(inner, IsOk());
    ASSERT_THAT(inner->Step(), IsOk());
    EXPECT_EQ(inner->ColumnInt(0), 1);  // its own cursor, not the outer one's
    ASSERT_THAT(outer->Step(), IsOk());
    EXPECT_EQ(outer->ColumnInt(0), 2);
    EXPECT_EQ(LiveStatements(), before + 2);
  }
  // The second copy is finalized when handed back; one stays cached.
  EXPECT_EQ(LiveStatements(), before + 1);
}

TEST_F(SqliteTest, ReusedStatementStartsFromTheFirstRowWithBindingsCleared) {
  ASSERT_THAT(db_->Exec("INSERT INTO t (id, n) VALUES (1, 10), (2, 20)"), IsOk());
  {
    absl::StatusOr<Statement> s = db_->Prepare("SELECT id, ? FROM t ORDER BY id");
    ASSERT_THAT(s, IsOk());
    s->Bind(1, int64_t{99});
    ASSERT_THAT(s->Step(), IsOk());
    ASSERT_THAT(s->Step(), IsOk());
    EXPECT_EQ(s->ColumnInt(0), 2);
  }
  absl::StatusOr<Statement> again = db_->Prepare("SELECT id, ? FROM t ORDER BY id");
  ASSERT_THAT(again, IsOk());
  ASSERT_THAT(again->Step(), IsOk());
  EXPECT_EQ(again->ColumnInt(0), 1);
  EXPECT_TRUE(again->ColumnIsNull(1));
}

TEST_F(SqliteTest, MovedStatementIsReleasedOnce) {
  const int before = LiveStatements();
  {
    absl::StatusOr<Statement> s = db_->Prepare("SELECT 1");
    ASSERT_THAT(s, IsOk());
    Statement moved(std::move(*s));
    ASSERT_THAT(moved.Step(), IsOk());
    EXPECT_EQ(moved.ColumnInt(0), 1);
  }
  EXPECT_EQ(LiveStatements(), before + 1);
  absl::StatusOr<Statement> again = db_->Prepare("SELECT 1");
  ASSERT_THAT(again, IsOk());
  ASSERT_THAT(again->Step(), IsOk());
  EXPECT_EQ(again->ColumnInt(0), 1);
}

// ---------------------------------------------------------------------------- migrations

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.File("m.db"));
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
  }

  bool TableExists(const std::string& name) {
    absl::StatusOr<Statement> s =
        db_->Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    if (!s.ok()) return false;
    absl::StatusOr<bool> row = s->Bind(1, name).Step();
    return row.ok() && *row;
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
};

const std::vector<Migration> kTwo = {
    {1, "0001_a", "CREATE TABLE a (x INTEGER);"},
    // Needs table a: fails unless 0001 ran first.
    {2, "0002_b", "CREATE TABLE b (y INTEGER); INSERT INTO a (x) VALUES (2);"},
};

TEST_F(MigrationTest, FreshDatabaseIsVersionZero) {
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(0));
}

TEST_F(MigrationTest, AppliesEveryMigrationInOrder) {
  ASSERT_THAT(ApplyMigrations(*db_, kTwo), IsOk());
  EXPECT_TRUE(TableExists("a"));
  EXPECT_TRUE(TableExists("b"));
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(2));
}

TEST_F(MigrationTest, AppliesOnlyTheMigrationsNewerThanTheDatabase) {
  ASSERT_THAT(ApplyMigrations(*db_, {kTwo[0]}), IsOk());
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(1));
  // Re-running 0001 would fail with "table a already exists".
  ASSERT_THAT(ApplyMigrations(*db_, kTwo), IsOk());
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(2));
}

TEST_F(MigrationTest, ApplyingTwiceIsANoOp) {
  ASSERT_THAT(ApplyMigrations(*db_, kTwo), IsOk());
  ASSERT_THAT(ApplyMigrations(*db_, kTwo), IsOk());
  absl::StatusOr<Statement> s = db_->Prepare("SELECT COUNT(*) FROM a");
  ASSERT_THAT(s, IsOk());
  ASSERT_THAT(s->Step(), IsOk());
  EXPECT_EQ(s->ColumnInt(0), 1);
}

TEST_F(MigrationTest, GapInVersionsIsRefusedBeforeAnythingIsApplied) {
  const std::vector<Migration> gap = {{1, "0001_a", "CREATE TABLE a (x);"},
                                      {3, "0003_c", "CREATE TABLE c (z);"}};
  EXPECT_THAT(ApplyMigrations(*db_, gap),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("0003_c")));
  EXPECT_FALSE(TableExists("a"));
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(0));
}

TEST_F(MigrationTest, ListNotStartingAtOneIsRefused) {
  const std::vector<Migration> late = {{2, "0002_b", "CREATE TABLE b (y);"}};
  EXPECT_THAT(ApplyMigrations(*db_, late), StatusIs(absl::StatusCode::kInternal));
  EXPECT_FALSE(TableExists("b"));
}

TEST_F(MigrationTest, DatabaseNewerThanTheListIsRefused) {
  ASSERT_THAT(db_->Exec("PRAGMA user_version = 5"), IsOk());
  EXPECT_THAT(ApplyMigrations(*db_, kTwo), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                    AllOf(HasSubstr("5"), HasSubstr("m.db"))));
  EXPECT_FALSE(TableExists("a"));
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(5));
}

TEST_F(MigrationTest, FailingMigrationIsRolledBackAndNamed) {
  const std::vector<Migration> bad = {
      {1, "0001_a", "CREATE TABLE a (x);"},
      {2, "0002_broken", "CREATE TABLE b (y); INSERT INTO nowhere VALUES (1);"},
  };
  EXPECT_THAT(ApplyMigrations(*db_, bad),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("0002_broken")));
  EXPECT_TRUE(TableExists("a"));
  EXPECT_FALSE(TableExists("b"));
  EXPECT_THAT(SchemaVersion(*db_), HoldsValue(1));
}

}  // namespace
}  // namespace camfleet::common
