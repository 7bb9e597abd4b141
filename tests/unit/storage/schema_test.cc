// The embedded migrations against the readable schema.sql, and what the store does on open.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/migration.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/migrations.h"
#include "services/storage/store.h"
#include "tests/testing/schema_check.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

#ifndef CAMFLEET_SOURCE_DIR
#error "CAMFLEET_SOURCE_DIR must name the source tree (set in CMakeLists.txt)"
#endif

namespace camfleet::storage {
namespace {

using ::camfleet::testing::ExpectMigrationsGiveSchema;
using ::camfleet::testing::IsOk;
using ::camfleet::testing::NormaliseSql;
using ::camfleet::testing::SchemaOf;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::unique_ptr<common::Database> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(path);
  EXPECT_THAT(db, IsOk());
  return db.ok() ? *std::move(db) : nullptr;
}

int64_t PragmaInt(common::Database& db, const std::string& pragma) {
  absl::StatusOr<common::Statement> s = db.Prepare("PRAGMA " + pragma);
  if (!s.ok()) return -1;
  absl::StatusOr<bool> row = s->Step();
  return row.ok() && *row ? s->ColumnInt(0) : -1;
}

std::string PragmaText(common::Database& db, const std::string& pragma) {
  absl::StatusOr<common::Statement> s = db.Prepare("PRAGMA " + pragma);
  if (!s.ok()) return "";
  absl::StatusOr<bool> row = s->Step();
  return row.ok() && *row ? s->ColumnText(0) : "";
}

TEST(SchemaTest, MigrationsAreNumberedFromOneWithoutGaps) {
  const std::vector<common::Migration>& migrations = Migrations();
  ASSERT_THAT(migrations, Not(IsEmpty()));
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1);
    EXPECT_EQ(std::string(migrations[i].name).substr(0, 4),
              absl::StrFormat("%04d", static_cast<int>(i) + 1));
  }
}

TEST(SchemaTest, AllMigrationsTogetherEqualSchemaSql) {
  ExpectMigrationsGiveSchema(Migrations(), CAMFLEET_SOURCE_DIR "/services/storage/schema.sql");
}

TEST(SchemaTest, NormaliseIgnoresLayoutAndCommentsButNotTokens) {
  EXPECT_EQ(NormaliseSql("CREATE TABLE a (\n  x INTEGER, -- why\n  y TEXT\n)"),
            NormaliseSql("CREATE TABLE a ( x INTEGER, y TEXT )"));
  EXPECT_NE(NormaliseSql("CREATE TABLE a (x INTEGER)"), NormaliseSql("CREATE TABLE a (x TEXT)"));
}

TEST(SchemaTest, MigratedDatabaseRecordsTheNewestVersion) {
  TempDir dir;
  std::unique_ptr<common::Database> db = OpenOrDie(dir.File("v.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(common::ApplyMigrations(*db, Migrations()), IsOk());
  EXPECT_EQ(PragmaInt(*db, "user_version"), static_cast<int64_t>(Migrations().size()));
}

TEST(SchemaTest, StoreRefusesADatabaseNewerThanTheBinary) {
  TempDir dir;
  const std::string path = dir.File("newer.db");
  {
    std::unique_ptr<common::Database> db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ASSERT_THAT(db->Exec(absl::StrCat("PRAGMA user_version = ", Migrations().size() + 1)), IsOk());
  }
  common::RealClock clock;
  EXPECT_THAT(
      Store::Open(path, clock),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr(absl::StrCat(Migrations().size() + 1)), HasSubstr("newer"))));
  // Nothing was created in it.
  std::unique_ptr<common::Database> db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  EXPECT_THAT(SchemaOf(*db), IsEmpty());
}

