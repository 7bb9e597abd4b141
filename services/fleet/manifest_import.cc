#include "services/fleet/manifest_import.h"

#include <algorithm>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "provisioning/digest.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/manifest_staging.h"

namespace camfleet::fleet {

absl::Status CheckManifestRows(common::Database& db, const ParsedManifest& manifest, size_t begin,
                               size_t end, ManifestCheck& check) {
  auto add_error = [&](int64_t line, const char* column, std::string message) {
    check.bad_lines.insert(line);
    v1::ManifestRowError e;
    e.set_line(line);
    e.set_column(column);
    e.set_message(absl::StrCat("line ", line, ": ", message));
    check.errors.push_back(std::move(e));
  };
  std::vector<std::string> serials;
  for (size_t i = begin; i < end; ++i) serials.push_back(manifest.rows[i].serial);
  ASSIGN_OR_RETURN(std::vector<std::string> existing, storage::ExistingSerials(db, serials));
  absl::flat_hash_set<std::string> taken(existing.begin(), existing.end());
  for (size_t i = begin; i < end; ++i) {
    const ManifestRow& row = manifest.rows[i];
    bool ok = true;
    if (!check.site_ids.contains(row.site)) {
      absl::StatusOr<storage::SiteRow> site = storage::FindSite(db, row.site);
      if (site.ok()) {
        check.site_ids[row.site] = site->id;
      } else if (absl::IsNotFound(site.status())) {
        check.site_ids[row.site] = 0;
      } else {
        return site.status();
      }
    }
    if (check.site_ids[row.site] == 0) {
      add_error(row.line, "site",
                absl::StrCat("site '", row.site, "' does not exist; create it first or fix the code"));
      ok = false;
    }
    if (taken.contains(row.serial)) {
      add_error(row.line, "serial", absl::StrCat("serial '", row.serial, "' is already registered"));
      ok = false;
    }
    if (ok) check.good.push_back(i);
  }
  return absl::OkStatus();
}

v1::ImportManifestResponse SummarizeManifestCheck(const ParsedManifest& manifest,
                                                  ManifestCheck& check) {
  std::vector<v1::ManifestRowError> errors(manifest.errors.begin(), manifest.errors.end());
  for (v1::ManifestRowError& e : check.errors) errors.push_back(std::move(e));
  check.errors.clear();
  absl::flat_hash_set<int64_t> bad_lines = manifest.bad_lines;
  bad_lines.insert(check.bad_lines.begin(), check.bad_lines.end());
  std::stable_sort(errors.begin(), errors.end(),
                   [](const v1::ManifestRowError& a, const v1::ManifestRowError& b) {
                     return a.line() < b.line();
                   });
  v1::ImportManifestResponse resp;
  resp.set_rows(manifest.row_count);
  resp.set_bad_rows(static_cast<int64_t>(bad_lines.size()));
  int64_t unlisted = manifest.unlisted_errors;
  if (errors.size() > kMaxListedManifestErrors) {
    unlisted += static_cast<int64_t>(errors.size() - kMaxListedManifestErrors);
    errors.resize(kMaxListedManifestErrors);
  }
  resp.set_unlisted_errors(unlisted);
  for (v1::ManifestRowError& e : errors) *resp.add_errors() = std::move(e);
  return resp;
}

struct ManifestImporter::Job {
  std::string id;
  rpc::Identity who;
  std::shared_ptr<const ParsedManifest> manifest;  // null for an import taken up after a restart
  std::string sha256;
  bool partial = false;
  bool dry_run = false;
  OnDone on_done;
  // An import a restart cut: its state then (PUBLISHING, or STAGING/ABANDONED) and its summary.
  std::string recovered_state;
  v1::ImportManifestResponse recovered_summary;

  absl::Mutex mu;
  v1::GetManifestImportResponse progress ABSL_GUARDED_BY(mu);
  absl::Status error ABSL_GUARDED_BY(mu);
  absl::Time finished ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
};

ManifestImporter::ManifestImporter(storage::Store& store, ManifestImportOptions options)
    : store_(store), options_(options) {
  Recover();
}

ManifestImporter::~ManifestImporter() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

bool ManifestImporter::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void ManifestImporter::Recover() {
  std::vector<storage::ManifestImportRecord> unfinished;
  absl::Status read = store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(unfinished, storage::UnfinishedManifestImports(db));
    return absl::OkStatus();
  });
  if (!read.ok()) {
    common::LogError("reading the manifest imports a restart cut: ", read.message(),
                     "; they are taken up at the next start");
    return;
  }
  absl::MutexLock lock(&mu_);
  for (storage::ManifestImportRecord& record : unfinished) {
    auto job = std::make_shared<Job>();
    job->id = record.id;
    job->sha256 = record.manifest_sha256;
    job->recovered_state = record.state;
    job->recovered_summary.ParseFromString(record.summary);
    {
      absl::MutexLock job_lock(&job->mu);
      job->progress.set_import_id(job->id);
      job->progress.set_phase(record.state == "PUBLISHING" ? v1::MANIFEST_IMPORT_PHASE_COMMITTING
                                                           : v1::MANIFEST_IMPORT_PHASE_STAGING);
      job->progress.set_rows(job->recovered_summary.rows());
      job->progress.set_checked(job->recovered_summary.rows());
      job->progress.set_to_stage(record.to_import);
      job->progress.set_staged(record.staged);
      job->progress.set_published(record.published);
    }
    common::LogInfo("manifest import ", record.id, " was cut by a restart while ",
                    record.state == "PUBLISHING" ? "publishing: finishing it"
                                                 : "staging: dropping what it staged");
    jobs_[job->id] = job;
    threads_.emplace_back([this, job] { Run(job); });
  }
}

