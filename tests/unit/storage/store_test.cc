// Store: group commit, durability across reopen, and the audit hash chain against tampering
// done with the plain sqlite3 C API (what someone holding the file could do).

#include "services/storage/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/call_deadline.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "services/storage/audit_log.h"
#include "services/storage/savepoint.h"
#include "tests/testing/audit_forge.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace camfleet::storage {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

absl::Status InsertItem(WriteTx& tx, const std::string& name) {
  absl::StatusOr<common::Statement> s = tx.db().Prepare("INSERT INTO items (name) VALUES (?)");
  if (!s.ok()) return s.status();
  return s->Bind(1, name).Run();
}

// Collects the results of asynchronous writes and waits for a number of them.
class Results {
 public:
  WriteDone Slot(const std::string& key) {
    return [this, key](absl::Status s) {
      absl::MutexLock lock(&mu_);
      results_.emplace_back(key, std::move(s));
    };
  }
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<std::pair<std::string, absl::Status>> Get() {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  // The result for `key`; INTERNAL if none came (yet).
  absl::Status Of(const std::string& key) {
    absl::MutexLock lock(&mu_);
    for (const auto& [k, status] : results_) {
      if (k == key) return status;
    }
    return absl::InternalError(absl::StrCat("no result for ", key));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<std::string, absl::Status>> results_ ABSL_GUARDED_BY(mu_);
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("store.db");
    Reopen();
    ASSERT_NE(store_, nullptr);
    ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
      return tx.db().Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
    }),
                IsOk());
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path_, clock_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  std::set<std::string> Items() {
    std::set<std::string> names;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      absl::StatusOr<common::Statement> s = db.Prepare("SELECT name FROM items");
      if (!s.ok()) return s.status();
      while (true) {
        absl::StatusOr<bool> row = s->Step();
        if (!row.ok()) return row.status();
        if (!*row) return absl::OkStatus();
        names.insert(s->ColumnText(0));
      }
    }),
                IsOk());
    return names;
  }

  // Appends `n` audit events, one write each.
  void AppendEvents(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_THAT(store_->WriteAndWait([i](WriteTx& tx) {
        return AppendAudit(tx, {"alice", "camera.issue", "camera", absl::StrCat("CAM-", 1000 + i),
                                JsonObject({{"i", absl::StrCat(i)}})})
            .status();
      }),
                  IsOk());
      clock_.Advance(absl::Seconds(1));
    }
  }

  // Runs `sql` on the file with the plain C API, as someone with the file could.
  void TamperWith(const std::string& sql) {
    store_.reset();
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(raw);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  v1::VerifyAuditChainResponse Verify() {
    std::unique_ptr<common::Database> db;
    absl::StatusOr<std::unique_ptr<common::Database>> opened = common::Database::Open(path_);
    EXPECT_THAT(opened, IsOk());
    if (!opened.ok()) return {};
    absl::StatusOr<v1::VerifyAuditChainResponse> result = VerifyAudit(**opened);
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *result : v1::VerifyAuditChainResponse();
  }

  TempDir dir_;
  std::string path_;
  common::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<Store> store_;
};

// The store's process-wide SQLite settings (ConfigureSqliteForStore: no memory statistics,
// journal chunks reused) apply only before SQLite starts. This is the program's first test and
// nothing has used SQLite yet, so they apply, and every test after it runs the store with them.
TEST(StoreProcessTest, SqliteSettingsAreInForceWhereTheStoreIsSqlitesFirstUser) {
  EXPECT_TRUE(ConfigureSqliteForStore());
  // Memory statistics are off: SQLite counts nothing.
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

// --------------------------------------------------------------------------- group commit

TEST_F(StoreTest, FailingWriteInAGroupDoesNotUndoTheOthers) {
  // Hold the writer inside one write so that everything queued meanwhile forms one group.
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store_->Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  const StoreStats before = store_->stats();

  constexpr int kThreads = 8;
  constexpr int kPerThread = 4;
  const std::string failing = "t3-2";
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < kPerThread; ++j) {
        const std::string name = absl::StrCat("t", t, "-", j);
        const bool fail = name == failing;
        store_->Write(
            [name, fail](WriteTx& tx) -> absl::Status {
              if (absl::Status s = InsertItem(tx, name); !s.ok()) return s;
              // Fails after its row is in: the savepoint must take the row back out.
              if (fail) return absl::InvalidArgumentError("refused after inserting");
              return absl::OkStatus();
            },
            results.Slot(name));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  release.Notify();
  ASSERT_TRUE(results.WaitFor(1 + kThreads * kPerThread));

  std::set<std::string> expected;
  for (const auto& [name, status] : results.Get()) {
    if (name == failing) {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("refused")));
    } else {
      EXPECT_THAT(status, IsOk()) << name;
      if (name != "blocker") expected.insert(name);
    }
  }
  EXPECT_EQ(Items(), expected);
  EXPECT_EQ(Items().count(failing), 0u);
  // The blocker's group, then all 32 queued writes in one commit.
  const StoreStats after = store_->stats();
  EXPECT_EQ(after.commits - before.commits, 2);
  EXPECT_EQ(after.writes - before.writes, 1 + kThreads * kPerThread - 1);
}

TEST_F(StoreTest, ConstraintViolationInAGroupFailsOnlyThatWrite) {
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store_->Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "a"); }, results.Slot("a"));
  store_->Write(
      [](WriteTx& tx) -> absl::Status {
        if (absl::Status s = InsertItem(tx, "b"); !s.ok()) return s;
        return InsertItem(tx, "a");  // UNIQUE: the whole write goes, "b" with it
      },
      results.Slot("b-then-a"));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "c"); }, results.Slot("c"));
  release.Notify();
  ASSERT_TRUE(results.WaitFor(4));
  for (const auto& [key, status] : results.Get()) {
    if (key == "b-then-a") {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kAlreadyExists));
    } else {
      EXPECT_THAT(status, IsOk()) << key;
    }
  }
  EXPECT_EQ(Items(), (std::set<std::string>{"a", "c"}));
}

TEST_F(StoreTest, WriteThatEndsTheWholeTransactionLeavesNoWriteAcknowledgedWrongly) {
  // Some failures (RAISE(ROLLBACK), and SQLITE_FULL/IOERR/NOMEM) make SQLite roll back the
  // whole transaction, not just the savepoint. Whatever the store then does, a write must be
  // reported OK exactly when its row is in the file: acknowledged means durable, and a write
  // reported failed must not have been committed (a retry would apply it twice).
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec(
        "CREATE TABLE poison (x);"
        "CREATE TRIGGER poison_rolls_back BEFORE INSERT ON poison "
        "BEGIN SELECT RAISE(ROLLBACK, 'the disk went away'); END;");
  }),
              IsOk());
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store_->Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "before"); }, results.Slot("before"));
  store_->Write([](WriteTx& tx) { return tx.db().Exec("INSERT INTO poison VALUES (1)"); },
                results.Slot("poison"));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "after"); }, results.Slot("after"));
  release.Notify();
  ASSERT_TRUE(results.WaitFor(4));

  const std::set<std::string> items = Items();
  for (const auto& [key, status] : results.Get()) {
    if (key == "poison") {
      EXPECT_FALSE(status.ok());
    } else if (key != "blocker") {
      EXPECT_EQ(status.ok(), items.count(key) == 1)
          << key << ": reported " << status << " but the row is "
          << (items.count(key) == 1 ? "in the file" : "not in the file");
    }
  }
}

