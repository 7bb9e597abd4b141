#include "provisioning/key.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/provisioning/openssl_cli.h"
#include "tests/unit/provisioning/raw_openssl.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void WriteWithMode(const std::string& path, const std::string& contents, mode_t mode) {
  std::ofstream(path, std::ios::binary) << contents;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(PrivateKeyTest, GeneratesEcP256) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->Description(), "EC P-256");
}

TEST(PrivateKeyTest, PemRoundTripKeepsTheKey) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  absl::StatusOr<std::string> pem = key->ToPem();
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(*pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  absl::StatusOr<PrivateKey> back = PrivateKey::FromPem(*pem);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back->PublicKeyFingerprint(), *key->PublicKeyFingerprint());
}

TEST(PrivateKeyTest, DistinctKeysHaveDistinctFingerprints) {
  absl::StatusOr<PrivateKey> a = PrivateKey::GenerateEcP256();
  absl::StatusOr<PrivateKey> b = PrivateKey::GenerateEcP256();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a->PublicKeyFingerprint(), *b->PublicKeyFingerprint());
}

TEST(PrivateKeyTest, FingerprintIsSha256OfTheDerPublicKeyAsOpenSslWritesIt) {
  TempDir dir;
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(key->WriteFile(dir.File("key.pem")), IsOk());
  const provisioning_test::CommandResult run =
      provisioning_test::RunOpenSsl({"pkey", "-in", dir.File("key.pem"), "-pubout", "-outform",
                                     "DER", "-out", dir.File("pub.der")});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(*key->PublicKeyFingerprint(), ToHex(Sha256(ReadAll(dir.File("pub.der")))));
}

TEST(PrivateKeyTest, WriteFileCreatesMode0600) {
  TempDir dir;
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(key->WriteFile(dir.File("dock.key")), IsOk());
  EXPECT_EQ(ModeOf(dir.File("dock.key")), 0600u);
}

TEST(PrivateKeyTest, WriteFileLeavesOnlyTheKeyBehind) {
  TempDir dir;
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(key->WriteFile(dir.File("dock.key")), IsOk());
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir.path(), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_THAT(names, ::testing::ElementsAre("dock.key"));
}

TEST(PrivateKeyTest, WriteFileRefusesToOverwrite) {
  TempDir dir;
  const std::string path = dir.File("dock.key");
  WriteWithMode(path, "precious", 0600);
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(key->WriteFile(path), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(path)));
  EXPECT_EQ(ReadAll(path), "precious");
}

TEST(PrivateKeyTest, WriteFileIntoMissingDirectoryIsNotFound) {
  TempDir dir;
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(key->WriteFile(dir.File("nope/dock.key")), StatusIs(absl::StatusCode::kNotFound));
}

TEST(PrivateKeyTest, ReadFileReturnsTheWrittenKey) {
  TempDir dir;
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(key->WriteFile(dir.File("k")), IsOk());
  absl::StatusOr<PrivateKey> back = PrivateKey::ReadFile(dir.File("k"));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back->PublicKeyFingerprint(), *key->PublicKeyFingerprint());
}

TEST(PrivateKeyTest, ReadFileRefusesAKeyOthersCanRead) {
  TempDir dir;
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  WriteWithMode(dir.File("k"), *key->ToPem(), 0644);
  EXPECT_THAT(PrivateKey::ReadFile(dir.File("k")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("0644")));
}

TEST(PrivateKeyTest, ReadFileOfMissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  EXPECT_THAT(PrivateKey::ReadFile(dir.File("absent.key")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.key")));
}

TEST(PrivateKeyTest, ReadFileOfGarbageIsInvalidArgumentNamingThePath) {
  TempDir dir;
  WriteWithMode(dir.File("junk.key"), "not a key", 0600);
  EXPECT_THAT(PrivateKey::ReadFile(dir.File("junk.key")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("junk.key")));
}

TEST(PrivateKeyTest, FromPemRejectsAnEncryptedKeyWithoutPrompting) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  const std::string encrypted = provisioning_test::EncryptedPem(*key, "hunter22");
  EXPECT_THAT(PrivateKey::FromPem(encrypted), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PrivateKeyTest, FromPemErrorDoesNotEchoTheInput) {
  const std::string secretish =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(secretish);
  ASSERT_THAT(key, Not(IsOk()));
  EXPECT_THAT(std::string(key.status().message()), Not(HasSubstr("c2VjcmV0")));
}

}  // namespace
}  // namespace camfleet::provisioning
