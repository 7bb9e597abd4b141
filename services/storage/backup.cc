#include "services/storage/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "provisioning/digest.h"
#include "services/storage/audit_log.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::storage {
namespace {

constexpr char kGenerationSetting[] = "database_generation";

absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("opening ", path, " to sync it: ", std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("fsync of ", path, " failed: ", std::strerror(err),
                                               "; check the disk"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CopyDatabaseSnapshot(const std::string& source, const std::string& dest) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("database ", source, " does not exist (", std::strerror(errno), ")"));
  }
  if (::stat(dest.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(dest, " already exists; give a new file"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(source));
  ASSIGN_OR_RETURN(common::Statement vacuum, db->Prepare("VACUUM INTO ?"));
  vacuum.Bind(1, dest);
  if (absl::Status s = vacuum.Run(); !s.ok()) {
    return common::Annotate(s, absl::StrCat("copying ", source, " to ", dest));
  }
  return SyncFile(dest);
}

absl::Status IntegrityCheck(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement check, db.Prepare("PRAGMA integrity_check(20)"));
  std::vector<std::string> problems;
  while (true) {
    ASSIGN_OR_RETURN(bool row, check.Step());
    if (!row) break;
    std::string line = check.ColumnText(0);
    if (line != "ok") problems.push_back(std::move(line));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("database ", db.path(),
                                          " fails PRAGMA integrity_check: ",
                                          absl::StrJoin(problems, "; ")));
}

absl::StatusOr<std::string> ReplaceDatabaseGeneration(WriteTx& tx, const std::string& actor,
                                                      const std::string& source) {
  ASSIGN_OR_RETURN(std::optional<std::string> old, GetSetting(tx.db(), kGenerationSetting));
  ASSIGN_OR_RETURN(std::string random, provisioning::RandomBytes(16));
  std::string generation = absl::BytesToHexString(random);
  RETURN_IF_ERROR(PutSetting(tx.db(), kGenerationSetting, generation));
  RETURN_IF_ERROR(Audit(tx, actor, "store.restore", "store", generation,
                        {{"previous_generation", old.value_or("")}, {"source", source}}));
  return generation;
}

}  // namespace camfleet::storage
