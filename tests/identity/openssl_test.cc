// What the server issues and publishes, checked by the openssl command-line tool rather than by
// our own code: every certificate chains to the fleet CA, and the CRL parses, is signed by the
// CA, lists revoked serials with their reasons and carries a growing CRL number.

#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/key.h"
#include "tests/identity/crl_listing.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/unit/provisioning/openssl_cli.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using provisioning_test::CommandResult;
using provisioning_test::RunOpenSsl;
using ::testing::Contains;
using ::testing::Gt;
using ::testing::HasSubstr;
using ::testing::Key;
using ::testing::Pair;

class OpensslTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    ASSERT_THAT(admin_->CreateSite("POST-1"), IsOk());
  }

  // The fleet's CA certificates as clients hold them (the root, then the issuing CA that
  // HOME/ca/ca.crt holds): what an independent verifier needs to reach the root.
  std::string CaFile() const {
    return server_->paths().AdminCredentials(kRootAdmin) + "/" + provisioning::kBundleCaFile;
  }

  // `openssl verify -CAfile ca.pem` on `cert_pem`, written to a file named `name`.
  // Checked at the server's time (openssl -attime), which a test may have moved ahead.
  CommandResult Verify(const std::string& cert_pem, const std::string& name) {
    const std::string path = files_.File(name);
    EXPECT_THAT(WriteTextFile(path, cert_pem), IsOk());
    return RunOpenSsl({"verify", "-attime", absl::StrCat(absl::ToUnixSeconds(clock_.Now())),
                       "-CAfile", CaFile(), path});
  }

  // A dock enrolled at POST-1 and its client.
  std::unique_ptr<TlsClient> EnrollDock(const std::string& dock_id, EnrolledDock* out = nullptr) {
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", dock_id);
    EXPECT_THAT(dock, IsOk());
    if (!dock.ok()) return nullptr;
    if (out != nullptr) *out = *dock;
    return std::make_unique<TlsClient>(server_->Channel(dock->credentials.bundle));
  }

  common::FakeClock clock_{absl::Now()};
  TempDir files_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
};

