// The camfleet-sign binary as an admin runs it: keygen, release, verify, and its exit codes.

#include <sys/wait.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/file_io.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;

struct ToolRun {
  int exit_code = -1;
  std::string output;
};

class SignToolTest : public ::testing::Test {
 protected:
  ToolRun Sign(std::vector<std::string> args) {
    args.insert(args.begin(), CAMFLEET_SIGN_PATH);
    const std::string log = dir_.File(absl::StrCat("run-", runs_++, ".log"));
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(args, log);
    EXPECT_THAT(child.status(), IsOk());
    if (!child.ok()) return {};
    absl::StatusOr<int> status = (*child)->Wait(absl::Seconds(60));
    EXPECT_THAT(status.status(), IsOk());
    ToolRun run;
    if (status.ok() && WIFEXITED(*status)) run.exit_code = WEXITSTATUS(*status);
    absl::StatusOr<provisioning::FileContents> out = provisioning::ReadSmallFile(log, 1 << 20);
    if (out.ok()) run.output = out->data;
    return run;
  }

  TempDir dir_;
  int runs_ = 0;
};

TEST_F(SignToolTest, SignsAndVerifiesAReleaseAndRefusesATamperedOne) {
  const std::string keys = dir_.File("keys");
  ToolRun keygen = Sign({"keygen", "--out", keys});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.output;
  EXPECT_THAT(keygen.output, HasSubstr("key id"));
  const std::string image = dir_.File("bwc4.img");
  ASSERT_THAT(provisioning::WriteNewFile(image, RandomImage(50000, 3), 0644), IsOk());
  ToolRun release = Sign({"release", image, "--key", keys + "/firmware-signing.key", "--model", "BWC-4",
                      "--version", "2.1.0", "--min-battery", "40", "--notes", "fixes"});
  ASSERT_EQ(release.exit_code, 0) << release.output;
  absl::StatusOr<provisioning::FileContents> manifest =
      provisioning::ReadSmallFile(image + ".manifest", 16384);
  ASSERT_THAT(manifest.status(), IsOk());
  EXPECT_THAT(manifest->data, HasSubstr("\nmin-battery-percent 40\n"));
  const std::vector<std::string> verify = {
      "verify",      image,          "--manifest",   image + ".manifest",
      "--signature", image + ".sig", "--public-key", keys + "/firmware-signing.pub"};
  ToolRun ok = Sign(verify);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;

  const std::string tampered = dir_.File("tampered.img");
  std::string bytes = RandomImage(50000, 3);
  bytes[99] ^= 1;
  ASSERT_THAT(provisioning::WriteNewFile(tampered, bytes, 0644), IsOk());
  std::vector<std::string> verify_tampered = verify;
  verify_tampered[1] = tampered;
  ToolRun refused = Sign(verify_tampered);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("SHA-256"));
}

TEST_F(SignToolTest, NeverReplacesAKeyAndAnswersHelp) {
  ASSERT_EQ(Sign({"keygen", "--out", dir_.File("k")}).exit_code, 0);
  ToolRun again = Sign({"keygen", "--out", dir_.File("k")});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("never replaces a key"));
  EXPECT_EQ(Sign({"--help"}).exit_code, 0);
  EXPECT_EQ(Sign({"release", "--help"}).exit_code, 0);
  EXPECT_EQ(Sign({"release", "x.img"}).exit_code, 2);
}

}  // namespace
}  // namespace camfleet::testing
