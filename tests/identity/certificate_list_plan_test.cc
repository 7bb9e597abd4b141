// `camfleet cert list --subject` and `--relayed-by` read an index (migration 0009), not the
// whole certificates table: SQLite's own EXPLAIN QUERY PLAN for every statement
// storage::ListCertificates runs (tests/testing/query_plan.h), against a real store built by
// the migrations, and the rows it returns (tests/reports/report_plan_test.cc does the same for
// the reports). The dock and enrollment-token lists likewise: each filter given seeks on its
// index, and no statement they run reads a growing table whole.

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"
#include "tests/testing/query_plan.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::storage {
namespace {

using testing::IsOk;

// Tables that grow with the fleet: tokens and docks with every dock enrolled (and re-enrolled),
// certificates with every renewal.
const std::set<std::string> kGrowingTables = {"enrollment_tokens", "docks", "certificates",
                                              "dock_slots", "dock_status"};

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

  std::vector<testing::StatementPlan> Plans(const CertificateFilter& f) {
    absl::StatusOr<std::vector<testing::StatementPlan>> plans = testing::PlansOfStatementsRun(
        *store_, [&](common::Database& db) { return ListCertificates(db, f).status(); });
    EXPECT_THAT(plans, IsOk());
    return plans.ok() ? *std::move(plans) : std::vector<testing::StatementPlan>();
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
  const std::vector<testing::StatementPlan> plans = Plans(f);
  EXPECT_TRUE(testing::HasStep(plans, "USING INDEX certificates_by_subject"));
  EXPECT_TRUE(testing::NoFullScans(plans, kGrowingTables));
  EXPECT_TRUE(testing::HasNoStep(plans, "TEMP B-TREE")) << "rows come in id order";
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
  const std::vector<testing::StatementPlan> plans = Plans(f);
  EXPECT_TRUE(testing::HasStep(plans, "USING INDEX certificates_by_issuer"));
  EXPECT_TRUE(testing::NoFullScans(plans, kGrowingTables));
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

class DockAndTokenListPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir_.File("fleet.db"), clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    // A region with two posts; six docks at each post, each enrolled with its own token, and
    // two more tokens per post not used yet; one dock of POST-A revoked.
    ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(SiteRow region, InsertSite(tx, "REGION", "Region", std::nullopt));
      region_ = region.id;
      for (const char* code : {"POST-A", "POST-B"}) {
        ASSIGN_OR_RETURN(SiteRow post, InsertSite(tx, code, "Post", region.id));
        posts_.push_back(post.id);
        for (int i = 0; i < 8; ++i) {
          ASSIGN_OR_RETURN(
              TokenRow token,
              InsertToken(tx, absl::StrCat(code, "-token-", i, std::string(32, 'x')).substr(0, 32),
                          post.id, "", common::ToMicros(tx.now()) + 3'600'000'000, "root-admin"));
          if (i >= 6) continue;
          const std::string dock_id = absl::StrCat(code, "-dock-", i);
          RETURN_IF_ERROR(MarkTokenUsed(tx, token.id, dock_id));
          ASSIGN_OR_RETURN(DockRow dock, InsertDock(tx, dock_id, post.id, 8, token.id));
          if (std::string(code) == "POST-A" && i == 2)
            RETURN_IF_ERROR(MarkDockRevoked(tx, dock.id));
        }
      }
      return absl::OkStatus();
    }),
                IsOk());
  }

  // The plans of every statement `fn` runs: none reads a growing table whole, and one of them
  // has `must_seek` (the index and bound that serve the filter).
  void ExpectSeeks(const std::string& name, std::function<absl::Status(common::Database&)> fn,
                   const std::string& must_seek) {
    absl::StatusOr<std::vector<testing::StatementPlan>> plans =
        testing::PlansOfStatementsRun(*store_, fn);
    ASSERT_THAT(plans, IsOk()) << name;
    EXPECT_TRUE(testing::NoFullScans(*plans, kGrowingTables)) << name;
    EXPECT_TRUE(testing::HasStep(*plans, must_seek)) << name;
  }

  template <typename T>
  std::vector<T> Rows(std::function<absl::StatusOr<std::vector<T>>(common::Database&)> fn) {
    std::vector<T> rows;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(rows, fn(db));
      return absl::OkStatus();
    }),
                IsOk());
    return rows;
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  int64_t region_ = 0;
  std::vector<int64_t> posts_;
};

