// The agent's embedded migrations against the readable schema.sql of each database file.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/migrations.h"
#include "common/migration.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

#ifndef CAMFLEET_SOURCE_DIR
#error "CAMFLEET_SOURCE_DIR must name the source tree (set in CMakeLists.txt)"
#endif

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Drops "--" comments and collapses whitespace: formatting and comments do not count as
// differences, every token does.
std::string Normalise(absl::string_view sql) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(sql, '\n')) {
    lines.emplace_back(line.substr(0, line.find("--")));
  }
  std::string out;
  bool space = false;
  for (char c : absl::StrJoin(lines, " ")) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> SchemaOf(common::Database& db) {
  std::vector<std::string> rows;
  absl::StatusOr<common::Statement> s = db.Prepare(
      "SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name");
  EXPECT_THAT(s, IsOk());
  if (!s.ok()) return rows;
  while (true) {
    absl::StatusOr<bool> row = s->Step();
    EXPECT_THAT(row, IsOk());
    if (!row.ok() || !*row) break;
    rows.push_back(absl::StrCat(s->ColumnText(0), " ", s->ColumnText(1), " on ", s->ColumnText(2),
                                ": ", Normalise(s->ColumnText(3))));
  }
  return rows;
}

void ExpectMigrationsGiveSchema(const std::vector<common::Migration>& migrations,
                                const std::string& schema_file) {
  TempDir dir;
  auto migrated = common::Database::Open(dir.File("migrated.db"));
  ASSERT_THAT(migrated, IsOk());
  ASSERT_THAT(common::ApplyMigrations(**migrated, migrations), IsOk());
  auto readable = common::Database::Open(dir.File("readable.db"));
  ASSERT_THAT(readable, IsOk());
  const std::string sql = ReadFile(schema_file);
  ASSERT_FALSE(sql.empty()) << "cannot read " << schema_file;
  ASSERT_THAT((*readable)->Exec(sql), IsOk());
  EXPECT_THAT(SchemaOf(**migrated), ::testing::ElementsAreArray(SchemaOf(**readable)))
      << schema_file << " and the migrations beside it disagree";
}

TEST(StoreSchemaTest, OutboxMigrationsGiveTheReadableSchema) {
  ExpectMigrationsGiveSchema(outbox_schema::Migrations(),
                             CAMFLEET_SOURCE_DIR "/agent/migrations/outbox/schema.sql");
}

TEST(StoreSchemaTest, SiteViewMigrationsGiveTheReadableSchema) {
  ExpectMigrationsGiveSchema(site_view_schema::Migrations(),
                             CAMFLEET_SOURCE_DIR "/agent/migrations/site_view/schema.sql");
}

}  // namespace
}  // namespace camfleet::agent
