// Signed audit checkpoints against the real server and a real SQLite file that the test then
// tampers with the way someone holding the file could: a cut tail fixed up so that the chain
// alone still verifies, and the whole database put back to an older copy. The chain alone
// cannot see either; a checkpoint kept off the server does.

#include "provisioning/audit_checkpoint.h"

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/strings/str_format.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"
#include "services/server/checkpoint_file.h"
#include "services/storage/audit_log.h"
#include "tests/integration/fleet_client.h"
#include "tests/testing/audit_forge.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;

std::string Cam(int n) { return absl::StrFormat("CAM-%04d", n); }

absl::Status Tamper(const std::string& db_path, const std::string& sql) {
  absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(db_path);
  if (!db.ok()) return db.status();
  return (*db)->Exec(sql);
}

// What someone with the file does after deleting events: append forged events whose hashes are
// recomputed, so that the chain links and verifies again on its own.
absl::Status AppendForgedEvents(const std::string& db_path, int count) {
  for (int i = 0; i < count; ++i) {
    RETURN_IF_ERROR(AppendLinkedAuditEvent(
        db_path, {"forger", "camera.register", "camera", Cam(9000 + i), "{}"}));
  }
  return absl::OkStatus();
}

class AuditCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start();
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    client_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    ASSERT_THAT(client_->CreateSite("POST-1"), IsOk());
  }

  void RegisterCameras(int first, int last) {
    for (int n = first; n <= last; ++n) ASSERT_THAT(client_->Register(Cam(n), "POST-1"), IsOk());
  }

  absl::StatusOr<v1::AuditCheckpoint> Checkpoint() {
    absl::StatusOr<v1::CreateAuditCheckpointResponse> made = client_->Audit(
        &v1::AuditService::Stub::CreateAuditCheckpoint, v1::CreateAuditCheckpointRequest());
    if (!made.ok()) return made.status();
    return made->checkpoint();
  }

  absl::StatusOr<v1::VerifyAuditChainResponse> Verify(const v1::AuditCheckpoint* checkpoint) {
    v1::VerifyAuditChainRequest req;
    if (checkpoint != nullptr) *req.mutable_checkpoint() = *checkpoint;
    return client_->Audit(&v1::AuditService::Stub::VerifyAuditChain, req);
  }

  // The head sequence of the chain in the file.
  int64_t Head() {
    absl::StatusOr<int64_t> head =
        QueryInt(server_->db_path(), "SELECT COALESCE(MAX(seq), 0) FROM audit_events");
    EXPECT_THAT(head, IsOk());
    return head.value_or(-1);
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(AuditCheckpointTest, CheckpointIsSignedWithTheKeyInTheAuditDirectory) {
  RegisterCameras(1, 5);
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = Checkpoint();
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->sequence(), Head());
  // The key lives beside the database in its own directory, not in SQLite.
  absl::StatusOr<provisioning::FileContents> pub =
      provisioning::ReadSmallFile(server_->dir().File("audit/checkpoint.pub"), 64 * 1024);
  ASSERT_THAT(pub, IsOk());
  provisioning::CheckpointFacts facts{
      checkpoint->sequence(), checkpoint->head_hash(),
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(checkpoint->time()),
      checkpoint->database_generation()};
  EXPECT_THAT(provisioning::VerifyCheckpointSignature(pub->data, facts, checkpoint->signature()),
              IsOk());
  facts.sequence -= 1;
  EXPECT_THAT(provisioning::VerifyCheckpointSignature(pub->data, facts, checkpoint->signature()),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(QueryInt(server_->db_path(),
                       "SELECT COUNT(*) FROM settings WHERE value LIKE '%PRIVATE KEY%'"),
              IsOkAndHolds(0));
}

TEST_F(AuditCheckpointTest, IntactChainMatchesItsCheckpointAfterMoreWrites) {
  RegisterCameras(1, 5);
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = Checkpoint();
  ASSERT_THAT(checkpoint, IsOk());
  RegisterCameras(6, 10);
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(&*checkpoint);
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact()) << chain->problem();
  EXPECT_TRUE(chain->checkpoint_matched());
  EXPECT_EQ(chain->database_generation(), checkpoint->database_generation());
}

