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
                       HasSubstr("unknown key 'sever'; the known keys are server, credentials")));
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

TEST(ResolveConnectionTest, RejectsOperatorNameGrpcCannotCarryWhenItIsSent) {
  ConnectionFlags flags;
  flags.insecure = true;
  flags.operator_name = "J\xc3\xbcrgen";
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("printable ASCII")));
}

TEST(ResolveConnectionTest, OperatorNameIsNotCheckedWithTls) {
  ConnectionFlags flags;
  flags.credentials_dir = "/creds";
  auto options = ResolveConnection(flags, FakeEnv({{"USER", "J\xc3\xbcrgen"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->transport, Transport::kTls);
}

TEST(ResolveConnectionTest, TransportIsUnsetWithNeitherCredentialsNorInsecure) {
  TempDir home;
  auto options = ResolveConnection({}, FakeEnv({{"HOME", home.path()}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->transport, Transport::kUnset);
  EXPECT_EQ(options->credentials_dir, "");
}

TEST(ResolveConnectionTest, CredentialsFlagMeansTls) {
  ConnectionFlags flags;
  flags.credentials_dir = "/home/alice/.camfleet";
  auto options = ResolveConnection(flags, FakeEnv({}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->transport, Transport::kTls);
  EXPECT_EQ(options->credentials_dir, "/home/alice/.camfleet");
}

TEST(ResolveConnectionTest, CredentialsComeFromEnvironmentAndConfigFile) {
  TempDir dir;
  auto from_env = ResolveConnection({}, FakeEnv({{"CAMFLEET_CREDENTIALS", "/env/creds"}}));
  ASSERT_THAT(from_env, IsOk());
  EXPECT_EQ(from_env->transport, Transport::kTls);
  EXPECT_EQ(from_env->credentials_dir, "/env/creds");

  ConnectionFlags flags;
  flags.config_path =
      WriteFile(dir, "c.toml", "credentials = \"/file/creds\"\nserver_name = \"camfleet.hq\"\n");
  auto from_file = ResolveConnection(flags, FakeEnv({}));
  ASSERT_THAT(from_file, IsOk());
  EXPECT_EQ(from_file->transport, Transport::kTls);
  EXPECT_EQ(from_file->credentials_dir, "/file/creds");
  EXPECT_EQ(from_file->server_name, "camfleet.hq");
}

TEST(ResolveConnectionTest, CredentialsInConfigFileStartWithTildeUnderHome) {
  TempDir dir;
  ConnectionFlags flags;
  flags.config_path = WriteFile(dir, "c.toml", "credentials = \"~/.camfleet/alice\"\n");
  auto options = ResolveConnection(flags, FakeEnv({{"HOME", "/home/alice"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->credentials_dir, "/home/alice/.camfleet/alice");
}

TEST(ResolveConnectionTest, InsecureFlagBeatsCredentialsInConfigFile) {
  TempDir dir;
  ConnectionFlags flags;
  flags.insecure = true;
  flags.config_path = WriteFile(dir, "c.toml", "credentials = \"/file/creds\"\n");
  auto options = ResolveConnection(flags, FakeEnv({}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->transport, Transport::kInsecure);
  // whoami still finds them.
  EXPECT_EQ(options->credentials_dir, "/file/creds");
}

TEST(ResolveConnectionTest, CredentialsFlagBeatsInsecureEnvironment) {
  ConnectionFlags flags;
  flags.credentials_dir = "/creds";
  auto options = ResolveConnection(flags, FakeEnv({{"CAMFLEET_INSECURE", "1"}}));
  ASSERT_THAT(options, IsOk());
  EXPECT_EQ(options->transport, Transport::kTls);
}

TEST(ResolveConnectionTest, InsecureEnvironmentTakesOneOrTrue) {
  for (const char* value : {"1", "true", "YES"}) {
    auto options = ResolveConnection({}, FakeEnv({{"CAMFLEET_INSECURE", value}}));
    ASSERT_THAT(options, IsOk()) << value;
    EXPECT_EQ(options->transport, Transport::kInsecure) << value;
  }
  auto off = ResolveConnection({}, FakeEnv({{"CAMFLEET_INSECURE", "0"}}));
  ASSERT_THAT(off, IsOk());
  EXPECT_EQ(off->transport, Transport::kUnset);
}

TEST(ResolveConnectionTest, RejectsAnInsecureEnvironmentValueItDoesNotKnow) {
  EXPECT_THAT(ResolveConnection({}, FakeEnv({{"CAMFLEET_INSECURE", "please"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CAMFLEET_INSECURE")));
}

TEST(ResolveConnectionTest, RejectsCredentialsAndInsecureOnTheSameLayer) {
  ConnectionFlags flags;
  flags.credentials_dir = "/creds";
  flags.insecure = true;
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exclude each other")));
  EXPECT_THAT(ResolveConnection(
                  {}, FakeEnv({{"CAMFLEET_CREDENTIALS", "/creds"}, {"CAMFLEET_INSECURE", "1"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exclude each other")));
}

TEST(ResolveConnectionTest, RejectsEmptyCredentialsAndServerName) {
  ConnectionFlags empty_dir;
  empty_dir.credentials_dir = "";
  EXPECT_THAT(ResolveConnection(empty_dir, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--credentials")));
  ConnectionFlags empty_name;
  empty_name.server_name = "";
  EXPECT_THAT(ResolveConnection(empty_name, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--server-name")));
}

TEST(ResolveConnectionTest, RejectsEmptyServer) {
  ConnectionFlags flags;
  flags.server = "";
  EXPECT_THAT(ResolveConnection(flags, FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--server")));
}

}  // namespace
}  // namespace camfleet::cli
