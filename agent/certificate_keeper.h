#pragma once
// Keeps the dock's own certificate and its cameras' certificates current (issue 3: renew before
// two thirds of the validity have passed; after an outage past expiry, renew within the grace).
//
// One pass:
//  1. the dock's own certificate: renewed when DecideRenewal says so (a new key made here, the
//     bundle replaced atomically); past the grace it still asks, so the server's refusal is what
//     gets reported;
//  2. each slot: identify the camera; a camera without a fleet certificate (or one expired past
//     its grace) enrolls: it makes a key and CSR, the dock relays it (EnrollCamera), the camera
//     installs the certificate; a camera whose certificate is due renews the same way
//     (RenewCameraCertificate). An empty slot is not an error; one slot's failure does not stop
//     the others.
// Between 1 and 2, the fleet CRL: fetched (ProvisioningService.GetCrl), checked against the
// fleet CA and kept on disk (crl_store.h); with the server unreachable, the last one kept is
// used. A camera whose certificate is on it is refused: not renewed, not enrolled, reported
// (kCameraRefused) for a person to take it out of service. The dock fails closed on revocation
// data it cannot trust: without any CRL, or with one stale past kCrlStaleGrace (reported as
// kCrlStale and to KeeperOptions::crl_stale), it renews no camera.
// Calls to the server are retried with backoff and jitter while UNAVAILABLE.
//
// After a compromised rotation (the fleet root revoked the issuing CA: provisioning/README.md,
// "Recovery after a compromised issuing CA") the server refuses the dock's certificate from that
// CA for everything but one renewal, with the reason common::kReasonIssuerRevoked: the pass
// renews the dock's certificate at once, whatever its window, and fetches the CRL with the new
// one. A camera whose certificate comes from a CA on the root's CRL is not refused as revoked:
// it is renewed onto the current issuing CA at once (with its proof of possession), and the
// server renews it only if that is the certificate it recorded for the camera.
//
// Time: every answer that carries the server's time updates the dock's clock offset
// (clock_offset.h), and certificates are judged (renewal due, valid, expired) at server time,
// so a dock whose clock is behind keeps what it is given instead of asking again every pass.
// Each camera's own clock (Identify's device_time) is compared with server time and reported
// when it is off by a minute or more.
//
// A camera whose certificate was issued but not installed (the answer lost, the camera pulled,
// refusing it for its clock, the dock restarted) is asked for its CSR again on the next pass;
// it returns the CSR of the key it still has pending (camera_link.h), and the server answers a
// CSR for a key it already certified with that same certificate, so the retry converges on one
// certificate without an admin.
//
// Slots are independent: each slot's certificate work runs on a worker thread of its own (with
// its own copy of what the pass knows), so one slow or hung camera stalls only its own slot.
// The pass waits for the slots at most `slot_deadline`; a slot still working then is reported
// as FAILED (DEADLINE_EXCEEDED) and its work goes on in the background; the next pass skips
// that slot (reporting it still busy) until the work has ended. The camera link's own calls
// carry a deadline as well (grpc_camera_link.h), so a hung camera ends its work in the end.
//
// Not thread-safe: one pass at a time.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/camera_link.h"
#include "agent/clock_offset.h"
#include "agent/dock_paths.h"
#include "agent/renewal_policy.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "common/clock.h"
#include "google/protobuf/timestamp.pb.h"

namespace camfleet::agent {

// What one step of a pass did, for one line of output.
struct Action {
  enum class Kind {
    kDockRenewed,
    kDockUpToDate,
    kDockFailed,  // could not load, renew or store the dock's own credentials
    kSlotEmpty,
    kCameraEnrolled,
    kCameraRenewed,
    kCameraUpToDate,
    kCameraFailed,
    // The camera's certificate is on the fleet CRL (lost, retired, compromised): nothing was
    // done for it. Not a failure: refusing it is the dock doing its job; the line is the alert.
    kCameraRefused,
    kCrlUpdated,    // a newer CRL was fetched, verified and stored
    kCrlUnchanged,  // the server's CRL is the one held
    kCrlFailed,     // no CRL fetched (or one refused); the one held, if any, stays in force
    // The CRL in force is past its nextUpdate by more than kCrlStaleGrace (crl_store.h): no
    // camera is renewed until a newer one arrives. A failure, and an alert (KeeperOptions).
    kCrlStale,
  };
  Kind kind = Kind::kDockUpToDate;
  // 0 for the dock itself.
  int slot = 0;
  // The dock id or the camera serial; empty when not known.
  std::string subject;
  // OK unless the step failed; then the error, the server's code kept.
  absl::Status status;
  // What happened, for a person: "renewed: certificate 3f2a valid until ...".
  std::string message;