TEST_F(DockAndTokenListPlanTest, TokenListSeeksForEachFilter) {
  auto tokens = [](std::optional<int64_t> site, std::string after) {
    return [site, after](common::Database& db) {
      return ListTokens(db, site, KeyPage{after, 100}).status();
    };
  };
  ExpectSeeks("tokens", tokens(std::nullopt, ""), "INTEGER PRIMARY KEY (rowid<?)");
  ExpectSeeks("tokens, a deep page", tokens(std::nullopt, "9"), "INTEGER PRIMARY KEY (rowid<?)");
  ExpectSeeks("tokens of a post", tokens(posts_[1], ""),
              "enrollment_tokens_by_site (site_id=? AND id<?)");
  ExpectSeeks("tokens of a post, a deep page", tokens(posts_[1], "14"),
              "enrollment_tokens_by_site (site_id=? AND id<?)");
}

TEST_F(DockAndTokenListPlanTest, TokenListOfAPostPagesNewestFirst) {
  const int64_t post = posts_[1];
  std::vector<v1::EnrollmentToken> first = Rows<v1::EnrollmentToken>([&](common::Database& db) {
    return ListTokens(db, post, KeyPage{"", 5});
  });
  ASSERT_EQ(first.size(), 5u);
  std::vector<v1::EnrollmentToken> rest = Rows<v1::EnrollmentToken>([&](common::Database& db) {
    return ListTokens(db, post, KeyPage{absl::StrCat(first.back().id()), 5});
  });
  ASSERT_EQ(rest.size(), 3u);  // eight tokens at POST-B
  std::vector<int64_t> ids;
  for (const auto* page : {&first, &rest}) {
    for (const v1::EnrollmentToken& t : *page) {
      EXPECT_EQ(t.site_code(), "POST-B");
      ids.push_back(t.id());
    }
  }
  EXPECT_TRUE(std::is_sorted(ids.rbegin(), ids.rend())) << "newest first";
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 8u);
  EXPECT_THAT(Rows<v1::EnrollmentToken>(
                  [](common::Database& db) { return ListTokens(db, std::nullopt, KeyPage{}); }),
              ::testing::SizeIs(16));
}

TEST_F(DockAndTokenListPlanTest, DockListSeeksForEachFilter) {
  auto docks = [](std::optional<int64_t> site, bool revoked, std::string after) {
    return [site, revoked, after](common::Database& db) {
      return ListDocks(db, site, revoked, KeyPage{after, 100}).status();
    };
  };
  ExpectSeeks("docks", docks(std::nullopt, false, ""), "sqlite_autoindex_docks_1 (dock_id>?)");
  ExpectSeeks("docks with revoked ones", docks(std::nullopt, true, "POST-A-dock-3"),
              "sqlite_autoindex_docks_1 (dock_id>?)");
  ExpectSeeks("docks of a post", docks(posts_[0], false, ""),
              "docks_by_site (site_id=? AND dock_id>?)");
  ExpectSeeks("docks of a region", docks(region_, true, "POST-A-dock-3"),
              "docks_by_site (site_id=? AND dock_id>?)");
}

TEST_F(DockAndTokenListPlanTest, DockListFiltersAndPages) {
  auto ids = [](const std::vector<v1::Dock>& docks) {
    std::vector<std::string> out;
    for (const v1::Dock& d : docks) out.push_back(d.dock_id());
    return out;
  };
  const int64_t post_a = posts_[0];
  EXPECT_THAT(ids(Rows<v1::Dock>([&](common::Database& db) {
                return ListDocks(db, post_a, false, KeyPage{"", 100});
              })),
              ::testing::ElementsAre("POST-A-dock-0", "POST-A-dock-1", "POST-A-dock-3",
                                     "POST-A-dock-4", "POST-A-dock-5"));
  EXPECT_THAT(ids(Rows<v1::Dock>([&](common::Database& db) {
                return ListDocks(db, region_, true, KeyPage{"POST-A-dock-4", 3});
              })),
              ::testing::ElementsAre("POST-A-dock-5", "POST-B-dock-0", "POST-B-dock-1"));
  EXPECT_THAT(Rows<v1::Dock>([&](common::Database& db) {
                return ListDocks(db, std::nullopt, false, KeyPage{"", 100});
              }),
              ::testing::SizeIs(11));
  EXPECT_THAT(Rows<v1::Dock>([&](common::Database& db) {
                return ListDocks(db, std::nullopt, true, KeyPage{"", 100});
              }),
              ::testing::SizeIs(12));
}

}  // namespace
}  // namespace camfleet::storage
