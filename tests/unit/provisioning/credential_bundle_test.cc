#include "provisioning/credential_bundle.h"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;
using ::testing::HasSubstr;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

PrivateKey NewKey() { return *PrivateKey::GenerateEcP256(); }

TEST(CredentialBundleTest, WriteThenLoadReturnsTheSameCredentials) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  const PrivateKey key = NewKey();
  ASSERT_THAT(WriteCredentialBundle(bundle, key, "CERT", "CA"), IsOk());
  absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(*PrivateKey::FromPem(loaded->key_pem)->PublicKeyFingerprint(),
            *key.PublicKeyFingerprint());
  EXPECT_EQ(loaded->cert_pem, "CERT");
  EXPECT_EQ(loaded->ca_pem, "CA");
}

TEST(CredentialBundleTest, WriteMakesThePrivateDirectoryAndKeyOwnerOnly) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "CERT", "CA"), IsOk());
  EXPECT_EQ(ModeOf(bundle), 0700u);
  EXPECT_EQ(ModeOf(bundle + "/" + kBundleKeyFile), 0600u);
}

TEST(CredentialBundleTest, WriteRefusesToOverwriteAnExistingBundle) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "CERT", "CA"), IsOk());
  EXPECT_THAT(WriteCredentialBundle(bundle, NewKey(), "CERT2", "CA2"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(LoadCredentialBundle(bundle)->cert_pem, "CERT");
}

TEST(CredentialBundleTest, ReplaceSwapsKeyAndCertificate) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "OLD", "CA"), IsOk());
  const PrivateKey renewed = NewKey();
  ASSERT_THAT(ReplaceCredentialBundle(bundle, renewed, "NEW", "CA"), IsOk());
  absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(*PrivateKey::FromPem(loaded->key_pem)->PublicKeyFingerprint(),
            *renewed.PublicKeyFingerprint());
  EXPECT_EQ(loaded->cert_pem, "NEW");
  EXPECT_EQ(ModeOf(bundle + "/" + kBundleKeyFile), 0600u);
}

TEST(CredentialBundleTest, LoadOfAMissingBundleIsNotFound) {
  TempDir dir;
  EXPECT_THAT(LoadCredentialBundle(dir.File("nothing-here")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(CredentialBundleTest, LoadRefusesAKeyOthersCanRead) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "CERT", "CA"), IsOk());
  ASSERT_EQ(::chmod((bundle + "/" + kBundleKeyFile).c_str(), 0644), 0);
  EXPECT_THAT(LoadCredentialBundle(bundle),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(kBundleKeyFile)));
}

}  // namespace
}  // namespace camfleet::provisioning