// A refusal decided inside a transaction that is then undone may rest on a write that no longer
// exists ("already exists" because of a row the same group inserted): it must not reach the
// caller as a fact about the database.
TEST_F(StoreTest, RefusalRestingOnAWriteOfALostTransactionIsReportedAsARetry) {
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec(
        "CREATE TABLE poison (x);"
        "CREATE TRIGGER poison_rolls_back BEFORE INSERT ON poison "
        "BEGIN SELECT RAISE(ROLLBACK, 'the disk went away'); END;");
  }),
              IsOk());
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store_->Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "x"); }, results.Slot("first"));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "x"); }, results.Slot("second"));
  store_->Write([](WriteTx& tx) { return tx.db().Exec("INSERT INTO poison VALUES (1)"); },
                results.Slot("poison"));
  release.Notify();
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_EQ(Items().count("x"), 0u);
  EXPECT_THAT(results.Of("first"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("retry")));
  // Not ALREADY_EXISTS: the "x" it collided with was rolled back.
  EXPECT_THAT(results.Of("second"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("rolled back")));
  EXPECT_THAT(results.Of("poison"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("the disk went away")));
}

TEST_F(StoreTest, RefusalRestingOnAWriteOfAFailedCommitIsReportedAsARetry) {
  // A deferred foreign key is checked at COMMIT: the write that breaks it succeeds, the COMMIT
  // of its group fails and takes every write of the group with it.
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY "
        "DEFERRED)");
  }),
              IsOk());
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store_->Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  store_->Write([](WriteTx& tx) { return tx.db().Exec("INSERT INTO child VALUES (42)"); },
                results.Slot("orphan"));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "x"); }, results.Slot("first"));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "x"); }, results.Slot("second"));
  release.Notify();
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_EQ(Items().count("x"), 0u);
  EXPECT_THAT(results.Of("orphan"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("COMMIT failed")));
  EXPECT_THAT(results.Of("first"), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("retry")));
  EXPECT_THAT(results.Of("second"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("rolled back")));
}

TEST_F(StoreTest, AfterCommitRunsOnlyForWritesThatCommitted) {
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec(
        "CREATE TABLE poison (x);"
        "CREATE TRIGGER poison_rolls_back BEFORE INSERT ON poison "
        "BEGIN SELECT RAISE(ROLLBACK, 'the disk went away'); END;");
  }),
              IsOk());
  absl::Mutex mu;
  std::set<std::string> applied;
  auto remember = [&](WriteTx& tx, const std::string& name) {
    tx.AfterCommit([&, name] {
      absl::MutexLock lock(&mu);
      applied.insert(name);
    });
  };
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store_->Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  // Lost with the transaction the poison ends; then a new transaction for what follows.
  store_->Write(
      [&](WriteTx& tx) {
        remember(tx, "lost");
        return InsertItem(tx, "lost");
      },
      results.Slot("lost"));
  store_->Write([](WriteTx& tx) { return tx.db().Exec("INSERT INTO poison VALUES (1)"); },
                results.Slot("poison"));
  store_->Write(
      [&](WriteTx& tx) {
        remember(tx, "refused");
        return absl::FailedPreconditionError("refused after registering");
      },
      results.Slot("refused"));
  // Runs its callback while the completer is on it: the AfterCommit ran before.
  bool applied_before_done = false;
  store_->Write(
      [&](WriteTx& tx) {
        remember(tx, "kept");
        return InsertItem(tx, "kept");
      },
      [&](absl::Status s) {
        {
          absl::MutexLock lock(&mu);
          applied_before_done = applied.count("kept") == 1;
        }
        results.Slot("kept")(std::move(s));
      });
  release.Notify();
  ASSERT_TRUE(results.WaitFor(5));
  EXPECT_THAT(results.Of("kept"), IsOk());
  EXPECT_FALSE(results.Of("lost").ok());
  EXPECT_TRUE(applied_before_done);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(applied, std::set<std::string>{"kept"});
}

// The RPC's deadline reaches the writer without every service passing it: WriteWithResponse
// takes the one the gRPC edge set for the thread.
TEST_F(StoreTest, WriteWithResponseCarriesTheCallDeadlineOfItsThread) {
  struct Resp {
    int n = 0;
  };
  absl::Notification late_done;
  absl::Status late_status;
  {
    common::ScopedCallDeadline deadline(absl::Now() - absl::Milliseconds(1));
    WriteWithResponse<Resp>(
        *store_, [](WriteTx& tx, Resp&) { return InsertItem(tx, "late"); },
        [&](absl::StatusOr<Resp> r) {
          late_status = r.status();
          late_done.Notify();
        });
  }
  ASSERT_TRUE(late_done.WaitForNotificationWithTimeout(kWait));
  EXPECT_THAT(late_status, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(common::CurrentCallDeadline(), absl::InfiniteFuture());
  absl::Notification done;
  absl::StatusOr<Resp> result;
  WriteWithResponse<Resp>(
      *store_,
      [](WriteTx& tx, Resp& resp) {
        resp.n = 7;
        return InsertItem(tx, "in time");
      },
      [&](absl::StatusOr<Resp> r) {
        result = std::move(r);
        done.Notify();
      });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->n, 7);
  EXPECT_EQ(Items(), std::set<std::string>{"in time"});
}

// ------------------------------------------------------------------------- a sick disk

// A real full disk needs a small file system mounted for the test, which needs root; SQLite
// reports the same SQLITE_FULL when the file reaches PRAGMA max_page_count, which is what this
// uses (the store cannot tell the two apart, and says so in the message).
TEST_F(StoreTest, FullDiskIsResourceExhaustedAndSaysTheDiskIsFull) {
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    absl::StatusOr<common::Statement> count = tx.db().Prepare("PRAGMA page_count");
    if (!count.ok()) return count.status();
    absl::StatusOr<bool> row = count->Step();
    if (!row.ok()) return row.status();
    return tx.db().Exec(absl::StrCat("PRAGMA max_page_count=", count->ColumnInt(0) + 4));
  }),
              IsOk());
  const std::string big(64 * 1024, 'x');
  absl::Status full = store_->WriteAndWait([&big](WriteTx& tx) { return InsertItem(tx, big); });
  EXPECT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted,
                             HasSubstr("disk holding the database is full")));
  EXPECT_THAT(full, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("free disk space")));
  // A small write still fits and is not affected.
  EXPECT_THAT(store_->WriteAndWait([](WriteTx& tx) { return InsertItem(tx, "small"); }), IsOk());
  EXPECT_EQ(Items(), std::set<std::string>{"small"});
}

TEST(StoreOpenTest, MissingFileIsRefusedAndNotCreatedWhenItMustExist) {
  TempDir dir;
  common::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  StoreOptions options;
  options.must_exist = true;
  const std::string path = dir.File("typo.db");
  EXPECT_THAT(Store::Open(path, clock, options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("camfleetd init")));
  EXPECT_FALSE(std::filesystem::exists(path));
  options.must_exist = false;
  EXPECT_THAT(Store::Open(path, clock, options), IsOk());
  options.must_exist = true;
  EXPECT_THAT(Store::Open(path, clock, options), IsOk());
}

TEST(StoreOpenTest, FileThatIsNotADatabaseIsRefusedAsCorrupt) {
  TempDir dir;
  common::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  const std::string path = dir.File("junk.db");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string junk(8192, 'j');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  EXPECT_THAT(Store::Open(path, clock),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("restore it from a backup")));
}

