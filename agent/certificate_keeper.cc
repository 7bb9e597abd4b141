#include "agent/certificate_keeper.h"

#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/crl_store.h"
#include "agent/renewal_policy.h"
#include "agent/rpc_status.h"
#include "agent/time_text.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"

namespace camfleet::agent {

namespace {

Action Failed(Action::Kind kind, int slot, std::string subject, absl::Status status,
              absl::string_view what) {
  Action a;
  a.kind = kind;
  a.slot = slot;
  a.subject = std::move(subject);
  a.message =
      absl::StrCat(what, ": ", absl::StatusCodeToString(status.code()), ": ", status.message());
  a.status = std::move(status);
  return a;
}

Action Done(Action::Kind kind, int slot, std::string subject, std::string message) {
  Action a;
  a.kind = kind;
  a.slot = slot;
  a.subject = std::move(subject);
  a.message = std::move(message);
  return a;
}

// The certificate the server returned for `csr_pem`, checked before anything is stored or
// installed: from our CA, valid now (or within its grace, for a clock that is behind), for the
// key the CSR carries, naming `identity` in `role`.
absl::StatusOr<provisioning::CertificateInfo> CheckIssued(
    const provisioning::CertificateVerifier& verifier, const std::string& cert_pem,
    const std::string& csr_pem, provisioning::Role role, const std::string& identity,
    absl::Time now) {
  ASSIGN_OR_RETURN(provisioning::CertificateInfo info, verifier.VerifyForRenewal(cert_pem, now));
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::FromPem(csr_pem));
  ASSIGN_OR_RETURN(std::string fingerprint, csr.PublicKeyFingerprint());
  if (info.key_fingerprint != fingerprint || info.role != role || info.identity != identity) {
    return absl::InternalError(absl::StrCat("the server returned certificate ", info.serial_hex,
                                            " for ", info.identity,
                                            ", which does not match the request"));
  }
  return info;
}

std::string ValidityText(const provisioning::CertificateInfo& info) {
  return absl::StrCat("certificate ", info.serial_hex, " valid until ", FormatUtc(info.not_after));
}

// Fail closed: a renewal extends a camera's life by a year, so it needs revocation data this
// dock can trust (crl_store.h, kCrlStaleGrace). FAILED_PRECONDITION saying why, or OK.
absl::Status CrlRefusal(const std::optional<HeldCrl>& crl, absl::Time now) {
  if (!crl.has_value()) {
    return absl::FailedPreconditionError(
        "this dock has never held a CRL, so it cannot tell a revoked camera; renewals wait until "
        "it has fetched one");
  }
  if (CrlIsStale(*crl, now)) return absl::FailedPreconditionError(DescribeStaleCrl(*crl, now));
  return absl::OkStatus();
}

// What a certificate from the server is checked against, and the CA certificates that go with
// it into a bundle.
struct Trust {
  provisioning::CertificateVerifier verifier;
  std::string pem;
};

// The CA certificates the server sent, if they have the root the dock was enrolled with (the
// fleet may have rotated its issuing CA under the root: provisioning/README.md); the dock's own
// when the server sent none or the same. PERMISSION_DENIED for another root.
template <typename SessionT>
absl::StatusOr<Trust> TrustOffered(const SessionT& s, const std::string& offered) {
  if (offered.empty() || offered == s.bundle.ca_pem) return Trust{*s.verifier, s.bundle.ca_pem};
  ASSIGN_OR_RETURN(provisioning::CertificateVerifier verifier, s.verifier->SameRoot(offered));
  return Trust{std::move(verifier), offered};
}

// A camera clock off by less than this is not worth a word.
constexpr absl::Duration kReportedCameraSkew = absl::Minutes(1);

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

std::string FormatAction(const Action& action) {
  std::string who =
      action.slot == 0 ? absl::StrCat("dock ", action.subject) : absl::StrCat("slot ", action.slot);
  if (action.slot != 0 && !action.subject.empty()) absl::StrAppend(&who, " ", action.subject);
  return absl::StrCat(who, ": ", action.failed() ? "FAILED: " : "", action.message);
}

bool PassReport::ok() const {
  for (const Action& a : actions) {
    if (a.failed()) return false;
  }
  return true;
}

// What a pass works with: the dock's credentials as loaded (and replaced after a renewal) and a
// stub over a channel that presents them.
struct CertificateKeeper::Session {
  provisioning::CredentialBundle bundle;
  std::optional<provisioning::CertificateVerifier> verifier;
  provisioning::CertificateInfo dock;
  // Shared by the slots' workers (a stub is thread-safe); each worker has its own Session copy.
  std::shared_ptr<v1::DockService::Stub> stub;
  absl::Time now;
  // Set when the server stayed unreachable or refused the dock itself: the cameras' calls
  // would only fail the same way (and spend minutes in retries), so they wait for the next pass.
  absl::Status server_refusal;
  // The fleet CRL in force for this pass (fetched now, or the last one kept); none before the
  // dock has ever fetched one.
  std::optional<HeldCrl> crl;
  // A clock measurement that could not be used or stored (said on the dock's line).
  absl::Status clock_trouble;
};

CertificateKeeper::CertificateKeeper(KeeperOptions options)
    : options_(std::move(options)), offset_(options_.clock_offset) {
  if (offset_ == nullptr) {
    own_offset_ = std::make_unique<ClockOffset>(options_.paths.ClockOffset());
    offset_load_ = own_offset_->Load();
    offset_ = own_offset_.get();
  }
}

absl::Time CertificateKeeper::ServerNow() const {
  return offset_->ToServerTime(options_.clock->Now());
}

void CertificateKeeper::MeasureClock(Session& s, absl::Time sent, absl::Time received,
                                     const google::protobuf::Timestamp& server_time) {
  if (server_time.seconds() == 0 && server_time.nanos() == 0) return;  // an older server
  absl::Status recorded = offset_->Record(sent, received, FromTimestamp(server_time));
  if (!recorded.ok()) s.clock_trouble = std::move(recorded);
  s.now = ServerNow();
}

std::string CertificateKeeper::ClockText(const Session& s) {
  std::string text;
  if (std::optional<ClockOffsetSample> latest = offset_->Latest();
      latest.has_value() && absl::AbsDuration(latest->offset) >= absl::Seconds(1)) {
    absl::StrAppend(&text, "; ", DescribeClockOffset("dock", latest->offset),
                    " (measured at dock time ", FormatUtc(latest->measured_at),
                    "; certificates are judged at server time)");
  }
  if (!offset_load_.ok()) {
    absl::StrAppend(&text, "; the stored clock offset was not read (", offset_load_.message(),
                    "); it is measured again at the next renewal");
    offset_load_ = absl::OkStatus();
  }
  if (!s.clock_trouble.ok()) {
    absl::StrAppend(&text, "; clock offset: ", s.clock_trouble.message());
  }
  return text;
}

PassReport CertificateKeeper::RunPass(const std::vector<CameraSlot>& slots) {
  PassReport report;
  Session session;
  session.now = ServerNow();
  Action dock = KeepDockCertificate(session);
  const bool usable = session.stub != nullptr;
  const bool dock_up_to_date = dock.kind == Action::Kind::kDockUpToDate;
  report.actions.push_back(std::move(dock));
  if (!usable) return report;  // no credentials to talk to anyone with
  // Before any camera: a revoked camera must be recognised before it is renewed or enrolled.
  Action crl = KeepCrl(session);
  // The fleet root revoked the issuing CA of the dock's certificate (a compromised rotation):
  // the server refuses it for everything but one renewal onto the current issuing CA, and says
  // so. The dock renews at once, whatever its renewal window, and fetches the CRL again. The
  // same when a renewal is unfinished (its key kept, DockPaths::RenewalKey): its answer was
  // lost, and the server, which superseded the certificate presented, answers the same request
  // with the certificate it issued.
  const bool issuer_revoked = absl::IsUnauthenticated(crl.status) &&
                              common::ReasonOf(crl.status) == common::kReasonIssuerRevoked;
  if (dock_up_to_date && crl.kind == Action::Kind::kCrlFailed &&
      absl::IsUnauthenticated(crl.status) &&
      (issuer_revoked || provisioning::PathExists(options_.paths.RenewalKey()))) {
    session.server_refusal = absl::OkStatus();
    const std::string why = issuer_revoked ? "its issuing CA was revoked by the fleet root"
                                           : "an unfinished renewal, its answer lost";
    Action recovered = RenewDock(session, DecideRenewal(session.dock, session.now), why);
    const bool renewed = !recovered.failed();
    report.actions.push_back(std::move(recovered));
    if (renewed) crl = KeepCrl(session);
  }
  report.actions.push_back(std::move(crl));
  if (session.crl.has_value() && CrlIsStale(*session.crl, session.now)) {
    const std::string text = DescribeStaleCrl(*session.crl, session.now);
    report.actions.push_back(Failed(Action::Kind::kCrlStale, 0, session.dock.identity,
                                    absl::FailedPreconditionError(text),
                                    "no camera is renewed until a newer CRL arrives"));
    if (options_.crl_stale) options_.crl_stale(session.crl->number, text);
  }
  // Each slot on its own worker, with its own copy of the session.
  std::vector<std::pair<int, SlotJob*>> started;  // slot, job; nullptr: still busy from before
  for (const CameraSlot& slot : slots) {
    std::unique_ptr<SlotJob> previous;
    {
      absl::MutexLock lock(&jobs_mu_);
      auto it = jobs_.find(slot.number);
      if (it != jobs_.end()) {
        if (!it->second->done) {
          started.emplace_back(slot.number, nullptr);
          continue;
        }
        previous = std::move(it->second);
        jobs_.erase(it);
      }
    }
    if (previous != nullptr) previous->thread.join();  // done: returns at once
    auto job = std::make_unique<SlotJob>();
    SlotJob* raw = job.get();
    raw->started = absl::Now();
    Session own = session;
    own.now = ServerNow();
    {
      absl::MutexLock lock(&jobs_mu_);
      jobs_[slot.number] = std::move(job);
    }
    raw->thread = std::thread([this, raw, own = std::move(own), slot]() mutable {
      Action action = KeepCameraCertificate(own, slot);
      absl::MutexLock lock(&jobs_mu_);
      raw->action = std::move(action);
      raw->done = true;
      jobs_cv_.SignalAll();
    });
    started.emplace_back(slot.number, raw);
  }
  const absl::Time deadline = absl::Now() + options_.slot_deadline;
  absl::MutexLock lock(&jobs_mu_);
  for (const auto& [number, job] : started) {
    if (job == nullptr) {
      const SlotJob& busy = *jobs_[number];
      report.actions.push_back(Failed(
          Action::Kind::kCameraFailed, number, "",
          absl::DeadlineExceededError(absl::StrCat(
              "the previous pass's work for this slot has not ended after ",
              absl::FormatDuration(absl::Trunc(absl::Now() - busy.started, absl::Seconds(1))),
              " (a camera that does not answer?)")),
          "skipped"));
      continue;
    }
    while (!job->done && absl::Now() < deadline) jobs_cv_.WaitWithDeadline(&jobs_mu_, deadline);
    if (job->done) {
      report.actions.push_back(job->action);
    } else {
      report.actions.push_back(Failed(
          Action::Kind::kCameraFailed, number, "",
          absl::DeadlineExceededError(absl::StrCat(
              "no result within ", absl::FormatDuration(options_.slot_deadline),
              "; the work goes on in the background and this slot is skipped until it ends")),
          "certificate work"));
    }
  }
  return report;
}

CertificateKeeper::~CertificateKeeper() {
  std::map<int, std::unique_ptr<SlotJob>> jobs;
  {
    absl::MutexLock lock(&jobs_mu_);
    jobs.swap(jobs_);
  }
  for (auto& [number, job] : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

Action CertificateKeeper::KeepDockCertificate(Session& s) {
  const std::string dir = options_.paths.Credentials();
  absl::StatusOr<provisioning::CredentialBundle> bundle = provisioning::LoadCredentialBundle(dir);
  if (!bundle.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, "", bundle.status(),
                  absl::StrCat("cannot load the dock's credentials from ", dir,
                               " (enroll the dock first: camfleet-dock enroll)"));
  }
  absl::StatusOr<provisioning::CertificateVerifier> verifier =
      provisioning::CertificateVerifier::FromCaPem(bundle->ca_pem);
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(bundle->cert_pem);
  if (!verifier.ok() || !info.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, "",
                  !verifier.ok() ? verifier.status() : info.status(),
                  absl::StrCat("the credentials in ", dir, " are damaged"));
  }
  s.bundle = *std::move(bundle);
  s.verifier = *std::move(verifier);
  s.dock = *std::move(info);
  s.stub = v1::DockService::NewStub(MutualTlsChannel(options_.endpoint, s.bundle));
  const std::string& dock_id = s.dock.identity;

  const RenewalDecision decision = DecideRenewal(s.dock, s.now);
  if (decision.state == RenewalState::kNotDue) {
    return Done(Action::Kind::kDockUpToDate, 0, dock_id,
                absl::StrCat("up to date: ", ValidityText(s.dock), ", renewal due at ",
                             FormatUtc(decision.due_at), ClockText(s)));
  }
  return RenewDock(s, decision, RenewalStateName(decision.state));
}

Action CertificateKeeper::RenewDock(Session& s, const RenewalDecision& decision,
                                    const std::string& why) {
  const std::string dir = options_.paths.Credentials();
  const std::string& dock_id = s.dock.identity;
  // The new key is kept until its certificate is stored: a retry after a lost answer asks for
  // the same key. That matters for a recovery renewal (a certificate from an issuing CA the
  // root revoked), which the server allows once: it answers the retry with the certificate it
  // issued for that key.
  const std::string pending_key = options_.paths.RenewalKey();
  absl::StatusOr<provisioning::PrivateKey> key = absl::NotFoundError("no pending key");
  if (provisioning::PathExists(pending_key)) {
    key = provisioning::PrivateKey::ReadFile(pending_key);
    absl::StatusOr<std::string> fingerprint =
        key.ok() ? key->PublicKeyFingerprint() : absl::StatusOr<std::string>(key.status());
    // Damaged, or already the key of the certificate held (a crash after it was stored):
    // start afresh.
    if (!fingerprint.ok() || *fingerprint == s.dock.key_fingerprint) {
      ::unlink(pending_key.c_str());
      key = absl::NotFoundError("no pending key");
    }
  }
  if (!key.ok()) {
    key = provisioning::PrivateKey::GenerateEcP256();
    if (key.ok()) {
      if (absl::Status kept = key->WriteFile(pending_key); !kept.ok()) {
        return Failed(Action::Kind::kDockFailed, 0, dock_id, kept,
                      absl::StrCat("renewal (", why, "): keeping its new key in ", pending_key));
      }
    }
  }
  if (!key.ok()) return Failed(Action::Kind::kDockFailed, 0, dock_id, key.status(), "renewal");
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, dock_id);
  absl::StatusOr<std::string> csr_pem =
      csr.ok() ? csr->ToPem() : absl::StatusOr<std::string>(csr.status());
  if (!csr_pem.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, dock_id, csr_pem.status(), "renewal");
  }
  v1::RenewDockCertificateRequest req;
  req.set_csr_pem(*csr_pem);
  v1::RenewDockCertificateResponse resp;
  absl::Time sent;
  absl::Status called = RetryUnavailable(options_.retry, [&] {
    resp.Clear();
    sent = options_.clock->Now();
    return FromGrpc(s.stub->RenewDockCertificate(CallContext(options_.endpoint).get(), req, &resp));
  });
  if (called.ok()) MeasureClock(s, sent, options_.clock->Now(), resp.server_time());
  if (!called.ok()) {
    if (absl::IsUnavailable(called) || absl::IsUnauthenticated(called)) s.server_refusal = called;
    std::string what =
        absl::StrCat("renewal (certificate ", s.dock.serial_hex, " ", why, ") refused");
    if (decision.state == RenewalState::kExpiredPastGrace) {
      absl::StrAppend(&what, "; it expired at ", FormatUtc(s.dock.not_after),
                      " and the renewal grace ended at ", FormatUtc(decision.grace_ends_at),
                      ": enroll the dock again with a new token (camfleet-dock enroll)");
    }
    if (called.code() == absl::StatusCode::kUnavailable) {
      what = absl::StrCat("renewal (certificate ", s.dock.serial_hex, " ", why,
                          "): the server is unreachable; retrying next pass");
    }
    return Failed(Action::Kind::kDockFailed, 0, dock_id, called, what);
  }
  // The root stays the one the dock was enrolled with (a renewal answer is no place to change
  // whom the dock trusts), but the fleet's issuing CAs may have been rotated under it: the
  // dock takes them when they come with the same root.
  absl::StatusOr<Trust> trust = TrustOffered(s, resp.ca_certificate_pem());
  if (!trust.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, dock_id, trust.status(),
                  "renewal: the server's CA certificates");
  }
  absl::StatusOr<provisioning::CertificateInfo> issued =
      CheckIssued(trust->verifier, resp.certificate().certificate_pem(), *csr_pem,
                  provisioning::Role::kDock, dock_id, s.now);
  if (!issued.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, dock_id, issued.status(), "renewal");
  }
  if (absl::Status stored = provisioning::ReplaceCredentialBundle(
          dir, *key, resp.certificate().certificate_pem(), trust->pem);
      !stored.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, dock_id, stored,
                  absl::StrCat("certificate ", issued->serial_hex,
                               " was issued but could not be stored in ", dir));
  }
  absl::StatusOr<provisioning::CredentialBundle> reloaded = provisioning::LoadCredentialBundle(dir);
  if (!reloaded.ok()) {
    return Failed(Action::Kind::kDockFailed, 0, dock_id, reloaded.status(),
                  absl::StrCat("reloading ", dir, " after the renewal"));
  }
  ::unlink(pending_key.c_str());  // stored: nothing left to retry
  const std::string previous = s.dock.serial_hex;
  s.bundle = *std::move(reloaded);
  // What the rest of the pass checks the cameras' new certificates against: the CA
  // certificates just stored (the fleet's issuing CA may have changed under the same root).
  s.verifier = trust->verifier;
  s.dock = *issued;
  s.stub = v1::DockService::NewStub(MutualTlsChannel(options_.endpoint, s.bundle));
  return Done(Action::Kind::kDockRenewed, 0, dock_id,
              absl::StrCat("renewed (", why, "): ", ValidityText(*issued), "; replaces ", previous,
                           ClockText(s)));
}

