#pragma once
// The control plane's migrations, embedded at build time from services/storage/migrations/.

#include <vector>

#include "common/migration.h"

namespace camfleet::storage {

const std::vector<common::Migration>& Migrations();

}  // namespace camfleet::storage