TEST(StoreOpenTest, DamagedPageIsFoundAtOpenAndTheFileRefused) {
  TempDir dir;
  common::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  const std::string path = dir.File("damaged.db");
  int64_t page_size = 0;
  int64_t pages = 0;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, clock);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->WriteAndWait([](WriteTx& tx) -> absl::Status {
      absl::Status s =
          tx.db().Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
      for (int i = 0; s.ok() && i < 2000; ++i) {
        s = InsertItem(tx, absl::StrCat("item-", i, "-", std::string(100, 'p')));
      }
      return s;
    }),
                IsOk());
    ASSERT_THAT((*store)->Read([&](common::Database& db) -> absl::Status {
      absl::StatusOr<common::Statement> s = db.Prepare("PRAGMA page_size");
      if (!s.ok()) return s.status();
      if (absl::StatusOr<bool> row = s->Step(); !row.ok()) return row.status();
      page_size = s->ColumnInt(0);
      absl::StatusOr<common::Statement> c = db.Prepare("PRAGMA page_count");
      if (!c.ok()) return c.status();
      if (absl::StatusOr<bool> row = c->Step(); !row.ok()) return row.status();
      pages = c->ColumnInt(0);
      return absl::OkStatus();
    }),
                IsOk());
  }  // closing the last connection checkpoints the WAL into the file
  ASSERT_GT(pages, 10);
  {
    // Scribble over a page in the middle of the items table, as a failing disk might.
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fseek(f, static_cast<long>(page_size * (pages - 5) + 16), SEEK_SET), 0);
    const std::string junk(static_cast<size_t>(page_size) - 32, '\xa5');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  EXPECT_THAT(Store::Open(path, clock),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is corrupt")));
}

TEST(StoreOpenTest, DirectoryIsSyncedOnceTheWalExists) {
  TempDir dir;
  common::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  const std::string path = dir.File("s.db");
  int calls = 0;
  bool wal_existed = false;
  bool was_the_directory = false;
  StoreOptions options;
  options.sync_directory = [&](int fd) {
    ++calls;
    wal_existed = std::filesystem::exists(path + "-wal");
    struct stat by_fd;
    struct stat by_path;
    was_the_directory = ::fstat(fd, &by_fd) == 0 && ::stat(dir.path().c_str(), &by_path) == 0 &&
                        by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev;
    return absl::OkStatus();
  };
  ASSERT_THAT(Store::Open(path, clock, options), IsOk());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(wal_existed);
  EXPECT_TRUE(was_the_directory);
  // A directory that cannot be synced is a disk that cannot be trusted.
  options.sync_directory = [](int) { return absl::UnavailableError("EIO from the test"); };
  EXPECT_THAT(Store::Open(path, clock, options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("EIO from the test")));
}

// ---------------------------------------------------------------------------- backpressure

TEST(StoreBackpressureTest, FullQueueRefusesAWriteAtOnceWithNothingWritten) {
  TempDir dir;
  common::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  StoreOptions options;
  options.max_queued_writes = 3;
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(dir.File("s.db"), clock, options);
  ASSERT_THAT(opened, IsOk());
  Store& store = **opened;
  ASSERT_THAT(store.WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
  }),
              IsOk());
  // Hold the writer inside one write; the queue fills behind it.
  absl::Notification entered;
  absl::Notification release;
  Results results;
  store.Write(
      [&](WriteTx&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(kWait);
        return absl::OkStatus();
      },
      results.Slot("blocker"));
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kWait));
  for (int i = 0; i < 3; ++i) {
    const std::string name = absl::StrCat("queued", i);
    store.Write([name](WriteTx& tx) { return InsertItem(tx, name); }, results.Slot(name));
  }
  bool ran = false;
  store.Write(
      [&ran](WriteTx& tx) {
        ran = true;
        return InsertItem(tx, "refused");
      },
      results.Slot("refused"));
  // The refusal comes at once, while the writer is still held.
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_THAT(results.Of("refused"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("retry in a moment")));
  EXPECT_EQ(store.stats().queue_full_refusals, 1);
  EXPECT_EQ(store.stats().queued, 3);
  release.Notify();
  ASSERT_TRUE(results.WaitFor(5));
  for (int i = 0; i < 3; ++i) EXPECT_THAT(results.Of(absl::StrCat("queued", i)), IsOk());
  EXPECT_FALSE(ran);
}

TEST_F(StoreTest, WriteWhoseDeadlinePassedIsNotRunAndSaysSo) {
  bool ran = false;
  Results results;
  store_->Write(
      [&ran](WriteTx& tx) {
        ran = true;
        return InsertItem(tx, "late");
      },
      results.Slot("late"), absl::Now() - absl::Seconds(1));
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "in time"); }, results.Slot("in time"),
                absl::Now() + absl::Hours(1));
  ASSERT_TRUE(results.WaitFor(2));
  EXPECT_THAT(results.Of("late"),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("nothing was written")));
  EXPECT_THAT(results.Of("in time"), IsOk());
  EXPECT_FALSE(ran);
  EXPECT_EQ(Items(), std::set<std::string>{"in time"});
  EXPECT_EQ(store_->stats().deadline_drops, 1);
}

TEST_F(StoreTest, WriteAndWaitReturnsTheWriteFunctionsError) {
  EXPECT_THAT(store_->WriteAndWait([](WriteTx&) { return absl::NotFoundError("no such thing"); }),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no such thing")));
}

TEST_F(StoreTest, WriteSeesTheClockTimeAsItsCommitTime) {
  absl::Time seen;
  ASSERT_THAT(store_->WriteAndWait([&](WriteTx& tx) {
    seen = tx.now();
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(seen, clock_.Now());
}

TEST_F(StoreTest, AcknowledgedWriteIsVisibleToAFreshConnection) {
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) { return InsertItem(tx, "seen"); }), IsOk());
  absl::StatusOr<std::unique_ptr<common::Database>> other = common::Database::Open(path_);
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<common::Statement> s =
      (*other)->Prepare("SELECT COUNT(*) FROM items WHERE name = 'seen'");
  ASSERT_THAT(s, IsOk());
  ASSERT_THAT(s->Step(), IsOk());
  EXPECT_EQ(s->ColumnInt(0), 1);
}

TEST_F(StoreTest, DataSurvivesClosingAndReopening) {
  for (const char* name : {"one", "two", "three"}) {
    ASSERT_THAT(store_->WriteAndWait([name](WriteTx& tx) { return InsertItem(tx, name); }), IsOk());
  }
  Reopen();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Items(), (std::set<std::string>{"one", "two", "three"}));
}

TEST_F(StoreTest, ShutdownFinishesEveryQueuedWrite) {
  Results results;
  constexpr int kWrites = 50;
  for (int i = 0; i < kWrites; ++i) {
    const std::string name = absl::StrCat("q", i);
    store_->Write([name](WriteTx& tx) { return InsertItem(tx, name); }, results.Slot(name));
  }
  store_->Shutdown();
  // Shutdown has returned, so every callback has already run.
  EXPECT_EQ(results.Get().size(), static_cast<size_t>(kWrites));
  for (const auto& [name, status] : results.Get()) EXPECT_THAT(status, IsOk()) << name;
  Reopen();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Items().size(), static_cast<size_t>(kWrites));
}