Action CertificateKeeper::KeepCrl(Session& s) {
  const std::string& dock_id = s.dock.identity;
  CrlStore store(options_.paths.Crl(), *s.verifier);
  absl::StatusOr<std::optional<HeldCrl>> held = store.LoadNewest();
  if (held.ok()) s.crl = *std::move(held);
  const std::string in_force =
      s.crl.has_value()
          ? absl::StrCat("CRL ", s.crl->number, " held here stays in force")
          : std::string("no CRL is held here yet, so revoked cameras cannot be recognised");
  if (!held.ok()) {
    return Failed(Action::Kind::kCrlFailed, 0, dock_id, held.status(),
                  absl::StrCat("reading the CRLs kept in ", store.dir()));
  }
  if (!s.server_refusal.ok()) {
    return Failed(
        Action::Kind::kCrlFailed, 0, dock_id, s.server_refusal,
        absl::StrCat("CRL not fetched: the server ",
                     absl::IsUnavailable(s.server_refusal) ? "was unreachable" : "refused the dock",
                     " earlier in this pass; ", in_force));
  }
  std::unique_ptr<v1::ProvisioningService::Stub> stub =
      v1::ProvisioningService::NewStub(MutualTlsChannel(options_.endpoint, s.bundle));
  v1::GetCrlResponse resp;
  absl::Status called = RetryUnavailable(options_.retry, [&] {
    resp.Clear();
    return FromGrpc(stub->GetCrl(CallContext(options_.endpoint).get(), v1::GetCrlRequest(), &resp));
  });
  if (!called.ok()) {
    if (absl::IsUnavailable(called)) s.server_refusal = called;
    return Failed(Action::Kind::kCrlFailed, 0, dock_id, called,
                  absl::StrCat("CRL not fetched; ", in_force));
  }
  if (resp.crl_number() < 0) {
    return Failed(
        Action::Kind::kCrlFailed, 0, dock_id,
        absl::InvalidArgumentError(absl::StrCat("the server sent CRL number ", resp.crl_number())),
        absl::StrCat("CRL refused; ", in_force));
  }
  // The CA in the answer is ignored: the CRL must be signed by the CA the dock was enrolled with.
  absl::StatusOr<HeldCrl> accepted =
      store.Accept(static_cast<uint64_t>(resp.crl_number()), resp.crl_pem(),
                   {resp.revoked_factory_key_fingerprints().begin(),
                    resp.revoked_factory_key_fingerprints().end()});
  if (!accepted.ok()) {
    return Failed(Action::Kind::kCrlFailed, 0, dock_id, accepted.status(),
                  absl::StrCat("CRL refused; ", in_force));
  }
  const bool unchanged = s.crl.has_value() && s.crl->number == accepted->number;
  const std::string previous =
      s.crl.has_value() ? absl::StrCat("replaces CRL ", s.crl->number) : "the first CRL held here";
  s.crl = *std::move(accepted);
  if (unchanged) {
    return Done(Action::Kind::kCrlUnchanged, 0, dock_id,
                absl::StrCat("CRL ", s.crl->number, " is current"));
  }
  return Done(Action::Kind::kCrlUpdated, 0, dock_id,
              absl::StrCat("CRL ", s.crl->number, " fetched, verified and kept; ", previous));
}

