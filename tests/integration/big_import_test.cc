// A big delivery manifest against the real server: it is staged and then published in chunks
// that interleave with everyone else's writes, so issues and returns keep answering while it
// runs; it stays all-or-nothing across a restart; and every camera it registers has its own
// audit event, found by its serial. The chunks are made small (500 rows) so that a 40,000-row
// manifest has as many chunks as a 160,000-row one has at the server's 2,000. Last, what
// `camfleet camera import` shows while it runs: a progress bar with counts, including the
// cameras published so far, and nothing extra under --json.

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "cli/app.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/fleet_client.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 40'000;
constexpr int kChunk = 500;

std::string Serial(int n) { return absl::StrFormat("IMP-%07d", n); }

// kRows cameras for POST-1; the row numbered `bad_row` (from 1, if any) names a site that does
// not exist.
std::string Manifest(int bad_row = 0) {
  std::string csv = "serial,model,hardware_revision,site\n";
  csv.reserve(static_cast<size_t>(kRows) * 30);
  for (int n = 1; n <= kRows; ++n) {
    absl::StrAppend(&csv, Serial(n), ",AXON-4,R1,", n == bad_row ? "POST-9" : "POST-1", "\n");
  }
  return csv;
}

class BigImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.manifest_imports.chunk_rows = kChunk;
    if (sync_wal_) options.store.sync_wal = sync_wal_;
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start(options);
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    client_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    ASSERT_THAT(client_->CreateSite("POST-1"), IsOk());
    ASSERT_THAT(client_->CreateHolder("B-001", "POST-1"), IsOk());
    ASSERT_THAT(client_->Register("CAM-0001", "POST-1"), IsOk());
    ASSERT_THAT(client_->Commission("CAM-0001"), IsOk());
  }

  absl::StatusOr<v1::StartManifestImportResponse> Start(const std::string& csv) {
    v1::StartManifestImportRequest req;
    req.mutable_manifest()->set_csv(csv);
    std::unique_ptr<grpc::ClientContext> ctx = NewClientContext("qm.bob", absl::Seconds(60));
    v1::StartManifestImportResponse resp;
    grpc::Status s = server_->fleet().StartManifestImport(ctx.get(), req, &resp);
    if (!s.ok()) return ToAbsl(s);
    return resp;
  }

  absl::StatusOr<v1::GetManifestImportResponse> Progress(const std::string& id) {
    v1::GetManifestImportRequest req;
    req.set_import_id(id);
    return client_->Fleet(&v1::FleetService::Stub::GetManifestImport, req);
  }

  // Waits until the import is DONE (its result) or failed (its error).
  absl::StatusOr<v1::GetManifestImportResponse> AwaitEnd(const std::string& id) {
    absl::StatusOr<v1::GetManifestImportResponse> p;
    const bool ended = WaitFor(
        [&] {
          p = Progress(id);
          return !p.ok() || p->phase() == v1::MANIFEST_IMPORT_PHASE_DONE;
        },
        absl::Seconds(300));
    if (!ended) return absl::DeadlineExceededError("the import did not end in 300 s");
    return p;
  }

  // Read straight from the file: what is committed now (the test's own connection).
  int64_t Query(const std::string& sql) {
    absl::StatusOr<int64_t> n = QueryInt(server_->db_path(), sql);
    EXPECT_THAT(n, IsOk()) << sql;
    return n.value_or(-1);
  }
  int64_t Cameras() { return Query("SELECT COUNT(*) FROM cameras"); }
  // Rows the import has written so far: staged plus published (each chunk adds to one).
  int64_t RowsWritten(const std::string& id) {
    return Query(
        absl::StrCat("SELECT COALESCE((SELECT staged + published FROM manifest_imports "
                     "WHERE id = '",
                     id, "'), 0)"));
  }
  std::string State(const std::string& id) {
    // 0 before the import has written anything.
    int64_t n =
        Query(absl::StrCat("SELECT COALESCE((SELECT CASE state WHEN 'STAGING' THEN 1 "
                           "WHEN 'PUBLISHING' THEN 2 WHEN 'DONE' THEN 3 WHEN 'ABANDONED' "
                           "THEN 4 ELSE 0 END FROM manifest_imports WHERE id = '",
                           id, "'), 0)"));
    switch (n) {
      case 1:
        return "STAGING";
      case 2:
        return "PUBLISHING";
      case 3:
        return "DONE";
      case 4:
        return "ABANDONED";
      default:
        return "";
    }
  }

  // Every camera of the import is in the audit trail under its own serial, in a
  // camera.register event naming the import.
  void ExpectEveryCameraAudited(const std::string& import_id) {
    EXPECT_EQ(Query("SELECT COUNT(*) FROM cameras c WHERE c.serial LIKE 'IMP-%' AND NOT EXISTS "
                    "(SELECT 1 FROM audit_events e WHERE e.object_id = c.serial "
                    "AND +e.action = 'camera.register')"),
              0);
    EXPECT_EQ(Query(absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE action = "
                                 "'camera.register' AND details LIKE '%",
                                 import_id, "%'")),
              kRows);
    // As `camfleet audit list --object SERIAL` asks for it.
    for (int n : {1, kRows / 2, kRows}) {
      v1::ListAuditEventsRequest filter;
      filter.set_object_id(Serial(n));
      absl::StatusOr<std::vector<v1::AuditEvent>> events = client_->AllAuditEvents(filter);
      ASSERT_THAT(events, IsOk());
      ASSERT_EQ(events->size(), 1u) << Serial(n);
      EXPECT_EQ((*events)[0].action(), "camera.register");
      EXPECT_EQ((*events)[0].actor(), "qm.bob");
      EXPECT_THAT((*events)[0].details_json(), HasSubstr(import_id));
      EXPECT_THAT((*events)[0].details_json(), HasSubstr(absl::StrCat("\"", n + 1, "\"")));
    }
    // Tens of thousands of events under ASan: a longer deadline than a usual call's.
    v1::VerifyAuditChainResponse chain;
    ASSERT_THAT(ToAbsl(server_->audit().VerifyAuditChain(
                    NewClientContext("qm.alice", absl::Seconds(180)).get(),
                    v1::VerifyAuditChainRequest(), &chain)),
                IsOk());
    EXPECT_TRUE(chain.intact());
  }

  // The store's WAL sync, for a test that holds it (set before SetUp).
  std::function<absl::Status(int fd)> sync_wal_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(BigImportTest, IssueAndReturnAnswerWithinAFewChunksWhileABigImportRuns) {
  absl::StatusOr<v1::StartManifestImportResponse> started = Start(Manifest());
  ASSERT_THAT(started, IsOk());
  EXPECT_EQ(started->rows(), kRows);
  const std::string id = started->import_id();

  // Issue and return one camera over and over while the import runs. Around each call, count
  // the rows the import wrote meanwhile: a call queued behind the whole import (as when it was
  // published by one write) would see them all; here it waits for at most the chunk being
  // written and the one queued before it. The bound allows 10 chunks for a test thread that
  // the loaded machine does not run for a while.
  int during_staging = 0;
  int during_publishing = 0;
  int64_t most_rows_during_a_call = 0;
  bool done = false;
  v1::GetManifestImportResponse last;
  while (!done) {
    const std::string state_before = State(id);
    int64_t before = RowsWritten(id);
    v1::IssueCameraRequest issue;
    issue.set_serial("CAM-0001");
    issue.set_holder_badge("B-001");
    *issue.mutable_due_back_time() = ToProto(absl::Now() + absl::Hours(8));
    v1::IssueCameraResponse issued;
    // A long deadline: the bound below is what the test checks, not the call's deadline.
    ASSERT_THAT(ToAbsl(server_->fleet().IssueCamera(
                    NewClientContext("qm.alice", absl::Seconds(120)).get(), issue, &issued)),
                IsOk());
    int64_t after = RowsWritten(id);
    most_rows_during_a_call = std::max(most_rows_during_a_call, after - before);
    before = after;
    v1::ReturnCameraRequest ret;
    ret.set_serial("CAM-0001");
    ret.set_condition(v1::RETURN_CONDITION_GOOD);
    v1::ReturnCameraResponse returned;
    ASSERT_THAT(ToAbsl(server_->fleet().ReturnCamera(
                    NewClientContext("qm.alice", absl::Seconds(120)).get(), ret, &returned)),
                IsOk());
    after = RowsWritten(id);
    most_rows_during_a_call = std::max(most_rows_during_a_call, after - before);
    const std::string state_after = State(id);
    if (state_before == "STAGING" && state_after == "STAGING") ++during_staging;
    if (state_before == "PUBLISHING" && state_after == "PUBLISHING") ++during_publishing;
    absl::StatusOr<v1::GetManifestImportResponse> progress = Progress(id);
    ASSERT_THAT(progress, IsOk());
    done = progress->phase() == v1::MANIFEST_IMPORT_PHASE_DONE;
    last = *progress;
  }
  std::cerr << kRows << "-row import: " << during_staging << " issue+return round trips while "
            << "staging, " << during_publishing << " while publishing; at most "
            << most_rows_during_a_call << " rows written by the import during one call\n";
  EXPECT_GE(during_staging, 3);
  EXPECT_GE(during_publishing, 3);
  EXPECT_LE(most_rows_during_a_call, 10 * kChunk);
  EXPECT_EQ(last.result().imported(), kRows);
  EXPECT_EQ(last.staged(), kRows);
  EXPECT_EQ(Cameras(), kRows + 1);
  EXPECT_EQ(State(id), "DONE");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM manifest_import_rows"), 0);
  ExpectEveryCameraAudited(id);
}