TEST_F(StoreTest, WriteAfterShutdownIsUnavailable) {
  store_->Shutdown();
  EXPECT_THAT(store_->WriteAndWait([](WriteTx& tx) { return InsertItem(tx, "late"); }),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(StoreTest, ReadErrorIsReturnedAndTheConnectionReused) {
  for (int i = 0; i < 10; ++i) {  // more reads than reader connections
    EXPECT_THAT(store_->Read([](common::Database&) { return absl::NotFoundError("nope"); }),
                StatusIs(absl::StatusCode::kNotFound));
  }
  EXPECT_THAT(store_->Read([](common::Database& db) { return db.Exec("SELECT 1"); }), IsOk());
}

// ------------------------------------------------------------ durability before acknowledgement

// A disk whose WAL sync the test holds or fails: the one piece of hardware the store talks to.
class ControlledDisk {
 public:
  std::function<absl::Status(int)> SyncFn() {
    return [this](int fd) -> absl::Status {
      absl::MutexLock lock(&mu_);
      ++entered_;
      mu_.Await(absl::Condition(&open_));
      if (fail_) {  // one failure, as a disk error reported once; later syncs "succeed"
        fail_ = false;
        return absl::UnavailableError("injected EIO");
      }
      if (::fdatasync(fd) != 0) return absl::InternalError("fdatasync failed");
      ++synced_;
      return absl::OkStatus();
    };
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Release(bool fail = false) {
    absl::MutexLock lock(&mu_);
    fail_ = fail;
    open_ = true;
  }
  // Waits until `n` syncs have started.
  bool WaitForSyncs(int n) {
    absl::MutexLock lock(&mu_);
    auto started = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&started), kWait);
  }
  int synced() {
    absl::MutexLock lock(&mu_);
    return synced_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  bool fail_ ABSL_GUARDED_BY(mu_) = false;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int synced_ ABSL_GUARDED_BY(mu_) = 0;
};

class StoreDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.sync_wal = disk_.SyncFn();
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(dir_.File("store.db"), clock_, options);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
      return tx.db().Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
    }),
                IsOk());
  }
  void TearDown() override {
    disk_.Release();
    store_.reset();
  }

  ControlledDisk disk_;
  TempDir dir_;
  common::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<Store> store_;
};

TEST_F(StoreDurabilityTest, WriteIsAcknowledgedOnlyAfterTheWalIsSynced) {
  const int before = disk_.synced();
  disk_.Hold();
  absl::Notification acknowledged;
  absl::Status result = absl::UnknownError("not called");
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "durable"); },
                [&](absl::Status s) {
                  result = std::move(s);
                  acknowledged.Notify();
                });
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));  // committed, now syncing
  EXPECT_FALSE(acknowledged.WaitForNotificationWithTimeout(absl::Milliseconds(100)))
      << "acknowledged while the WAL sync was still running";
  disk_.Release();
  ASSERT_TRUE(acknowledged.WaitForNotificationWithTimeout(kWait));
  EXPECT_THAT(result, IsOk());
  EXPECT_EQ(disk_.synced(), before + 1);
}

TEST_F(StoreDurabilityTest, ReadDoesNotReturnAWriteThatIsNotYetDurable) {
  const int before = disk_.synced();
  disk_.Hold();
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "pending"); }, [](absl::Status) {});
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  absl::Notification read_done;
  int64_t count = -1;
  std::thread reader([&] {
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      absl::StatusOr<common::Statement> q = db.Prepare("SELECT COUNT(*) FROM items");
      if (!q.ok()) return q.status();
      if (absl::StatusOr<bool> row = q->Step(); !row.ok()) return row.status();
      count = q->ColumnInt(0);
      return absl::OkStatus();
    }),
                IsOk());
    read_done.Notify();
  });
  EXPECT_FALSE(read_done.WaitForNotificationWithTimeout(absl::Milliseconds(100)))
      << "a read that saw the committed row returned before the row was durable";
  disk_.Release();
  ASSERT_TRUE(read_done.WaitForNotificationWithTimeout(kWait));
  reader.join();
  EXPECT_EQ(count, 1);
}

TEST_F(StoreDurabilityTest, PrecheckReadDoesNotWaitForTheSync) {
  const int before = disk_.synced();
  disk_.Hold();
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "pending"); }, [](absl::Status) {});
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  int64_t count = -1;
  // Returns while the sync is held (a wait here would hang until TearDown releases it).
  ASSERT_THAT(store_->ReadForPrecheck([&](common::Database& db) -> absl::Status {
    absl::StatusOr<common::Statement> q = db.Prepare("SELECT COUNT(*) FROM items");
    if (!q.ok()) return q.status();
    if (absl::StatusOr<bool> row = q->Step(); !row.ok()) return row.status();
    count = q->ColumnInt(0);
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(count, 1);
  EXPECT_EQ(disk_.synced(), before);  // still not durable: the precheck did not wait
  disk_.Release();
}

TEST_F(StoreDurabilityTest, WritesCommittedDuringOneSyncShareTheNextSync) {
  const int before = disk_.synced();
  disk_.Hold();
  Results results;
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "first"); }, results.Slot("first"));
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  // The writer is not held up by the sync: these commit while it runs.
  constexpr int kMore = 20;
  for (int i = 0; i < kMore; ++i) {
    const std::string name = absl::StrCat("more", i);
    store_->Write([name](WriteTx& tx) { return InsertItem(tx, name); }, results.Slot(name));
  }
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  disk_.Release();
  ASSERT_TRUE(results.WaitFor(kMore + 1));
  for (const auto& [name, status] : results.Get()) EXPECT_THAT(status, IsOk()) << name;
  // One sync for "first", and the others share one or a few more (never one each).
  EXPECT_LE(disk_.synced() - before, 3);
  EXPECT_GE(store_->stats().commits, 2);
}

TEST_F(StoreDurabilityTest, FailedSyncIsDataLossAndTheStoreRefusesFurtherWrites) {
  const int before = disk_.synced();
  disk_.Hold();
  absl::Notification acknowledged;
  absl::Status result;
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "doomed"); },
                [&](absl::Status s) {
                  result = std::move(s);
                  acknowledged.Notify();
                });
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  disk_.Release(/*fail=*/true);
  ASSERT_TRUE(acknowledged.WaitForNotificationWithTimeout(kWait));
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("check the disk")));
  EXPECT_THAT(store_->WriteAndWait([](WriteTx& tx) { return InsertItem(tx, "after"); }),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("fsync")));
}

TEST_F(StoreDurabilityTest, FailedSyncMakesTheStoreUnhealthyAndTellsTheListenerOnce) {
  int told = 0;
  absl::Status told_why;
  absl::Notification listener_called;
  store_->OnFailure([&](const absl::Status& why) {
    ++told;
    told_why = why;
    listener_called.Notify();
  });
  EXPECT_THAT(store_->health(), IsOk());
  const int before = disk_.synced();
  disk_.Hold();
  Results results;
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "doomed"); }, results.Slot("doomed"));
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  disk_.Release(/*fail=*/true);
  ASSERT_TRUE(listener_called.WaitForNotificationWithTimeout(kWait));
  EXPECT_THAT(told_why, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("injected EIO")));
  EXPECT_THAT(store_->health(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("EIO")));
  // A listener set afterwards hears it at once; the first is not told twice.
  absl::Status late;
  store_->OnFailure([&](const absl::Status& why) { late = why; });
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_TRUE(results.WaitFor(1));
  EXPECT_EQ(told, 1);
}

TEST_F(StoreDurabilityTest, WritesQueuedBehindAFailedSyncAreNotAcknowledged) {
  const int before = disk_.synced();
  disk_.Hold();
  Results results;
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "first"); }, results.Slot("first"));
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  for (int i = 0; i < 5; ++i) {
    const std::string name = absl::StrCat("behind", i);
    store_->Write([name](WriteTx& tx) { return InsertItem(tx, name); }, results.Slot(name));
  }
  // Later syncs would succeed: they must not make the writes behind the failed one look durable.
  disk_.Release(/*fail=*/true);
  ASSERT_TRUE(results.WaitFor(6));
  for (const auto& [name, status] : results.Get()) EXPECT_FALSE(status.ok()) << name;
}

TEST_F(StoreDurabilityTest, FailedWriteAloneNeedsNoSync) {
  const int before = disk_.synced();
  EXPECT_THAT(store_->WriteAndWait([](WriteTx&) { return absl::NotFoundError("no such thing"); }),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(disk_.synced(), before);
}

// A store with `options` and an empty items table.
absl::StatusOr<std::unique_ptr<Store>> OpenItemsStore(TempDir& dir, const common::Clock& clock,
                                                      const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.File("store.db"), clock, options);
  if (!store.ok()) return store.status();
  absl::Status created = (*store)->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
  });
  if (!created.ok()) return created;
  return store;
}

