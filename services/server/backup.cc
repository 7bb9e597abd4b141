#include "services/server/backup.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "provisioning/audit_checkpoint.h"
#include "provisioning/file_io.h"
#include "services/audit/audit_manager.h"
#include "services/server/checkpoint_file.h"
#include "services/storage/audit_log.h"
#include "services/storage/backup.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/store.h"

namespace camfleet::server {
namespace {

constexpr char kRestoreActor[] = "camfleetd-restore";

std::string DirOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::StatusOr<provisioning::CheckpointSigner> LoadSigner(const std::string& audit_dir) {
  const std::string key = provisioning::JoinPath(audit_dir, provisioning::kCheckpointKeyFile);
  if (!provisioning::PathExists(key)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no audit checkpoint key at ", key,
        "; give the server's home (--home) or its audit directory (--audit-dir)"));
  }
  return provisioning::CheckpointSigner::LoadOrCreate(audit_dir);
}

// integrity_check, the whole chain, and the chain against `checkpoint`, on the file at `path`.
absl::StatusOr<v1::VerifyAuditChainResponse> CheckCopy(const std::string& path,
                                                       const v1::AuditCheckpoint& checkpoint,
                                                       const std::string& public_key_pem) {
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(path));
  RETURN_IF_ERROR(storage::IntegrityCheck(*db));
  ASSIGN_OR_RETURN(v1::VerifyAuditChainResponse chain, storage::VerifyAudit(*db));
  RETURN_IF_ERROR(storage::CheckAuditCheckpoint(*db, checkpoint, public_key_pem, chain));
  if (!chain.intact()) {
    return absl::DataLossError(absl::StrCat("the audit chain of ", path, " does not verify: ",
                                            chain.problem()));
  }
  return chain;
}

absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("opening ", path, " to sync it: ", std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("fsync of ", path, " failed: ", std::strerror(err), "; check the disk"));
  }
  return absl::OkStatus();
}

