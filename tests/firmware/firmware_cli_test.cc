// `camfleet firmware ...` command lines run in-process against the real server (real SQLite
// file, real content store, real gRPC on 127.0.0.1:0), with files made by camfleet-sign's code.

#include <sstream>

#include "absl/strings/str_cat.h"

#include "cli/app.h"
#include "firmware/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"
#include "services/server/server.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::cli {
namespace {

using ::camfleet::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

using Result = ::camfleet::testing::CliResult;

class FirmwareCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.db_path = dir_.File("fleet.db");
    options.listen = {"127.0.0.1:0"};
    options.insecure_dev = true;
    absl::StatusOr<std::unique_ptr<server::Server>> server = server::Server::Start(options);
    ASSERT_THAT(server.status(), IsOk());
    server_ = std::move(*server);
    absl::StatusOr<testing::TestSigningKey> key = testing::MakeSigningKey(dir_.File("keys"));
    ASSERT_THAT(key.status(), IsOk());
    key_ = *key;
    Ok({"site", "create", "POST-7", "--name", "Border post 7"});
    Ok({"camera", "register", "CAM-0001", "--model", "BWC-4", "--site", "POST-7"});
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  Result Run(const std::vector<std::string>& args) {
    common::RealClock clock;
    return testing::RunCli(testing::DevCliArgs(server_->target(), "fw-admin", 20, args), clock);
  }
  std::string Ok(std::vector<std::string> args) {
    Result r = Run(std::move(args));
    EXPECT_EQ(r.code, 0) << r;
    return r.out;
  }

  // Signs `image` as `version` and writes IMAGE, IMAGE.manifest and IMAGE.sig.
  testing::ReleaseFiles SignedFiles(const std::string& name, const std::string& image,
                                    const std::string& version) {
    absl::StatusOr<testing::ReleaseFiles> r =
        testing::SignImage(dir_.path(), name, image, key_, {"BWC-4"}, version);
    EXPECT_THAT(r.status(), IsOk());
    EXPECT_THAT(sign::WriteRelease(r->release, r->image_path + ".manifest", r->image_path + ".sig"),
                IsOk());
    return *r;
  }

  testing::TempDir dir_;
  testing::TestSigningKey key_;
  std::unique_ptr<server::Server> server_;
};

TEST_F(FirmwareCliTest, UploadShowsProgressThenListAndWithdraw) {
  EXPECT_THAT(Ok({"firmware", "key", "add", "release-2027", key_.files.public_key_path}),
              HasSubstr(key_.files.key_id));
  testing::ReleaseFiles r = SignedFiles("bwc4", testing::RandomImage(700 * 1024, 1), "2.1.0");
  Result up = Run({"firmware", "upload", r.image_path, "--manifest", r.image_path + ".manifest",
                   "--signature", r.image_path + ".sig"});
  ASSERT_EQ(up.code, 0) << up;
  EXPECT_THAT(up.err, HasSubstr("100%"));
  EXPECT_THAT(up.out, HasSubstr("uploaded and verified"));
  EXPECT_THAT(up.out, HasSubstr(r.release.manifest.image_sha256));

  Result again = Run({"firmware", "upload", r.image_path, "--manifest", r.image_path + ".manifest",
                      "--signature", r.image_path + ".sig"});
  ASSERT_EQ(again.code, 0) << again;
  EXPECT_THAT(again.out, HasSubstr("already holds this release"));

  const std::string list = Ok({"firmware", "list", "--model", "BWC-4"});
  EXPECT_THAT(list, HasSubstr("2.1.0"));
  EXPECT_THAT(list, HasSubstr("available"));
  // The release id is the SHA-256 of the manifest; its first 12 digits lead the table row.
  const std::string id =
      provisioning::ToHex(provisioning::Sha256(r.release.manifest_bytes)).substr(0, 12);
  EXPECT_THAT(list, HasSubstr(id));
  EXPECT_THAT(Ok({"firmware", "withdraw", id, "--reason", "drains batteries"}),
              HasSubstr("withdrawn by fw-admin"));
  EXPECT_THAT(Ok({"firmware", "list"}), HasSubstr("no releases"));
  EXPECT_THAT(Ok({"firmware", "list", "--withdrawn", "--json"}),
              HasSubstr("\"withdrawn_by\": \"fw-admin\""));
}

TEST_F(FirmwareCliTest, ATamperedImageIsRefusedBeforeAnythingIsSent) {
  Ok({"firmware", "key", "add", "release-2027", key_.files.public_key_path});
  testing::ReleaseFiles r = SignedFiles("bwc4", testing::RandomImage(100 * 1024, 1), "2.1.0");
  std::string tampered = r.image;
  tampered[1234] ^= 1;
  const std::string tampered_path = dir_.File("tampered.img");
  ASSERT_THAT(provisioning::WriteNewFile(tampered_path, tampered, 0644), IsOk());
  Result up = Run({"firmware", "upload", tampered_path, "--manifest", r.image_path + ".manifest",
                   "--signature", r.image_path + ".sig"});
  EXPECT_EQ(up.code, 2) << up;
  EXPECT_THAT(up.err, HasSubstr("does not match its signed manifest"));
  EXPECT_THAT(up.err, HasSubstr("SHA-256"));
  EXPECT_THAT(up.err, HasSubstr("nothing was sent"));
  EXPECT_THAT(Ok({"firmware", "list", "--withdrawn"}), HasSubstr("no releases"));
}

