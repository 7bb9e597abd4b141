// camfleetd backup and restore against the real server and real gRPC clients writing all along:
// the copy is consistent and checked, writes go on while it is made, and a restore brings the
// server back on the copy with a new database generation and a chain that matches the backup's
// signed checkpoint.

#include "services/server/backup.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/file_io.h"
#include "services/server/checkpoint_file.h"
#include "tests/integration/fleet_client.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;

std::string Cam(int n) { return absl::StrFormat("CAM-%06d", n); }

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start();
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    client_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    ASSERT_THAT(client_->CreateSite("POST-1"), IsOk());
  }

  server::BackupOptions BackupTo(const std::string& name) {
    return {.db_path = server_->db_path(),
            .audit_dir = server_->dir().File("audit"),
            .dest = server_->dir().File(name)};
  }
  server::RestoreOptions RestoreFrom(const std::string& name) {
    return {.source = server_->dir().File(name),
            .db_path = server_->db_path(),
            .audit_dir = server_->dir().File("audit")};
  }

  absl::StatusOr<v1::VerifyAuditChainResponse> Verify(const v1::AuditCheckpoint& checkpoint) {
    v1::VerifyAuditChainRequest req;
    *req.mutable_checkpoint() = checkpoint;
    return client_->Audit(&v1::AuditService::Stub::VerifyAuditChain, req);
  }

  int64_t Query(const std::string& sql) {
    absl::StatusOr<int64_t> v = QueryInt(server_->db_path(), sql);
    EXPECT_THAT(v, IsOk());
    return v.value_or(-1);
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(BackupTest, BackupUnderLoadThenRestoreGivesANewGeneration) {
  // Some bulk first, so that the copy takes a moment.
  std::string csv = "serial,model,hardware_revision,site\n";
  for (int n = 1; n <= 5000; ++n) absl::StrAppend(&csv, Cam(n), ",AXON-4,R1,POST-1\n");
  ASSERT_THAT(client_->Import(csv), IsOk());
  absl::StatusOr<v1::VerifyAuditChainResponse> before = client_->VerifyChain();
  ASSERT_THAT(before, IsOk());
  const std::string old_generation = before->database_generation();
  ASSERT_FALSE(old_generation.empty());

  // Four clients, each on its own connection, register cameras until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  absl::Mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      std::unique_ptr<v1::FleetService::Stub> stub =
          v1::FleetService::NewStub(NewDedicatedChannel(server_->target()));
      for (int i = 0; !stop.load(); ++i) {
        v1::RegisterCameraRequest req;
        req.set_serial(Cam(100000 * (t + 1) + i));
        req.set_model("AXON-4");
        req.set_site_code("POST-1");
        v1::RegisterCameraResponse resp;
        grpc::Status s = stub->RegisterCamera(NewClientContext("qm.load").get(), req, &resp);
        absl::MutexLock lock(&mu);
        if (s.ok()) {
          written.fetch_add(1);
        } else {
          failures.push_back(s.error_message());
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return written.load() >= 20; }, absl::Seconds(30)));
  const int64_t head_before = Query("SELECT MAX(seq) FROM audit_events");
  absl::StatusOr<server::BackupResult> backup = server::Backup(BackupTo("fleet-backup.db"));
  ASSERT_THAT(backup, IsOk());
  const int written_after_backup = written.load();
  ASSERT_TRUE(
      WaitFor([&] { return written.load() >= written_after_backup + 20; }, absl::Seconds(30)));
  stop = true;
  for (std::thread& c : clients) c.join();
  {
    absl::MutexLock lock(&mu);
    // No write waited out its deadline behind the backup (it would be listed here: the copy is
    // one read transaction, VACUUM INTO on a connection of its own, so WAL writes go on). How
    // long each took is a benchmark's business, not a test's: a loaded machine stretches any
    // bound.
    EXPECT_THAT(failures, ::testing::IsEmpty());
  }
  // The copy is a state from the middle of the load: it has writes made after the load began
  // and lacks those made after the backup.
  const int64_t head_after = Query("SELECT MAX(seq) FROM audit_events");
  EXPECT_GE(backup->checkpoint.sequence(), head_before);
  EXPECT_LT(backup->checkpoint.sequence(), head_after);
  EXPECT_EQ(backup->events_checked, backup->checkpoint.sequence());
  EXPECT_EQ(backup->checkpoint.database_generation(), old_generation);
  absl::StatusOr<v1::AuditCheckpoint> beside =
      server::ReadCheckpointFile(server_->dir().File("fleet-backup.db.checkpoint.json"));
  ASSERT_THAT(beside, IsOk());
  EXPECT_EQ(beside->SerializeAsString(), backup->checkpoint.SerializeAsString());

  // Not while the server runs.
  EXPECT_THAT(server::Restore(RestoreFrom("fleet-backup.db")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stop it first")));

  server_->Shutdown();
  absl::StatusOr<server::RestoreResult> restored = server::Restore(RestoreFrom("fleet-backup.db"));
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ(restored->previous_generation, old_generation);
  EXPECT_NE(restored->generation, old_generation);
  EXPECT_TRUE(provisioning::PathExists(restored->moved_aside));
  ASSERT_THAT(server_->Restart(), IsOk());

  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(backup->checkpoint);
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact()) << chain->problem();
  EXPECT_TRUE(chain->checkpoint_matched());
  EXPECT_EQ(chain->database_generation(), restored->generation);
  // The backup's events and the restore's own event, nothing of what came after the backup.
  EXPECT_EQ(chain->head_sequence(), backup->checkpoint.sequence() + 1);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM audit_events WHERE action = 'store.restore'"), 1);
  // Every camera in the copy, the 5,000 of the big import among them, has its register event.
  EXPECT_EQ(Query("SELECT COUNT(*) FROM cameras"),
            Query("SELECT COUNT(*) FROM audit_events WHERE action = 'camera.register'"));
  // The server still takes writes on the restored store.
  EXPECT_THAT(client_->Register(Cam(999999), "POST-1"), IsOk());
}

TEST_F(BackupTest, BackupNeverOverwrites) {
  ASSERT_THAT(server::Backup(BackupTo("b.db")), IsOk());
  EXPECT_THAT(server::Backup(BackupTo("b.db")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("b.db")));
}

TEST_F(BackupTest, BackupNeedsTheCheckpointKey) {
  server::BackupOptions options = BackupTo("b.db");
  options.audit_dir = server_->dir().File("no-such-dir");
  EXPECT_THAT(server::Backup(options),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("checkpoint key")));
  EXPECT_FALSE(provisioning::PathExists(server_->dir().File("b.db")));
}

