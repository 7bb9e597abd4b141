#pragma once
// The dock's side of DockService.Sync (proto/camfleet/v1/dock_sync.proto): one long-lived bidi
// stream over the dock's mutual-TLS channel that drains the outbox and keeps the dock's local
// knowledge (site view, CRL, clock offset) current.
//
// One stream:
//  1. hello: the outbox epoch, the generation of the last welcome, agent version, backlog, CRL
//     number, slot occupants;
//  2. welcome: the clock offset is measured (hello sent .. welcome received, server time at the
//     midpoint). Where the server's position in a lane is below what the dock had acknowledged,
//     or the database generation changed (a control plane restored from a backup), the lane is
//     resent from the welcome's position (OutboxStore::ResendFrom, which records the
//     ITEMS_LOST alert itself when items were no longer held); where it is above (an ack lost
//     when the dock died), the dock acknowledges up to it;
//  3. batches from OutboxStore::NextBatch (custody first), at most the welcome's
//     max_batch_items each, at most `window` batches unacknowledged; each SyncAck acknowledges
//     both lanes in the outbox; a site view, CRL or server time is applied as it comes;
//  4. the stream is torn down when no ack came for `stall_timeout` (dock clock) while batches
//     were in flight, and reopened.
// Ends and retries: every end except a refusal is retried after a wait from Backoff (retry.h;
// exponential with jitter, reset after a welcome). FAILED_PRECONDITION (a gap) is retried the
// same way, and the next welcome's positions say where to resend from. UNAUTHENTICATED or
// PERMISSION_DENIED (a revoked or unknown dock) stops syncing for `refused_hold_off`, says why
// (status().refused, an event), and does not hammer the server.
//
// Time comes from `clock` (waits are measured on it, polled every `poll`), so a test with a
// FakeClock moves days of backoff in an instant by advancing it.
//
// Thread-safety: Run on one thread; Wake, Stop and status from any.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/clock_offset.h"
#include "agent/crl_store.h"
#include "agent/dock_events.h"
#include "agent/dock_paths.h"
#include "agent/outbox_store.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "agent/site_view_store.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "common/clock.h"

namespace camfleet::agent {

inline constexpr char kAgentVersion[] = "0.3.0";
inline constexpr uint32_t kSyncProtocolVersion = 1;

struct SyncClientOptions {
  ServerEndpoint endpoint;
  // Where the credential bundle is read (afresh on every connect: the keeper renews it).
  DockPaths paths;
  // Not owned; must outlive the client.
  OutboxStore* outbox = nullptr;
  SiteViewStore* site_view = nullptr;
  CrlStore* crl = nullptr;
  ClockOffset* clock_offset = nullptr;
  const common::Clock* clock = nullptr;
  // Who is in the slots now (SyncHello.slots). May be empty.
  std::function<std::vector<v1::SlotOccupant>()> occupants;
  // A site view was stored; the server had acknowledged custody through the argument before it
  // sent it (the custody ledger prunes what the view covers). May be empty.
  std::function<void(uint64_t custody_acked)> on_site_view;
  // A newer firmware plan was stored (OutboxStore::SetFirmwarePlan). May be empty.
  std::function<void()> on_firmware_plan;
  EventSink events;
  // Batches sent and not yet acknowledged, at most.
  int window = 2;
  // Payload bytes per batch, at most (besides the welcome's item bound).
  int64_t max_batch_bytes = 256 << 10;
  // No ack for this long while batches are in flight: the stream is torn down.
  absl::Duration stall_timeout = absl::Minutes(1);
  // The welcome must come within this (real time) after the hello.
  absl::Duration welcome_timeout = absl::Seconds(30);
  // How long a stream lives (gRPC deadline, real time) before it is reopened at once.
  absl::Duration stream_lifetime = absl::Hours(1);
  // Waits between attempts; `sleep` is ignored (waits are on `clock`, interruptible by Stop).
  RetryPolicy backoff{.max_attempts = 0,
                      .initial_backoff = absl::Seconds(1),
                      .max_backoff = absl::Minutes(5),
                      .multiplier = 2.0,
                      .sleep = {}};
  // After the server refused the dock's credentials.
  absl::Duration refused_hold_off = absl::Hours(1);
  // Real-time granularity of waits on `clock`.
  absl::Duration poll = absl::Milliseconds(50);
  uint64_t seed = 0;  // 0: random
};

// What the client reports about itself (camfleet-dock status).
struct SyncState {
  bool connected = false;
  // Dock clock of the last welcome or ack; nullopt if never.
  std::optional<absl::Time> last_sync;
  // Why the last stream ended (or the refusal); OK when nothing went wrong.
  absl::Status last_error;
  bool refused = false;
  // Streams started (hello sent or attempted), and of those welcomed.
  int64_t attempts = 0;
  int64_t streams_opened = 0;
  int64_t batches_acked = 0;
};

class SyncClient {
 public:
  explicit SyncClient(SyncClientOptions options);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // Connects, syncs and reconnects until Stop. Returns after Stop.
  void Run();

  // One stream, from hello to its end: returns why it ended (OK when Stop ended it or the
  // server closed it cleanly). Run calls it in a loop; tests may call it alone.
  absl::Status RunStream();

  // Something was appended to the outbox: send it now rather than at the next poll.
  void Wake();
  // Ends the current stream (half-close, then cancel) and makes Run return.
  void Stop();

  SyncState state() const;

 private:
  struct Stream;
  // Waits `d` on the dock clock, or until Stop; false if stopped.
  bool WaitOnClock(absl::Duration d);
  void Emit(DockEvent::Kind kind, std::string message, absl::Status status = absl::OkStatus());
  absl::StatusOr<v1::SyncHello> MakeHello();
  absl::Status HandleWelcome(Stream& stream, const v1::SyncWelcome& welcome);
  absl::Status HandleResponse(Stream& stream, const v1::SyncResponse& response);
  absl::Status AlignLane(v1::SyncLane lane, uint64_t server_applied, bool new_generation);
  absl::Status SendMore(Stream& stream);

  SyncClientOptions options_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  SyncState state_ ABSL_GUARDED_BY(mu_);
  // The live stream's context, to cancel it from Stop.
  grpc::ClientContext* live_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace camfleet::agent
