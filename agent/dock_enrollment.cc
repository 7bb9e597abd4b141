#include "agent/dock_enrollment.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/rpc_status.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/status_macros.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/identity.h"
#include "provisioning/key.h"

namespace camfleet::agent {

absl::StatusOr<EnrolledDock> EnrollDock(const ServerEndpoint& endpoint,
                                        const DockEnrollmentRequest& request,
                                        const DockPaths& paths, const RetryPolicy& retry,
                                        absl::Time now) {
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

  ASSIGN_OR_RETURN(provisioning::PrivateKey key, provisioning::PrivateKey::GenerateEcP256());
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::Make(key, request.dock_id));
  v1::EnrollDockRequest req;
  req.set_token(request.token);
  ASSIGN_OR_RETURN(*req.mutable_csr_pem(), csr.ToPem());
  req.set_slot_count(request.slot_count);

  auto stub = v1::DockService::NewStub(ServerOnlyTlsChannel(endpoint, request.ca_pem));
  v1::EnrollDockResponse resp;
  RETURN_IF_ERROR(common::Annotate(RetryUnavailable(retry,
                                                    [&] {
                                                      resp.Clear();
                                                      return FromGrpc(stub->EnrollDock(
                                                          CallContext(endpoint).get(), req, &resp));
                                                    }),
                                   "EnrollDock"));

  const std::string& cert_pem = resp.certificate().certificate_pem();
  // The server was authenticated by the CA we were given; still, store nothing we could not use.
  absl::StatusOr<provisioning::CertificateInfo> info = verifier.VerifyChain(cert_pem, now);
  if (!info.ok()) {
    return absl::InternalError(absl::StrCat(
        "the server issued a certificate this dock cannot use: ", info.status().message()));
  }
  ASSIGN_OR_RETURN(std::string fingerprint, key.PublicKeyFingerprint());
  if (info->key_fingerprint != fingerprint || info->identity != request.dock_id ||
      info->role != provisioning::Role::kDock) {
    return absl::InternalError(absl::StrCat("the server issued a certificate for ", info->identity,
                                            " that does not match this dock's key and id"));
  }
  RETURN_IF_ERROR(provisioning::WriteCredentialBundle(creds, key, cert_pem, request.ca_pem));
  return EnrolledDock{*std::move(info), resp.dock().site_code()};
}

}  // namespace camfleet::agent
