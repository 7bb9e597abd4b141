#pragma once
// Operators, docks, enrollment tokens, certificates, revocation and the CRL: the plain C++
// behind ProvisioningService and DockService.
//
// Certificates are signed outside the write transaction (signing is CPU work that must not hold
// up the single writer); the transaction then checks again everything the decision rests on
// (token unused, camera state, dock not revoked) and records the certificate with its audit
// event. A certificate signed for a request that the transaction refuses is discarded unseen.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "camfleet/v1/provisioning.pb.h"
#include "common/work_pool.h"
#include "provisioning/certificate_authority.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/rpc/revocation_set.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"

namespace camfleet::identity {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// Loads every revoked serial, operator and dock from the store into `set` (at server start).
absl::Status LoadRevocations(storage::Store& store, rpc::RevocationSet& set);

// What a write revokes, to be added to the RevocationSet once that write has committed (never
// before: the set must not hold a revocation the store does not). IdentityManager's writes
// apply it in their completion callback, before the caller hears of the revocation.
struct RevocationBatch {
  std::vector<std::string> serials;
  std::vector<std::pair<provisioning::Role, std::string>> principals;
  void ApplyTo(rpc::RevocationSet& set) const;
};

// Revokes `cert` inside `tx` with its audit event, and notes its serial in `batch`.
absl::Status RevokeInTransaction(storage::WriteTx& tx, const storage::CertificateRow& cert,
                                 v1::RevocationReason reason, const std::string& revoked_by,
                                 RevocationBatch& batch);
// The same for callers that cannot apply a batch themselves: adds to `set` once `tx` commits
// (WriteTx::AfterCommit, before the next transaction starts); a rollback leaves `set` as it was.
absl::Status RevokeInTransaction(storage::WriteTx& tx, const storage::CertificateRow& cert,
                                 v1::RevocationReason reason, const std::string& revoked_by,
                                 rpc::RevocationSet& set);

// Revokes every certificate ever issued for camera `camera_serial` that is not revoked yet
// (fleet-issued and imported factory ones alike, not only the one linked to the camera), each
// with its audit event: a lost, retired or reset camera. Returns their serials.
absl::StatusOr<std::vector<std::string>> RevokeCameraCertificates(storage::WriteTx& tx,
                                                                  const std::string& camera_serial,
                                                                  v1::RevocationReason reason,
                                                                  const std::string& revoked_by,
                                                                  RevocationBatch& batch);
absl::StatusOr<std::vector<std::string>> RevokeCameraCertificates(storage::WriteTx& tx,
                                                                  const std::string& camera_serial,
                                                                  v1::RevocationReason reason,
                                                                  const std::string& revoked_by,
                                                                  rpc::RevocationSet& set);

// Checks a certificate a supplier put on camera `serial` at the factory against every supplier
// CA configured, and records it (role camera, source supplier). The camera is not linked to it
// here. Errors: FAILED_PRECONDITION if no supplier CA is configured; INVALID_ARGUMENT naming
// why it chains to none of them, or does not name the serial.
absl::StatusOr<storage::CertificateRow> ImportFactoryCertificate(storage::WriteTx& tx,
                                                                 const std::string& serial,
                                                                 const std::string& pem,
                                                                 const std::string& actor);

class IdentityManager {
 public:
  // Enrollments and renewals waiting for a signer beyond this are answered UNAVAILABLE, which
  // docks retry with backoff and jitter: a post reconnecting after days, or many docks at once,
  // must not queue unbounded work. 1,024 signings are about a second of CPU.
  static constexpr size_t kMaxQueuedSignings = 1024;
  // Certificate-less enrollments (EnrollDock: anyone who can reach the port may send one, with
  // any token) wait in a queue of their own, on a thread of their own, bounded much lower:
  // a flood of bad tokens fills only this queue and is answered UNAVAILABLE at once, while
  // renewals by authenticated docks and operators keep their place among the signers. A real
  // enrollment refused this way is retried by the dock with backoff.
  static constexpr size_t kMaxQueuedEnrollments = 32;

  IdentityManager(storage::Store& store, const provisioning::CertificateAuthority& ca,
                  rpc::RevocationSet& revoked, const rpc::PageTokens& tokens)
      : store_(store),
        ca_(ca),
        revoked_(revoked),
        tokens_(tokens),
        enrollers_(1, "enroller"),
        signers_(0, "signer") {}

  // ---- ProvisioningService ----
  void IssueOperatorCertificate(const rpc::Identity& who,
                                const v1::IssueOperatorCertificateRequest& req,
                                Done<v1::IssueOperatorCertificateResponse> done);
  void RenewOperatorCertificate(const rpc::Identity& who,
                                const v1::RenewOperatorCertificateRequest& req,
                                Done<v1::RenewOperatorCertificateResponse> done);
  absl::StatusOr<v1::ListOperatorsResponse> ListOperators(const v1::ListOperatorsRequest& req);
  void RevokeOperator(const rpc::Identity& who, const v1::RevokeOperatorRequest& req,
                      Done<v1::RevokeOperatorResponse> done);
  void CreateEnrollmentToken(const rpc::Identity& who, const v1::CreateEnrollmentTokenRequest& req,
                             Done<v1::CreateEnrollmentTokenResponse> done);
  absl::StatusOr<v1::ListEnrollmentTokensResponse> ListEnrollmentTokens(
      const v1::ListEnrollmentTokensRequest& req);
  absl::StatusOr<v1::ListDocksResponse> ListDocks(const v1::ListDocksRequest& req);
  void RevokeDock(const rpc::Identity& who, const v1::RevokeDockRequest& req,
                  Done<v1::RevokeDockResponse> done);
  absl::StatusOr<v1::ListCertificatesResponse> ListCertificates(
      const v1::ListCertificatesRequest& req);
  void RevokeCertificate(const rpc::Identity& who, const v1::RevokeCertificateRequest& req,
                         Done<v1::RevokeCertificateResponse> done);
  // Rebuilt (with a new CRL number) after a revocation or once a day; otherwise cached.
  void GetCrl(const v1::GetCrlRequest& req, Done<v1::GetCrlResponse> done);
  void ResetCameraEnrollment(const rpc::Identity& who, const v1::ResetCameraEnrollmentRequest& req,
                             Done<v1::ResetCameraEnrollmentResponse> done);
  void AddSupplierCa(const rpc::Identity& who, const v1::AddSupplierCaRequest& req,
                     Done<v1::AddSupplierCaResponse> done);
  absl::StatusOr<v1::ListSupplierCasResponse> ListSupplierCas(
      const v1::ListSupplierCasRequest& req);

