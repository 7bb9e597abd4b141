#include "cli/connection_config.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::HasSubstr;

GetEnv FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](absl::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string WriteFile(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.File(name);
  std::ofstream(path) << text;
  return path;
}

TEST(ResolveConnectionTest, UsesDefaultsAndUserWithNothingSet) {
  TempDir home;
  auto options = ResolveConnection({}, FakeEnv({{"HOME", home.path()}, {"USER", "alice"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->server, "127.0.0.1:7443");
  EXPECT_EQ(options->operator_name, "alice");
  EXPECT_EQ(options->timeout, absl::Seconds(30));
}

TEST(ResolveConnectionTest, ReadsTheDefaultConfigFileUnderHome) {
  TempDir home;
  std::error_code ec;
  std::filesystem::create_directories(home.path() + "/.config/camfleet", ec);
  ASSERT_FALSE(ec) << ec.message();
  WriteFile(home, ".config/camfleet/config.toml",
            "# post 7 armory\nserver = \"10.0.0.5:7443\"\noperator = \"qm-post7\"\n");
  auto options = ResolveConnection({}, FakeEnv({{"HOME", home.path()}, {"USER", "alice"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->server, "10.0.0.5:7443");
  EXPECT_EQ(options->operator_name, "qm-post7");
}

TEST(ResolveConnectionTest, EnvironmentBeatsConfigFile) {
  TempDir dir;
  std::string path = WriteFile(dir, "c.toml", "server = \"10.0.0.5:7443\"\n");
  auto options = ResolveConnection(
      {}, FakeEnv({{"CAMFLEET_CONFIG", path}, {"CAMFLEET_SERVER", "127.0.0.1:9000"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->server, "127.0.0.1:9000");
}

TEST(ResolveConnectionTest, FlagBeatsEnvironment) {
  ConnectionFlags flags;
  flags.server = "127.0.0.1:1";
  flags.operator_name = "bob";
  auto options = ResolveConnection(
      flags, FakeEnv({{"CAMFLEET_SERVER", "127.0.0.1:9000"}, {"CAMFLEET_OPERATOR", "carol"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->server, "127.0.0.1:1");
  EXPECT_EQ(options->operator_name, "bob");
}

TEST(ResolveConnectionTest, ConfigOperatorBeatsUser) {
  TempDir dir;
  std::string path = WriteFile(dir, "c.toml", "operator = \"Sgt. Jane Doe\"\n");
  ConnectionFlags flags;
  flags.config_path = path;
  auto options = ResolveConnection(flags, FakeEnv({{"USER", "alice"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->operator_name, "Sgt. Jane Doe");
}

TEST(ResolveConnectionTest, NamedConfigFileMustExist) {
  ConnectionFlags flags;
  flags.config_path = "/nonexistent/camfleet.toml";
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/camfleet.toml")));
}

TEST(ResolveConnectionTest, RejectsUnknownConfigKey) {
  TempDir dir;
  ConnectionFlags flags;
  flags.config_path = WriteFile(dir, "c.toml", "sever = \"x:1\"\n");
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown key 'sever'; the known keys are server, operator")));
}

TEST(ResolveConnectionTest, RejectsKeysInSections) {
  TempDir dir;
  ConnectionFlags flags;
  flags.config_path = WriteFile(dir, "c.toml", "[prod]\nserver = \"x:1\"\n");
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prod.server")));
}

TEST(ResolveConnectionTest, TimeoutTakesFractionalSeconds) {
  ConnectionFlags flags;
  flags.timeout_seconds = "2.5";
  auto options = ResolveConnection(flags, FakeEnv({}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->timeout, absl::Milliseconds(2500));
}

TEST(ResolveConnectionTest, RejectsNonPositiveTimeout) {
  for (const char* bad : {"0", "-1", "soon", "nan"}) {
    ConnectionFlags flags;
    flags.timeout_seconds = bad;
    EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("timeout")))
        << bad;
  }
}

TEST(ResolveConnectionTest, RejectsOperatorNameGrpcCannotCarry) {
  ConnectionFlags flags;
  flags.operator_name = "J\xc3\xbcrgen";
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("printable ASCII")));
}

TEST(ResolveConnectionTest, RejectsEmptyServer) {
  ConnectionFlags flags;
  flags.server = "";
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--server")));
}

}  // namespace
}  // namespace camfleet::cli
