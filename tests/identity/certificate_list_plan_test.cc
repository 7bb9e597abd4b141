// `camfleet cert list --subject` and `--relayed-by` read an index (migration 0009), not the
// whole certificates table: SQLite's own EXPLAIN QUERY PLAN for the exact statement
// storage::ListCertificates runs, against a real store built by the migrations, and the rows
// it returns (tests/reports/report_plan_test.cc does the same for the reports).

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;

class CertificateListPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    // Camera certificates relayed by two docks, and some for operators.
    ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
      for (int i = 0; i < 40; ++i) {
        CertificateRecord r;
        r.serial = absl::StrCat("c0ffee", i);
        r.role = i % 4 == 0 ? "quartermaster" : "camera";
        r.identity = i % 4 == 0 ? absl::StrCat("qm-", i) : absl::StrCat("CAM-", i % 8);
        r.subject = absl::StrCat("CN=", r.identity);
        r.key_fingerprint = absl::StrCat("fp", i);
        r.not_before_us = 1'700'000'000'000'000;
        r.not_after_us = r.not_before_us + 86'400'000'000LL;
        r.pem = "-";
        r.issued_by = i % 4 == 0 ? "root-admin" : absl::StrCat("dock:post-1-dock-", i % 2);
        RETURN_IF_ERROR(InsertCertificate(tx, r).status());
      }
      return absl::OkStatus();
    }),
                IsOk());
  }

  std::vector<std::string> Plan(const CertificateFilter& f) {
    std::vector<std::string> plan;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(plan, ExplainListCertificates(db, f));
      return absl::OkStatus();
    }),
                IsOk());
    return plan;
  }

  std::vector<CertificateRow> List(const CertificateFilter& f) {
    std::vector<CertificateRow> rows;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(rows, ListCertificates(db, f));
      return absl::OkStatus();
    }),
                IsOk());
    return rows;
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(CertificateListPlanTest, SubjectFilterReadsTheSubjectIndex) {
  CertificateFilter f;
  f.subject_cn = "CAM-3";
  f.include_revoked = true;
  const std::vector<std::string> plan = Plan(f);
  EXPECT_THAT(plan, Contains(HasSubstr("USING INDEX certificates_by_subject")))
      << absl::StrJoin(plan, "\n");
  EXPECT_THAT(plan, Not(Contains(HasSubstr("SCAN certificates")))) << absl::StrJoin(plan, "\n");
  EXPECT_THAT(plan, Not(Contains(HasSubstr("TEMP B-TREE")))) << "rows come in id order";
  const std::vector<CertificateRow> rows = List(f);
  ASSERT_EQ(rows.size(), 5u);  // i = 3, 11, 19, 27, 35
  for (const CertificateRow& r : rows) EXPECT_EQ(r.certificate.subject(), "CN=CAM-3");
  EXPECT_GT(rows.front().id, rows.back().id) << "newest first";
}

TEST_F(CertificateListPlanTest, RelayedByFilterReadsTheIssuerIndex) {
  CertificateFilter f;
  f.role = "camera";
  f.issued_by = "dock:post-1-dock-1";
  f.include_revoked = true;
  f.limit = 7;
  const std::vector<std::string> plan = Plan(f);
  EXPECT_THAT(plan, Contains(HasSubstr("USING INDEX certificates_by_issuer")))
      << absl::StrJoin(plan, "\n");
  EXPECT_THAT(plan, Not(Contains(HasSubstr("SCAN certificates")))) << absl::StrJoin(plan, "\n");
  const std::vector<CertificateRow> rows = List(f);
  ASSERT_EQ(rows.size(), 7u);
  for (const CertificateRow& r : rows) {
    EXPECT_EQ(r.certificate.issued_by(), "dock:post-1-dock-1");
  }
  // The next page continues below the last id.
  f.before_id = rows.back().id;
  const std::vector<CertificateRow> next = List(f);
  ASSERT_EQ(next.size(), 7u);  // 20 relayed by dock 1 (every odd i)
  EXPECT_LT(next.front().id, rows.back().id);
}

}  // namespace
}  // namespace camfleet::storage