  // ---- DockService ----
  void EnrollDock(const rpc::Identity& who, const v1::EnrollDockRequest& req,
                  Done<v1::EnrollDockResponse> done);
  void RenewDockCertificate(const rpc::Identity& who, const v1::RenewDockCertificateRequest& req,
                            Done<v1::RenewDockCertificateResponse> done);
  void EnrollCamera(const rpc::Identity& who, const v1::EnrollCameraRequest& req,
                    Done<v1::EnrollCameraResponse> done);
  void RenewCameraCertificate(const rpc::Identity& who,
                              const v1::RenewCameraCertificateRequest& req,
                              Done<v1::RenewCameraCertificateResponse> done);

 private:
  // The DockService calls run on signers_ (their checks, reads and signature), not on the
  // caller's thread; they answer through `done` as before.
  void EnrollDockNow(const rpc::Identity& who, const v1::EnrollDockRequest& req,
                     Done<v1::EnrollDockResponse> done);
  // IssueOperatorCertificate's signature and write, on a signing thread (ScheduleSigning).
  void IssueOperatorCertificateNow(const rpc::Identity& who,
                                   const v1::IssueOperatorCertificateRequest& req,
                                   provisioning::Role role,
                                   Done<v1::IssueOperatorCertificateResponse> done);
  // RenewOperatorCertificate's work, run on a signing thread (ScheduleSigning).
  void RenewOperatorCertificateNow(const rpc::Identity& who,
                                   const v1::RenewOperatorCertificateRequest& req,
                                   Done<v1::RenewOperatorCertificateResponse> done);
  void RenewDockCertificateNow(const rpc::Identity& who, const v1::RenewDockCertificateRequest& req,
                               Done<v1::RenewDockCertificateResponse> done);
  void EnrollCameraNow(const rpc::Identity& who, const v1::EnrollCameraRequest& req,
                       Done<v1::EnrollCameraResponse> done);
  void RenewCameraCertificateNow(const rpc::Identity& who,
                                 const v1::RenewCameraCertificateRequest& req,
                                 Done<v1::RenewCameraCertificateResponse> done);

  template <typename Resp, typename Fn>
  void RunWrite(Fn fn, Done<Resp> done);
  // RunWrite for writes that revoke: `fn(tx, resp, batch)`; what it puts in `batch` reaches
  // revoked_ once the write has committed, before `done` answers.
  template <typename Resp, typename Fn>
  void RunRevokingWrite(Fn fn, Done<Resp> done);
  // Runs `now(done)` on signers_, or answers UNAVAILABLE past kMaxQueuedSignings. Its write
  // comes once the signature is made, so the store is told to hold a group open for it.
  template <typename Resp, typename Now>
  void ScheduleSigning(Done<Resp> done, Now now);
  // As ScheduleSigning, on enrollers_, UNAVAILABLE past kMaxQueuedEnrollments.
  template <typename Resp, typename Now>
  void ScheduleEnrollment(Done<Resp> done, Now now);
  // Checks the CSR and signs it for `role`/`identity` with the CA.
  absl::StatusOr<provisioning::IssuedCertificate> Sign(const std::string& csr_pem,
                                                       provisioning::Role role,
                                                       const std::string& identity) const;

  storage::Store& store_;
  const provisioning::CertificateAuthority& ca_;
  rpc::RevocationSet& revoked_;
  const rpc::PageTokens& tokens_;

  struct CachedCrl {
    uint64_t generation = 0;
    absl::Time made;
    v1::GetCrlResponse response;
  };
  // A GetCrl caller waiting for the build under way, with the revocation generation it saw.
  struct CrlWaiter {
    uint64_t generation = 0;
    Done<v1::GetCrlResponse> done;
  };
  // Reserves the next CRL number and reads the list on the writer, then signs on signers_.
  void StartCrlBuild();
  // Caches a built CRL and answers the waiters it satisfies; starts the next build for the rest.
  void FinishCrlBuild(uint64_t generation, absl::StatusOr<v1::GetCrlResponse> result);
  absl::Mutex crl_mu_;
  std::shared_ptr<const CachedCrl> crl_ ABSL_GUARDED_BY(crl_mu_);
  std::vector<CrlWaiter> crl_waiters_ ABSL_GUARDED_BY(crl_mu_);
  bool crl_building_ ABSL_GUARDED_BY(crl_mu_) = false;
  // The last two members: destroyed first, so queued work finishes while everything it uses
  // lives.
  common::WorkPool enrollers_;
  common::WorkPool signers_;
};

}  // namespace camfleet::identity
