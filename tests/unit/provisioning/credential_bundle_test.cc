#include "provisioning/credential_bundle.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/file_io.h"
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

// A stand-in certificate that names the key it belongs to, so a test can tell a matching pair.
std::string CertFor(const PrivateKey& key) {
  return absl::StrCat("CERT for ", *key.PublicKeyFingerprint());
}

// Whether a loaded bundle's certificate belongs to its key (by CertFor's convention).
bool IsMatchingPair(const CredentialBundle& bundle) {
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(bundle.key_pem);
  return key.ok() && bundle.cert_pem == CertFor(*key);
}

std::string LinkTarget(const std::string& path) {
  char buf[256];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// A bundle as written before version directories: three plain files.
void WriteUnversionedBundle(const std::string& dir, const PrivateKey& key) {
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_THAT(key.WriteFile(dir + "/" + kBundleKeyFile), IsOk());
  ASSERT_THAT(WriteNewFile(dir + "/" + kBundleCertFile, CertFor(key), 0644), IsOk());
  ASSERT_THAT(WriteNewFile(dir + "/" + kBundleCaFile, "CA", 0644), IsOk());
}

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

TEST(CredentialBundleTest, FilesAreReachableUnderTheirPlainNames) {
  // Tools (openssl, an installer's script) open DIR/cert.pem directly.
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "OLD", "CA"), IsOk());
  ASSERT_THAT(ReplaceCredentialBundle(bundle, NewKey(), "NEW", "CA2"), IsOk());
  std::ifstream cert(bundle + "/" + kBundleCertFile);
  std::string contents((std::istreambuf_iterator<char>(cert)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "NEW");
}

TEST(CredentialBundleTest, ReplaceKeepsOnlyTheCurrentAndThePreviousVersion) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "1", "CA"), IsOk());
  for (const char* cert : {"2", "3", "4"}) {
    ASSERT_THAT(ReplaceCredentialBundle(bundle, NewKey(), cert, "CA"), IsOk());
  }
  EXPECT_EQ(LinkTarget(bundle + "/" + kBundleCurrentLink), "v4");
  EXPECT_TRUE(IsDirectory(bundle + "/v3"));
  EXPECT_FALSE(PathExists(bundle + "/v2"));
  EXPECT_FALSE(PathExists(bundle + "/v1"));
}

TEST(CredentialBundleTest, LoadReadsABundleWrittenBeforeVersions) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  const PrivateKey key = NewKey();
  ASSERT_NO_FATAL_FAILURE(WriteUnversionedBundle(bundle, key));
  absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->cert_pem, CertFor(key));
}

TEST(CredentialBundleTest, ReplaceMovesABundleWrittenBeforeVersionsToVersions) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_NO_FATAL_FAILURE(WriteUnversionedBundle(bundle, NewKey()));
  const PrivateKey renewed = NewKey();
  ASSERT_THAT(ReplaceCredentialBundle(bundle, renewed, CertFor(renewed), "CA"), IsOk());
  EXPECT_EQ(LinkTarget(bundle + "/" + kBundleKeyFile), "current/key.pem");
  absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->cert_pem, CertFor(renewed));
  EXPECT_TRUE(IsMatchingPair(*loaded));
}

TEST(CredentialBundleTest, LoadIgnoresAVersionACrashedReplaceLeftHalfWritten) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  const PrivateKey key = NewKey();
  ASSERT_THAT(WriteCredentialBundle(bundle, key, CertFor(key), "CA"), IsOk());
  // What a replace that died before its commit point leaves: a new key, no certificate, and
  // `current` still on the old version.
  ASSERT_EQ(::mkdir((bundle + "/v2").c_str(), 0700), 0);
  ASSERT_THAT(NewKey().WriteFile(bundle + "/v2/" + kBundleKeyFile), IsOk());

  absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->cert_pem, CertFor(key));

  const PrivateKey renewed = NewKey();
  ASSERT_THAT(ReplaceCredentialBundle(bundle, renewed, CertFor(renewed), "CA"), IsOk());
  loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->cert_pem, CertFor(renewed));
  EXPECT_FALSE(PathExists(bundle + "/v2")) << "the crashed attempt's debris is cleared";
}

