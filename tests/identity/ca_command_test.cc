// The offline root's ceremonies as an operator runs them: the real `camfleetd` binary (init, ca
// export-root, ca rotate-intermediate [--compromised], ca revoke-intermediate, serve) as child
// processes on a home in a temp dir, with the root key's passphrase in a file. Each step's exit
// code, output and files are checked; bad input must exit non-zero naming the problem and leave
// the home as it was; and a camfleetd started on the home afterwards serves a certificate from
// the new issuing CA.

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/file_io.h"
#include "provisioning/supplier_certificate.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kPassphrase[] = "correct horse battery staple";
constexpr char kAdmin[] = "root-admin";

struct Outcome {
  int code = -1;  // exit status; -1 if it did not exit normally
  std::string output;
};

std::ostream& operator<<(std::ostream& os, const Outcome& r) {
  return os << "exit " << r.code << "\n" << r.output;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Every file under `dir` (relative path -> contents): what "changes nothing" compares.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) {
      files[std::filesystem::relative(it->path(), dir).string()] = ReadAll(it->path().string());
    }
  }
  return files;
}

std::string SubjectOf(const std::string& cert_path) {
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCaCertificate(ReadAll(cert_path));
  return info.ok() ? info->subject_cn : info.status().ToString();
}
std::string SerialOf(const std::string& cert_path) {
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCaCertificate(ReadAll(cert_path));
  return info.ok() ? info->serial_hex : info.status().ToString();
}

// The issuer of the certificate a server presented, as a handshake saw it.
struct SeenIssuer {
  absl::Mutex mu;
  std::string cn ABSL_GUARDED_BY(mu);
};

// Records the issuer of the certificate a server presents (and accepts any: the point is what
// is served, not whether to trust it).
class RecordIssuer final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit RecordIssuer(std::shared_ptr<SeenIssuer> seen) : seen_(std::move(seen)) {}
  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    absl::StatusOr<provisioning::CertificateInfo> info = provisioning::ParseCertificate(
        std::string(request->peer_cert().data(), request->peer_cert().size()));
    absl::MutexLock lock(&seen_->mu);
    seen_->cn = info.ok() ? info->issuer_cn : info.status().ToString();
    *sync_status = grpc::Status::OK;
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  std::shared_ptr<SeenIssuer> seen_;
};

class CaCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.File("home");
    passphrase_file_ = dir_.File("passphrase");
    std::ofstream(passphrase_file_) << kPassphrase << "\n";
    root_key_ = dir_.File("usb/camfleet-root.key");
    std::filesystem::create_directories(dir_.File("usb"));
    Outcome init = Camfleetd({"init", home_, "--admin", kAdmin});
    ASSERT_EQ(init.code, 0) << init;
  }

  // Runs camfleetd with `args` to its end (stdin is /dev/null).
  Outcome Camfleetd(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {CAMFLEETD_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = dir_.File(absl::StrCat("log-", ++runs_));
    Outcome r;
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(argv, log);
    if (!child.ok()) {
      r.output = child.status().ToString();
      return r;
    }
    absl::StatusOr<int> status = (*child)->Wait(absl::Seconds(120));
    r.output = ReadAll(log);
    if (status.ok() && WIFEXITED(*status)) r.code = WEXITSTATUS(*status);
    return r;
  }

  Outcome ExportRoot() {
    return Camfleetd({"ca", "export-root", "--home", home_, "--out", root_key_, "--passphrase-file",
                      passphrase_file_});
  }
  Outcome Rotate(bool compromised, const std::string& passphrase_file = "",
                 const std::string& root_key = "") {
    std::vector<std::string> args = {"ca",
                                     "rotate-intermediate",
                                     "--home",
                                     home_,
                                     "--root-key",
                                     root_key.empty() ? root_key_ : root_key,
                                     "--passphrase-file",
                                     passphrase_file.empty() ? passphrase_file_ : passphrase_file};
    if (compromised) args.push_back("--compromised");
    return Camfleetd(args);
  }
  Outcome RevokeIntermediate(const std::string& serial) {
    return Camfleetd({"ca", "revoke-intermediate", "--home", home_, "--root-key", root_key_,
                      "--passphrase-file", passphrase_file_, serial});
  }

  std::string Ca(const std::string& name) const { return home_ + "/ca/" + name; }

  // `camfleetd serve` on the home; returns the port, or 0 (with the failure recorded).
  int Serve() {
    const std::string port_file = dir_.File(absl::StrCat("port-", ++runs_));
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Spawn({CAMFLEETD_PATH, "serve", "--home", home_, "--listen", "127.0.0.1:0",
                             "--port-file", port_file},
                            dir_.File(absl::StrCat("serve-log-", runs_)));
    EXPECT_THAT(child, IsOk());
    if (!child.ok()) return 0;
    server_ = *std::move(child);
    absl::StatusOr<std::string> port = WaitForFileLine(port_file, absl::Seconds(60), server_.get());
    EXPECT_THAT(port, IsOk()) << server_->LogTail();
    return port.ok() ? std::stoi(*port) : 0;
  }
  void StopServer() {
    if (server_ == nullptr) return;
    ASSERT_THAT(server_->Signal(SIGTERM), IsOk());
    absl::StatusOr<int> status = server_->Wait(absl::Seconds(60));
    ASSERT_THAT(status, IsOk());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << server_->LogTail();
    server_.reset();
  }

  // The issuer of the certificate the server on `port` serves to a new connection.
  std::string ServedIssuerCn(int port) {
    auto seen = std::make_shared<SeenIssuer>();
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
            ReadAll(Ca(provisioning::kRootCertFile))));
    tls.watch_root_certs();
    tls.set_verify_server_certs(false);
    tls.set_check_call_host(false);
    tls.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<RecordIssuer>(seen));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kServerName);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port), grpc::experimental::TlsCredentials(tls), args);
    if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30)))) {
      return "no connection";
    }
    absl::MutexLock lock(&seen->mu);
    return seen->cn;
  }

  // root-admin's credentials as init wrote them, over a channel to the server on `port`.
  TlsClient AdminOn(int port) {
    absl::StatusOr<provisioning::CredentialBundle> bundle =
        provisioning::LoadCredentialBundle(home_ + "/admin-" + kAdmin);
    EXPECT_THAT(bundle, IsOk());
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = bundle.ok() ? bundle->ca_pem : "";
    tls.pem_private_key = bundle.ok() ? bundle->key_pem : "";
    tls.pem_cert_chain = bundle.ok() ? bundle->cert_pem : "";
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kServerName);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return TlsClient(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                               grpc::SslCredentials(tls), args));
  }

  TempDir dir_;
  std::string home_;
  std::string passphrase_file_;
  std::string root_key_;
  std::unique_ptr<ChildProcess> server_;
  int runs_ = 0;
};

TEST_F(CaCommandTest, HelpNamesEveryCeremonyAndItsOptions) {
  Outcome ca = Camfleetd({"ca", "--help"});
  EXPECT_EQ(ca.code, 0) << ca;
  EXPECT_THAT(ca.output, AllOf(HasSubstr("export-root"), HasSubstr("rotate-intermediate"),
                               HasSubstr("revoke-intermediate")))
      << ca;
  Outcome rotate = Camfleetd({"ca", "rotate-intermediate", "--help"});
  EXPECT_EQ(rotate.code, 0) << rotate;
  EXPECT_THAT(rotate.output, AllOf(HasSubstr("--root-key"), HasSubstr("--passphrase-file"),
                                   HasSubstr("--compromised"), HasSubstr("operator renew")))
      << rotate;
  Outcome none = Camfleetd({"ca"});
  EXPECT_NE(none.code, 0) << none;
}