TEST(StoreCheckpointTest, TheCheckpointerCopiesTheWalBackIntoTheDatabase) {
  TempDir dir;
  common::FakeClock clock(absl::FromUnixSeconds(1700000000));
  StoreOptions options;
  options.checkpoint_pages = 8;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenItemsStore(dir, clock, options);
  ASSERT_THAT(store, IsOk());
  // Each write dirties a fresh page or two; 100 of them pass 8 WAL pages many times over.
  for (int i = 0; i < 100; ++i) {
    const std::string name = absl::StrCat(std::string(2000, 'x'), i);
    ASSERT_THAT((*store)->WriteAndWait([name](WriteTx& tx) { return InsertItem(tx, name); }),
                IsOk());
  }
  const absl::Time deadline = absl::Now() + kWait;
  while ((*store)->stats().checkpoints == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE((*store)->stats().checkpoints, 1);
  (*store)->Shutdown();
  store->reset();
  // Everything is in the file, and the file is sound.
  absl::StatusOr<std::unique_ptr<common::Database>> db =
      common::Database::Open(dir.File("store.db"));
  ASSERT_THAT(db, IsOk());
  absl::StatusOr<common::Statement> q = (*db)->Prepare("SELECT COUNT(*) FROM items");
  ASSERT_THAT(q, IsOk());
  ASSERT_THAT(q->Step(), IsOk());
  EXPECT_EQ(q->ColumnInt(0), 100);
  absl::StatusOr<common::Statement> check = (*db)->Prepare("PRAGMA integrity_check");
  ASSERT_THAT(check, IsOk());
  ASSERT_THAT(check->Step(), IsOk());
  EXPECT_EQ(check->ColumnText(0), "ok");
}

TEST(StoreCheckpointTest, CheckpointsCopyAThresholdAtATimeAndTheWalStaysBounded) {
  TempDir dir;
  common::FakeClock clock(absl::FromUnixSeconds(1700000000));
  StoreOptions options;
  options.checkpoint_pages = 40;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenItemsStore(dir, clock, options);
  ASSERT_THAT(store, IsOk());
  // One commit per write, each adding a few WAL frames. Checkpointing after every commit past
  // the threshold would be hundreds of checkpoints; copying a threshold's worth at a time is at
  // most frames / 40, plus one after each WAL restart.
  constexpr int kWrites = 400;
  const std::string wal = dir.File("store.db-wal");
  for (int i = 0; i < kWrites; ++i) {
    const std::string name = absl::StrCat(std::string(1500, 'x'), i);
    ASSERT_THAT((*store)->WriteAndWait([name](WriteTx& tx) { return InsertItem(tx, name); }),
                IsOk());
    // The WAL stays bounded: the writer restarts it at 8x the threshold, or at a later commit
    // if the checkpointer was busy copying at that moment (seen: 338 frames, and 362 on a
    // machine loaded to 9 on 2 cores). 400 writes make well over 1,000 frames, so a WAL that
    // never restarted passes twice the restart point long before the end.
    ASSERT_LE(std::filesystem::file_size(wal), (16 * 40) * (4096 + 24) + 32) << "after write " << i;
  }
  const StoreStats stats = (*store)->stats();
  EXPECT_GE(stats.wal_frames, kWrites);
  EXPECT_GE(stats.checkpoints, 1);
  EXPECT_GE(stats.inline_checkpoints, 1) << stats.wal_frames << " frames passed 8 x 40";
  EXPECT_LE(stats.checkpoints, stats.wal_frames / 40 + stats.inline_checkpoints + 1)
      << stats.wal_frames << " frames, " << stats.inline_checkpoints << " restarts";
}

// ---------------------------------------------------------------------------- write intents

TEST(StoreWriteIntentTest, AnnouncedWriteSharesTheCommitOfTheWriteQueuedBeforeIt) {
  TempDir dir;
  common::FakeClock clock(absl::FromUnixSeconds(1700000000));
  StoreOptions options;
  options.group_wait = absl::Seconds(20);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenItemsStore(dir, clock, options);
  ASSERT_THAT(store, IsOk());
  const int64_t commits_before = (*store)->stats().commits;
  Results results;
  {
    Store::WriteIntent intent = (*store)->AnnounceWrite();
    (*store)->Write([](WriteTx& tx) { return InsertItem(tx, "first"); }, results.Slot("first"));
    // Long enough for the writer to take "first" alone; without the intent it would commit it.
    absl::SleepFor(absl::Milliseconds(100));
    (*store)->Write([](WriteTx& tx) { return InsertItem(tx, "announced"); },
                    results.Slot("announced"));
  }  // released once its write is queued, as the signing pool does
  ASSERT_TRUE(results.WaitFor(2));
  for (const auto& [key, status] : results.Get()) EXPECT_THAT(status, IsOk()) << key;
  EXPECT_EQ((*store)->stats().commits - commits_before, 1);
}

TEST(StoreWriteIntentTest, AnIntentThatNeverWritesHoldsAGroupOnlyGroupWait) {
  TempDir dir;
  common::FakeClock clock(absl::FromUnixSeconds(1700000000));
  StoreOptions options;
  options.group_wait = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenItemsStore(dir, clock, options);
  ASSERT_THAT(store, IsOk());
  Store::WriteIntent intent = (*store)->AnnounceWrite();  // held to the end: never written
  EXPECT_THAT((*store)->WriteAndWait([](WriteTx& tx) { return InsertItem(tx, "alone"); }), IsOk());
}

TEST(StoreWriteIntentTest, ReleasingAnIntentUnwrittenEndsTheWait) {
  TempDir dir;
  common::FakeClock clock(absl::FromUnixSeconds(1700000000));
  StoreOptions options;
  options.group_wait = absl::Hours(1);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenItemsStore(dir, clock, options);
  ASSERT_THAT(store, IsOk());
  Results results;
  std::optional<Store::WriteIntent> intent = (*store)->AnnounceWrite();
  (*store)->Write([](WriteTx& tx) { return InsertItem(tx, "waiting"); }, results.Slot("waiting"));
  absl::SleepFor(absl::Milliseconds(50));
  intent.reset();                   // the signing failed: no write will come
  ASSERT_TRUE(results.WaitFor(1));  // well before the hour
  EXPECT_THAT(results.Get().front().second, IsOk());
}

// ---------------------------------------------------------------------------- audit chain

TEST_F(StoreTest, EmptyAuditChainIsIntact) {
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact());
  EXPECT_EQ(r.events_checked(), 0);
  EXPECT_EQ(r.first_broken_sequence(), 0);
}

TEST_F(StoreTest, AuditChainVerifiesAfterManyConcurrentWrites) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < kPerThread; ++j) {
        absl::Status s = store_->WriteAndWait([t, j](WriteTx& tx) {
          return AppendAudit(tx, {absl::StrCat("operator-", t), "camera.return", "camera",
                                  absl::StrCat("CAM-", t, "-", j),
                                  JsonObject({{"note", "quote \" and \\ and \n"}})})
              .status();
        });
        if (!s.ok()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact()) << r.problem();
  EXPECT_EQ(r.events_checked(), kThreads * kPerThread);
  EXPECT_EQ(r.head_sequence(), kThreads * kPerThread);
  EXPECT_EQ(r.head_hash().size(), 64u);
}

// ------------------------------------------------------- the writer's cached audit head
// The writer keeps the chain's head in memory instead of reading it for every append (store.h,
// AuditChainHead). Whatever is rolled back, the next append must link to the head the file
// really has: a stale head would fork the chain (or collide on its sequence).

absl::Status AppendEvent(WriteTx& tx, const std::string& object_id) {
  return AppendAudit(tx, {"alice", "camera.issue", "camera", object_id, "{}"}).status();
}