TEST_F(OpensslTest, VerifiesServerCertificateFromInit) {
  CommandResult r = RunOpenSsl(
      {"verify", "-CAfile", CaFile(), server_->paths().ServerCredentials() + "/cert.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(": OK"));
}

TEST_F(OpensslTest, VerifiesServerCertificateForTlsServerPurpose) {
  CommandResult r = RunOpenSsl({"verify", "-CAfile", CaFile(), "-purpose", "sslserver",
                                server_->paths().ServerCredentials() + "/cert.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(OpensslTest, VerifiesFirstAdminCertificateFromInit) {
  CommandResult r = RunOpenSsl(
      {"verify", "-CAfile", CaFile(), server_->paths().AdminCredentials(kRootAdmin) + "/cert.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(": OK"));
}

class OpensslOperatorTest : public OpensslTest, public ::testing::WithParamInterface<Role> {};

TEST_P(OpensslOperatorTest, VerifiesOperatorCertificateIssuedThroughTheApi) {
  const std::string name = absl::StrCat("op-", provisioning::RoleName(GetParam()));
  absl::StatusOr<ClientCredentials> op = server_->IssueOperator(name, GetParam());
  ASSERT_THAT(op, IsOk());
  CommandResult r = Verify(op->bundle.cert_pem, name + ".pem");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(": OK"));
  // Operators authenticate as TLS clients.
  r = RunOpenSsl(
      {"verify", "-CAfile", CaFile(), "-purpose", "sslclient", files_.File(name + ".pem")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Roles, OpensslOperatorTest,
                         ::testing::Values(Role::kAdmin, Role::kQuartermaster, Role::kAuditor),
                         [](const ::testing::TestParamInfo<Role>& role_info) {
                           return std::string(provisioning::RoleName(role_info.param));
                         });

TEST_F(OpensslTest, VerifiesDockCertificateFromEnrollment) {
  EnrolledDock dock;
  ASSERT_NE(EnrollDock("post-1-dock-1", &dock), nullptr);
  CommandResult r = Verify(dock.response.certificate().certificate_pem(), "dock.pem");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(": OK"));
}

TEST_F(OpensslTest, VerifiesRenewedDockCertificate) {
  std::unique_ptr<TlsClient> dock = EnrollDock("post-1-dock-1");
  ASSERT_NE(dock, nullptr);
  absl::StatusOr<KeyAndCsr> next = MakeKeyAndCsr("post-1-dock-1");
  ASSERT_THAT(next, IsOk());
  clock_.Advance(absl::Hours(24 * 61));  // into the dock certificate's renewal window
  absl::StatusOr<v1::RenewDockCertificateResponse> renewed = dock->RenewDock(next->csr_pem);
  ASSERT_THAT(renewed, IsOk());
  CommandResult r = Verify(renewed->certificate().certificate_pem(), "renewed.pem");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(OpensslTest, VerifiesCameraCertificateFromEnrollment) {
  std::unique_ptr<TlsClient> dock = EnrollDock("post-1-dock-1");
  ASSERT_NE(dock, nullptr);
  ASSERT_THAT(admin_->RegisterCamera("CAM-0001", "POST-1"), IsOk());
  absl::StatusOr<v1::EnrollCameraResponse> camera = dock->EnrollNewCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  CommandResult r = Verify(camera->certificate().certificate_pem(), "camera.pem");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(": OK"));
}

TEST_F(OpensslTest, CrlIsSignedByTheFleetCa) {
  absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
  ASSERT_THAT(crl, IsOk());
  ASSERT_THAT(WriteTextFile(files_.File("crl.pem"), crl->crl_pem()), IsOk());
  CommandResult r =
      RunOpenSsl({"crl", "-in", files_.File("crl.pem"), "-CAfile", CaFile(), "-noout"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verify OK"));
}

TEST_F(OpensslTest, CrlListsRevokedCertificateWithItsReason) {
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-bob", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-bob");
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 1u);
  const std::string serial = certs->front().serial();
  ASSERT_THAT(admin_->RevokeCertificate(serial, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());

  absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CrlListing> listing = ReadCrlWithOpenssl(crl->crl_pem(), files_.path());
  ASSERT_THAT(listing, IsOk());
  // openssl prints serials in upper case; the API in lower case.
  EXPECT_THAT(listing->revoked, Contains(Pair(absl::AsciiStrToLower(serial), "Key Compromise")))
      << listing->text;
  EXPECT_EQ(listing->crl_number, crl->crl_number());
}

TEST_F(OpensslTest, CrlListsEveryCertificateOfARevokedOperatorWithTheGivenReason) {
  ASSERT_THAT(server_->IssueOperator("aud-carol", Role::kAuditor), IsOk());
  // Issuing again for the same name and role gives a second certificate.
  ASSERT_THAT(server_->IssueOperator("aud-carol", Role::kAuditor), IsOk());
  ASSERT_THAT(admin_->RevokeOperator("aud-carol", v1::REVOCATION_REASON_AFFILIATION_CHANGED),
              IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("aud-carol");
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 2u);

  absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CrlListing> listing = ReadCrlWithOpenssl(crl->crl_pem(), files_.path());
  ASSERT_THAT(listing, IsOk());
  for (const v1::Certificate& c : *certs) {
    EXPECT_THAT(listing->revoked, Contains(Pair(c.serial(), "Affiliation Changed")))
        << listing->text;
  }
}

TEST_F(OpensslTest, OpensslRefusesRevokedCertificateWithThePublishedCrl) {
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-dave", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-dave"), IsOk());
  absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
  ASSERT_THAT(crl, IsOk());
  ASSERT_THAT(WriteTextFile(files_.File("crl.pem"), crl->crl_pem()), IsOk());
  ASSERT_THAT(WriteTextFile(files_.File("qm.pem"), qm->bundle.cert_pem), IsOk());
  CommandResult r = RunOpenSsl({"verify", "-crl_check", "-CAfile", CaFile(), "-CRLfile",
                                files_.File("crl.pem"), files_.File("qm.pem")});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("certificate revoked"));
}

TEST_F(OpensslTest, CrlWithoutRevocationsListsNothing) {
  absl::StatusOr<v1::GetCrlResponse> crl = admin_->GetCrl();
  ASSERT_THAT(crl, IsOk());
  absl::StatusOr<CrlListing> listing = ReadCrlWithOpenssl(crl->crl_pem(), files_.path());
  ASSERT_THAT(listing, IsOk());
  EXPECT_TRUE(listing->revoked.empty()) << listing->text;
  EXPECT_EQ(listing->crl_number, crl->crl_number());
}

TEST_F(OpensslTest, CrlNumberGrowsAfterANewRevocation) {
  absl::StatusOr<v1::GetCrlResponse> before = admin_->GetCrl();
  ASSERT_THAT(before, IsOk());
  absl::StatusOr<CrlListing> before_listing =
      ReadCrlWithOpenssl(before->crl_pem(), files_.path(), "before.pem");
  ASSERT_THAT(before_listing, IsOk());

  ASSERT_THAT(server_->IssueOperator("qm-erin", Role::kQuartermaster), IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-erin"), IsOk());

  absl::StatusOr<v1::GetCrlResponse> after = admin_->GetCrl();
  ASSERT_THAT(after, IsOk());
  absl::StatusOr<CrlListing> after_listing =
      ReadCrlWithOpenssl(after->crl_pem(), files_.path(), "after.pem");
  ASSERT_THAT(after_listing, IsOk());
  EXPECT_THAT(after->crl_number(), Gt(before->crl_number()));
  EXPECT_THAT(after_listing->crl_number, Gt(before_listing->crl_number));
  EXPECT_EQ(after_listing->crl_number, after->crl_number());
}

TEST_F(OpensslTest, CrlNumberStaysWhileNothingIsRevoked) {
  absl::StatusOr<v1::GetCrlResponse> first = admin_->GetCrl();
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(server_->IssueOperator("qm-fred", Role::kQuartermaster), IsOk());
  absl::StatusOr<v1::GetCrlResponse> second = admin_->GetCrl();
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->crl_number(), first->crl_number());
  EXPECT_EQ(second->crl_pem(), first->crl_pem());
}

TEST_F(OpensslTest, CrlNumberKeepsGrowingAcrossRestartAndKeepsRevocations) {
  ASSERT_THAT(server_->IssueOperator("qm-gina", Role::kQuartermaster), IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-gina"), IsOk());
  absl::StatusOr<v1::GetCrlResponse> before = admin_->GetCrl();
  ASSERT_THAT(before, IsOk());
  absl::StatusOr<std::vector<v1::Certificate>> certs = admin_->CertificatesOf("qm-gina");
  ASSERT_THAT(certs, IsOk());
  ASSERT_EQ(certs->size(), 1u);

  ASSERT_THAT(server_->Restart(), IsOk());
  TlsClient admin(server_->AdminChannel());
  absl::StatusOr<v1::GetCrlResponse> after = admin.GetCrl();
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->crl_number(), Gt(before->crl_number()));
  absl::StatusOr<CrlListing> listing = ReadCrlWithOpenssl(after->crl_pem(), files_.path());
  ASSERT_THAT(listing, IsOk());
  EXPECT_THAT(listing->revoked, Contains(Key(certs->front().serial()))) << listing->text;
}

// Issue 11, item 7: a control plane put back to an older copy of its database (a restore from
// backup) still numbers its next CRL above every CRL it gave out before, so docks that hold a
// newer one take it instead of refusing it as old (or, worse, seeing one number twice).
TEST_F(OpensslTest, CrlNumberMovesForwardAfterTheDatabaseIsRestoredFromAnOlderCopy) {
  absl::StatusOr<v1::GetCrlResponse> first = admin_->GetCrl();
  ASSERT_THAT(first, IsOk());
  server_->Shutdown();
  const std::string db = server_->paths().Database();
  const std::string backup = files_.File("backup.db");
  {
    std::ifstream in(db, std::ios::binary);
    std::ofstream out(backup, std::ios::binary);
    out << in.rdbuf();
    ASSERT_TRUE(out.good());
  }
  ASSERT_THAT(server_->Restart(), IsOk());
  TlsClient admin(server_->AdminChannel());
  for (const char* name : {"qm-ivy", "qm-jay", "qm-kim"}) {
    ASSERT_THAT(server_->IssueOperator(name, Role::kQuartermaster), IsOk());
    ASSERT_THAT(admin.RevokeOperator(name), IsOk());
    clock_.Advance(absl::Seconds(1));
    ASSERT_THAT(admin.GetCrl(), IsOk());
  }
  absl::StatusOr<v1::GetCrlResponse> newest = admin.GetCrl();
  ASSERT_THAT(newest, IsOk());
  ASSERT_GT(newest->crl_number(), first->crl_number());

  server_->Shutdown();
  for (const char* suffix : {"-wal", "-shm"}) std::remove((db + suffix).c_str());
  ASSERT_EQ(std::rename(backup.c_str(), db.c_str()), 0);
  clock_.Advance(absl::Seconds(1));
  ASSERT_THAT(server_->Restart(), IsOk());
  TlsClient restored(server_->AdminChannel());
  absl::StatusOr<v1::GetCrlResponse> after = restored.GetCrl();
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->crl_number(), Gt(newest->crl_number()));
  absl::StatusOr<CrlListing> listing = ReadCrlWithOpenssl(after->crl_pem(), files_.path());
  ASSERT_THAT(listing, IsOk());
  EXPECT_EQ(listing->crl_number, after->crl_number());
}

// Issue 11, item 8: requests that arrive together share one build (and one CRL number); a
// CRL number is never spent on the same content twice.
TEST_F(OpensslTest, ConcurrentCrlRequestsShareOneBuildAndOneNumber) {
  ASSERT_THAT(server_->IssueOperator("qm-lee", Role::kQuartermaster), IsOk());
  ASSERT_THAT(admin_->RevokeOperator("qm-lee"), IsOk());
  constexpr int kCallers = 16;
  std::vector<std::unique_ptr<TlsClient>> clients;
  for (int i = 0; i < kCallers; ++i) {
    clients.push_back(std::make_unique<TlsClient>(server_->Channel(server_->admin().bundle)));
    ASSERT_THAT(clients.back()->ListSites(), IsOk());  // connected before the race
  }
  std::vector<absl::StatusOr<v1::GetCrlResponse>> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] { results[i] = clients[i]->GetCrl(); });
  }
  for (std::thread& t : threads) t.join();
  std::set<int64_t> numbers;
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    numbers.insert(r->crl_number());
  }
  EXPECT_EQ(numbers.size(), 1u) << "CRL numbers: " << absl::StrJoin(numbers, ", ");
}

TEST_F(OpensslTest, RevokeCertificateAcceptsTheSerialAsOpensslPrintsIt) {
  // An admin looking at a certificate with `openssl x509 -serial` sees upper-case hex, maybe
  // with a leading zero; the API's own form is lower case without one.
  absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-hank", Role::kQuartermaster);
  ASSERT_THAT(qm, IsOk());
  ASSERT_THAT(WriteTextFile(files_.File("qm.pem"), qm->bundle.cert_pem), IsOk());
  CommandResult r = RunOpenSsl({"x509", "-in", files_.File("qm.pem"), "-noout", "-serial"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_THAT(r.output, ::testing::StartsWith("serial="));
  std::string printed(absl::StripAsciiWhitespace(r.output.substr(sizeof("serial=") - 1)));
  ASSERT_NE(printed, absl::AsciiStrToLower(printed)) << "expected upper-case hex: " << printed;

  EXPECT_THAT(admin_->RevokeCertificate(printed, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  TlsClient client(server_->Channel(qm->bundle));
  EXPECT_THAT(client.ListSites(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

}  // namespace
}  // namespace camfleet::testing