absl::Status RenameDurably(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("renaming ", from, " to ", to, ": ", std::strerror(errno)));
  }
  return provisioning::SyncDirectory(DirOf(to));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DatabaseLock>> DatabaseLock::Acquire(const std::string& db_path) {
  const std::string path = db_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another camfleetd is using ", db_path, " (", path, " is locked); stop it first"));
    }
    return absl::InternalError(absl::StrCat("locking ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<DatabaseLock>(new DatabaseLock(fd));
}

DatabaseLock::~DatabaseLock() { ::close(fd_); }

absl::StatusOr<BackupResult> Backup(const BackupOptions& options) {
  if (options.dest.empty()) return absl::InvalidArgumentError("give the backup file DEST");
  if (provisioning::PathExists(options.dest)) {
    return absl::AlreadyExistsError(
        absl::StrCat(options.dest, " already exists; backup never overwrites: give a new file"));
  }
  ASSIGN_OR_RETURN(provisioning::CheckpointSigner signer, LoadSigner(options.audit_dir));
  const std::string tmp = options.dest + ".partial";
  std::remove(tmp.c_str());  // a backup that died half way; never a finished one
  BackupResult result;
  const absl::Time start = absl::Now();
  RETURN_IF_ERROR(storage::CopyDatabaseSnapshot(options.db_path, tmp));
  result.copy_time = absl::Now() - start;
  auto discard = [&](absl::Status s) {
    std::remove(tmp.c_str());
    return s;
  };
  // The checkpoint is of the copy's own head, so it vouches for exactly what is in the file.
  storage::AuditHead head;
  std::string generation;
  {
    absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(tmp);
    if (!db.ok()) return discard(db.status());
    absl::StatusOr<storage::AuditHead> h = storage::ReadAuditHead(**db);
    if (!h.ok()) return discard(h.status());
    head = *h;
    absl::StatusOr<std::string> g = storage::GetDatabaseGeneration(**db);
    if (!g.ok()) return discard(g.status());
    generation = *g;
  }
  absl::StatusOr<v1::CreateAuditCheckpointResponse> signed_checkpoint =
      audit::SignAuditCheckpoint(head.sequence, head.hash_hex, generation, absl::Now(), signer);
  if (!signed_checkpoint.ok()) return discard(signed_checkpoint.status());
  result.checkpoint = signed_checkpoint->checkpoint();
  absl::StatusOr<v1::VerifyAuditChainResponse> chain =
      CheckCopy(tmp, result.checkpoint, signer.public_key_pem());
  if (!chain.ok()) {
    return discard(common::Annotate(chain.status(), "checking the copy (nothing was kept)"));
  }
  result.events_checked = chain->events_checked();
  struct stat st;
  if (::stat(tmp.c_str(), &st) == 0) result.bytes = st.st_size;
  result.checkpoint_path = options.dest + ".checkpoint.json";
  // The checkpoint first: a DEST that exists always has its checkpoint beside it.
  if (absl::Status s = WriteCheckpointFile(result.checkpoint_path, result.checkpoint); !s.ok()) {
    return discard(s);
  }
  // Opening the copy for the checks wrote to it (WAL mode on, then checkpointed at close).
  if (absl::Status s = SyncFile(tmp); !s.ok()) return discard(s);
  if (::link(tmp.c_str(), options.dest.c_str()) != 0) {
    const int err = errno;
    return discard(absl::InternalError(absl::StrCat("linking ", tmp, " to ", options.dest, ": ",
                                                    std::strerror(err))));
  }
  std::remove(tmp.c_str());
  RETURN_IF_ERROR(provisioning::SyncDirectory(DirOf(options.dest)));
  return result;
}

absl::StatusOr<RestoreResult> Restore(const RestoreOptions& options) {
  if (options.source.empty() || options.db_path.empty()) {
    return absl::InvalidArgumentError("give the backup file SRC and the database to restore");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<DatabaseLock> lock, DatabaseLock::Acquire(options.db_path));
  ASSIGN_OR_RETURN(provisioning::CheckpointSigner signer, LoadSigner(options.audit_dir));
  const std::string checkpoint_path = options.source + ".checkpoint.json";
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = ReadCheckpointFile(checkpoint_path);
  if (!checkpoint.ok()) {
    return common::Annotate(checkpoint.status(),
                            absl::StrCat("reading the backup's checkpoint ", checkpoint_path));
  }
  const std::string staged = options.db_path + ".restoring";
  std::remove(staged.c_str());
  std::remove((staged + "-wal").c_str());
  std::remove((staged + "-shm").c_str());
  RETURN_IF_ERROR(storage::CopyDatabaseSnapshot(options.source, staged));
  auto discard = [&](absl::Status s) {
    std::remove(staged.c_str());
    return s;
  };
  absl::StatusOr<v1::VerifyAuditChainResponse> chain =
      CheckCopy(staged, *checkpoint, signer.public_key_pem());
  if (!chain.ok()) {
    return discard(common::Annotate(chain.status(), absl::StrCat("checking ", options.source,
                                                                 " (nothing was restored)")));
  }
  RestoreResult result;
  result.events_checked = chain->events_checked();
  result.previous_generation = checkpoint->database_generation();
  {
    common::RealClock clock;
    storage::StoreOptions store_options;
    store_options.must_exist = true;
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(staged, clock, store_options);
    if (!store.ok()) return discard(store.status());
    absl::Status written = (*store)->WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(result.generation,
                       storage::ReplaceDatabaseGeneration(tx, kRestoreActor, options.source));
      return absl::OkStatus();
    });
    if (!written.ok()) return discard(written);
  }  // closed: the WAL is checkpointed into the file and removed
  if (provisioning::PathExists(options.db_path)) {
    const std::string aside = absl::StrCat(
        options.db_path, ".before-restore-",
        absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()));
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = options.db_path + suffix;
      if (!provisioning::PathExists(from)) continue;
      if (std::rename(from.c_str(), (aside + suffix).c_str()) != 0) {
        return discard(absl::InternalError(absl::StrCat("moving ", from, " aside to ", aside,
                                                        suffix, ": ", std::strerror(errno))));
      }
    }
    result.moved_aside = aside;
  }
  RETURN_IF_ERROR(SyncFile(staged));
  RETURN_IF_ERROR(RenameDurably(staged, options.db_path));
  return result;
}

}  // namespace camfleet::server
