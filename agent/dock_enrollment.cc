#include "agent/dock_enrollment.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/rpc_status.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/status_macros.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/identity.h"
#include "provisioning/key.h"

namespace camfleet::agent {
namespace {

using provisioning::JoinPath;

constexpr char kPendingKeyFile[] = "key.pem";
constexpr char kPendingCsrFile[] = "csr.pem";
// Directories being written by an enroll run; a crash leaves one behind, removed by the next.
constexpr char kPendingTempPrefix[] = ".enrollment-";
constexpr size_t kMaxCsrBytes = 16 * 1024;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// The key and CSR of an enrollment: made by this run, or kept by an earlier one.
struct PendingEnrollment {
  provisioning::PrivateKey key;
  std::string csr_pem;
  bool resumed = false;
};

// Removes what a crashed run left while writing DIR/enrollment. Best effort: a leftover costs
// a few bytes, never correctness (only the renamed directory counts).
void RemoveUnfinishedWrites(const std::string& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> leftovers;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (absl::StartsWith(it->path().filename().string(), kPendingTempPrefix)) {
      leftovers.push_back(it->path());
    }
  }
  for (const std::filesystem::path& p : leftovers) std::filesystem::remove_all(p, ec);
}

// Writes key and CSR to `pending` so that it appears whole or not at all: both files go into a
// new directory next to it, fsynced, which is then renamed into place.
absl::Status WritePending(const std::string& dir, const std::string& pending,
                          const provisioning::PrivateKey& key, const std::string& csr_pem) {
  RemoveUnfinishedWrites(dir);
  std::string tmp = JoinPath(dir, absl::StrCat(kPendingTempPrefix, "XXXXXX"));
  if (::mkdtemp(tmp.data()) == nullptr) return ErrnoError("creating", tmp);  // mode 0700
  RETURN_IF_ERROR(key.WriteFile(JoinPath(tmp, kPendingKeyFile)));
  RETURN_IF_ERROR(provisioning::WriteNewFile(JoinPath(tmp, kPendingCsrFile), csr_pem, 0644));
  RETURN_IF_ERROR(provisioning::SyncDirectory(tmp));
  if (::rename(tmp.c_str(), pending.c_str()) != 0) return ErrnoError("renaming to", pending);
  return provisioning::SyncDirectory(dir);
}

// The enrollment kept in `pending` by an earlier run, checked to be for `dock_id`.
absl::StatusOr<PendingEnrollment> ReadPending(const std::string& pending,
                                              const std::string& dock_id) {
  const std::string start_over = absl::StrCat(
      "; remove ", pending, " to start a new enrollment, with a new token if the old one was used");
  absl::StatusOr<provisioning::PrivateKey> key =
      provisioning::PrivateKey::ReadFile(JoinPath(pending, kPendingKeyFile));
  absl::StatusOr<provisioning::FileContents> csr_file =
      provisioning::ReadSmallFile(JoinPath(pending, kPendingCsrFile), kMaxCsrBytes);
  if (!key.ok() || !csr_file.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the enrollment kept in ", pending,
        " cannot be read: ", (!key.ok() ? key.status() : csr_file.status()).message(), start_over));
  }
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::FromPem(csr_file->data);
  absl::StatusOr<std::string> csr_fingerprint =
      csr.ok() ? csr->PublicKeyFingerprint() : absl::StatusOr<std::string>(csr.status());
  absl::StatusOr<std::string> cn =
      csr.ok() ? csr->CommonName() : absl::StatusOr<std::string>(csr.status());
  absl::StatusOr<std::string> key_fingerprint = key->PublicKeyFingerprint();
  if (!csr_fingerprint.ok() || !cn.ok() || !key_fingerprint.ok() ||
      *csr_fingerprint != *key_fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat("the enrollment kept in ", pending,
                                                      " is damaged (its CSR is not for its key)",
                                                      start_over));
  }
  if (*cn != dock_id) {
    return absl::FailedPreconditionError(
        absl::StrCat(pending, " holds an unfinished enrollment of dock '", *cn, "', not '", dock_id,
                     "': finish it with --dock-id ", *cn, start_over));
  }
  return PendingEnrollment{*std::move(key), std::move(csr_file->data), /*resumed=*/true};
}

absl::Status RemovePending(const std::string& dir, const std::string& pending) {
  for (const char* name : {kPendingKeyFile, kPendingCsrFile}) {
    const std::string path = JoinPath(pending, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("removing", path);
  }
  if (::rmdir(pending.c_str()) != 0 && errno != ENOENT) return ErrnoError("removing", pending);
  return provisioning::SyncDirectory(dir);
}

}  // namespace