// Holds the writer inside a write until Release, so that the writes queued meanwhile are taken
// as one group.
class WriterHold {
 public:
  WriterHold(Store& store, Results& results) {
    store.Write(
        [this](WriteTx&) {
          entered_.Notify();
          release_.WaitForNotificationWithTimeout(kWait);
          return absl::OkStatus();
        },
        results.Slot("hold"));
    EXPECT_TRUE(entered_.WaitForNotificationWithTimeout(kWait));
  }
  ~WriterHold() { Release(); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

 private:
  absl::Notification entered_;
  absl::Notification release_;
};

// Where a write is (StoreStats' queued, running, awaiting_sync, answering) is what an operator
// reads to tell a slow disk from a busy writer: each stage is held in turn and its gauge checked.
TEST_F(StoreDurabilityTest, StatsSayWhereEachWriteIs) {
  struct Stages {
    int64_t queued, running, awaiting_sync, answering;
    bool operator==(const Stages&) const = default;
  };
  auto stages = [this] {
    const StoreStats s = store_->stats();
    return Stages{s.queued, s.running, s.awaiting_sync, s.answering};
  };
  auto reaches = [&](Stages want) { return testing::WaitFor([&] { return stages() == want; }); };
  const int before = disk_.synced();
  disk_.Hold();
  absl::Notification answer_entered, answer_release;
  Results results;
  store_->Write([](WriteTx& tx) { return InsertItem(tx, "synced-first"); },
                [&](absl::Status s) {
                  answer_entered.Notify();
                  answer_release.WaitForNotificationWithTimeout(kWait);
                  results.Slot("synced-first")(std::move(s));
                });
  ASSERT_TRUE(disk_.WaitForSyncs(1 + before));
  EXPECT_TRUE(reaches({0, 0, 1, 0})) << "committed, its sync held";
  {
    WriterHold hold(*store_, results);  // the writer runs a write that waits
    store_->Write([](WriteTx& tx) { return InsertItem(tx, "queued"); }, results.Slot("queued"));
    EXPECT_TRUE(reaches({1, 1, 1, 0})) << "one queued behind one running, one awaiting its sync";
  }
  EXPECT_TRUE(reaches({0, 0, 3, 0})) << "all three committed, none durable yet";
  disk_.Release();
  ASSERT_TRUE(answer_entered.WaitForNotificationWithTimeout(kWait));
  // The first answer is held, so the completer holds the other two behind it, synced.
  EXPECT_TRUE(reaches({0, 0, 0, 3})) << "durable, being answered";
  answer_release.Notify();
  ASSERT_TRUE(results.WaitFor(3));
  EXPECT_TRUE(reaches({0, 0, 0, 0}));
  for (const auto& [name, status] : results.Get()) EXPECT_THAT(status, IsOk()) << name;
}

// The events in the file, in chain order, by object id.
std::vector<std::string> ChainObjects(Store& store) {
  std::vector<std::string> objects;
  EXPECT_THAT(store.Read([&](common::Database& db) -> absl::Status {
    AuditFilter all;
    all.limit = 1000;
    ASSIGN_OR_RETURN(std::vector<v1::AuditEvent> events, ListAudit(db, all));
    for (const v1::AuditEvent& e : events) objects.push_back(e.object_id());
    return absl::OkStatus();
  }),
              IsOk());
  return objects;
}

TEST_F(StoreTest, AuditChainLinksPastAWriteRolledBackAloneAfterItAppended) {
  AppendEvents(1);  // CAM-1000
  Results results;
  {
    WriterHold hold(*store_, results);
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "first"); }, results.Slot("first"));
    store_->Write(
        [](WriteTx& tx) -> absl::Status {
          RETURN_IF_ERROR(AppendEvent(tx, "refused"));
          return absl::FailedPreconditionError("refused after appending its event");
        },
        results.Slot("refused"));
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "second"); }, results.Slot("second"));
  }
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_THAT(results.Of("first"), IsOk());
  EXPECT_THAT(results.Of("refused"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(results.Of("second"), IsOk());
  AppendEvents(1);
  EXPECT_THAT(ChainObjects(*store_), ElementsAre("CAM-1000", "first", "second", "CAM-1000"));
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact()) << r.problem();
  EXPECT_EQ(r.events_checked(), 4);
}

// The brief's case: a group whose transaction is lost (a write ends it: RAISE(ROLLBACK) here,
// SQLITE_FULL or IOERR in life) after some of its writes appended events; the writes after it
// run in a new transaction and must link to the head from before the group.
TEST_F(StoreTest, AuditChainLinksPastAGroupWhoseTransactionWasLost) {
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec(
        "CREATE TABLE poison (x);"
        "CREATE TRIGGER poison_rolls_back BEFORE INSERT ON poison "
        "BEGIN SELECT RAISE(ROLLBACK, 'the disk went away'); END;");
  }),
              IsOk());
  AppendEvents(1);  // CAM-1000
  Results results;
  {
    WriterHold hold(*store_, results);
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "lost-1"); }, results.Slot("lost-1"));
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "lost-2"); }, results.Slot("lost-2"));
    store_->Write(
        [](WriteTx& tx) -> absl::Status {
          RETURN_IF_ERROR(AppendEvent(tx, "poison"));
          return tx.db().Exec("INSERT INTO poison VALUES (1)");
        },
        results.Slot("poison"));
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "after"); }, results.Slot("after"));
  }
  ASSERT_TRUE(results.WaitFor(5));
  EXPECT_FALSE(results.Of("lost-1").ok());
  EXPECT_FALSE(results.Of("lost-2").ok());
  EXPECT_FALSE(results.Of("poison").ok());
  EXPECT_THAT(results.Of("after"), IsOk());
  AppendEvents(2);
  EXPECT_THAT(ChainObjects(*store_), ElementsAre("CAM-1000", "after", "CAM-1000", "CAM-1001"));
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact()) << r.problem();
  EXPECT_EQ(r.events_checked(), 4);
}

TEST_F(StoreTest, AuditChainLinksPastAGroupWhoseCommitFailed) {
  // A deferred foreign key is checked at COMMIT: the group's COMMIT fails and takes every
  // write of the group with it, events included.
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY "
        "DEFERRED)");
  }),
              IsOk());
  AppendEvents(1);  // CAM-1000
  Results results;
  {
    WriterHold hold(*store_, results);
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "undone-1"); },
                  results.Slot("undone-1"));
    store_->Write(
        [](WriteTx& tx) -> absl::Status {
          RETURN_IF_ERROR(AppendEvent(tx, "orphan"));
          return tx.db().Exec("INSERT INTO child VALUES (42)");
        },
        results.Slot("orphan"));
    store_->Write([](WriteTx& tx) { return AppendEvent(tx, "undone-2"); },
                  results.Slot("undone-2"));
  }
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_THAT(results.Of("orphan"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("COMMIT failed")));
  EXPECT_FALSE(results.Of("undone-1").ok());
  EXPECT_FALSE(results.Of("undone-2").ok());
  AppendEvents(2);
  EXPECT_THAT(ChainObjects(*store_), ElementsAre("CAM-1000", "CAM-1000", "CAM-1001"));
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact()) << r.problem();
  EXPECT_EQ(r.events_checked(), 3);
}

TEST_F(StoreTest, AuditChainLinksPastAStepRolledBackInsideAWrite) {
  ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) -> absl::Status {
    RETURN_IF_ERROR(AppendEvent(tx, "before-step"));
    ASSIGN_OR_RETURN(absl::Status step, TrySavepoint(tx, [&] {
                       absl::Status appended = AppendEvent(tx, "step");
                       if (!appended.ok()) return appended;
                       return absl::FailedPreconditionError("the step is refused");
                     }));
    EXPECT_THAT(step, StatusIs(absl::StatusCode::kFailedPrecondition));
    return AppendEvent(tx, "after-step");
  }),
              IsOk());
  AppendEvents(1);
  EXPECT_THAT(ChainObjects(*store_), ElementsAre("before-step", "after-step", "CAM-1000"));
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact()) << r.problem();
}