absl::StatusOr<std::string> ManifestImporter::Start(const rpc::Identity& who,
                                                    std::shared_ptr<const ParsedManifest> manifest,
                                                    std::string manifest_sha256, bool partial,
                                                    bool dry_run, OnDone on_done) {
  ASSIGN_OR_RETURN(std::string random, provisioning::RandomBytes(8));
  auto job = std::make_shared<Job>();
  job->id = provisioning::ToHex(random);
  job->who = who;
  job->manifest = std::move(manifest);
  job->sha256 = std::move(manifest_sha256);
  job->partial = partial;
  job->dry_run = dry_run;
  job->on_done = std::move(on_done);
  {
    absl::MutexLock lock(&job->mu);
    job->progress.set_import_id(job->id);
    job->progress.set_phase(v1::MANIFEST_IMPORT_PHASE_CHECKING);
    job->progress.set_rows(job->manifest->row_count);
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down; retry the import");
  int running = 0;
  const absl::Time now = absl::Now();
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    absl::Time finished;
    {
      absl::MutexLock job_lock(&it->second->mu);
      finished = it->second->finished;
    }
    if (finished == absl::InfiniteFuture()) ++running;
    if (finished != absl::InfiniteFuture() && finished + options_.keep_finished < now) {
      jobs_.erase(it++);
    } else {
      ++it;
    }
  }
  if (running >= options_.max_running) {
    return absl::UnavailableError(absl::StrCat(
        running, " manifest imports are running; retry when one has finished"));
  }
  jobs_[job->id] = job;
  threads_.emplace_back([this, job] { Run(job); });
  return job->id;
}

absl::StatusOr<v1::GetManifestImportResponse> ManifestImporter::Get(const std::string& id) {
  std::shared_ptr<Job> job;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(id);
    if (it != jobs_.end()) job = it->second;
  }
  if (job == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "no manifest import '", id,
        "' on this server (finished imports are kept an hour, and a restart forgets them: an "
        "import a restart cut before publishing imported nothing, one cut while publishing is "
        "finished and can be polled again after the restart)"));
  }
  absl::MutexLock lock(&job->mu);
  if (!job->error.ok()) return job->error;
  return job->progress;
}

void ManifestImporter::Run(const std::shared_ptr<Job>& job) {
  absl::StatusOr<v1::ImportManifestResponse> result;
  if (job->recovered_state.empty()) {
    result = Import(*job);
  } else if (job->recovered_state == "PUBLISHING") {
    absl::Status published = Publish(*job);
    if (published.ok()) {
      v1::ImportManifestResponse resp = job->recovered_summary;
      absl::MutexLock lock(&job->mu);
      resp.set_imported(job->progress.to_stage());
      result = std::move(resp);
    } else {
      result = published;
    }
  } else {
    Abandon(job->id);
    result = absl::UnavailableError(absl::StrCat(
        "manifest import ", job->id,
        " was cut by a server restart before its cameras were published; nothing was "
        "imported: run it again"));
  }
  {
    absl::MutexLock lock(&job->mu);
    job->finished = absl::Now();
    job->progress.set_phase(v1::MANIFEST_IMPORT_PHASE_DONE);
    if (result.ok()) {
      *job->progress.mutable_result() = *result;
    } else {
      job->error = result.status();
    }
  }
  if (job->on_done) std::move(job->on_done)(std::move(result));
}

void ManifestImporter::Abandon(const std::string& id) {
  absl::Status s = store_.WriteAndWait(
      [&](storage::WriteTx& tx) { return storage::AbandonManifestImport(tx, id); });
  if (absl::IsNotFound(s)) return;  // its first chunk failed: nothing was staged
  if (!s.ok()) {
    common::LogError("abandoning manifest import ", id, ": ", s.message(),
                     "; the next start drops what it staged");
    return;
  }
  // In writes of a few chunks' worth: a delete costs less than an insert.
  int64_t dropped = 0;
  do {
    if (Stopping()) return;  // the next start drops the rest
    s = store_.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(dropped, storage::DropStagedCameras(tx, id, options_.chunk_rows * 5));
      return absl::OkStatus();
    });
    if (!s.ok()) {
      common::LogError("dropping the staged rows of manifest import ", id, ": ", s.message(),
                       "; the next start drops them");
      return;
    }
  } while (dropped > 0);
}

