// A big manifest import survives camfleetd killed with SIGKILL, all or nothing: a real server
// process imports 50,000 cameras and is killed at random points, once while it stages the rows
// (nothing may be visible then, and the restarted server abandons the import) and several
// times while it publishes them (the import is decided then: each restart finishes it under
// the same id, from where the last committed chunk left it). After each restart every camera
// of the import is there or none is, each with exactly one camera.register audit event, and
// the audit chain verifies; an import abandoned by a kill is run again and completes, and the
// same manifest imported once more imports nothing: every camera exactly once.
//
// The kill points (a row count reached, then 0-100 ms more) are drawn from a seed printed at the
// start (CAMFLEET_TEST_SEED repeats one).

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crash/camfleetd_child.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 50'000;
constexpr int kChunk = 2'000;  // the server's rows per staging and per publishing write
constexpr int kPublishingKills = 5;
constexpr absl::Duration kStartTimeout = absl::Seconds(60);
// A 50,000-row import under the sanitizers on a loaded 2-core machine.
constexpr absl::Duration kImportTimeout = absl::Seconds(600);
constexpr char kOperator[] = "qm.crash";

std::string Serial(int n) { return absl::StrFormat("BIG-%06d", n); }

std::string Manifest() {
  std::string csv = "serial,model,hardware_revision,site\n";
  csv.reserve(static_cast<size_t>(kRows) * 30);
  for (int n = 1; n <= kRows; ++n) absl::StrAppend(&csv, Serial(n), ",AXON-4,R1,DEPOT\n");
  return csv;
}

uint64_t Seed() {
  const char* given = std::getenv("CAMFLEET_TEST_SEED");
  uint64_t seed = 0;
  if (given != nullptr && absl::SimpleAtoi(given, &seed)) return seed;
  return std::random_device()();
}