TEST_F(CaCommandTest, ExportRootMovesTheKeyOffTheHomeEncryptedOnce) {
  ASSERT_TRUE(provisioning::PathExists(Ca(provisioning::kRootKeyFile)));
  // A passphrase under 12 characters is refused before anything is written.
  const std::string short_file = dir_.File("short");
  std::ofstream(short_file) << "too short\n";
  Outcome refused = Camfleetd(
      {"ca", "export-root", "--home", home_, "--out", root_key_, "--passphrase-file", short_file});
  EXPECT_NE(refused.code, 0) << refused;
  EXPECT_THAT(refused.output, HasSubstr("at least 12")) << refused;
  EXPECT_TRUE(provisioning::PathExists(Ca(provisioning::kRootKeyFile)));
  EXPECT_FALSE(provisioning::PathExists(root_key_));

  Outcome exported = ExportRoot();
  ASSERT_EQ(exported.code, 0) << exported;
  EXPECT_THAT(exported.output, HasSubstr("no longer in")) << exported;
  EXPECT_FALSE(provisioning::PathExists(Ca(provisioning::kRootKeyFile)));
  EXPECT_THAT(ReadAll(root_key_), HasSubstr("BEGIN ENCRYPTED PRIVATE KEY"));
  // Again: there is no root key left to export, and the copy made is not touched.
  const std::string copy = ReadAll(root_key_);
  Outcome again = Camfleetd({"ca", "export-root", "--home", home_, "--out", dir_.File("second.key"),
                             "--passphrase-file", passphrase_file_});
  EXPECT_NE(again.code, 0) << again;
  EXPECT_THAT(again.output, HasSubstr("exported already")) << again;
  EXPECT_EQ(ReadAll(root_key_), copy);
  EXPECT_FALSE(provisioning::PathExists(dir_.File("second.key")));
}

TEST_F(CaCommandTest, BadInputExitsNonZeroNamingTheProblemAndChangesNothing) {
  ASSERT_EQ(ExportRoot().code, 0);
  const std::map<std::string, std::string> before = Snapshot(home_ + "/ca");
  const std::map<std::string, std::string> server_before = Snapshot(home_ + "/server");

  const std::string wrong = dir_.File("wrong-passphrase");
  std::ofstream(wrong) << "not the passphrase at all\n";
  Outcome bad_passphrase = Rotate(false, wrong);
  EXPECT_NE(bad_passphrase.code, 0) << bad_passphrase;
  EXPECT_THAT(bad_passphrase.output, AllOf(HasSubstr(root_key_), HasSubstr("wrong passphrase")))
      << bad_passphrase;

  Outcome no_key = Rotate(true, "", dir_.File("usb/missing.key"));
  EXPECT_NE(no_key.code, 0) << no_key;
  EXPECT_THAT(no_key.output, HasSubstr("missing.key")) << no_key;

  Outcome no_passphrase = Rotate(true, dir_.File("no-such-file"));
  EXPECT_NE(no_passphrase.code, 0) << no_passphrase;
  EXPECT_THAT(no_passphrase.output, HasSubstr("cannot read a passphrase")) << no_passphrase;
  // standard input is /dev/null here: nothing to read either
  Outcome empty_stdin = Rotate(true, "-");
  EXPECT_NE(empty_stdin.code, 0) << empty_stdin;

  Outcome unknown = RevokeIntermediate("0123456789abcdef");
  EXPECT_NE(unknown.code, 0) << unknown;
  EXPECT_THAT(unknown.output, HasSubstr("no retired issuing CA has serial '0123456789abcdef'"))
      << unknown;
  // The current issuing CA cannot be revoked: it must be replaced first.
  Outcome current = RevokeIntermediate(SerialOf(Ca(provisioning::kCaCertFile)));
  EXPECT_NE(current.code, 0) << current;
  EXPECT_THAT(current.output, HasSubstr("rotate first")) << current;

  EXPECT_EQ(Snapshot(home_ + "/ca"), before);
  EXPECT_EQ(Snapshot(home_ + "/server"), server_before);
}