// Another connection (a repair tool, a test) appends a linked event while the store runs: the
// store's next event links to it instead of to the head it had cached.
TEST_F(StoreTest, AuditChainLinksToAnEventAppendedByAnotherConnection) {
  AppendEvents(2);
  ASSERT_THAT(testing::AppendLinkedAuditEvent(
                  path_, {"tool", "camera.register", "camera", "from-elsewhere", "{}"},
                  common::ToMicros(clock_.Now())),
              IsOk());
  AppendEvents(1);
  EXPECT_THAT(ChainObjects(*store_),
              ElementsAre("CAM-1000", "CAM-1001", "from-elsewhere", "CAM-1000"));
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_TRUE(r.intact()) << r.problem();
  EXPECT_EQ(r.events_checked(), 4);
}

TEST_F(StoreTest, EachEventLinksToThePreviousHash) {
  AppendEvents(3);
  absl::StatusOr<std::vector<v1::AuditEvent>> events;
  ASSERT_THAT(store_->Read([&](common::Database& db) {
    events = ListAudit(db, AuditFilter{});
    return events.status();
  }),
              IsOk());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].previous_hash(), std::string(64, '0'));
  EXPECT_EQ((*events)[1].previous_hash(), (*events)[0].hash());
  EXPECT_EQ((*events)[2].previous_hash(), (*events)[1].hash());
  EXPECT_EQ((*events)[2].sequence(), 3);
}

TEST_F(StoreTest, AuditTriggersRefuseUpdateAndDelete) {
  AppendEvents(2);
  EXPECT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1");
  }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("append-only")));
  EXPECT_THAT(store_->WriteAndWait([](WriteTx& tx) {
    return tx.db().Exec("DELETE FROM audit_events WHERE seq = 2");
  }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("append-only")));
  EXPECT_TRUE(Verify().intact());
}

TEST_F(StoreTest, EditedEventIsReportedAtItsSequence) {
  AppendEvents(12);
  TamperWith(
      "DROP TRIGGER audit_events_no_update;"
      "UPDATE audit_events SET details = '{\"i\":\"999\"}' WHERE seq = 7;");
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_FALSE(r.intact());
  EXPECT_EQ(r.first_broken_sequence(), 7);
  EXPECT_THAT(r.problem(), HasSubstr("7"));
  EXPECT_EQ(r.head_sequence(), 6);  // the last event still trusted
}

TEST_F(StoreTest, EditedActorIsReportedAtItsSequence) {
  AppendEvents(5);
  TamperWith(
      "DROP TRIGGER audit_events_no_update;"
      "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1;");
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_FALSE(r.intact());
  EXPECT_EQ(r.first_broken_sequence(), 1);
}

TEST_F(StoreTest, EditWithRecomputedHashIsCaughtAtTheNextEvent) {
  AppendEvents(6);
  // Rewrite event 3 and give it a correct hash of its own: event 4 no longer links to it.
  store_.reset();
  std::string prev_hash;
  int64_t time_us = 0;
  {
    absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(path_);
    ASSERT_THAT(db, IsOk());
    absl::StatusOr<common::Statement> s =
        (*db)->Prepare("SELECT prev_hash, time_us FROM audit_events WHERE seq = 3");
    ASSERT_THAT(s, IsOk());
    ASSERT_THAT(s->Step(), IsOk());
    prev_hash = s->ColumnBlob(0);
    time_us = s->ColumnInt(1);
  }
  const AuditRecord forged{"mallory", "camera.issue", "camera", "CAM-1002", "{}"};
  const provisioning::Sha256Digest d =
      provisioning::Sha256(absl::StrCat(prev_hash, CanonicalEncoding(3, time_us, forged)));
  TamperWith(
      absl::StrCat("DROP TRIGGER audit_events_no_update;"
                   "UPDATE audit_events SET actor = 'mallory', details = '{}', hash = X'",
                   provisioning::ToHex(d), "' WHERE seq = 3;"));
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_FALSE(r.intact());
  EXPECT_EQ(r.first_broken_sequence(), 4);
}

TEST_F(StoreTest, DeletedMiddleEventIsReportedAtItsSequence) {
  AppendEvents(10);
  TamperWith(
      "DROP TRIGGER audit_events_no_delete;"
      "DELETE FROM audit_events WHERE seq = 4;");
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_FALSE(r.intact());
  EXPECT_EQ(r.first_broken_sequence(), 4);
  EXPECT_THAT(r.problem(), HasSubstr("missing"));
}

TEST_F(StoreTest, DeletedFirstEventIsReportedAtSequenceOne) {
  AppendEvents(3);
  TamperWith(
      "DROP TRIGGER audit_events_no_delete;"
      "DELETE FROM audit_events WHERE seq = 1;");
  v1::VerifyAuditChainResponse r = Verify();
  EXPECT_FALSE(r.intact());
  EXPECT_EQ(r.first_broken_sequence(), 1);
}

// VerifyAuditChain walks a big chain in pieces, each in its own read transaction; the result
// is the same as one walk, and a break at a piece boundary is still found where it is.
v1::VerifyAuditChainResponse VerifyInPieces(const std::string& path, int piece, int* reads) {
  absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(path);
  EXPECT_THAT(db, IsOk());
  if (!db.ok()) return {};
  absl::StatusOr<int64_t> head = AuditHeadSequence(**db);
  EXPECT_THAT(head, IsOk());
  v1::VerifyAuditChainResponse result;
  result.set_intact(true);
  AuditVerifyCursor cursor;
  *reads = 0;
  while (!cursor.done && *reads < 1000) {
    EXPECT_THAT(VerifyAuditPiece(**db, head.value_or(0), piece, cursor, result), IsOk());
    ++*reads;
  }
  return result;
}

TEST_F(StoreTest, ChainVerifiedInPiecesMatchesOneWalk) {
  AppendEvents(50);
  store_.reset();
  const v1::VerifyAuditChainResponse whole = Verify();
  int reads = 0;
  const v1::VerifyAuditChainResponse pieces = VerifyInPieces(path_, 7, &reads);
  EXPECT_TRUE(pieces.intact());
  EXPECT_EQ(pieces.events_checked(), 50);
  EXPECT_EQ(pieces.head_sequence(), whole.head_sequence());
  EXPECT_EQ(pieces.head_hash(), whole.head_hash());
  EXPECT_EQ(reads, 8);  // 7 pieces of 7 and one of 1
}

TEST_F(StoreTest, EventDeletedAtAPieceBoundaryIsFoundInPieces) {
  AppendEvents(30);
  TamperWith(
      "DROP TRIGGER IF EXISTS audit_events_no_delete; DELETE FROM audit_events WHERE "
      "seq = 15");
  int reads = 0;
  const v1::VerifyAuditChainResponse pieces = VerifyInPieces(path_, 7, &reads);
  EXPECT_FALSE(pieces.intact());
  EXPECT_EQ(pieces.first_broken_sequence(), 15);
  EXPECT_THAT(pieces.problem(), HasSubstr("missing"));
}

