#pragma once
// What the dock benchmarks share (camfleet-bench-sync, -backlog, -reconnect):
//  - a fleet of docks made through the real API over mutual TLS: one site per dock (a post),
//    its holders, its cameras (ImportManifest), some of them commissioned, and the dock itself
//    enrolled the way `camfleet-dock enroll` does it (an enrollment token from the admin, a key
//    and CSR made here, EnrollDock over a connection without a client certificate);
//  - outbox items as the agent writes them (health readings with every field set, check-outs,
//    removals, insertions, returns), stamped with a record time and a measured clock offset;
//  - DockStreamer: one DockService.Sync stream as a gRPC callback reactor, so a thousand docks
//    need no thousand threads. It speaks protocol version 1 exactly as the agent's SyncClient
//    does (hello; welcome, site view, CRL, server time; then one batch at a time, each sent
//    when the previous one's ack came), over the generic stub, so the same reactor also drives
//    the ceiling below;
//  - AckServer: the streaming ceiling, a trivial DockService.Sync look-alike on the same
//    mutual-TLS setup (the server's own certificate, the fleet CA, the same message limits,
//    the callback API): it answers the hello with a welcome and a server time and every batch
//    with a pre-built ack, without parsing or storing anything.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/tls_server.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "provisioning/credential_bundle.h"

namespace camfleet::bench {

// ------------------------------------------------------------------------------ the fleet

struct BenchDock {
  std::string id;                    // dock id, the CN of its certificate
  std::string site;                  // its site (a post of its own)
  std::vector<std::string> cameras;  // camera in slot i + 1
  std::vector<std::string> badges;   // holders of the site
  provisioning::CredentialBundle bundle;
};

struct DockFleetOptions {
  int docks = 1;
  int cameras_per_dock = 8;
  // Holders per site (their badges), for check-outs.
  int holders_per_dock = 0;
  // The first N cameras of each dock are commissioned (AVAILABLE), so check-outs apply; the
  // rest stay REGISTERED (health readings apply to any camera the site owns).
  int commissioned_per_dock = 0;
  // Setup calls in flight at once.
  int in_flight = 64;
  std::string model = "BWC-100";
};

// Makes the fleet through `server`'s admin channel, printing progress to `progress`.
// Errors: the API's, naming the step.
absl::StatusOr<std::vector<BenchDock>> MakeDockFleet(TlsServer& server,
                                                     const DockFleetOptions& options,
                                                     std::ostream& progress);

// ------------------------------------------------------------------------------ items

// A reading as a docked camera gives it: every field set, sizes as the simulator's.
v1::OutboxItem HealthItem(const std::string& serial, uint32_t slot, uint64_t camera_sequence,
                          absl::Time when, uint32_t battery_percent, bool charging);
v1::OutboxItem CheckoutItem(const std::string& serial, uint32_t slot, const std::string& badge,
                            absl::Time when, absl::Duration shift);
v1::OutboxItem RemovedItem(const std::string& serial, uint32_t slot, absl::Time when);
v1::OutboxItem InsertedItem(const std::string& serial, uint32_t slot, absl::Time when);
v1::OutboxItem ReturnItem(const std::string& serial, uint32_t slot, const std::string& badge,
                          absl::Time when);

// ------------------------------------------------------------------------------ streams

// What one dock sends.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The server stands at these positions (from a welcome): continue after them.
  virtual void Resume(uint64_t custody_applied, uint64_t telemetry_applied) = 0;
  // Fills `batch` with up to `max_items` items, in sequence order per lane (custody first, as
  // the agent's outbox yields them); false when nothing is left to send.
  virtual bool Next(int max_items, v1::OutboxBatch* batch) = 0;
};

// A fixed list of items (custody and telemetry, numbered from 1 in each lane).
class ListSource final : public BatchSource {
 public:
  explicit ListSource(std::vector<v1::OutboxItem> items);
  void Resume(uint64_t custody_applied, uint64_t telemetry_applied) override;
  bool Next(int max_items, v1::OutboxBatch* batch) override;
  int64_t size() const { return static_cast<int64_t>(items_.size()); }
  int64_t bytes() const;

