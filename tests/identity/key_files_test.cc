// Private keys on disk are readable by their owner alone (mode 0600), whatever the umask: the
// ones InitHome writes (CA, server, first admin) and the ones a credential bundle holds.

#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/key.h"
#include "services/server/home.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;

// Permission bits of `path`, or -1 if it cannot be stat'ed.
int ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// Sets the umask for a scope. The umask is process-wide: a test server running meanwhile only
// writes into the test's own temp dir, so nothing outside is affected.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

class InitHomeKeyTest : public ::testing::Test {
 protected:
  // InitHome under a umask that would leave every file world-readable if it were obeyed.
  void SetUp() override {
    ScopedUmask permissive(0);
    server::InitOptions init;
    init.home = paths_.home;
    init.admin_name = kRootAdmin;
    ASSERT_THAT(server::InitHome(init), IsOk());
  }

  TempDir dir_;
  server::HomePaths paths_{dir_.File("home")};
};

TEST_F(InitHomeKeyTest, CaKeyIsOwnerOnly) { EXPECT_EQ(ModeOf(paths_.CaDir() + "/ca.key"), 0600); }

TEST_F(InitHomeKeyTest, RootKeyIsOwnerOnlyUntilItIsExported) {
  EXPECT_EQ(ModeOf(paths_.CaDir() + "/root.key"), 0600);
}

TEST_F(InitHomeKeyTest, ServerKeyIsOwnerOnly) {
  EXPECT_EQ(ModeOf(paths_.ServerCredentials() + "/key.pem"), 0600);
}

TEST_F(InitHomeKeyTest, FirstAdminKeyIsOwnerOnly) {
  EXPECT_EQ(ModeOf(paths_.AdminCredentials(kRootAdmin) + "/key.pem"), 0600);
}

TEST_F(InitHomeKeyTest, CredentialDirectoriesAreOwnerOnly) {
  EXPECT_EQ(ModeOf(paths_.home), 0700);
  EXPECT_EQ(ModeOf(paths_.CaDir()), 0700);
  EXPECT_EQ(ModeOf(paths_.ServerCredentials()), 0700);
  EXPECT_EQ(ModeOf(paths_.AdminCredentials(kRootAdmin)), 0700);
}

TEST_F(InitHomeKeyTest, KeysAreLoadableWithTheirModes) {
  // The loaders refuse a key others can read; what InitHome wrote must pass them.
  EXPECT_THAT(provisioning::LoadCredentialBundle(paths_.ServerCredentials()), IsOk());
  EXPECT_THAT(provisioning::LoadCredentialBundle(paths_.AdminCredentials(kRootAdmin)), IsOk());
  EXPECT_THAT(provisioning::PrivateKey::ReadFile(paths_.CaDir() + "/ca.key"), IsOk());
}

class BundleKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-alice", Role::kQuartermaster);
    ASSERT_THAT(qm, IsOk());
    qm_ = *std::move(qm);
  }

  common::FakeClock clock_{absl::Now()};  // moved into renewal windows
  TempDir dir_;
  std::unique_ptr<TlsTestServer> server_;
  ClientCredentials qm_;
};

TEST_F(BundleKeyTest, WrittenBundleKeyIsOwnerOnly) {
  absl::StatusOr<provisioning::PrivateKey> key =
      provisioning::PrivateKey::FromPem(qm_.bundle.key_pem);
  ASSERT_THAT(key, IsOk());
  const std::string bundle = dir_.File("qm-alice");
  {
    ScopedUmask permissive(0);
    ASSERT_THAT(
        provisioning::WriteCredentialBundle(bundle, *key, qm_.bundle.cert_pem, qm_.bundle.ca_pem),
        IsOk());
  }
  EXPECT_EQ(ModeOf(bundle + "/key.pem"), 0600);
  EXPECT_EQ(ModeOf(bundle), 0700);
}

TEST_F(BundleKeyTest, ReplacedBundleKeyIsOwnerOnly) {
  absl::StatusOr<provisioning::PrivateKey> key =
      provisioning::PrivateKey::FromPem(qm_.bundle.key_pem);
  ASSERT_THAT(key, IsOk());
  const std::string bundle = dir_.File("qm-alice");
  ASSERT_THAT(
      provisioning::WriteCredentialBundle(bundle, *key, qm_.bundle.cert_pem, qm_.bundle.ca_pem),
      IsOk());
  // A renewal through the API, then the bundle swapped to the new key.
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("qm-alice");
  ASSERT_THAT(next, IsOk());
  v1::RenewOperatorCertificateRequest req;
  req.set_csr_pem(next->csr_pem);
  v1::RenewOperatorCertificateResponse resp;
  auto stub = v1::ProvisioningService::NewStub(server_->Channel(qm_.bundle));
  clock_.Advance(absl::Hours(24 * 21));  // into the 30-day certificate's renewal window
  ASSERT_TRUE(stub->RenewOperatorCertificate(TlsContext().get(), req, &resp).ok());
  absl::StatusOr<provisioning::PrivateKey> next_key =
      provisioning::PrivateKey::FromPem(next->key_pem);
  ASSERT_THAT(next_key, IsOk());
  {
    ScopedUmask permissive(0);
    ASSERT_THAT(
        provisioning::ReplaceCredentialBundle(
            bundle, *next_key, resp.certificate().certificate_pem(), resp.ca_certificate_pem()),
        IsOk());
  }
  EXPECT_EQ(ModeOf(bundle + "/key.pem"), 0600);
  absl::StatusOr<provisioning::CredentialBundle> loaded =
      provisioning::LoadCredentialBundle(bundle);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->cert_pem, resp.certificate().certificate_pem());
}

TEST_F(BundleKeyTest, BundleWithKeyReadableByOthersIsRefused) {
  absl::StatusOr<provisioning::PrivateKey> key =
      provisioning::PrivateKey::FromPem(qm_.bundle.key_pem);
  ASSERT_THAT(key, IsOk());
  const std::string bundle = dir_.File("qm-alice");
  ASSERT_THAT(
      provisioning::WriteCredentialBundle(bundle, *key, qm_.bundle.cert_pem, qm_.bundle.ca_pem),
      IsOk());
  ASSERT_EQ(::chmod((bundle + "/key.pem").c_str(), 0644), 0);
  EXPECT_THAT(provisioning::LoadCredentialBundle(bundle),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace camfleet::testing