TEST_F(FirmwareCliTest, KeysCanBeListedAndRetired) {
  Ok({"firmware", "key", "add", "release-2027", key_.files.public_key_path});
  EXPECT_THAT(Ok({"firmware", "key", "list"}), HasSubstr("trusted"));
  Ok({"firmware", "key", "retire", key_.files.key_id.substr(0, 10), "--reason", "rotated"});
  const std::string keys = Ok({"firmware", "key", "list"});
  EXPECT_THAT(keys, HasSubstr("retired"));
  EXPECT_THAT(keys, Not(HasSubstr("trusted")));
}

TEST_F(FirmwareCliTest, ExportWritesASignedReleaseBundleWithProgress) {
  Ok({"firmware", "key", "add", "release-2027", key_.files.public_key_path});
  testing::ReleaseFiles r = SignedFiles("bwc4", testing::RandomImage(2500 * 1024, 1), "2.1.0");
  Ok({"firmware", "upload", r.image_path, "--manifest", r.image_path + ".manifest", "--signature",
      r.image_path + ".sig"});
  const std::string id =
      provisioning::ToHex(provisioning::Sha256(r.release.manifest_bytes)).substr(0, 10);
  const std::string out = dir_.File("bwc4-2.1.0.bundle");
  Result exported = Run({"firmware", "export", id, "-o", out});
  ASSERT_EQ(exported.code, 0) << exported;
  EXPECT_THAT(exported.err, HasSubstr("100%"));
  EXPECT_THAT(exported.out, HasSubstr("camfleet-dock import-release"));
  absl::StatusOr<provisioning::FileContents> file =
      provisioning::ReadSmallFile(out, 8 << 20);
  ASSERT_THAT(file.status(), IsOk());
  absl::StatusOr<firmware::Bundle> bundle = firmware::ParseBundle(file->data);
  ASSERT_THAT(bundle.status(), IsOk());
  EXPECT_EQ(bundle->manifest, r.release.manifest_bytes);
  EXPECT_EQ(bundle->signature, r.release.signature);
  EXPECT_EQ(bundle->image, r.image);
  EXPECT_FALSE(provisioning::PathExists(out + ".partial"));
  // Never over an existing file; an unknown release leaves nothing.
  Result twice = Run({"firmware", "export", id, "-o", out});
  EXPECT_EQ(twice.code, 2) << twice;
  EXPECT_THAT(twice.err, HasSubstr("exists"));
  const std::string missing = dir_.File("missing.bundle");
  Result unknown = Run({"firmware", "export", "0123456789abcdef", "-o", missing});
  EXPECT_NE(unknown.code, 0) << unknown;
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
  EXPECT_FALSE(provisioning::PathExists(missing));
  EXPECT_FALSE(provisioning::PathExists(missing + ".partial"));
}

TEST_F(FirmwareCliTest, ListPagesThroughEveryRelease) {
  Ok({"firmware", "key", "add", "release-2027", key_.files.public_key_path});
  for (int minor = 0; minor < 5; ++minor) {
    testing::ReleaseFiles r = SignedFiles(absl::StrCat("bwc4-", minor),
                                          testing::RandomImage(8 * 1024, minor + 1),
                                          absl::StrCat("2.", minor, ".0"));
    Ok({"firmware", "upload", r.image_path, "--manifest", r.image_path + ".manifest",
        "--signature", r.image_path + ".sig"});
  }
  // Two per request, three requests: every release, newest first, in one table.
  const std::string list = Ok({"firmware", "list", "--page-size", "2"});
  size_t at = 0;
  for (const char* version : {"2.4.0", "2.3.0", "2.2.0", "2.1.0", "2.0.0"}) {
    const size_t found = list.find(version, at);
    ASSERT_NE(found, std::string::npos) << version << " missing or out of order:\n" << list;
    at = found;
  }
  EXPECT_EQ(list.find("RELEASE"), list.rfind("RELEASE")) << "one table, one header:\n" << list;
  // The same releases in the --json output, merged across pages.
  const std::string json = Ok({"firmware", "list", "--page-size", "1", "--json"});
  for (const char* version : {"2.4.0", "2.0.0"}) EXPECT_THAT(json, HasSubstr(version));
  EXPECT_THAT(json, HasSubstr("\"next_page_token\": \"\""));
  Result bad = Run({"firmware", "list", "--page-size", "-1"});
  EXPECT_NE(bad.code, 0) << bad;
  EXPECT_THAT(bad.err, HasSubstr("page_size is -1"));
}

TEST_F(FirmwareCliTest, EveryFirmwareCommandAnswersHelp) {
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"firmware", "--help"},
                                             {"firmware", "upload", "--help"},
                                             {"firmware", "list", "--help"},
                                             {"firmware", "withdraw", "--help"},
                                             {"firmware", "export", "--help"},
                                             {"firmware", "key", "add", "--help"}}) {
    Result r = Run(cmd);
    EXPECT_EQ(r.code, 0) << r;
  }
}

}  // namespace
}  // namespace camfleet::cli