Action CertificateKeeper::KeepCameraCertificate(Session& s, const CameraSlot& slot) {
  const int n = slot.number;
  const absl::Time asked = options_.clock->Now();
  absl::StatusOr<CameraIdentity> id = slot.link->Identify();
  const absl::Time answered = options_.clock->Now();
  if (absl::IsUnavailable(id.status())) {
    return Done(Action::Kind::kSlotEmpty, n, "", "empty (no camera answers)");
  }
  if (!id.ok()) return Failed(Action::Kind::kCameraFailed, n, "", id.status(), "identify");
  Action action = KeepIdentifiedCamera(s, slot, *id);
  // The camera read its clock during Identify: take the midpoint, as server time.
  const absl::Duration camera_offset =
      offset_->ToServerTime(asked + (answered - asked) / 2) - id->device_time;
  if (absl::AbsDuration(camera_offset) >= kReportedCameraSkew) {
    absl::StrAppend(&action.message, "; ", DescribeClockOffset("camera", camera_offset));
    if (camera_offset > provisioning::kClockSkewAllowance) {
      // New certificates start kClockSkewAllowance before server time.
      absl::StrAppend(&action.message,
                      ": it refuses a new certificate until its clock is set or the certificate "
                      "becomes valid at its time");
    }
  }
  return action;
}