class ImportKill9Test : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.File("fleet.db");
    const uint64_t seed = Seed();
    std::cout << "seed " << seed << " (CAMFLEET_TEST_SEED=" << seed << " repeats this run)\n";
    rng_.seed(seed);
  }

  // Starts camfleetd (again) on the database file.
  void StartServer() {
    server_.reset();
    absl::StatusOr<std::unique_ptr<CamfleetdChild>> started =
        CamfleetdChild::Start(CAMFLEETD_PATH, dir_, db_, ++runs_, kStartTimeout);
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    channel_ = grpc::CreateChannel(server_->target(), grpc::InsecureChannelCredentials());
    fleet_ = v1::FleetService::NewStub(channel_);
    audit_ = v1::AuditService::NewStub(channel_);
  }

  // SIGKILL, and the server must not have ended on its own before it.
  void KillServer() {
    ASSERT_THAT(server_->process().Signal(SIGKILL), IsOk());
    absl::StatusOr<int> status = server_->process().Wait(absl::Seconds(30));
    ASSERT_THAT(status, IsOk());
    ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << "camfleetd ended on its own before the kill; log:\n"
        << server_->process().LogTail();
  }

  // What is committed in the file now, read over a connection of the test's own.
  int64_t Query(const std::string& sql) {
    absl::StatusOr<int64_t> n = QueryInt(db_, sql);
    EXPECT_THAT(n, IsOk()) << sql;
    return n.value_or(-1);
  }
  int64_t ImportColumn(const std::string& id, const std::string& column) {
    return Query(absl::StrCat("SELECT COALESCE((SELECT ", column,
                              " FROM manifest_imports WHERE id = '", id, "'), -1)"));
  }
  // 1 STAGING, 2 PUBLISHING, 3 DONE, 4 ABANDONED, 0 not written yet.
  int64_t State(const std::string& id) {
    return ImportColumn(id,
                        "CASE state WHEN 'STAGING' THEN 1 WHEN 'PUBLISHING' THEN 2 WHEN "
                        "'DONE' THEN 3 WHEN 'ABANDONED' THEN 4 ELSE 0 END");
  }
  int64_t Cameras() { return Query("SELECT COUNT(*) FROM cameras WHERE serial LIKE 'BIG-%'"); }
  int64_t RegisterEvents() {
    return Query(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'camera.register' AND "
        "object_id LIKE 'BIG-%'");
  }

  std::string StartImport() {
    v1::StartManifestImportRequest req;
    req.mutable_manifest()->set_csv(manifest_);
    v1::StartManifestImportResponse resp;
    grpc::Status s = fleet_->StartManifestImport(
        NewClientContext(kOperator, absl::Seconds(120)).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.rows(), kRows);
    return resp.import_id();
  }

  // Polls the import until it is DONE (its progress) or failed (its error).
  absl::StatusOr<v1::GetManifestImportResponse> AwaitEnd(const std::string& id) {
    absl::StatusOr<v1::GetManifestImportResponse> p;
    const bool ended = WaitFor(
        [&] {
          v1::GetManifestImportRequest req;
          req.set_import_id(id);
          v1::GetManifestImportResponse resp;
          grpc::Status s = fleet_->GetManifestImport(NewClientContext(kOperator).get(), req, &resp);
          if (s.ok()) {
            p = resp;
          } else {
            p = common::FromGrpcStatus(s);
          }
          return !p.ok() || p->phase() == v1::MANIFEST_IMPORT_PHASE_DONE;
        },
        kImportTimeout);
    if (!ended) return absl::DeadlineExceededError("the import did not end in time");
    return p;
  }

  // Kills the server once the import has `column` (staged or published) at least `target`
  // in state `state`. Returns false (and fails) if that never happened.
  bool KillWhen(const std::string& id, const std::string& state, const std::string& column,
                int64_t target) {
    // One read, so that the kill follows the moment the target is seen as closely as it can.
    const std::string sql =
        absl::StrCat("SELECT COALESCE((SELECT state = '", state, "' AND ", column, " >= ", target,
                     " FROM manifest_imports WHERE id = '", id, "'), 0)");
    const bool reached = WaitFor([&] { return Query(sql) == 1; }, kImportTimeout);
    EXPECT_TRUE(reached) << "the import never had " << column << " >= " << target << " in state "
                         << state << "; log:\n"
                         << server_->process().LogTail();
    if (!reached) return false;
    // A little later, drawn at random, so that the kill lands anywhere in the next chunk's
    // write (inside its transaction, in its COMMIT, or while it waits for its fsync), not only
    // right after a commit.
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 100)(rng_)));
    KillServer();
    return !::testing::Test::HasFatalFailure();
  }

  // Every camera of the import is there or none is; each one that is has exactly one
  // camera.register event; the chain verifies.
  void ExpectAllOrNothing(bool all) {
    EXPECT_EQ(Cameras(), all ? kRows : 0);
    EXPECT_EQ(RegisterEvents(), all ? kRows : 0);
    EXPECT_EQ(Query("SELECT COUNT(*) FROM (SELECT object_id FROM audit_events WHERE action = "
                    "'camera.register' AND object_id LIKE 'BIG-%' GROUP BY object_id "
                    "HAVING COUNT(*) != 1)"),
              0);
    EXPECT_EQ(Query("SELECT COUNT(*) FROM cameras c WHERE c.serial LIKE 'BIG-%' AND NOT EXISTS "
                    "(SELECT 1 FROM audit_events e WHERE e.object_id = c.serial AND "
                    "+e.action = 'camera.register')"),
              0);
    EXPECT_EQ(Query("SELECT COUNT(*) FROM manifest_import_rows"), 0);
    v1::VerifyAuditChainResponse chain;
    grpc::Status s = audit_->VerifyAuditChain(NewClientContext(kOperator, absl::Seconds(300)).get(),
                                              v1::VerifyAuditChainRequest(), &chain);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(chain.intact()) << chain.problem() << " at " << chain.first_broken_sequence();
  }

  // A random row count from `from` on, at most an equal share of what is left up to 5 chunks
  // before the end for each of the `kills` still to come: the kills spread over the import and
  // each lands with work left to do.
  int64_t RandomTarget(int64_t from, int kills) {
    const int64_t last = kRows - 5 * kChunk;
    if (from >= last) return last;
    const int64_t to = from + (last - from) / std::max(kills, 1);
    return std::uniform_int_distribution<int64_t>(from, to)(rng_);
  }

  TempDir dir_;
  std::string db_;
  std::mt19937_64 rng_;
  const std::string manifest_ = Manifest();
  int runs_ = 0;
  std::unique_ptr<CamfleetdChild> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
};