TEST_F(BigImportTest, RestartWhilePublishingFinishesTheImport) {
  absl::StatusOr<v1::StartManifestImportResponse> started = Start(Manifest());
  ASSERT_THAT(started, IsOk());
  const std::string id = started->import_id();
  ASSERT_TRUE(WaitFor([&] { return State(id) == "PUBLISHING" && RowsWritten(id) > kRows; },
                      absl::Seconds(300)));
  // The server goes down between two chunks of the publishing (what a crash leaves too: each
  // chunk is one transaction), with some of the cameras published.
  server_->Shutdown();
  const int64_t published =
      Query(absl::StrCat("SELECT published FROM manifest_imports "
                         "WHERE id = '",
                         id, "'"));
  EXPECT_GT(published, 0);
  EXPECT_LT(published, kRows) << "the import ended before the shutdown; make kRows bigger";
  EXPECT_EQ(Cameras(), 1 + published);
  // The restarted server finishes it, under the same id.
  ASSERT_THAT(server_->Restart(), IsOk());
  absl::StatusOr<v1::GetManifestImportResponse> end = AwaitEnd(id);
  ASSERT_THAT(end, IsOk());
  EXPECT_EQ(end->result().imported(), kRows);
  EXPECT_EQ(end->result().rows(), kRows);
  EXPECT_EQ(Cameras(), kRows + 1);
  EXPECT_EQ(State(id), "DONE");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM manifest_import_rows"), 0);
  ExpectEveryCameraAudited(id);
}

