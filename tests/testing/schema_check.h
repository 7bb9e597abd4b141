#pragma once
// Checking that a database's numbered migrations and its readable schema.sql agree: the same
// tables, indexes and triggers with the same definitions, layout and comments aside. Used for
// the control plane's store and for each of the dock agent's database files.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/migration.h"
#include "common/sqlite.h"

namespace camfleet::testing {

// Drops "--" comments and collapses whitespace: formatting and comments inside a CREATE
// statement do not count as differences, every token does.
std::string NormaliseSql(absl::string_view sql);

// One line per sqlite_master row (type, name, table, normalised SQL), in a stable order.
// A failed read is a test failure.
std::vector<std::string> SchemaOf(common::Database& db);

// Applies `migrations` to one fresh file and runs `schema_file` on another, and expects the
// same non-empty schema from both (printing both on a difference).
void ExpectMigrationsGiveSchema(const std::vector<common::Migration>& migrations,
                                const std::string& schema_file);

}  // namespace camfleet::testing