TEST_F(ImportKill9Test, KilledWhileStagingOrPublishingTheImportIsAllOrNothingAndOnce) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  v1::CreateSiteRequest site;
  site.set_code("DEPOT");
  site.set_name("Depot");
  v1::CreateSiteResponse site_resp;
  ASSERT_TRUE(fleet_->CreateSite(NewClientContext(kOperator).get(), site, &site_resp).ok());

  // ---- killed while staging: nothing is visible, and the restart abandons the import.
  const std::string abandoned = StartImport();
  ASSERT_FALSE(abandoned.empty());
  const int64_t staged_target = RandomTarget(1, 1);
  ASSERT_TRUE(KillWhen(abandoned, "STAGING", "staged", staged_target));
  const int64_t staged_at_kill = ImportColumn(abandoned, "staged");
  std::cout << "killed while staging, " << staged_at_kill << " of " << kRows << " rows staged\n";
  ASSERT_EQ(State(abandoned), 1) << "the kill must land while staging";
  EXPECT_EQ(Cameras(), 0);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  absl::StatusOr<v1::GetManifestImportResponse> end = AwaitEnd(abandoned);
  EXPECT_THAT(end, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("nothing was imported")));
  // Its staged rows are dropped in chunks after the answer above.
  ASSERT_TRUE(WaitFor([&] { return Query("SELECT COUNT(*) FROM manifest_import_rows") == 0; },
                      kImportTimeout));
  EXPECT_EQ(State(abandoned), 4);
  ASSERT_NO_FATAL_FAILURE(ExpectAllOrNothing(false));

  // ---- run again, killed several times while publishing: each restart finishes what the
  // last one left, under the same id.
  const std::string id = StartImport();
  ASSERT_FALSE(id.empty());
  int64_t published = 0;
  for (int kill = 0; kill < kPublishingKills; ++kill) {
    const int64_t target = RandomTarget(published + 1, kPublishingKills - kill);
    ASSERT_TRUE(KillWhen(id, "PUBLISHING", "published", target));
    ASSERT_EQ(State(id), 2) << "kill " << kill << " must land while publishing";
    const int64_t now_published = ImportColumn(id, "published");
    std::cout << "kill " << kill + 1 << " while publishing, " << now_published << " of " << kRows
              << " cameras published\n";
    EXPECT_GE(now_published, published);
    published = now_published;
    // Each chunk is one transaction: what is published is exactly what is visible, each with
    // its event, and the rest is still staged.
    EXPECT_EQ(Cameras(), published);
    EXPECT_EQ(RegisterEvents(), published);
    EXPECT_EQ(Query("SELECT COUNT(*) FROM manifest_import_rows"), kRows - published);
    ASSERT_NO_FATAL_FAILURE(StartServer());
  }
  end = AwaitEnd(id);
  ASSERT_THAT(end, IsOk());
  EXPECT_EQ(end->result().imported(), kRows);
  EXPECT_EQ(end->published(), kRows);
  EXPECT_EQ(State(id), 3);
  ASSERT_NO_FATAL_FAILURE(ExpectAllOrNothing(true));

  // ---- the same manifest once more: every row is already registered, nothing is imported.
  v1::ImportManifestRequest again;
  again.set_csv(manifest_);
  v1::ImportManifestResponse again_resp;
  grpc::Status s = fleet_->ImportManifest(NewClientContext(kOperator, absl::Seconds(300)).get(),
                                          again, &again_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again_resp.imported(), 0);
  EXPECT_EQ(again_resp.bad_rows(), kRows);
  ASSERT_NO_FATAL_FAILURE(ExpectAllOrNothing(true));

  // ---- a clean stop at the end.
  ASSERT_THAT(server_->process().Signal(SIGTERM), IsOk());
  absl::StatusOr<int> stopped = server_->process().Wait(absl::Seconds(60));
  ASSERT_THAT(stopped, IsOk());
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0)
      << "camfleetd did not stop cleanly on SIGTERM; log:\n"
      << server_->process().LogTail();
}

}  // namespace
}  // namespace camfleet::testing