TEST(CredentialBundleTest, LoadRefusesACurrentLinkThatLeavesTheBundle) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  ASSERT_THAT(WriteCredentialBundle(bundle, NewKey(), "CERT", "CA"), IsOk());
  ASSERT_THAT(WriteCredentialBundle(dir.File("elsewhere"), NewKey(), "OTHER", "CA"), IsOk());
  const std::string current = bundle + "/" + kBundleCurrentLink;
  ASSERT_EQ(::unlink(current.c_str()), 0);
  ASSERT_EQ(::symlink("../elsewhere/v1", current.c_str()), 0);
  EXPECT_THAT(LoadCredentialBundle(bundle),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(kBundleCurrentLink)));
}

TEST(CredentialBundleTest, AReaderNeverSeesAKeyWithAnotherKeysCertificate) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  std::vector<PrivateKey> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(NewKey());
  ASSERT_THAT(WriteCredentialBundle(bundle, keys[0], CertFor(keys[0]), "CA"), IsOk());

  std::atomic<bool> done{false};
  std::atomic<int> replaced{0};
  std::thread writer([&] {
    for (int i = 1; i <= 200; ++i) {
      const PrivateKey& key = keys[static_cast<size_t>(i) % keys.size()];
      if (!ReplaceCredentialBundle(bundle, key, CertFor(key), "CA").ok()) break;
      replaced.fetch_add(1);
    }
    done.store(true);
  });
  int loads = 0;
  int mismatches = 0;
  int failures = 0;
  while (!done.load()) {
    absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
    ++loads;
    if (!loaded.ok()) {
      ++failures;
    } else if (!IsMatchingPair(*loaded)) {
      ++mismatches;
    }
  }
  writer.join();
  EXPECT_EQ(replaced.load(), 200);
  EXPECT_GT(loads, 0);
  EXPECT_EQ(mismatches, 0) << "of " << loads << " loads";
  EXPECT_EQ(failures, 0) << "of " << loads << " loads";
}

TEST(CredentialBundleTest, AWriterKilledAtAnyPointLeavesAMatchingPair) {
  TempDir dir;
  const std::string bundle = dir.File("creds");
  std::vector<PrivateKey> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(NewKey());
  ASSERT_THAT(WriteCredentialBundle(bundle, keys[0], CertFor(keys[0]), "CA"), IsOk());
  // Kill a writer that replaces the bundle in a loop, at a different moment each round; after
  // every kill the bundle must load as a matching pair and accept the next replacement.
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test that failed half way
      for (size_t i = 0;; ++i) {
        const PrivateKey& key = keys[i % keys.size()];
        if (!ReplaceCredentialBundle(bundle, key, CertFor(key), "CA").ok()) ::_exit(3);
      }
    }
    // Let it get somewhere: wait (polling, with a deadline) until `current` has moved on.
    const std::string before = LinkTarget(bundle + "/" + kBundleCurrentLink);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (LinkTarget(bundle + "/" + kBundleCurrentLink) == before && absl::Now() < deadline) {
    }
    // Then a little further by a varying amount, so the kill lands in different steps.
    for (int spin = 0; spin < round * 1000; ++spin) {
      (void)LinkTarget(bundle + "/" + kBundleCurrentLink);
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited by itself with " << status;

    absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
    ASSERT_THAT(loaded, IsOk()) << "round " << round;
    EXPECT_TRUE(IsMatchingPair(*loaded)) << "round " << round;
  }
  const PrivateKey last = NewKey();
  ASSERT_THAT(ReplaceCredentialBundle(bundle, last, CertFor(last), "CA"), IsOk());
  absl::StatusOr<CredentialBundle> loaded = LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->cert_pem, CertFor(last));
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
