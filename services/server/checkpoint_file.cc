#include "services/server/checkpoint_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "provisioning/file_io.h"

namespace camfleet::server {

absl::Status WriteCheckpointFile(const std::string& path, const v1::AuditCheckpoint& checkpoint) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(checkpoint, &json, options).ok()) {
    return absl::InternalError("encoding an audit checkpoint as JSON");
  }
  const std::string tmp = path + ".tmp";
  std::remove(tmp.c_str());  // left by a crash half way; ours alone
  if (absl::Status s = provisioning::WriteNewFile(tmp, json, 0644); !s.ok()) return s;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("renaming ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  const size_t slash = path.find_last_of('/');
  return provisioning::SyncDirectory(slash == std::string::npos ? "." : path.substr(0, slash));
}

absl::StatusOr<v1::AuditCheckpoint> ReadCheckpointFile(const std::string& path) {
  absl::StatusOr<provisioning::FileContents> file = provisioning::ReadSmallFile(path, 64 * 1024);
  if (!file.ok()) return file.status();
  v1::AuditCheckpoint checkpoint;
  if (!google::protobuf::util::JsonStringToMessage(file->data, &checkpoint).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not an audit checkpoint (JSON written by `camfleet audit "
                           "checkpoint` or `camfleetd backup`)"));
  }
  return checkpoint;
}

}  // namespace camfleet::server