TEST_F(BigImportTest, RestartWhileStagingImportsNothing) {
  const int64_t before = Cameras();
  const int64_t events_before = Query("SELECT COUNT(*) FROM audit_events");
  absl::StatusOr<v1::StartManifestImportResponse> started = Start(Manifest());
  ASSERT_THAT(started, IsOk());
  const std::string id = started->import_id();
  ASSERT_TRUE(
      WaitFor([&] { return State(id) == "STAGING" && RowsWritten(id) > 0; }, absl::Seconds(300)));
  server_->Shutdown();
  EXPECT_EQ(Cameras(), before);
  ASSERT_THAT(server_->Restart(), IsOk());
  EXPECT_THAT(AwaitEnd(id),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("nothing was imported")));
  ASSERT_TRUE(WaitFor([&] { return Query("SELECT COUNT(*) FROM manifest_import_rows") == 0; },
                      absl::Seconds(120)));
  EXPECT_EQ(State(id), "ABANDONED");
  EXPECT_EQ(Cameras(), before);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM audit_events"), events_before);
  // Its serials are free again.
  EXPECT_THAT(client_->Register(Serial(1), "POST-1"), IsOk());
}

TEST_F(BigImportTest, BadRowNearTheEndImportsNothing) {
  const int64_t before = Cameras();
  v1::ImportManifestRequest req;
  req.set_csv(Manifest(kRows - 10));
  std::unique_ptr<grpc::ClientContext> ctx = NewClientContext("qm.bob", absl::Seconds(120));
  v1::ImportManifestResponse resp;
  ASSERT_THAT(ToAbsl(server_->fleet().ImportManifest(ctx.get(), req, &resp)), IsOk());
  EXPECT_EQ(resp.imported(), 0);
  EXPECT_EQ(resp.rows(), kRows);
  EXPECT_EQ(resp.bad_rows(), 1);
  ASSERT_EQ(resp.errors_size(), 1);
  EXPECT_EQ(resp.errors(0).line(), kRows - 10 + 1);  // line 1 is the header
  EXPECT_THAT(resp.errors(0).message(), HasSubstr("POST-9"));
  EXPECT_EQ(Cameras(), before);
}