Action CertificateKeeper::KeepIdentifiedCamera(Session& s, const CameraSlot& slot,
                                               const CameraIdentity& identity) {
  const int n = slot.number;
  const std::string serial = identity.serial;

  // Decide: enroll, renew, or nothing.
  bool enroll = false;
  std::string why;
  RenewalState state = RenewalState::kNotDue;
  std::optional<Revocation> revoked;
  if (!identity.certificate_pem.empty() && s.crl.has_value()) {
    revoked = FindRevocation(*s.crl, *s.verifier, identity.certificate_pem);
  }
  // Superseded is the one revocation a camera comes back from: the server revokes that way when
  // it lets a camera enroll again (ResetCameraEnrollment), so the camera enrolls afresh.
  if (revoked.has_value() && revoked->reason != "superseded") {
    return Done(
        Action::Kind::kCameraRefused, n, serial,
        absl::StrCat("REFUSED: certificate ", revoked->serial_hex, " revoked (", revoked->reason,
                     ") \u2014 keep this unit out of service and report it"));
  }
  if (identity.certificate_pem.empty()) {
    enroll = true;
    why = "no certificate";
  } else if (revoked.has_value()) {
    enroll = true;
    why = absl::StrCat("its certificate ", revoked->serial_hex, " was superseded");
  } else {
    // The CRL's verifier knows the fleet's current issuing CAs (they come with the CRL), so a
    // camera renewed elsewhere after the issuing CA was replaced is recognised here too.
    const provisioning::CertificateVerifier& trust =
        s.crl.has_value() ? s.crl->verifier : *s.verifier;
    absl::StatusOr<provisioning::CertificateInfo> held =
        trust.VerifyForRenewal(identity.certificate_pem, s.now);
    // From an issuing CA the fleet root revoked (a compromised rotation; the CRL carries the
    // root's CRL and the revoked CA): not refused as revoked, but renewed onto the current
    // issuing CA now, whatever its renewal window. The camera proves its key, and the server
    // renews only the certificate it recorded as the camera's (a thief's certificate made with
    // the stolen CA key proves nothing there).
    std::optional<std::string> revoked_issuer;
    if (!held.ok() && s.crl.has_value()) {
      absl::StatusOr<provisioning::RevokedIssuerCertificate> recovery =
          trust.VerifyForRecovery(identity.certificate_pem, s.now);
      if (recovery.ok()) {
        held = std::move(recovery->info);
        revoked_issuer = std::move(recovery->revoked_issuer);
      }
    }
    if (!held.ok()) {
      // Not from this fleet, expired past its grace, or unreadable: the camera starts afresh and
      // the server decides whether it may.
      enroll = true;
      why = absl::StrCat("its certificate is not usable: ", held.status().message());
    } else if (held->role != provisioning::Role::kCamera || held->identity != serial) {
      enroll = true;
      why = absl::StrCat("its certificate names ", held->identity, ", not ", serial);
    } else if (revoked_issuer.has_value()) {
      why = absl::StrCat("certificate ", held->serial_hex,
                         " is from an issuing CA the fleet root revoked");
      if (absl::Status refusal = CrlRefusal(s.crl, s.now); !refusal.ok()) {
        return Failed(Action::Kind::kCameraFailed, n, serial, refusal,
                      absl::StrCat("renewal (", why, ") refused by the dock"));
      }
    } else {
      const RenewalDecision decision = DecideRenewal(*held, s.now);
      state = decision.state;
      if (!ShouldRenew(decision)) {
        return Done(Action::Kind::kCameraUpToDate, n, serial,
                    absl::StrCat("up to date: ", ValidityText(*held), ", renewal due at ",
                                 FormatUtc(decision.due_at)));
      }
      why = absl::StrCat("certificate ", held->serial_hex, " ", RenewalStateName(state));
      if (absl::Status refusal = CrlRefusal(s.crl, s.now); !refusal.ok()) {
        return Failed(Action::Kind::kCameraFailed, n, serial, refusal,
                      absl::StrCat("renewal (", why, ") refused by the dock"));
      }
    }
  }
  const Action::Kind failed = Action::Kind::kCameraFailed;
  const std::string step = enroll ? "enrollment" : "renewal";
  if (!s.server_refusal.ok()) {
    return Failed(
        failed, n, serial, s.server_refusal,
        absl::StrCat(step, " (", why, ") skipped until the next pass: the server ",
                     absl::IsUnavailable(s.server_refusal) ? "was unreachable" : "refused the dock",
                     " earlier in this pass"));
  }

  absl::StatusOr<std::string> csr_pem = slot.link->CreateCsr();
  if (!csr_pem.ok()) {
    return Failed(failed, n, serial, csr_pem.status(), step + ": the camera made no CSR");
  }
  std::string cert_pem;
  std::string offered_ca_pem;
  absl::Status called;
  // A camera on its supplier's factory certificate (which the dock cannot check: it trusts only
  // the fleet CA) looks unenrolled here, but the server counts it enrolled: it renews into the
  // fleet, proving the factory key (provisioning/README.md, proof of possession).
  std::string step_now = step;
  if (enroll) {
    v1::EnrollCameraRequest req;
    req.set_serial(serial);
    req.set_csr_pem(*csr_pem);
    v1::EnrollCameraResponse resp;
    absl::Time sent;
    called = RetryUnavailable(options_.retry, [&] {
      resp.Clear();
      sent = options_.clock->Now();
      return FromGrpc(s.stub->EnrollCamera(CallContext(options_.endpoint).get(), req, &resp));
    });
    if (called.ok()) MeasureClock(s, sent, options_.clock->Now(), resp.server_time());
    cert_pem = resp.certificate().certificate_pem();
    offered_ca_pem = resp.ca_certificate_pem();
    if (absl::IsFailedPrecondition(called) && !identity.certificate_pem.empty() &&
        common::ReasonOf(called) == common::kReasonCameraAlreadyEnrolled &&
        !provisioning::ParseCertificate(identity.certificate_pem).ok()) {
      enroll = false;
      step_now = "renewal";
      why = "it holds its factory certificate";
      // The same fail-closed rule as for a fleet certificate: a lost camera's factory key is
      // known only from the revocation data that comes with the CRL.
      if (absl::Status refusal = CrlRefusal(s.crl, s.now); !refusal.ok()) {
        return Failed(Action::Kind::kCameraFailed, n, serial, refusal,
                      absl::StrCat("renewal (", why, ") refused by the dock"));
      }
    }
  }
  if (!enroll) {
    // The camera proves it holds its current key; the dock only relays (the server renews
    // nothing without it).
    absl::StatusOr<std::string> proof = slot.link->ProveCurrentKey(*csr_pem);
    if (!proof.ok()) {
      return Failed(failed, n, serial, proof.status(),
                    step_now + ": the camera did not prove it holds its current key");
    }
    v1::RenewCameraCertificateRequest req;
    req.set_serial(serial);
    req.set_csr_pem(*csr_pem);
    req.set_current_key_signature(*std::move(proof));
    v1::RenewCameraCertificateResponse resp;
    absl::Time sent;
    called = RetryUnavailable(options_.retry, [&] {
      resp.Clear();
      sent = options_.clock->Now();
      return FromGrpc(
          s.stub->RenewCameraCertificate(CallContext(options_.endpoint).get(), req, &resp));
    });
    if (called.ok()) MeasureClock(s, sent, options_.clock->Now(), resp.server_time());
    cert_pem = resp.certificate().certificate_pem();
    offered_ca_pem = resp.ca_certificate_pem();
  }
  if (!called.ok()) {
    if (absl::IsUnavailable(called)) s.server_refusal = called;
    return Failed(failed, n, serial, called,
                  absl::StrCat(step_now, " (", why, ") refused by the server"));
  }
  absl::StatusOr<Trust> trust = TrustOffered(s, offered_ca_pem);
  if (!trust.ok()) {
    return Failed(failed, n, serial, trust.status(), step_now + ": the server's CA certificates");
  }
  absl::StatusOr<provisioning::CertificateInfo> issued =
      CheckIssued(trust->verifier, cert_pem, *csr_pem, provisioning::Role::kCamera, serial, s.now);
  if (!issued.ok()) return Failed(failed, n, serial, issued.status(), step_now);
  // The camera gets the CA certificates the dock trusts (the root it was enrolled with, and the
  // fleet's current issuing CAs), which the certificate chained to above.
  if (absl::Status installed = slot.link->InstallCertificate(cert_pem, trust->pem);
      !installed.ok()) {
    return Failed(failed, n, serial, installed,
                  absl::StrCat(step_now, ": certificate ", issued->serial_hex,
                               " was issued but the camera did not install it"));
  }
  return Done(
      enroll ? Action::Kind::kCameraEnrolled : Action::Kind::kCameraRenewed, n, serial,
      absl::StrCat(enroll ? "enrolled" : "renewed", " (", why, "): ", ValidityText(*issued)));
}

}  // namespace camfleet::agent
