// The in-memory revocation set follows the database: a certificate is refused in memory only
// once the transaction that revoked it has committed, and never for a revocation rolled back.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/revocation_set.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::fleet {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;

class RevocationOrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    ASSERT_THAT(store_->WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      storage::CertificateRecord r;
      r.serial = "0a0b0c";
      r.role = "dock";
      r.identity = "post-1-dock-1";
      r.subject = "CN=post-1-dock-1";
      r.key_fingerprint = "ff";
      r.not_before_us = 1;
      r.not_after_us = int64_t{4'000'000'000} * 1'000'000;
      r.pem = "-----BEGIN CERTIFICATE-----";
      r.issued_by = "fleet-ca";
      absl::StatusOr<storage::CertificateRow> row = storage::InsertCertificate(tx, r);
      if (!row.ok()) return row.status();
      cert_ = *row;
      return absl::OkStatus();
    }),
                IsOk());
  }

  absl::Status Revoke(bool then_fail) {
    return store_->WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      absl::Status s = identity::RevokeInTransaction(
          tx, cert_, v1::REVOCATION_REASON_KEY_COMPROMISE, "admin.ann", revoked_);
      if (!s.ok()) return s;
      // Not yet committed: nobody may act on it yet, and it may still be undone.
      seen_inside_ = revoked_.Contains("0a0b0c");
      if (then_fail) return absl::FailedPreconditionError("a later step of the write failed");
      return absl::OkStatus();
    });
  }

  testing::TempDir dir_;
  common::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<storage::Store> store_;
  storage::CertificateRow cert_;
  rpc::RevocationSet revoked_;
  bool seen_inside_ = true;
};

TEST_F(RevocationOrderTest, RevocationRolledBackLeavesTheSetAsItWas) {
  EXPECT_THAT(Revoke(/*then_fail=*/true), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(revoked_.Contains("0a0b0c"));
  EXPECT_EQ(revoked_.generation(), 0u);
}

TEST_F(RevocationOrderTest, RevocationEntersTheSetOnceCommitted) {
  ASSERT_THAT(Revoke(/*then_fail=*/false), IsOk());
  EXPECT_FALSE(seen_inside_);
  EXPECT_TRUE(revoked_.Contains("0a0b0c"));
  // And the set agrees with what a restart would load from the database.
  rpc::RevocationSet loaded;
  ASSERT_THAT(identity::LoadRevocations(*store_, loaded), IsOk());
  EXPECT_TRUE(loaded.Contains("0a0b0c"));
}

}  // namespace
}  // namespace camfleet::fleet
