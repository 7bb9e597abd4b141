#include "tests/testing/schema_check.h"

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {

std::string NormaliseSql(absl::string_view sql) {
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
    rows.push_back(absl::StrCat(s->ColumnText(0), " ", s->ColumnText(1), " ON ", s->ColumnText(2),
                                ": ", NormaliseSql(s->ColumnText(3))));
  }
  return rows;
}

void ExpectMigrationsGiveSchema(const std::vector<common::Migration>& migrations,
                                const std::string& schema_file) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<common::Database>> migrated =
      common::Database::Open(dir.File("migrated.db"));
  ASSERT_THAT(migrated, IsOk());
  ASSERT_THAT(common::ApplyMigrations(**migrated, migrations), IsOk());
  absl::StatusOr<std::unique_ptr<common::Database>> readable =
      common::Database::Open(dir.File("readable.db"));
  ASSERT_THAT(readable, IsOk());
  std::ifstream in(schema_file);
  std::stringstream sql;
  sql << in.rdbuf();
  ASSERT_FALSE(sql.str().empty()) << "cannot read " << schema_file;
  ASSERT_THAT((*readable)->Exec(sql.str()), IsOk());
  const std::vector<std::string> from_migrations = SchemaOf(**migrated);
  const std::vector<std::string> from_schema_sql = SchemaOf(**readable);
  EXPECT_FALSE(from_migrations.empty());
  EXPECT_EQ(from_migrations, from_schema_sql)
      << schema_file << " and the migrations beside it disagree.\nmigrations:\n  "
      << absl::StrJoin(from_migrations, "\n  ") << "\n"
      << schema_file << ":\n  " << absl::StrJoin(from_schema_sql, "\n  ");
}

}  // namespace camfleet::testing
