#pragma once
// Appending to a store's audit chain from outside the store, as a forger who knows the hash rule
// or a repair tool would: the event links to the chain's head exactly as AppendAudit links it.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "services/storage/audit_log.h"

namespace camfleet::testing {

// Appends `record` after the head of the chain in the database at `db_path`, over a connection
// of its own, at `time_us` (the head's time plus 1 µs when not given). INTERNAL if the chain is
// empty.
absl::Status AppendLinkedAuditEvent(const std::string& db_path, const storage::AuditRecord& record,
                                    std::optional<int64_t> time_us = std::nullopt);

}  // namespace camfleet::testing