absl::Status ManifestImporter::Stage(Job& job, const std::vector<size_t>& good,
                                     const ManifestCheck& check,
                                     const v1::ImportManifestResponse& summary) {
  const ParsedManifest& manifest = *job.manifest;
  {
    absl::MutexLock lock(&job.mu);
    job.progress.set_phase(v1::MANIFEST_IMPORT_PHASE_STAGING);
    job.progress.set_to_stage(static_cast<int64_t>(good.size()));
  }
  const size_t chunk = static_cast<size_t>(options_.chunk_rows);
  for (size_t begin = 0; begin < good.size(); begin += chunk) {
    if (Stopping()) {
      Abandon(job.id);
      return absl::UnavailableError(
          "the server shut down during the import; nothing was imported: run it again");
    }
    const size_t end = std::min(good.size(), begin + chunk);
    std::vector<storage::StagedCamera> rows;
    rows.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const ManifestRow& row = manifest.rows[good[i]];
      rows.push_back({row.line, row.serial, row.model, row.hardware_revision,
                      check.site_ids.at(row.site)});
    }
    absl::Status staged = store_.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      if (begin == 0) {
        storage::ManifestImportRecord record;
        record.id = job.id;
        record.manifest_sha256 = job.sha256;
        record.actor = job.who.actor();
        record.to_import = static_cast<int64_t>(good.size());
        record.summary = summary.SerializeAsString();
        RETURN_IF_ERROR(storage::CreateManifestImport(tx, record));
      }
      return storage::StageCameras(tx, job.id, rows);
    });
    if (!staged.ok()) {
      Abandon(job.id);
      return staged;
    }
    absl::MutexLock lock(&job.mu);
    job.progress.set_staged(static_cast<int64_t>(end));
  }
  // The commit point: from here on the import is finished whatever happens.
  absl::Status decided = store_.WriteAndWait([&](storage::WriteTx& tx) {
    return storage::StartPublishingManifestImport(tx, job.id);
  });
  if (!decided.ok()) Abandon(job.id);
  return decided;
}

absl::Status ManifestImporter::Publish(Job& job) {
  {
    absl::MutexLock lock(&job.mu);
    job.progress.set_phase(v1::MANIFEST_IMPORT_PHASE_COMMITTING);
  }
  while (true) {
    if (Stopping()) {
      return absl::UnavailableError(absl::StrCat(
          "the server shut down while manifest import ", job.id,
          " was publishing its cameras; the import is decided and the server finishes it when "
          "it starts again (poll the same id then)"));
    }
    int64_t published = 0;
    absl::Status s = store_.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(published, storage::PublishStagedCameras(tx, job.id, options_.chunk_rows));
      return absl::OkStatus();
    });
    if (!s.ok()) {
      return absl::Status(
          s.code(),
          absl::StrCat("publishing the cameras of manifest import ", job.id, ": ", s.message(),
                       "; the import is decided: the server finishes it at its next "
                       "start"));
    }
    {
      // Counted once the chunk is committed and durable (WriteAndWait): what GetManifestImport
      // reports as published is visible to every reader.
      absl::MutexLock lock(&job.mu);
      job.progress.set_published(job.progress.published() + published);
    }
    if (published < options_.chunk_rows) return absl::OkStatus();
  }
}

absl::StatusOr<v1::ImportManifestResponse> ManifestImporter::Import(Job& job) {
  const ParsedManifest& manifest = *job.manifest;
  const size_t n = manifest.rows.size();
  ManifestCheck check;
  for (size_t begin = 0; begin < n; begin += static_cast<size_t>(options_.check_rows)) {
    if (Stopping()) {
      return absl::UnavailableError(
          "the server shut down during the import; nothing was imported: run it again");
    }
    const size_t end = std::min(n, begin + static_cast<size_t>(options_.check_rows));
    // Only a precheck: each staging write re-checks its serials.
    RETURN_IF_ERROR(store_.ReadForPrecheck([&](common::Database& db) {
      return CheckManifestRows(db, manifest, begin, end, check);
    }));
    absl::MutexLock lock(&job.mu);
    job.progress.set_checked(static_cast<int64_t>(end));
  }
  const bool any_bad = !manifest.bad_lines.empty() || !check.bad_lines.empty();
  std::vector<size_t> good = std::move(check.good);
  v1::ImportManifestResponse resp = SummarizeManifestCheck(manifest, check);
  if (job.dry_run || (any_bad && !job.partial) || good.empty()) return resp;
  RETURN_IF_ERROR(Stage(job, good, check, resp));
  RETURN_IF_ERROR(Publish(job));
  resp.set_imported(static_cast<int64_t>(good.size()));
  return resp;
}

}  // namespace camfleet::fleet