absl::StatusOr<EnrolledDock> EnrollDock(const ServerEndpoint& endpoint,
                                        const DockEnrollmentRequest& request,
                                        const DockPaths& paths, const RetryPolicy& retry,
                                        const common::Clock& clock) {
  RETURN_IF_ERROR(common::Annotate(provisioning::ValidateIdentity(request.dock_id), "dock id"));
  ASSIGN_OR_RETURN(provisioning::CertificateVerifier verifier,
                   provisioning::CertificateVerifier::FromCaPem(request.ca_pem));
  if (::mkdir(paths.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", paths.dir, ": ", std::strerror(errno)));
  }
  const std::string creds = paths.Credentials();
  for (const char* name : {provisioning::kBundleKeyFile, provisioning::kBundleCertFile,
                           provisioning::kBundleCurrentLink}) {
    if (provisioning::PathExists(provisioning::JoinPath(creds, name))) {
      return absl::AlreadyExistsError(
          absl::StrCat(creds,
                       " already holds credentials; this dock is enrolled (use another --dir to "
                       "enroll a new one)"));
    }
  }

  // The key and CSR are on disk before the token leaves: whatever happens to the answer, a
  // second run can finish this enrollment.
  const std::string pending_dir = paths.PendingEnrollment();
  std::optional<PendingEnrollment> pending;
  if (provisioning::PathExists(pending_dir)) {
    ASSIGN_OR_RETURN(pending, ReadPending(pending_dir, request.dock_id));
  } else {
    ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
    ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                     provisioning::CertificateRequest::Make(key, request.dock_id));
    ASSIGN_OR_RETURN(std::string csr_pem, csr.ToPem());
    RETURN_IF_ERROR(WritePending(paths.dir, pending_dir, key, csr_pem));
    pending = PendingEnrollment{std::move(key), std::move(csr_pem), /*resumed=*/false};
  }

  v1::EnrollDockRequest req;
  req.set_token(request.token);
  req.set_csr_pem(pending->csr_pem);
  req.set_slot_count(request.slot_count);

  auto stub = v1::DockService::NewStub(ServerOnlyTlsChannel(endpoint, request.ca_pem));
  v1::EnrollDockResponse resp;
  absl::Time sent;
  RETURN_IF_ERROR(common::Annotate(RetryUnavailable(retry,
                                                    [&] {
                                                      resp.Clear();
                                                      sent = clock.Now();
                                                      return FromGrpc(stub->EnrollDock(
                                                          CallContext(endpoint).get(), req, &resp));
                                                    }),
                                   "EnrollDock"));
  const absl::Time received = clock.Now();

  EnrolledDock enrolled;
  enrolled.resumed = pending->resumed;
  ClockOffset offset(paths.ClockOffset());
  if (resp.has_server_time()) {
    const absl::Time server_time = absl::FromUnixSeconds(resp.server_time().seconds()) +
                                   absl::Nanoseconds(resp.server_time().nanos());
    // The offset is in force for the check below even if it cannot be stored; `run` measures
    // again at its first renewal.
    offset.Record(sent, received, server_time).IgnoreError();
    enrolled.clock = offset.Latest();
  }

  const std::string& cert_pem = resp.certificate().certificate_pem();
  // The server was authenticated by the CA we were given; still, store nothing we could not use.
  // Checked at server time: a dock whose clock is behind must not throw away a certificate that
  // is only "not yet valid" by its own clock.
  absl::StatusOr<provisioning::CertificateInfo> info =
      verifier.VerifyChain(cert_pem, offset.ToServerTime(received));
  if (!info.ok()) {
    return absl::InternalError(absl::StrCat(
        "the server issued a certificate this dock cannot use: ", info.status().message()));
  }
  ASSIGN_OR_RETURN(std::string fingerprint, pending->key.PublicKeyFingerprint());
  if (info->key_fingerprint != fingerprint || info->identity != request.dock_id ||
      info->role != provisioning::Role::kDock) {
    return absl::InternalError(absl::StrCat("the server issued a certificate for ", info->identity,
                                            " that does not match this dock's key and id"));
  }
  RETURN_IF_ERROR(
      provisioning::WriteCredentialBundle(creds, pending->key, cert_pem, request.ca_pem));
  // The credentials hold the key now. If the kept copy cannot be removed (or a crash comes
  // first), the dock is enrolled all the same: the copy is never read again, since enroll
  // refuses a directory with credentials.
  RemovePending(paths.dir, pending_dir).IgnoreError();
  enrolled.certificate = *std::move(info);
  enrolled.site_code = resp.dock().site_code();
  return enrolled;
}

}  // namespace camfleet::agent
