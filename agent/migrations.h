#pragma once
// The agent's SQL migrations, embedded at build time (cmake camfleet_embed_migrations) from
// agent/migrations/outbox/ and agent/migrations/site_view/: one list per database file.

#include <vector>

#include "common/migration.h"

namespace camfleet::agent::outbox_schema {
const std::vector<common::Migration>& Migrations();
}  // namespace camfleet::agent::outbox_schema

namespace camfleet::agent::site_view_schema {
const std::vector<common::Migration>& Migrations();
}  // namespace camfleet::agent::site_view_schema
