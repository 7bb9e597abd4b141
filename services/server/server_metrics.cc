#include "services/server/server_metrics.h"

#include <httplib.h>
#include <pthread.h>

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/monitoring.pb.h"
#include "common/log.h"
#include "services/storage/alert_repository.h"
#include "services/storage/dock_sync_repository.h"

namespace camfleet::server {
namespace {

// Threads answering scrapes: one scraper at a time is the normal case.
constexpr int kHttpThreads = 2;

// Every kind an open alert can have, so each kind's series exists (at 0) from the start instead
// of appearing with the first alert.
std::vector<std::string> AllAlertKinds() {
  std::vector<std::string> kinds;
  const google::protobuf::EnumDescriptor* kind = v1::AlertKind_descriptor();
  for (int i = 0; i < kind->value_count(); ++i) {
    const auto k = static_cast<v1::AlertKind>(kind->value(i)->number());
    if (k == v1::ALERT_KIND_UNSPECIFIED) continue;
    if (k != v1::ALERT_KIND_DOCK) {
      kinds.push_back(storage::AlertKindName(k, v1::DOCK_ALERT_KIND_UNSPECIFIED));
      continue;
    }
    const google::protobuf::EnumDescriptor* dock = v1::DockAlertKind_descriptor();
    for (int j = 0; j < dock->value_count(); ++j) {
      const auto d = static_cast<v1::DockAlertKind>(dock->value(j)->number());
      if (d != v1::DOCK_ALERT_KIND_UNSPECIFIED) kinds.push_back(storage::AlertKindName(k, d));
    }
  }
  return kinds;
}

}  // namespace

ServerMetrics::ServerMetrics()
    : group_writes_(registry_.AddHistogram(
          "camfleet_store_group_writes",
          "Writes the store's writer took as one group commit (one transaction, one fsync).",
          common::PowersOfTwo(512))),
      commit_seconds_(registry_.AddHistogram(
          "camfleet_store_commit_seconds",
          "Time of each COMMIT of a group (writes its WAL frames; the fsync is apart).",
          common::LatencyBuckets())),
      sync_seconds_(registry_.AddHistogram(
          "camfleet_store_fsync_seconds",
          "Time of each fdatasync of the WAL (one covers every group committed since the last).",
          common::LatencyBuckets())) {}

ServerMetrics::~ServerMetrics() { Stop(); }

storage::StoreMetrics ServerMetrics::ForStore() {
  return storage::StoreMetrics{.group_writes = &group_writes_,
                               .commit_seconds = &commit_seconds_,
                               .sync_seconds = &sync_seconds_};
}

rpc::CallMetrics& ServerMetrics::Calls(const std::vector<std::string>& services) {
  if (calls_ == nullptr) calls_ = std::make_unique<rpc::CallMetrics>(registry_, services);
  return *calls_;
}

void ServerMetrics::Watch(storage::Store& store, dock::DockHandler* docks) {
  using common::MetricType;
  using common::Samples;
  registry_.AddCollector(
      "camfleet_store_queued_writes", "Writes waiting for the store's writer now.",
      MetricType::kGauge, {},
      [&store](Samples& s) { s.Add({}, static_cast<double>(store.stats().queued)); });
  registry_.AddCollector(
      "camfleet_store_writes_in_stage",
      "Writes the store's writer has taken, by where they are now: running (in the group being "
      "committed), awaiting_sync (committed, waiting for the WAL's fdatasync: grows when the "
      "disk is slow), answering (durable, their callers not answered yet).",
      MetricType::kGauge, {"stage"}, [&store](Samples& s) {
        const storage::StoreStats stats = store.stats();
        s.Add({"running"}, static_cast<double>(stats.running));
        s.Add({"awaiting_sync"}, static_cast<double>(stats.awaiting_sync));
        s.Add({"answering"}, static_cast<double>(stats.answering));
      });
  struct StatCounter {
    const char* name;
    const char* help;
    int64_t storage::StoreStats::*field;
  };
  const StatCounter counters[] = {
      {"camfleet_store_writes_total", "Writes committed by the store.",
       &storage::StoreStats::writes},
      {"camfleet_store_commits_total", "Transactions committed by the store's writer.",
       &storage::StoreStats::commits},
      {"camfleet_store_fsyncs_total", "fdatasyncs of the WAL.", &storage::StoreStats::syncs},
      {"camfleet_store_checkpoints_total", "WAL checkpoints run by the checkpointer thread.",
       &storage::StoreStats::checkpoints},
      {"camfleet_store_checkpoint_failures_total",
       "WAL checkpoints that failed (not merely busy); each is also logged as an error. A "
       "growing count means the WAL is not being copied back: check the disk.",
       &storage::StoreStats::checkpoint_failures},
      {"camfleet_store_queue_full_refusals_total",
       "Writes refused UNAVAILABLE because the writer's queue was full.",
       &storage::StoreStats::queue_full_refusals},
      {"camfleet_store_deadline_drops_total",
       "Writes not run because their caller's deadline passed while they waited.",
       &storage::StoreStats::deadline_drops},
  };
  for (const StatCounter& c : counters) {
    registry_.AddCollector(c.name, c.help, MetricType::kCounter, {},
                           [&store, field = c.field](Samples& s) {
                             s.Add({}, static_cast<double>(store.stats().*field));
                           });
  }
  registry_.AddCollector("camfleet_store_healthy",
                         "1 while the store takes writes; 0 after an fsync of its WAL failed (the "
                         "server is then NOT_SERVING; the reason is in the log).",
                         MetricType::kGauge, {},
                         [&store](Samples& s) { s.Add({}, store.health().ok() ? 1 : 0); });

  registry_.AddCollector(
      "camfleet_docks_connected", "Docks with a Sync stream open now.", MetricType::kGauge, {},
      [docks](Samples& s) { s.Add({}, docks == nullptr ? 0 : docks->ConnectedDocks()); });
  registry_.AddCollector(
      "camfleet_dock_backlog_items",
      "Outbox items each dock (not revoked) reported waiting at its last hello, less what it has "
      "delivered since.",
      MetricType::kGauge, {"dock"}, [&store](Samples& s) {
        std::vector<storage::DockBacklog> backlogs;
        absl::Status read = store.Read([&](common::Database& db) -> absl::Status {
          absl::StatusOr<std::vector<storage::DockBacklog>> got = storage::ListDockBacklogs(db);
          if (!got.ok()) return got.status();
          backlogs = *std::move(got);
          return absl::OkStatus();
        });
        if (!read.ok()) {
          common::LogWarning("metrics: reading dock backlogs: ", read.message());
          return;
        }
        for (const storage::DockBacklog& b : backlogs) {
          s.Add({b.dock_id}, static_cast<double>(b.items));
        }
      });
  registry_.AddCollector(
      "camfleet_alerts_open", "Alerts not yet acknowledged, by kind.", MetricType::kGauge, {"kind"},
      [&store, kinds = AllAlertKinds()](Samples& s) {
        std::vector<std::pair<std::string, int64_t>> open;
        absl::Status read = store.Read([&](common::Database& db) -> absl::Status {
          absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> got =
              storage::CountOpenAlertsByKind(db);
          if (!got.ok()) return got.status();
          open = *std::move(got);
          return absl::OkStatus();
        });
        if (!read.ok()) {
          common::LogWarning("metrics: counting open alerts: ", read.message());
          return;
        }
        std::map<std::string, int64_t> by_kind;
        for (const std::string& k : kinds) by_kind[k] = 0;
        for (const auto& [kind, count] : open) by_kind[kind] = count;
        for (const auto& [kind, count] : by_kind) s.Add({kind}, static_cast<double>(count));
      });
  registry_.AddCollector(
      "camfleet_rollout_cameras",
      "Cameras per rollout, wave and state, as the rollout code reports them (no series until "
      "it does).",
      MetricType::kGauge, {"rollout", "wave", "state"}, [this](Samples& s) {
        RolloutProgressSource source;
        {
          absl::MutexLock lock(&rollout_mu_);
          source = rollout_source_;
        }
        if (!source) return;
        for (const RolloutProgressRow& row : source()) {
          s.Add({row.rollout, row.wave, row.state}, static_cast<double>(row.cameras));
        }
      });
}

void ServerMetrics::SetRolloutProgressSource(RolloutProgressSource source) {
  absl::MutexLock lock(&rollout_mu_);
  rollout_source_ = std::move(source);
}

absl::Status ServerMetrics::Listen(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen '", address,
                     "' needs a host and a port from 0 to 65535, e.g. 127.0.0.1:9464"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  http_ = std::make_unique<httplib::Server>();
  http_->new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry_.Render(), common::kMetricsContentType);
  });
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("camfleetd metrics: GET /metrics\n", "text/plain; charset=utf-8");
  });
  const int bound =
      port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    http_.reset();
    return absl::InvalidArgumentError(
        absl::StrCat("could not listen for metrics on ", address,
                     "; is the port in use, or the host not an address of this machine?"));
  }
  port_ = bound;
  http_thread_ = std::thread([http = http_.get()] { http->listen_after_bind(); });
  pthread_setname_np(http_thread_.native_handle(), "metrics-http");
  // stop() only reaches a listener that is running: wait for it, so a Stop right after Listen
  // cannot leave the thread listening for ever.
  for (int i = 0; i < 5000 && !http_->is_running(); ++i) absl::SleepFor(absl::Milliseconds(1));
  return absl::OkStatus();
}

void ServerMetrics::Stop() {
  if (http_ == nullptr) return;
  http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  http_.reset();
}

}  // namespace camfleet::server
