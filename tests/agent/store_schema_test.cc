// The agent's embedded migrations against the readable schema.sql of each database file.

#include <string>

#include "agent/migrations.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/schema_check.h"

#ifndef CAMFLEET_SOURCE_DIR
#error "CAMFLEET_SOURCE_DIR must name the source tree (set in CMakeLists.txt)"
#endif

namespace camfleet::agent {
namespace {

using ::camfleet::testing::ExpectMigrationsGiveSchema;

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
