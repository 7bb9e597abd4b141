#pragma once
// Audit checkpoint files: one v1::AuditCheckpoint in the protobuf JSON mapping, the form
// `camfleet audit checkpoint -o FILE` writes and `camfleet audit verify --checkpoint FILE`
// reads. camfleetd keeps its latest one in HOME/audit/latest-checkpoint.json (made every
// ServerOptions::checkpoint_interval and at shutdown) and `camfleetd backup` writes one beside
// each copy.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "camfleet/v1/audit.pb.h"

namespace camfleet::server {

// Writes `checkpoint` to `path` durably, replacing any file there atomically (a reader sees the
// old file or the new one, never a part). I/O errors naming the path.
absl::Status WriteCheckpointFile(const std::string& path, const v1::AuditCheckpoint& checkpoint);
// NOT_FOUND; INVALID_ARGUMENT if the file is not a checkpoint.
absl::StatusOr<v1::AuditCheckpoint> ReadCheckpointFile(const std::string& path);

}  // namespace camfleet::server