TEST_F(BigImportTest, StagedSerialIsReservedAndOneRegisteredMeanwhileFailsTheImport) {
  const int64_t before = Cameras();
  absl::StatusOr<v1::StartManifestImportResponse> started = Start(Manifest());
  ASSERT_THAT(started, IsOk());
  const std::string id = started->import_id();
  // Once the first chunk is staged, its serials are the import's: no one else registers them.
  ASSERT_TRUE(
      WaitFor([&] { return State(id) == "STAGING" && RowsWritten(id) > 0; }, absl::Seconds(300)));
  EXPECT_THAT(
      client_->Register(Serial(1), "POST-1"),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(absl::StrCat("manifest import ", id))));
  // A serial from the end of the manifest, not staged yet, is registered by hand: the chunk
  // that would stage it finds it taken and the whole import is abandoned.
  ASSERT_THAT(client_->Register(Serial(kRows - 5), "POST-1"), IsOk());
  absl::StatusOr<v1::GetManifestImportResponse> end = AwaitEnd(id);
  EXPECT_THAT(end, StatusIs(absl::StatusCode::kAlreadyExists,
                            HasSubstr(absl::StrCat("'", Serial(kRows - 5), "'"))));
  EXPECT_THAT(end.status().message(), HasSubstr("nothing was imported"));
  EXPECT_EQ(Cameras(), before + 1);
  EXPECT_EQ(State(id), "ABANDONED");
  ASSERT_TRUE(WaitFor([&] { return Query("SELECT COUNT(*) FROM manifest_import_rows") == 0; },
                      absl::Seconds(120)));
  EXPECT_EQ(
      Query(absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE details LIKE '%", id, "%'")), 0);
  // The serials it had staged are free again.
  EXPECT_THAT(client_->Register(Serial(1), "POST-1"), IsOk());
}

TEST_F(BigImportTest, UnknownImportIdIsNotFound) {
  EXPECT_THAT(Progress("0123456789abcdef"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0123456789abcdef")));
}

// An ostream buffer another thread may read while the CLI writes to it.
class SharedText : public std::streambuf {
 public:
  std::string Get() {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    absl::MutexLock lock(&mu_);
    text_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    absl::MutexLock lock(&mu_);
    text_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

// `camfleet camera import` of a big manifest, with the store's fsync held once the import has
// committed its second publishing chunk: the import then stands still with exactly one chunk's
// cameras published and durable (the second is committed but not yet on disk, so not counted),
// and the CLI's bar must show that count while it waits.
class BigImportCliTest : public BigImportTest {
 protected:
  BigImportCliTest() {
    sync_wal_ = [this](int fd) -> absl::Status {
      if (armed_.load()) {
        // Read from the file what is committed now (the sync covers it).
        absl::StatusOr<int64_t> published =
            QueryInt(db_path_,
                     "SELECT COALESCE(MAX(published), 0) FROM manifest_imports WHERE state = "
                     "'PUBLISHING'");
        if (published.ok() && *published >= 2 * kChunk) {
          absl::MutexLock lock(&mu_);
          held_ = true;
          mu_.AwaitWithTimeout(absl::Condition(
                                   +[](bool* release) { return *release; }, &release_),
                               absl::Seconds(300));
          held_ = false;
        }
      }
      if (::fdatasync(fd) != 0) return absl::InternalError("fdatasync failed");
      return absl::OkStatus();
    };
  }

  void TearDown() override {
    Release();
    // Before this fixture's members go: the server's syncer calls sync_wal_ until it stops.
    client_.reset();
    server_.reset();
  }

  // The id of the only import, read from the file (the CLI does not print it).
  std::string ImportId() {
    sqlite3* db = nullptr;
    std::string id;
    if (sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT id FROM manifest_imports", -1, &s, nullptr) == SQLITE_OK &&
          sqlite3_step(s) == SQLITE_ROW) {
        id = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      }
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    EXPECT_FALSE(id.empty()) << "no manifest import in " << db_path_;
    return id;
  }

  void Release() {
    armed_ = false;
    absl::MutexLock lock(&mu_);
    release_ = true;
  }

  common::RealClock clock_;
  std::string db_path_;
  std::atomic<bool> armed_{false};
  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool release_ ABSL_GUARDED_BY(mu_) = false;
};

std::string WriteManifest(const TempDir& dir, const std::string& name, const std::string& csv) {
  const std::string path = dir.File(name);
  std::ofstream(path, std::ios::binary) << csv;
  return path;
}

TEST_F(BigImportCliTest, ImportShowsRowsStagedAndCamerasPublishedAndNothingExtraWithJson) {
  db_path_ = server_->db_path();
  const std::string file = WriteManifest(server_->dir(), "delivery.csv", Manifest());
  armed_ = true;
  SharedText out_text;
  SharedText err_text;
  std::ostream out(&out_text);
  std::ostream err(&err_text);
  int code = -1;
  std::thread cli([&] {
    cli::Environment env{.out = &out,
                         .err = &err,
                         .getenv = [](absl::string_view) { return std::optional<std::string>(); },
                         .clock = &clock_};
    code = cli::RunCamfleet({"camfleet", "--server", server_->target(), "--insecure", "--operator",
                             "qm.bob", "--timeout", "120", "camera", "import", file},
                            env);
  });
  // While the disk is held: one chunk published, and the bar says so.
  const std::string expected_bar =
      absl::StrCat("publishing  [", std::string(30 * kChunk / kRows, '#'),
                   std::string(30 - 30 * kChunk / kRows, ' '), "]   1%  500/40,000 rows");
  const bool shown =
      WaitFor([&] { return absl::StrContains(err_text.Get(), expected_bar); }, absl::Seconds(300));
  // The API reports the same count, though the file already holds the next chunk.
  absl::StatusOr<v1::GetManifestImportResponse> progress;
  if (shown) {
    EXPECT_EQ(Query("SELECT COUNT(*) FROM manifest_imports"), 1);
    // The bar can show the first chunk before the writer has written the second (the CLI polls):
    // wait for the second chunk to reach the file, where the held sync stops it.
    EXPECT_TRUE(
        WaitFor([&] { return Query("SELECT published FROM manifest_imports") == 2 * kChunk; },
                absl::Seconds(120)))
        << "published: " << Query("SELECT published FROM manifest_imports");
    progress = Progress(ImportId());
  }
  Release();
  cli.join();
  ASSERT_TRUE(shown) << "the bar never showed one chunk published; stderr:\n" << err_text.Get();
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->phase(), v1::MANIFEST_IMPORT_PHASE_COMMITTING);
  EXPECT_EQ(progress->published(), kChunk);
  EXPECT_EQ(progress->staged(), kRows);
  EXPECT_EQ(progress->to_stage(), kRows);

  const std::string shown_err = err_text.Get();
  EXPECT_EQ(code, 0) << shown_err;
  EXPECT_THAT(shown_err, HasSubstr("\rchecking    ["));
  EXPECT_THAT(shown_err, HasSubstr("\rstaging     ["));
  EXPECT_THAT(shown_err, HasSubstr("/40,000 rows"));
  // The last drawing is the finished bar, on a line of its own.
  EXPECT_TRUE(absl::EndsWith(shown_err, absl::StrCat("\rpublished   [", std::string(30, '#'),
                                                     "] 100%  40,000/40,000 rows\n")))
      << shown_err;
  EXPECT_EQ(out_text.Get(),
            absl::StrCat("read 40000 rows from ", file, "\nimported 40000 of 40000 rows\n"));
  EXPECT_EQ(Cameras(), kRows + 1);

  // --json: stdout is the result alone, and no bar is drawn.
  std::string csv = "serial,model,hardware_revision,site\n";
  for (int n = 1; n <= 2'500; ++n)
    absl::StrAppend(&csv, absl::StrFormat("JSN-%05d", n), ",AXON-4,R1,POST-1\n");
  const std::string json_file = WriteManifest(server_->dir(), "json.csv", csv);
  CliResult r = RunCli(
      DevCliArgs(server_->target(), "qm.bob", 120, {"camera", "import", json_file, "--json"}),
      clock_);
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r;
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("publish"))) << r;
  v1::ImportManifestResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r;
  EXPECT_EQ(parsed.imported(), 2'500);
}

}  // namespace
}  // namespace camfleet::testing