TEST_F(AuditCheckpointTest, CutTailIsFoundOnlyWithTheCheckpoint) {
  RegisterCameras(1, 30);
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = Checkpoint();
  ASSERT_THAT(checkpoint, IsOk());
  const int64_t head = checkpoint->sequence();
  server_->Shutdown();
  ASSERT_THAT(Tamper(server_->db_path(), absl::StrCat("DROP TRIGGER audit_events_no_delete; "
                                                      "DELETE FROM audit_events WHERE seq > ",
                                                      head - 10)),
              IsOk());
  ASSERT_THAT(server_->Restart(), IsOk());

  // The chain alone is a valid, shorter chain: this is what the checkpoint is for.
  absl::StatusOr<v1::VerifyAuditChainResponse> alone = Verify(nullptr);
  ASSERT_THAT(alone, IsOk());
  EXPECT_TRUE(alone->intact());
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(&*checkpoint);
  ASSERT_THAT(chain, IsOk());
  EXPECT_FALSE(chain->intact());
  EXPECT_FALSE(chain->checkpoint_matched());
  EXPECT_EQ(chain->first_broken_sequence(), head - 9);
  EXPECT_THAT(chain->problem(), HasSubstr("were cut"));
}

TEST_F(AuditCheckpointTest, CutTailFixedUpWithForgedEventsIsFound) {
  RegisterCameras(1, 30);
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = Checkpoint();
  ASSERT_THAT(checkpoint, IsOk());
  const int64_t head = checkpoint->sequence();
  server_->Shutdown();
  // The last 10 events go, and 10 others take their place with hashes recomputed: same length,
  // a chain that links and verifies on its own.
  ASSERT_THAT(Tamper(server_->db_path(), absl::StrCat("DROP TRIGGER audit_events_no_delete; "
                                                      "DELETE FROM audit_events WHERE seq > ",
                                                      head - 10)),
              IsOk());
  ASSERT_THAT(AppendForgedEvents(server_->db_path(), 10), IsOk());
  ASSERT_THAT(server_->Restart(), IsOk());

  absl::StatusOr<v1::VerifyAuditChainResponse> alone = Verify(nullptr);
  ASSERT_THAT(alone, IsOk());
  EXPECT_TRUE(alone->intact()) << alone->problem();
  EXPECT_EQ(alone->head_sequence(), head);
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(&*checkpoint);
  ASSERT_THAT(chain, IsOk());
  EXPECT_FALSE(chain->intact());
  EXPECT_EQ(chain->first_broken_sequence(), head);
  EXPECT_THAT(chain->problem(), HasSubstr("rewritten"));
}

TEST_F(AuditCheckpointTest, DatabaseReplacedByAnOlderCopyIsFound) {
  RegisterCameras(1, 10);
  server_->Shutdown();
  const std::string older = server_->dir().File("older-copy.db");
  std::error_code ec;
  std::filesystem::copy_file(server_->db_path(), older, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_THAT(server_->Restart(), IsOk());
  RegisterCameras(11, 20);
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = Checkpoint();
  ASSERT_THAT(checkpoint, IsOk());
  server_->Shutdown();
  std::filesystem::rename(older, server_->db_path(), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_THAT(server_->Restart(), IsOk());

  absl::StatusOr<v1::VerifyAuditChainResponse> alone = Verify(nullptr);
  ASSERT_THAT(alone, IsOk());
  EXPECT_TRUE(alone->intact());
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(&*checkpoint);
  ASSERT_THAT(chain, IsOk());
  EXPECT_FALSE(chain->intact());
  EXPECT_THAT(chain->problem(), HasSubstr("replaced by an older copy"));
}

TEST_F(AuditCheckpointTest, AlteredCheckpointIsRefused) {
  RegisterCameras(1, 5);
  absl::StatusOr<v1::AuditCheckpoint> checkpoint = Checkpoint();
  ASSERT_THAT(checkpoint, IsOk());
  // Moving the checkpoint back to an earlier event (to excuse a cut) breaks its signature.
  v1::AuditCheckpoint altered = *checkpoint;
  altered.set_sequence(checkpoint->sequence() - 2);
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(&altered);
  ASSERT_THAT(chain, IsOk());
  EXPECT_FALSE(chain->intact());
  EXPECT_THAT(chain->problem(), HasSubstr("signature does not verify"));
}

TEST_F(AuditCheckpointTest, MalformedCheckpointIsInvalidArgument) {
  v1::AuditCheckpoint bad;
  bad.set_sequence(3);
  bad.set_head_hash("abc");
  EXPECT_THAT(Verify(&bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("head_hash")));
}

TEST_F(AuditCheckpointTest, ServerKeepsTheLatestCheckpointAtShutdown) {
  RegisterCameras(1, 7);
  const int64_t head = Head();
  server_->Shutdown();
  absl::StatusOr<v1::AuditCheckpoint> latest =
      server::ReadCheckpointFile(server_->dir().File("audit/latest-checkpoint.json"));
  ASSERT_THAT(latest, IsOk());
  EXPECT_EQ(latest->sequence(), head);
  ASSERT_THAT(server_->Restart(), IsOk());
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = Verify(&*latest);
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->checkpoint_matched()) << chain->problem();
}

}  // namespace
}  // namespace camfleet::testing
