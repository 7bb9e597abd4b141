#pragma once
// camfleetd's Prometheus metrics (common/metrics.h) and the plain-HTTP listener that serves them
// (`camfleetd serve --metrics-listen ADDR`, GET /metrics, text format 0.0.4). Off unless asked
// for: without --metrics-listen nothing here exists and calls pay nothing.
//
// What is measured where (names in services/server/README.md):
//   gRPC calls      rpc::CallMetrics, a server interceptor: every call and stream, by method and
//                   status code, with latency histograms;
//   the store       storage::StoreMetrics histograms fed by the writer and syncer (writes per
//                   group, COMMIT and fsync latency), and Store::stats() read at scrape time
//                   (queue depth, checkpoint failures, writes, commits, syncs, refusals);
//   docks           docks with a Sync stream open (DockHandler) and the backlog each dock
//                   reported (the dock_status table), read at scrape time;
//   alerts          open alerts by kind (the alerts table), read at scrape time;
//   rollouts        whatever the rollout code reports through SetRolloutProgressSource.
// Values read at scrape time cost the scrape, not the calls: a scrape is a few indexed reads on
// a reader connection, on the listener's own thread.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "services/dock/dock_handler.h"
#include "services/rpc/call_metrics.h"
#include "services/storage/store.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace camfleet::server {

// One row of rollout progress: how many cameras of a wave of a rollout are in a state
// ("pending", "downloading", "installed", "failed", ... as the rollout code names them).
struct RolloutProgressRow {
  std::string rollout;
  std::string wave;
  std::string state;
  int64_t cameras = 0;
};
// Called at each scrape, on the metrics listener's thread; may read the store. Report active
// (and recently finished) rollouts only: every distinct row is a series.
using RolloutProgressSource = std::function<std::vector<RolloutProgressRow>()>;

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  common::MetricsRegistry& registry() { return registry_; }

  // The histograms for StoreOptions::metrics.
  storage::StoreMetrics ForStore();
  // The call counters for the gRPC services named (full names); call once, before the server
  // is built, and hand NewInterceptorFactory() to the builder.
  rpc::CallMetrics& Calls(const std::vector<std::string>& services);

  // Registers the metrics read at scrape time. `docks` may be null (a plaintext dev server has
  // no DockService): docks connected is then 0. Both must outlive Stop().
  void Watch(storage::Store& store, dock::DockHandler* docks);

  // The registration point for rollout progress (camfleet_rollout_cameras{rollout,wave,state}).
  // Until a source is set the metric has no series: no value is made up. Thread-safe; a second
  // call replaces the source.
  void SetRolloutProgressSource(RolloutProgressSource source);

  // Serves GET /metrics over plain HTTP on `address` ("127.0.0.1:9464", "[::1]:0",
  // "0.0.0.0:9464"; port 0 picks a free one). Errors: INVALID_ARGUMENT for an address without a
  // port or one that cannot be bound.
  absl::Status Listen(const std::string& address);
  // The bound port, 0 before Listen.
  int port() const { return port_; }
  // Stops the listener (waits for a scrape in progress). Idempotent.
  void Stop();

 private:
  common::MetricsRegistry registry_;
  common::Histogram& group_writes_;
  common::Histogram& commit_seconds_;
  common::Histogram& sync_seconds_;
  std::unique_ptr<rpc::CallMetrics> calls_;

  absl::Mutex rollout_mu_;
  RolloutProgressSource rollout_source_ ABSL_GUARDED_BY(rollout_mu_);

  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  int port_ = 0;
};

}  // namespace camfleet::server
