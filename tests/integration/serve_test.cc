// `camfleetd serve` as a real process: what it refuses before it serves anything.

#include <sys/wait.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;

// A mistyped --home (or a lost fleet.db) must not start a new, empty fleet: init makes the
// database, serve only opens it.
TEST(ServeTest, MissingDatabaseIsRefusedAndNotCreated) {
  TempDir dir;
  const std::string home = dir.File("home");
  std::filesystem::create_directories(home);
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(
      {CAMFLEETD_PATH, "serve", "--home", home, "--listen", "127.0.0.1:0"}, dir.File("log"));
  ASSERT_THAT(child, IsOk());
  absl::StatusOr<int> status = (*child)->Wait(absl::Seconds(60));
  ASSERT_THAT(status, IsOk());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_THAT((*child)->LogTail(), HasSubstr("does not exist"));
  EXPECT_THAT((*child)->LogTail(), HasSubstr("camfleetd init"));
  EXPECT_FALSE(std::filesystem::exists(home + "/fleet.db"));
}

}  // namespace
}  // namespace camfleet::testing