  bool failed() const { return !status.ok(); }
};

// "dock post-1-dock-1: renewed: ..." or "slot 2 CAM-0001: FAILED: ...".
std::string FormatAction(const Action& action);

struct PassReport {
  std::vector<Action> actions;
  bool ok() const;
};

struct CameraSlot {
  int number = 0;
  CameraLink* link = nullptr;  // not owned
  // Keeps `link` alive for a slot's work that outlives the pass (past slot_deadline). Without
  // it, the caller must keep `link` alive until the keeper is destroyed.
  std::shared_ptr<CameraLink> keep_alive = nullptr;
};

struct KeeperOptions {
  DockPaths paths;
  ServerEndpoint endpoint;
  RetryPolicy retry;
  // The dock's own clock. Not owned.
  const common::Clock* clock = nullptr;
  // The dock clock's offset to server time, shared with whatever else measures it (the sync
  // stream). Not owned; null: the keeper keeps its own in paths.ClockOffset().
  ClockOffset* clock_offset = nullptr;
  // How long a pass waits for one slot's work (real time), see above.
  absl::Duration slot_deadline = absl::Minutes(2);
  // Called (on the pass's thread) with the CRL number and a description when a pass finds the
  // CRL in force stale; the runtime raises DOCK_ALERT_KIND_CRL_STALE up the sync stream.
  std::function<void(uint64_t crl_number, const std::string& message)> crl_stale = nullptr;
};

class CertificateKeeper {
 public:
  explicit CertificateKeeper(KeeperOptions options);
  // Waits for slot work still running in the background.
  ~CertificateKeeper();
  CertificateKeeper(const CertificateKeeper&) = delete;
  CertificateKeeper& operator=(const CertificateKeeper&) = delete;

  PassReport RunPass(const std::vector<CameraSlot>& slots);

 private:
  struct Session;
  Action KeepDockCertificate(Session& session);
  // Renews the dock's certificate (`why`: "due", "expired, in grace", ...) and switches the
  // session to the new one. The new key is kept in paths.RenewalKey() until the certificate is
  // stored, so that a retry after a lost answer asks for the same key.
  Action RenewDock(Session& session, const RenewalDecision& decision, const std::string& why);
  Action KeepCrl(Session& session);
  Action KeepCameraCertificate(Session& session, const CameraSlot& slot);
  Action KeepIdentifiedCamera(Session& session, const CameraSlot& slot, const CameraIdentity& id);
  // Takes the server's time from an answer (if it carries one) into the offset and moves
  // session.now to the corrected time.
  void MeasureClock(Session& session, absl::Time sent, absl::Time received,
                    const google::protobuf::Timestamp& server_time);
  // The dock's clock as server time.
  absl::Time ServerNow() const;
  // "; dock clock is 7m12s slow against the server (...)" when it is off, plus any trouble
  // measuring or reading the offset; empty otherwise.
  std::string ClockText(const Session& session);

  // One slot's work on its worker thread.
  struct SlotJob {
    std::thread thread;
    absl::Time started;
    bool done = false;  // guarded by jobs_mu_
    Action action;      // guarded by jobs_mu_; set when done
  };

  KeeperOptions options_;
  absl::Mutex jobs_mu_;
  absl::CondVar jobs_cv_;
  // By slot number; a job stays until a pass collects it after it is done.
  std::map<int, std::unique_ptr<SlotJob>> jobs_;
  std::unique_ptr<ClockOffset> own_offset_;
  ClockOffset* offset_ = nullptr;
  // Why the stored offset could not be read, said once on the first pass.
  absl::Status offset_load_;
};

}  // namespace camfleet::agent