TEST_F(BackupTest, RestoreRefusesACopyCutAfterItsCheckpoint) {
  for (int n = 1; n <= 20; ++n) ASSERT_THAT(client_->Register(Cam(n), "POST-1"), IsOk());
  ASSERT_THAT(server::Backup(BackupTo("b.db")), IsOk());
  {
    absl::StatusOr<std::unique_ptr<common::Database>> db =
        common::Database::Open(server_->dir().File("b.db"));
    ASSERT_THAT(db, IsOk());
    ASSERT_THAT((*db)->Exec("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events "
                            "WHERE seq > (SELECT MAX(seq) - 10 FROM audit_events)"),
                IsOk());
  }
  const int64_t cameras = Query("SELECT COUNT(*) FROM cameras");
  server_->Shutdown();
  EXPECT_THAT(server::Restore(RestoreFrom("b.db")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("were cut")));
  // Nothing was restored: the database is the one the server ran on.
  ASSERT_THAT(server_->Restart(), IsOk());
  EXPECT_EQ(Query("SELECT COUNT(*) FROM cameras"), cameras);
}

TEST_F(BackupTest, RestoreNeedsTheCheckpointBesideTheCopy) {
  ASSERT_THAT(server::Backup(BackupTo("b.db")), IsOk());
  ASSERT_EQ(std::remove(server_->dir().File("b.db.checkpoint.json").c_str()), 0);
  server_->Shutdown();
  EXPECT_THAT(server::Restore(RestoreFrom("b.db")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("checkpoint")));
}

}  // namespace
}  // namespace camfleet::testing
