#pragma once
// The control plane's side of the dock sync stream (proto/camfleet/v1/dock_sync.proto,
// services/dock/README.md): plain C++ over the store; sync_handler.h only moves messages.
//
// Exactly once: a batch is applied in one write transaction that reads the (dock, epoch, lane)
// positions, applies every new item under its own savepoint, and stores the new positions, so
// an item's effect, its audit event and the position that covers it commit together or not at
// all. A replay (sequence <= position) is skipped; a gap (sequence > position + 1) stops the
// batch there (what came before is applied) and is reported as FAILED_PRECONDITION.
//
// Callbacks (`done`) run on the store's completion thread once the write is durable.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/identity.h"
#include "services/rpc/revocation_set.h"
#include "services/storage/dock_sync_repository.h"
#include "services/storage/rollout_repository.h"
#include "services/storage/store.h"

namespace camfleet::dock {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// Protocol version this server speaks.
inline constexpr uint32_t kProtocolVersion = 1;

struct DockSyncOptions {
  // Most items per OutboxBatch, announced in the welcome.
  uint32_t max_batch_items = 256;
  // Largest serialized item; a bigger one is rejected (acknowledged, with an alert).
  size_t max_item_bytes = 16 * 1024;
  // Largest message on the stream, either way; a bigger batch ends the stream.
  size_t max_message_bytes = 4 << 20;
  // A camera clock further than this from server time is flagged and alerted.
  absl::Duration clock_skew_bound = absl::Minutes(2);
  // The SiteView is sent again with an ack when it is older than this (and after every batch
  // that applied custody items, which change it).
  absl::Duration site_view_interval = absl::Seconds(60);
  // How often the server looks for central changes (the audit log moved, a revocation) and
  // pushes a fresh SiteView (and CRL) to every open stream whose view changed, idle or not.
  // Zero: never (views go down only on connect and with acks).
  absl::Duration push_interval = absl::Milliseconds(500);
};

// What one stream knows once the hello is accepted.
struct DockSession {
  rpc::Identity who;  // the dock, from its certificate
  int64_t dock_row = 0;
  int64_t site_id = 0;
  std::string site_code;
  int slot_count = 0;  // 0: not recorded at enrollment; any slot 1-256 is accepted
  std::string epoch;
  int64_t known_crl_number = 0;
};

struct OpenResult {
  DockSession session;
  v1::SyncWelcome welcome;
};

struct BatchResult {
  v1::SyncAck ack;
  // Set when the batch had a gap: FAILED_PRECONDITION naming the lane and expected sequence.
  absl::Status gap;
  // Whether any custody item was applied (the site view changed).
  bool custody_changed = false;
};

class DockSyncManager {
 public:
  // `identity` builds CRLs (GetCrl); `revoked` receives serials revoked by returns of damaged
  // units and the like. `generation` is the database generation (EnsureDatabaseGeneration).
  DockSyncManager(storage::Store& store, identity::IdentityManager& identity,
                  rpc::RevocationSet& revoked, std::string generation, DockSyncOptions options = {})
      : store_(store),
        identity_(identity),
        revoked_(revoked),
        generation_(std::move(generation)),
        options_(options) {}

  const DockSyncOptions& options() const { return options_; }

  // Checks the hello, records what the dock reports (agent version, backlog, slots, last
  // contact) and answers with the welcome. Errors: INVALID_ARGUMENT naming the bad hello field;
  // FAILED_PRECONDITION for an unsupported protocol version; PERMISSION_DENIED for a revoked or
  // unknown dock.
  void Open(const rpc::Identity& who, const v1::SyncHello& hello, Done<OpenResult> done);

  // Applies a batch for `session`. Errors (which end the stream): INVALID_ARGUMENT for a batch
  // with too many items, or an item without a lane or sequence; the store's errors.
  // A gap is not an error here: BatchResult::gap says so after what preceded it was applied.
  void ApplyBatch(const DockSession& session, const v1::OutboxBatch& batch, Done<BatchResult> done);

  // The site's holders, cameras and rules as the dock needs them. Reads only.
  absl::StatusOr<v1::SiteView> BuildSiteView(const DockSession& session);

  // The firmware plan for the session's site (rollout::BuildPlan); `unsent` gets its jobs that
  // were never sent to a dock of the site; `ever` (if given) whether any rollout ever targeted
  // a camera of the site (a dock of a site that never had one is not sent an empty plan on
  // connect). Reads only.
  absl::StatusOr<v1::FirmwarePlan> BuildFirmwarePlan(const DockSession& session,
                                                     std::vector<storage::PlannedUnit>* unsent,
                                                     bool* ever = nullptr);
  // Records that `units` went down to a dock now (the silence timeout counts from then). Not
  // audited: bookkeeping, like a dock's last contact. A failure is logged; the next plan sent
  // tries again.
  void MarkJobsSent(std::vector<storage::PlannedUnit> units);

  // The fleet CRL if its number is above `have`, through IdentityManager::GetCrl.
  void NewerCrl(int64_t have, Done<std::optional<v1::CrlUpdate>> done);

  v1::ServerTime Now() const;

  // Whether anything a site view may depend on changed centrally after the audit sequence
  // `mark` (every central change writes an audit event; the per-batch "dock.sync" record and
  // alert bookkeeping do not count). Moves `mark` to the newest sequence. Reads only.
  absl::StatusOr<bool> CentralChangeSince(int64_t& mark);
  // Grows whenever a certificate is revoked; a new CRL is due when it moved.
  uint64_t RevocationGeneration() const { return revoked_.generation(); }

 private:
  storage::Store& store_;
  identity::IdentityManager& identity_;
  rpc::RevocationSet& revoked_;
  const std::string generation_;
  const DockSyncOptions options_;
};

}  // namespace camfleet::dock
