// The dock takes a CRL as large as the server can send (issue 11, item 10): a fleet with
// 140,000 revoked certificates still in their validity gives a CRL of more than 8 MiB, over
// gRPC's 4 MiB default; it reaches the dock over mutual TLS, is verified and kept, and loads
// again from disk as a restarted dock would.

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/crl_store.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/file_io.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/dock_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::testing::HasSubstr;

constexpr int kRevoked = 140'000;

TEST(DockBigCrlTest, ACrlOverEightMebibytesReachesTheDockAndLoadsAgain) {
  common::FakeClock clock(absl::Now());
  testing::TempDir dir;
  testing::TlsTestServerOptions options;
  options.clock = &clock;
  absl::StatusOr<std::unique_ptr<testing::TlsTestServer>> server =
      testing::TlsTestServer::Start(options);
  ASSERT_THAT(server, IsOk());
  testing::TlsClient admin((*server)->AdminChannel());
  ASSERT_THAT(admin.CreateSite("POST-1"), IsOk());
  absl::StatusOr<v1::CreateEnrollmentTokenResponse> token = admin.CreateToken("POST-1");
  ASSERT_THAT(token, IsOk());
  const std::string ca_file = dir.File("fleet-ca.pem");
  ASSERT_THAT(provisioning::WriteNewFile(ca_file, (*server)->ca_pem(), 0644), IsOk());
  const std::string dock_dir = dir.File("dock");
  auto dock = [&](std::vector<std::string> args) {
    const testing::CliResult r = testing::RunDockCli(std::move(args), clock);
    return std::pair<int, std::string>(r.code, r.out + r.err);
  };
  auto [enrolled, enroll_out] =
      dock({"enroll", "--server", (*server)->target(), "--server-name", testing::kServerName,
            "--ca-file", ca_file, "--token", token->token(), "--dock-id", "post-1-dock-1", "--dir",
            dock_dir, "--slot-count", "1"});
  ASSERT_EQ(enrolled, 0) << enroll_out;

  // The revoked certificates, written straight into the server's store while it is stopped
  // (as many revocations would leave it); the next GetCrl lists them all.
  (*server)->Shutdown();
  {
    absl::StatusOr<std::unique_ptr<common::Database>> db =
        common::Database::Open((*server)->paths().Database());
    ASSERT_THAT(db, IsOk());
    const int64_t now_us = absl::ToUnixMicros(clock.Now());
    ASSERT_THAT(
        (*db)->Exec(absl::StrCat(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ", kRevoked,
            ") INSERT INTO certificates (serial, role, identity, subject, key_fingerprint, "
            "not_before_us, not_after_us, pem, issued_us, issued_by, revoked_us, "
            "revocation_reason, revoked_by) SELECT printf('7%031x', i), 'camera', "
            "printf('CAM-%06d', i), printf('CN=CAM-%06d', i), printf('%064x', i), ",
            now_us - 1'000'000, ", ", now_us + int64_t{86'400'000'000} * 365, ", '-', ", now_us,
            ", 'test', ", now_us, ", 'KEY_COMPROMISE', 'test' FROM n")),
        IsOk());
  }
  ASSERT_THAT((*server)->Restart(), IsOk());

  auto [ran, run_out] = dock({"run", "--once", "--dir", dock_dir, "--server", (*server)->target(),
                              "--server-name", testing::kServerName});
  ASSERT_EQ(ran, 0) << run_out;
  EXPECT_THAT(run_out, HasSubstr("fetched, verified and kept")) << run_out;

  // On disk, and loaded again as after a restart of the dock.
  absl::StatusOr<provisioning::CredentialBundle> bundle =
      provisioning::LoadCredentialBundle(DockPaths{dock_dir}.Credentials());
  ASSERT_THAT(bundle, IsOk());
  absl::StatusOr<provisioning::CertificateVerifier> ca =
      provisioning::CertificateVerifier::FromCaPem(bundle->ca_pem);
  ASSERT_THAT(ca, IsOk());
  CrlStore store(DockPaths{dock_dir}.Crl(), *ca);
  absl::StatusOr<std::optional<HeldCrl>> held = store.LoadNewest();
  ASSERT_THAT(held, IsOk());
  ASSERT_TRUE(held->has_value());
  EXPECT_GT((*held)->pem.size(), size_t{8} << 20) << "the CRL is over 8 MiB";
  EXPECT_LE((*held)->pem.size(), size_t{16} << 20);
  EXPECT_THAT(run_out, HasSubstr(absl::StrCat("CRL ", (*held)->number))) << run_out;
}

}  // namespace
}  // namespace camfleet::agent