// The time filters read audit_by_time, not the chain in sequence order, so they must not assume
// that time grows with the sequence: a clock that stepped back still gets every event of the
// window, in sequence order, page by page.
TEST_F(StoreTest, AuditListByTimeIsExactWhenTheClockStepsBack) {
  const absl::Time t0 = clock_.Now();
  // Events 1..5 at t0+10s, +30s, +20s (the clock stepped back), +40s, +5s.
  for (int offset : {10, 30, 20, 40, 5}) {
    clock_.Set(t0 + absl::Seconds(offset));
    ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
      return AppendAudit(tx, {"alice", "camera.issue", "camera", "CAM-1", "{}"}).status();
    }),
                IsOk());
  }
  auto list = [&](AuditFilter f) {
    std::vector<int64_t> seqs;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<v1::AuditEvent> events, ListAudit(db, f));
      for (const v1::AuditEvent& e : events) seqs.push_back(e.sequence());
      return absl::OkStatus();
    }),
                IsOk());
    return seqs;
  };
  AuditFilter since;
  since.start_us = common::ToMicros(t0 + absl::Seconds(20));
  since.limit = 2;
  EXPECT_THAT(list(since), ElementsAre(2, 3));
  since.after_seq = 3;
  EXPECT_THAT(list(since), ElementsAre(4));
  AuditFilter window;
  window.start_us = common::ToMicros(t0 + absl::Seconds(10));
  window.end_us = common::ToMicros(t0 + absl::Seconds(30));
  EXPECT_THAT(list(window), ElementsAre(1, 3));
  AuditFilter until;
  until.end_us = common::ToMicros(t0 + absl::Seconds(20));
  EXPECT_THAT(list(until), ElementsAre(1, 5));

  // Then 6..9 at +50s, +60s, +70s, +45s (stepped back again). Windows that start after +45s
  // have no late event in them and are read by sequence between the window's first and last
  // event; the others are read through audit_by_time and sorted. Same answers either way.
  for (int offset : {50, 60, 70, 45}) {
    // Reopened before the last: the writer then reads the chain's latest time from the table.
    if (offset == 45) Reopen();
    clock_.Set(t0 + absl::Seconds(offset));
    ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
      return AppendAudit(tx, {"alice", "camera.issue", "camera", "CAM-1", "{}"}).status();
    }),
                IsOk());
  }
  // AppendAudit recorded the events earlier than one before them.
  std::vector<int64_t> late;
  ASSERT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare("SELECT seq FROM audit_late_events ORDER BY seq"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return absl::OkStatus();
      late.push_back(s.ColumnInt(0));
    }
  }),
              IsOk());
  EXPECT_THAT(late, ElementsAre(3, 5, 9));
  AuditFilter recent;
  recent.start_us = common::ToMicros(t0 + absl::Seconds(50));
  recent.limit = 2;
  EXPECT_THAT(list(recent), ElementsAre(6, 7));
  recent.after_seq = 7;
  EXPECT_THAT(list(recent), ElementsAre(8));
  recent.after_seq = 2;  // a cursor before the window
  EXPECT_THAT(list(recent), ElementsAre(6, 7));
  recent.after_seq = 0;
  recent.end_us = common::ToMicros(t0 + absl::Seconds(70));
  recent.limit = 10;
  EXPECT_THAT(list(recent), ElementsAre(6, 7));
  recent.start_us = common::ToMicros(t0 + absl::Seconds(61));
  EXPECT_THAT(list(recent), ::testing::IsEmpty());  // nothing between +61s and +70s
  recent.start_us = common::ToMicros(t0 + absl::Seconds(80));
  recent.end_us.reset();
  EXPECT_THAT(list(recent), ::testing::IsEmpty());  // nothing after the last event
  AuditFilter across;                               // 9 at +45s is late and inside
  across.start_us = common::ToMicros(t0 + absl::Seconds(45));
  EXPECT_THAT(list(across), ElementsAre(6, 7, 8, 9));
  across.start_us = common::ToMicros(t0 + absl::Seconds(15));
  across.end_us = common::ToMicros(t0 + absl::Seconds(55));
  EXPECT_THAT(list(across), ElementsAre(2, 3, 4, 6, 9));
  until.end_us = common::ToMicros(t0 + absl::Seconds(55));
  EXPECT_THAT(list(until), ElementsAre(1, 2, 3, 4, 5, 6, 9));
}

// A chain in time order (the usual case): a window's events are found between its first and
// last event by sequence, with ties in time, cursors and empty windows.
TEST_F(StoreTest, AuditListByTimeInChainOrder) {
  const absl::Time t0 = clock_.Now();
  // Events 1..6 at t0+10s, +20s, +20s, +30s, +40s, +40s.
  for (int offset : {10, 20, 20, 30, 40, 40}) {
    clock_.Set(t0 + absl::Seconds(offset));
    ASSERT_THAT(store_->WriteAndWait([](WriteTx& tx) {
      return AppendAudit(tx, {"alice", "camera.issue", "camera", "CAM-1", "{}"}).status();
    }),
                IsOk());
  }
  auto list = [&](std::optional<int> start, std::optional<int> end, int64_t after, int limit) {
    AuditFilter f;
    if (start) f.start_us = common::ToMicros(t0 + absl::Seconds(*start));
    if (end) f.end_us = common::ToMicros(t0 + absl::Seconds(*end));
    f.after_seq = after;
    f.limit = limit;
    std::vector<int64_t> seqs;
    EXPECT_THAT(store_->Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<v1::AuditEvent> events, ListAudit(db, f));
      for (const v1::AuditEvent& e : events) seqs.push_back(e.sequence());
      return absl::OkStatus();
    }),
                IsOk());
    return seqs;
  };
  EXPECT_THAT(list(20, std::nullopt, 0, 10), ElementsAre(2, 3, 4, 5, 6));
  EXPECT_THAT(list(20, std::nullopt, 0, 2), ElementsAre(2, 3));
  EXPECT_THAT(list(20, std::nullopt, 3, 2), ElementsAre(4, 5));
  EXPECT_THAT(list(20, 40, 0, 10), ElementsAre(2, 3, 4));
  EXPECT_THAT(list(21, 40, 0, 10), ElementsAre(4));
  EXPECT_THAT(list(21, 30, 0, 10), ::testing::IsEmpty());
  EXPECT_THAT(list(41, std::nullopt, 0, 10), ::testing::IsEmpty());
  EXPECT_THAT(list(0, 10, 0, 10), ::testing::IsEmpty());
  EXPECT_THAT(list(std::nullopt, 30, 0, 10), ElementsAre(1, 2, 3));
  EXPECT_THAT(list(std::nullopt, 30, 2, 10), ElementsAre(3));
  EXPECT_THAT(list(std::nullopt, 30, 3, 10), ::testing::IsEmpty());
  EXPECT_THAT(list(std::nullopt, 5, 0, 10), ::testing::IsEmpty());
}

TEST(AuditEncodingTest, FieldBoundariesCannotMove) {
  const AuditRecord a{"ab", "c", "camera", "X", "{}"};
  const AuditRecord b{"a", "bc", "camera", "X", "{}"};
  EXPECT_NE(CanonicalEncoding(1, 2, a), CanonicalEncoding(1, 2, b));
}

TEST(AuditEncodingTest, SequenceAndTimeAreEncoded) {
  const AuditRecord a{"ab", "c", "camera", "X", "{}"};
  EXPECT_NE(CanonicalEncoding(1, 2, a), CanonicalEncoding(2, 2, a));
  EXPECT_NE(CanonicalEncoding(1, 2, a), CanonicalEncoding(1, 3, a));
}

TEST(JsonObjectTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonObject({{"k\"", "a\"b\\c\nd\x01"}, {"n", ""}}),
            "{\"k\\\"\":\"a\\\"b\\\\c\\nd\\u0001\",\"n\":\"\"}");
}

TEST(JsonObjectTest, EmptyIsAnEmptyObject) { EXPECT_EQ(JsonObject({}), "{}"); }

}  // namespace
}  // namespace camfleet::storage