 private:
  std::vector<v1::OutboxItem> items_;  // custody first, then telemetry, each in order
  size_t next_ = 0;
  uint64_t custody_applied_ = 0;
  uint64_t telemetry_applied_ = 0;
};

// Health readings without end, round-robin over `cameras`, until `stop` is set. Each camera's
// own sequence starts after `camera_sequence_base`: a run that reuses the cameras of an earlier
// one passes a higher base, so its readings are new to the server (a reading whose camera
// sequence is stored already is skipped there, which is cheaper and would flatter the figure).
class ReadingSource final : public BatchSource {
 public:
  ReadingSource(std::vector<std::string> cameras, const std::atomic<bool>* stop,
                uint64_t camera_sequence_base = 0);
  void Resume(uint64_t custody_applied, uint64_t telemetry_applied) override;
  bool Next(int max_items, v1::OutboxBatch* batch) override;

 private:
  std::vector<std::string> cameras_;
  const std::atomic<bool>* stop_;
  uint64_t next_sequence_ = 1;
  uint64_t camera_sequence_base_ = 0;
  absl::Time base_;
};

// What happened on one stream; times on the monotonic clock (MonotonicNanos), 0 if never.
struct StreamTimes {
  int64_t started = 0;
  int64_t welcomed = 0;
  int64_t first_ack = 0;
  int64_t drained = 0;  // the last batch's ack came and nothing was left to send
  int64_t done = 0;
  int64_t items_acked = 0;
  int64_t batches_acked = 0;
  absl::Status status;
};

inline constexpr char kSyncMethod[] = "/camfleet.v1.DockService/Sync";

// One Sync stream. Start it with Start(); it deletes nothing and must outlive OnDone (Wait).
// `on_ack(items)` runs on gRPC's thread after every ack, with the items that ack covered.
class DockStreamer final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  DockStreamer(grpc::GenericStub& stub, v1::SyncHello hello, BatchSource& source,
               std::function<void(int64_t items)> on_ack = {},
               absl::Duration deadline = absl::Minutes(10));
  void Start();
  // Blocks until the stream has ended (OnDone ran) or `timeout` passed; false on timeout.
  bool Wait(absl::Duration timeout);
  bool finished() const;
  StreamTimes times() const;
  // Ends the stream early (the benchmark's window closed).
  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  void SendNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  grpc::ClientContext context_;
  BatchSource& source_;
  std::function<void(int64_t)> on_ack_;
  grpc::ByteBuffer in_;
  mutable absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> out_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t max_batch_ ABSL_GUARDED_BY(mu_) = 64;
  int64_t in_flight_items_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  StreamTimes times_ ABSL_GUARDED_BY(mu_);
};

// The hello a dock sends for `epoch` (32 hex characters).
v1::SyncHello MakeHello(const std::string& epoch, int64_t backlog_items, int64_t backlog_bytes);
// A fresh random epoch id.
std::string NewEpoch();

// A generic stub with the same channel the dock would use (its certificate, its own
// connection).
std::unique_ptr<grpc::GenericStub> DockStub(const TlsServer& server, const BenchDock& dock,
                                            int index);

// ------------------------------------------------------------------------------ the ceiling

class AckServer {
 public:
  // Listens on 127.0.0.1:0 with mutual TLS from `home` (camfleetd's own server credentials and
  // the fleet CA, client certificate requested as camfleetd does). Errors: loading them, or
  // binding.
  static absl::StatusOr<std::unique_ptr<AckServer>> Start(const std::string& home);
  ~AckServer();
  const std::string& target() const { return target_; }
  // A channel to it presenting `bundle`, its own connection per `index`.
  std::shared_ptr<grpc::Channel> Channel(const provisioning::CredentialBundle& bundle,
                                         int index) const;

 private:
  class Service;
  AckServer() = default;
  std::string target_;
  std::string ca_pem_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace camfleet::bench
