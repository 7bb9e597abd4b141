// Checks what provisioning/ writes with the openssl command-line tool, so the certificates, CSRs
// and CRLs are judged by an implementation other than our own reading code.

#include "tests/unit/provisioning/openssl_cli.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "provisioning/revocation.h"
#include "tests/testing/status_matchers.h"
#include "tests/unit/provisioning/ca_fixture.h"

namespace camfleet::provisioning {
namespace {

using ::camfleet::provisioning_test::CommandResult;
using ::camfleet::provisioning_test::RunOpenSsl;
using ::camfleet::testing::IsOk;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// The openssl tool checks validity against the real clock, so this CA and its certificates are
// made "now".
class OpenSslCliTest : public provisioning_test::CaTest {
 protected:
  absl::Time CaCreatedAt() const override { return absl::Now(); }

  // Issues a certificate for a fresh key and writes it to <name>.pem; returns the path.
  std::string IssueToFile(const IssueRequest& request, const std::string& name,
                          IssuedCertificate* issued = nullptr) {
    absl::StatusOr<IssuedCertificate> cert = IssueFresh(request, absl::Now());
    EXPECT_THAT(cert, IsOk());
    if (!cert.ok()) return "";
    const std::string path = WriteFile(name + ".pem", cert->pem);
    if (issued != nullptr) *issued = *std::move(cert);
    return path;
  }
  std::string IssueToFile(Role role, const std::string& identity,
                          IssuedCertificate* issued = nullptr) {
    return IssueToFile(IssueRequest{role, identity, {}, {}, false},
                       absl::StrCat(RoleName(role), "-", identity), issued);
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = Dir().File(name);
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::string CaFile() const { return Dir().File(kCaCertFile); }
};

TEST_F(OpenSslCliTest, VerifiesCertificatesOfEveryRoleStrictly) {
  std::vector<std::string> args = {"verify", "-x509_strict", "-CAfile", CaFile()};
  std::vector<std::string> files;
  for (Role role : kAllRoles) {
    files.push_back(IssueToFile(role, "unit-1"));
    args.push_back(files.back());
  }
  const CommandResult run = RunOpenSsl(args);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  for (const std::string& file : files) {
    EXPECT_THAT(run.output, HasSubstr(file + ": OK"));
  }
}

TEST_F(OpenSslCliTest, AgreesClientCertificatesAreForClientsOnly) {
  const std::string camera = IssueToFile(Role::kCamera, "CAM-000123");
  const std::string admin = IssueToFile(Role::kAdmin, "alice");
  const CommandResult as_client =
      RunOpenSsl({"verify", "-purpose", "sslclient", "-CAfile", CaFile(), camera, admin});
  EXPECT_EQ(as_client.exit_code, 0) << as_client.output;
  const CommandResult as_server =
      RunOpenSsl({"verify", "-purpose", "sslserver", "-CAfile", CaFile(), camera});
  EXPECT_NE(as_server.exit_code, 0) << as_server.output;
}

TEST_F(OpenSslCliTest, AgreesTheServerCertificateIsForServersOnly) {
  const std::string server = IssueToFile(
      IssueRequest{Role::kServer, "camfleetd", {"fleet.example.org"}, {"127.0.0.1"}, false},
      "server");
  const CommandResult as_server = RunOpenSsl({"verify", "-purpose", "sslserver", "-verify_hostname",
                                              "fleet.example.org", "-CAfile", CaFile(), server});
  EXPECT_EQ(as_server.exit_code, 0) << as_server.output;
  const CommandResult as_client =
      RunOpenSsl({"verify", "-purpose", "sslclient", "-CAfile", CaFile(), server});
  EXPECT_NE(as_client.exit_code, 0) << as_client.output;
}

TEST_F(OpenSslCliTest, ShowsTheIdentityUriInSubjectAltName) {
  const std::string dock = IssueToFile(Role::kDock, "post-7-dock-1");
  const CommandResult run = RunOpenSsl({"x509", "-in", dock, "-noout", "-ext", "subjectAltName"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("URI:camfleet://dock/post-7-dock-1"));
}

TEST_F(OpenSslCliTest, ShowsServerDnsAndIpNamesBesideTheUri) {
  const std::string server = IssueToFile(
      IssueRequest{Role::kServer, "camfleetd", {"fleet.example.org"}, {"10.1.2.3", "::1"}, false},
      "server");
  const CommandResult run = RunOpenSsl({"x509", "-in", server, "-noout", "-ext", "subjectAltName"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(
      run.output,
      AllOf(HasSubstr("URI:camfleet://server/camfleetd"), HasSubstr("DNS:fleet.example.org"),
            HasSubstr("IP Address:10.1.2.3"), HasSubstr("IP Address:0:0:0:0:0:0:0:1")));
}

TEST_F(OpenSslCliTest, SeesTheCaConstraintsAndSubject) {
  const CommandResult run = RunOpenSsl({"x509", "-in", CaFile(), "-noout", "-text"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output,
              AllOf(HasSubstr("Subject: O = camfleet, CN = camfleet fleet CA"),
                    HasSubstr("CA:TRUE, pathlen:0"), HasSubstr("Certificate Sign, CRL Sign"),
                    HasSubstr("X509v3 Subject Key Identifier"), HasSubstr("ASN1 OID: prime256v1")));
}

TEST_F(OpenSslCliTest, SeesTheLeafExtensionsOfAProfile) {
  const std::string camera = IssueToFile(Role::kCamera, "CAM-000123");
  const CommandResult run = RunOpenSsl({"x509", "-in", camera, "-noout", "-text"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, AllOf(HasSubstr("Subject: CN = CAM-000123"), HasSubstr("CA:FALSE"),
                                HasSubstr("Digital Signature, Key Agreement"),
                                HasSubstr("TLS Web Client Authentication"),
                                HasSubstr("X509v3 Authority Key Identifier"),
                                HasSubstr("X509v3 Subject Key Identifier")));
  EXPECT_THAT(run.output, Not(HasSubstr("TLS Web Server Authentication")));
}

TEST_F(OpenSslCliTest, ParsesTheCrlAndListsTheRevokedSerialsWithReasons) {
  IssuedCertificate lost;
  IssuedCertificate retired;
  IssueToFile(Role::kCamera, "CAM-LOST", &lost);
  IssueToFile(Role::kCamera, "CAM-RETIRED", &retired);
  const absl::Time now = absl::Now();
  absl::StatusOr<std::string> crl =
      Ca().MakeCrl({{lost.info.serial_hex, now, RevocationReason::kKeyCompromise},
                    {retired.info.serial_hex, now, RevocationReason::kCessationOfOperation}},
                   now, now + absl::Hours(24 * 7), 12);
  ASSERT_THAT(crl, IsOk());
  const std::string crl_file = WriteFile("crl.pem", *crl);

  const CommandResult run = RunOpenSsl({"crl", "-in", crl_file, "-noout", "-text"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // openssl prints serials in upper case, padded to whole bytes.
  const std::string text = absl::AsciiStrToUpper(run.output);
  EXPECT_THAT(text, HasSubstr(absl::AsciiStrToUpper(lost.info.serial_hex)));
  EXPECT_THAT(text, HasSubstr(absl::AsciiStrToUpper(retired.info.serial_hex)));
  EXPECT_THAT(run.output, AllOf(HasSubstr("Key Compromise"), HasSubstr("Cessation Of Operation"),
                                HasSubstr("X509v3 CRL Number"), HasSubstr("12"),
                                HasSubstr("X509v3 Authority Key Identifier"),
                                HasSubstr("Issuer: O = camfleet, CN = camfleet fleet CA")));
}

TEST_F(OpenSslCliTest, AcceptsTheCrlSignature) {
  const absl::Time now = absl::Now();
  absl::StatusOr<std::string> crl = Ca().MakeCrl({}, now, now + absl::Hours(24), 1);
  ASSERT_THAT(crl, IsOk());
  const std::string crl_file = WriteFile("crl.pem", *crl);
  const CommandResult run = RunOpenSsl({"crl", "-in", crl_file, "-noout", "-CAfile", CaFile()});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("verify OK"));
}

TEST_F(OpenSslCliTest, RefusesARevokedCertificateWithTheCrl) {
  IssuedCertificate lost;
  const std::string lost_file = IssueToFile(Role::kCamera, "CAM-LOST", &lost);
  const std::string kept_file = IssueToFile(Role::kCamera, "CAM-KEPT");
  const absl::Time now = absl::Now();
  absl::StatusOr<std::string> crl =
      Ca().MakeCrl({{lost.info.serial_hex, now, RevocationReason::kKeyCompromise}}, now,
                   now + absl::Hours(24), 2);
  ASSERT_THAT(crl, IsOk());
  const std::string crl_file = WriteFile("crl.pem", *crl);
  const CommandResult revoked =
      RunOpenSsl({"verify", "-crl_check", "-CAfile", CaFile(), "-CRLfile", crl_file, lost_file});
  EXPECT_NE(revoked.exit_code, 0);
  EXPECT_THAT(revoked.output, HasSubstr("certificate revoked"));
  const CommandResult kept =
      RunOpenSsl({"verify", "-crl_check", "-CAfile", CaFile(), "-CRLfile", crl_file, kept_file});
  EXPECT_EQ(kept.exit_code, 0) << kept.output;
}

TEST_F(OpenSslCliTest, AcceptsTheCsrSelfSignature) {
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  ASSERT_THAT(key, IsOk());
  absl::StatusOr<CertificateRequest> csr = CertificateRequest::Make(*key, "CAM-000123");
  ASSERT_THAT(csr, IsOk());
  const std::string csr_file = WriteFile("cam.csr", *csr->ToPem());
  const CommandResult run = RunOpenSsl({"req", "-in", csr_file, "-noout", "-verify", "-subject"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, AllOf(HasSubstr("verify OK"), HasSubstr("CN = CAM-000123")));
}

}  // namespace
}  // namespace camfleet::provisioning