TEST_F(CaCommandTest, RotationsAndRevocationMoveTheFilesAndTheServerServesTheNewIssuingCa) {
  ASSERT_EQ(ExportRoot().code, 0);
  const std::string first_cn = SubjectOf(Ca(provisioning::kCaCertFile));
  const std::string first_serial = SerialOf(Ca(provisioning::kCaCertFile));
  const std::string root_before = ReadAll(Ca(provisioning::kRootCertFile));

  // Planned: the old issuing CA is retired with its key, still trusted.
  Outcome planned = Rotate(false);
  ASSERT_EQ(planned.code, 0) << planned;
  const std::string second_cn = SubjectOf(Ca(provisioning::kCaCertFile));
  EXPECT_NE(second_cn, first_cn);
  EXPECT_THAT(planned.output,
              AllOf(HasSubstr(second_cn), HasSubstr("retired (still trusted)"),
                    HasSubstr(absl::StrCat("camfleetd ca revoke-intermediate ", first_serial))))
      << planned;
  EXPECT_TRUE(provisioning::PathExists(Ca(absl::StrCat("retired/", first_serial, ".crt"))));
  EXPECT_TRUE(provisioning::PathExists(Ca(absl::StrCat("retired/", first_serial, ".key"))));
  EXPECT_FALSE(provisioning::PathExists(Ca(provisioning::kRootCrlFile)));
  EXPECT_EQ(ReadAll(Ca(provisioning::kRootCertFile)), root_before);
  {
    const int port = Serve();
    ASSERT_NE(port, 0);
    EXPECT_EQ(ServedIssuerCn(port), second_cn);
    // root-admin's certificate, from the retired issuing CA, still works.
    EXPECT_THAT(AdminOn(port).ListSites(), IsOk());
    StopServer();
  }

  // Once devices have renewed: the retired one is revoked on the root's CRL, its key deleted.
  Outcome revoked = RevokeIntermediate(first_serial);
  ASSERT_EQ(revoked.code, 0) << revoked;
  EXPECT_THAT(revoked.output, HasSubstr(first_serial)) << revoked;
  EXPECT_TRUE(provisioning::PathExists(Ca(absl::StrCat("revoked/", first_serial, ".crt"))));
  EXPECT_FALSE(provisioning::PathExists(Ca(absl::StrCat("retired/", first_serial, ".crt"))));
  EXPECT_FALSE(provisioning::PathExists(Ca(absl::StrCat("retired/", first_serial, ".key"))));
  EXPECT_TRUE(provisioning::PathExists(Ca(provisioning::kRootCrlFile)));

  // Compromised: the second one goes straight onto the root's CRL, without keeping its key.
  const std::string second_serial = SerialOf(Ca(provisioning::kCaCertFile));
  Outcome compromised = Rotate(true);
  ASSERT_EQ(compromised.code, 0) << compromised;
  const std::string third_cn = SubjectOf(Ca(provisioning::kCaCertFile));
  EXPECT_THAT(compromised.output, AllOf(HasSubstr(third_cn), HasSubstr("revoked on the root's CRL"),
                                        HasSubstr("camfleet operator renew")))
      << compromised;
  EXPECT_TRUE(provisioning::PathExists(Ca(absl::StrCat("revoked/", second_serial, ".crt"))));
  EXPECT_FALSE(provisioning::PathExists(Ca(absl::StrCat("retired/", second_serial, ".key"))));
  EXPECT_FALSE(provisioning::PathExists(Ca(absl::StrCat("retired/", second_serial, ".crt"))));
  EXPECT_EQ(ReadAll(Ca(provisioning::kRootCertFile)), root_before);
  {
    const int port = Serve();
    ASSERT_NE(port, 0);
    EXPECT_EQ(ServedIssuerCn(port), third_cn);
    // root-admin's certificate came from the first issuing CA, now revoked: refused, told
    // to renew (which `camfleet operator renew` does: offline_root_test).
    EXPECT_THAT(AdminOn(port).ListSites(),
                StatusIs(absl::StatusCode::kUnauthenticated,
                         AllOf(HasSubstr("an issuing CA the fleet root revoked"),
                               HasSubstr(provisioning::kRecoveryRenewalHint))));
    StopServer();
  }
}

}  // namespace
}  // namespace camfleet::testing