TEST(SchemaTest, ReopeningAMigratedFileChangesNothing) {
  TempDir dir;
  const std::string path = dir.File("again.db");
  common::RealClock clock;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, clock);
    ASSERT_THAT(store, IsOk());
  }
  std::vector<std::string> schema_before;
  int64_t cookie_before = 0;
  {
    std::unique_ptr<common::Database> db = OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    schema_before = SchemaOf(*db);
    cookie_before = PragmaInt(*db, "schema_version");
  }
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, clock);
    ASSERT_THAT(store, IsOk());
  }
  std::unique_ptr<common::Database> db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(SchemaOf(*db), schema_before);
  // The schema cookie moves on any schema change, so an equal cookie means no DDL ran.
  EXPECT_EQ(PragmaInt(*db, "schema_version"), cookie_before);
  EXPECT_EQ(PragmaInt(*db, "user_version"), static_cast<int64_t>(Migrations().size()));
}

// Whether `sql`, compiled afresh on `db` (not from its statement cache, which would keep a
// program compiled against an older schema), builds a temporary b-tree when it runs.
bool BuildsATemporaryTable(common::Database& db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  const std::string explain = "EXPLAIN " + sql;
  EXPECT_EQ(sqlite3_prepare_v2(db.handle(), explain.c_str(), -1, &raw, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db.handle());
  bool ephemeral = false;
  while (raw != nullptr && sqlite3_step(raw) == SQLITE_ROW) {
    const unsigned char* opcode = sqlite3_column_text(raw, 1);
    if (opcode != nullptr &&
        std::string(reinterpret_cast<const char*>(opcode)) == "OpenEphemeral") {
      ephemeral = true;
    }
  }
  sqlite3_finalize(raw);
  return ephemeral;
}

// The statements of every issue and return (services/storage/fleet_repository.cc) check the
// cameras' and assignments' CHECK constraints. Written as IN lists, those made SQLite build a
// temporary b-tree of the list on each run (migration 0013 rewrote them).
TEST(SchemaTest, LifecycleWritesBuildNoTemporaryTableForTheirChecks) {
  TempDir dir;
  std::unique_ptr<common::Database> db = OpenOrDie(dir.File("checks.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_THAT(common::ApplyMigrations(*db, Migrations()), IsOk());
  for (const char* sql : {
           "UPDATE cameras SET state = ?, state_note = ?, updated_us = ? WHERE id = ?",
           "INSERT INTO assignments (camera_id, holder_id, issued_us, issued_by, due_us, "
           "issue_note, force_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
           "UPDATE assignments SET returned_us = ?, returned_by = ?, return_condition = ?, "
           "return_note = ? WHERE id = ? AND returned_us IS NULL",
       }) {
    EXPECT_FALSE(BuildsATemporaryTable(*db, sql)) << sql;
  }
}

// Migration 0013 changes the text of two CHECK constraints in place: a file written before it
// keeps its rows, passes integrity_check, and its constraints refuse what they refused before.
TEST(SchemaTest, ChecksRewrittenInPlaceKeepTheRowsAndStillRefuseUnknownValues) {
  TempDir dir;
  std::unique_ptr<common::Database> db = OpenOrDie(dir.File("before13.db"));
  ASSERT_NE(db, nullptr);
  const std::vector<common::Migration>& all = Migrations();
  constexpr int kRewrite = 13;  // 0013_lifecycle_checks_without_in_lists
  ASSERT_GE(all.size(), static_cast<size_t>(kRewrite));
  ASSERT_EQ(all[kRewrite - 1].version, kRewrite);
  ASSERT_THAT(common::ApplyMigrations(*db, {all.begin(), all.begin() + (kRewrite - 1)}), IsOk());
  ASSERT_THAT(db->Exec("INSERT INTO sites (id, code, name, created_us) VALUES (1, 'S', 'Site', 0);"
                       "INSERT INTO holders (id, badge, name, home_site_id, created_us) "
                       "  VALUES (1, 'B1', 'One', 1, 0);"
                       "INSERT INTO cameras (id, serial, model, state, site_id, created_us, "
                       "  updated_us) VALUES (1, 'CAM-0001', 'M', 'ISSUED', 1, 0, 0), "
                       "  (2, 'CAM-0002', 'M', 'FAULTY', 1, 0, 0);"
                       "INSERT INTO assignments (camera_id, holder_id, issued_us, issued_by, "
                       "  due_us) VALUES (1, 1, 0, 'qm', 10);"
                       "INSERT INTO assignments (camera_id, holder_id, issued_us, issued_by, "
                       "  due_us, returned_us, returned_by, return_condition) "
                       "  VALUES (2, 1, 0, 'qm', 10, 5, 'qm', 'DAMAGED');"),
              IsOk());
  // Another connection holding the old schema must see the new one too.
  std::unique_ptr<common::Database> other = OpenOrDie(dir.File("before13.db"));
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(BuildsATemporaryTable(*other, "UPDATE cameras SET state = ? WHERE id = ?"));

  ASSERT_THAT(common::ApplyMigrations(*db, all), IsOk());
  EXPECT_EQ(PragmaText(*db, "integrity_check"), "ok");
  EXPECT_EQ(PragmaInt(*db, "user_version"), static_cast<int64_t>(all.size()));
  for (common::Database* conn : {db.get(), other.get()}) {
    absl::StatusOr<common::Statement> rows = conn->Prepare(
        "SELECT group_concat(serial || ':' || state, ',') FROM (SELECT serial, state FROM cameras "
        "ORDER BY id)");
    ASSERT_THAT(rows, IsOk());
    ASSERT_THAT(rows->Step(), IsOk());
    EXPECT_EQ(rows->ColumnText(0), "CAM-0001:ISSUED,CAM-0002:FAULTY");
    EXPECT_THAT(conn->Exec("UPDATE cameras SET state = 'BORROWED' WHERE id = 1"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CHECK")));
    EXPECT_THAT(conn->Exec("UPDATE assignments SET returned_us = 6, returned_by = 'qm', "
                           "return_condition = 'LENT' WHERE camera_id = 1"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CHECK")));
  }
  EXPECT_FALSE(BuildsATemporaryTable(*other, "UPDATE cameras SET state = ? WHERE id = ?"));
  EXPECT_THAT(db->Exec("UPDATE cameras SET state = 'RETIRED' WHERE id = 2;"
                       "UPDATE assignments SET returned_us = 6, returned_by = 'qm', "
                       "return_condition = 'NOT_RETURNED' WHERE camera_id = 1"),
              IsOk());
}

// Migration 0014 records the audit events of an existing chain whose time is earlier than an
// event before them (the clock stepped back): the audit list reads a time window by sequence
// only while none of them falls in it. (AppendAudit records those appended later: store_test.)
TEST(SchemaTest, LateAuditEventsOfAnExistingChainAreFound) {
  TempDir dir;
  std::unique_ptr<common::Database> db = OpenOrDie(dir.File("before14.db"));
  ASSERT_NE(db, nullptr);
  const std::vector<common::Migration>& all = Migrations();
  constexpr int kLate = 14;  // 0014_list_seeks_at_scale
  ASSERT_GE(all.size(), static_cast<size_t>(kLate));
  ASSERT_EQ(all[kLate - 1].version, kLate);
  ASSERT_THAT(common::ApplyMigrations(*db, {all.begin(), all.begin() + (kLate - 1)}), IsOk());
  // Events 1..7 at 10, 30, 20 (stepped back), 40, 5 (stepped back), 40 (a tie is not late),
  // 39 (earlier than 4 and 6).
  for (int64_t t : {10, 30, 20, 40, 5, 40, 39}) {
    ASSERT_THAT(db->Exec(absl::StrCat("INSERT INTO audit_events (time_us, actor, action, "
                                      "object_type, object_id, details, prev_hash, hash) VALUES (",
                                      t,
                                      ", 'a', 'camera.issue', 'camera', 'CAM-1', '{}', "
                                      "zeroblob(32), zeroblob(32))")),
                IsOk());
  }
  ASSERT_THAT(common::ApplyMigrations(*db, all), IsOk());
  absl::StatusOr<common::Statement> rows = db->Prepare(
      "SELECT coalesce(group_concat(seq || '@' || time_us, ','), '') FROM (SELECT seq, time_us "
      "FROM audit_late_events ORDER BY seq)");
  ASSERT_THAT(rows, IsOk());
  ASSERT_THAT(rows->Step(), IsOk());
  EXPECT_EQ(rows->ColumnText(0), "3@20,5@5,7@39");
}

class StoreConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir_.File("store.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  TempDir dir_;
  common::RealClock clock_;
  std::unique_ptr<Store> store_;
};

// The writer commits with synchronous=NORMAL because the store's syncer fsyncs the WAL before any
// write is acknowledged (store.h; StoreDurabilityTest shows the ordering).
TEST_F(StoreConnectionTest, WriterConnectionIsWalNormalSyncWithForeignKeys) {
  std::string journal;
  int64_t synchronous = -1;
  int64_t foreign_keys = -1;
  ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) {
    journal = PragmaText(tx.db(), "journal_mode");
    synchronous = PragmaInt(tx.db(), "synchronous");
    foreign_keys = PragmaInt(tx.db(), "foreign_keys");
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(journal, "wal");
  EXPECT_EQ(synchronous, 1);
  EXPECT_EQ(foreign_keys, 1);
}

TEST_F(StoreConnectionTest, ReaderConnectionsAreWalFullSyncWithForeignKeys) {
  std::string journal;
  int64_t synchronous = -1;
  int64_t foreign_keys = -1;
  ASSERT_THAT(store_->Read([&](common::Database& db) {
    journal = PragmaText(db, "journal_mode");
    synchronous = PragmaInt(db, "synchronous");
    foreign_keys = PragmaInt(db, "foreign_keys");
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(journal, "wal");
  EXPECT_EQ(synchronous, 2);
  EXPECT_EQ(foreign_keys, 1);
}

TEST_F(StoreConnectionTest, SchemaRefusesASecondOpenAssignmentForACamera) {
  // The partial unique index backs "one open assignment per camera" whatever the code does.
  absl::Status second = store_->WriteAndWait([](WriteTx& tx) -> absl::Status {
    common::Database& db = tx.db();
    absl::Status s = db.Exec(
        "INSERT INTO sites (id, code, name, created_us) VALUES (1, 'S', 'Site', 0);"
        "INSERT INTO holders (id, badge, name, home_site_id, created_us) "
        "  VALUES (1, 'B1', 'One', 1, 0), (2, 'B2', 'Two', 1, 0);"
        "INSERT INTO cameras (id, serial, model, state, site_id, created_us, updated_us) "
        "  VALUES (1, 'CAM-0001', 'M', 'ISSUED', 1, 0, 0);"
        "INSERT INTO assignments (camera_id, holder_id, issued_us, issued_by, due_us) "
        "  VALUES (1, 1, 0, 'qm', 10);");
    if (!s.ok()) return absl::InternalError(absl::StrCat("setup: ", s.message()));
    return db.Exec(
        "INSERT INTO assignments (camera_id, holder_id, issued_us, issued_by, due_us) "
        "  VALUES (1, 2, 0, 'qm', 10);");
  });
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(StoreConnectionTest, SchemaRefusesAnUnknownCameraState) {
  absl::Status s = store_->WriteAndWait([](WriteTx& tx) -> absl::Status {
    absl::Status setup =
        tx.db().Exec("INSERT INTO sites (id, code, name, created_us) VALUES (1, 'S', 'Site', 0)");
    if (!setup.ok()) return absl::InternalError(absl::StrCat("setup: ", setup.message()));
    return tx.db().Exec(
        "INSERT INTO cameras (serial, model, state, site_id, created_us, updated_us) "
        "VALUES ('CAM-0001', 'M', 'BORROWED', 1, 0, 0)");
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("CHECK")));
}

}  // namespace
}  // namespace camfleet::storage
