// camfleet-bench-fleet: the foundation benchmark. Starts the real camfleetd wiring in-process
// (Server::Start on 127.0.0.1:0 over a real SQLite file in a scratch directory), drives it over
// real loopback TCP through the generated stubs, and prints each figure next to the machine's
// ceiling measured in the same run: empty gRPC calls and one-row durable SQLite commits.
// See bench/README.md for what each figure means.

#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "bench/report.h"
#include "bench/writer_probe.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "services/fleet/fleet_manager.h"
#include "provisioning/role.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/server/server.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/store.h"

namespace camfleet::bench {
namespace {

using google::protobuf::util::TimeUtil;
using json = nlohmann::json;

constexpr absl::Duration kCallDeadline = absl::Seconds(30);
constexpr absl::Duration kBulkDeadline = absl::Seconds(300);
constexpr int kPageSize = 100;

struct BenchOptions {
  double warmup_s = 1.0;
  double duration_s = 4.0;
  double commit_duration_s = 3.0;
  std::vector<int> clients = {1, 16, 64};
  int channels = 0;  // 0: one channel (one TCP connection) per client
  int cameras = 100000;
  int regions = 5;
  int districts = 10;  // per region
  int posts = 20;      // per district
  int cameras_per_client = 4;
  int import_chunk = 10000;
  int list_iterations = 200;
  int sql_iterations = 50;
  int deep_page = 500;
  bool direct = true;  // also drive lifecycle through FleetManager without gRPC
  // Experiments on the writer's connection; figures taken with them are not the store's.
  WriterProbe::Experiment experiment;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
  uint64_t seed = 1;
};

// ------------------------------------------------------------------------------ helpers

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::unique_ptr<grpc::ClientContext> NewContext(const std::string& operator_name,
                                                absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  ctx->AddMetadata(rpc::kOperatorMetadata, operator_name);
  return ctx;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(common::ToMicros(t));
}

// An admin acting under `name`, as the development authenticator would produce.
rpc::Identity Operator(std::string name) {
  rpc::Identity who;
  who.name = std::move(name);
  who.role = provisioning::Role::kAdmin;
  return who;
}

pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// From the scheduler's own accounting (nanoseconds): time a thread has spent on a CPU, and
// time it was ready to run but waiting for one.
struct ThreadSched {
  int64_t on_cpu = 0;
  int64_t waiting_for_cpu = 0;
};
ThreadSched ThreadSchedStat(pid_t tid) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/schedstat"));
  ThreadSched s;
  in >> s.on_cpu >> s.waiting_for_cpu;
  return in ? s : ThreadSched{};
}

// Bytes this process has caused to be written to storage (the WAL, checkpoints).
int64_t ProcessWriteBytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

int64_t ProcessCpuNanos() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ns = [](const timeval& tv) {
    return static_cast<int64_t>(tv.tv_sec) * 1000000000 + static_cast<int64_t>(tv.tv_usec) * 1000;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

// The 1-minute load average: other work on the machine skews every figure, so it is printed.
double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one_minute = 0;
  in >> one_minute;
  return one_minute;
}

double Seconds(int64_t start_ns) {
  return static_cast<double>(MonotonicNanos() - start_ns) / 1e9;
}

// A fresh directory for the run's database files, removed afterwards unless kept.
class ScratchDir {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchDir>> Create(const std::string& base, bool keep) {
    std::string root = base;
    if (root.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      root = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string pattern = root + "/camfleet-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("cannot make a scratch directory under ", root, ": ", strerror(errno)));
    }
    return std::unique_ptr<ScratchDir>(new ScratchDir(pattern, keep));
  }
  ~ScratchDir() {
    if (keep_) return;
    std::error_code ec;  // the non-throwing form: a leftover directory is not worth a crash
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  ScratchDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  bool keep_;
};

std::string Clients(int n) { return absl::StrCat(n, n == 1 ? " client" : " clients"); }

std::string Ms(double ms) { return absl::StrFormat("%.2f", ms); }
std::string Rate(double r) { return absl::StrFormat("%.0f", r); }

json LatencyJson(const LatencySummary& l) {
  return {{"count", l.count}, {"p50_ms", l.p50_ms}, {"p99_ms", l.p99_ms},
          {"max_ms", l.max_ms}, {"mean_ms", l.mean_ms}};
}

// ------------------------------------------------------------------ 1b. commit ceiling

struct CommitCeiling {
  double commits_per_s = 0;  // steady state: the WAL's space is reused, as in a running store
  LatencySummary latency;
  double growing_commits_per_s = 0;  // a fresh file whose WAL grows with every commit
  LatencySummary growing_latency;
};

// Commits one-row transactions one at a time for `duration` (after `warmup`).
absl::StatusOr<std::pair<double, LatencySummary>> CommitOneAtATime(common::Database& db,
                                                                   absl::Duration warmup,
                                                                   absl::Duration duration) {
  // About the size of one audit event's details.
  const std::string payload(160, 'x');
  std::vector<int64_t> latencies;
  const int64_t start = MonotonicNanos();
  const int64_t begin = start + absl::ToInt64Nanoseconds(warmup);
  const int64_t end = begin + absl::ToInt64Nanoseconds(duration);
  int64_t now = start;
  while (now < end) {
    const int64_t t0 = MonotonicNanos();
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    {
      ASSIGN_OR_RETURN(common::Statement insert,
                       db.Prepare("INSERT INTO bench_commit (created_us, payload) VALUES (?, ?)"));
      insert.Bind(1, t0).Bind(2, payload);
      RETURN_IF_ERROR(insert.Run());
    }
    RETURN_IF_ERROR(db.Exec("COMMIT"));
    now = MonotonicNanos();
    if (t0 >= begin) latencies.push_back(now - t0);
  }
  const double rate = static_cast<double>(latencies.size()) / absl::ToDoubleSeconds(duration);
  return std::make_pair(rate, Summarize(std::move(latencies)));
}

// One-row transactions committed one at a time on a fresh file opened exactly as the store
// opens its own (common::Database::Open: WAL, synchronous=FULL): the cost group commit shares.
absl::StatusOr<CommitCeiling> MeasureCommitCeiling(const std::string& path,
                                                   absl::Duration duration) {
  ASSIGN_OR_RETURN(std::unique_ptr<common::Database> db, common::Database::Open(path));
  RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE bench_commit (id INTEGER PRIMARY KEY, created_us INTEGER NOT NULL, "
      "payload TEXT NOT NULL);"
      "CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);"));
  CommitCeiling out;
  // While the WAL file grows, every fsync also commits the file system's metadata (the new
  // size); shown for reference, it is not what a running store pays.
  ASSIGN_OR_RETURN(std::tie(out.growing_commits_per_s, out.growing_latency),
                   CommitOneAtATime(*db, absl::ZeroDuration(), duration / 3));
  // Grow the WAL past the auto-checkpoint size once (1000 pages); after the checkpoint the
  // next commits write over the WAL's start, within the file's size, as a long-running
  // store's commits do.
  RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  for (int i = 0; i < 1200; ++i) {
    ASSIGN_OR_RETURN(common::Statement fill,
                     db->Prepare("INSERT INTO bench_filler (payload) VALUES (zeroblob(4000))"));
    RETURN_IF_ERROR(fill.Run());
  }
  RETURN_IF_ERROR(db->Exec("COMMIT"));
  RETURN_IF_ERROR(db->Exec("PRAGMA wal_checkpoint(PASSIVE)"));
  ASSIGN_OR_RETURN(std::tie(out.commits_per_s, out.latency),
                   CommitOneAtATime(*db, absl::Seconds(0.5), duration));
  return out;
}

// ---------------------------------------------------------------------- fixture

// FleetManager writes in flight: bounded, counted, first error kept. `done` runs on the
// store's writer thread, so it only counts.
class Pending {
 public:
  explicit Pending(int64_t max_in_flight) : max_in_flight_(max_in_flight) {}

  template <typename Resp>
  fleet::Done<Resp> Add() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Pending* p) { return p->in_flight_ < p->max_in_flight_; }, this));
    ++in_flight_;
    return [this](absl::StatusOr<Resp> result) { Finish(result.status()); };
  }

  // Waits for everything added so far. Returns the first error, saying how many failed.
  absl::Status Wait(absl::string_view what) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(+[](Pending* p) { return p->in_flight_ == 0; }, this));
    if (errors_ == 0) return absl::OkStatus();
    return absl::Status(first_error_.code(), absl::StrCat(what, ": ", errors_, " failed, first: ",
                                                          first_error_.message()));
  }

 private:
  void Finish(const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    if (!s.ok() && errors_++ == 0) first_error_ = s;
  }

  const int64_t max_in_flight_;
  absl::Mutex mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
};

// What the lifecycle clients work on: their own holder and cameras. Shared by the gRPC and the
// direct caller of the same client so the two always agree on what is issued.
struct ClientCameras {
  std::string operator_name;
  std::string holder;
  std::vector<std::string> serials;
  size_t next = 0;
  bool issued = false;
};

enum class Plan : uint8_t { kRegistered, kAvailable, kIssued, kLost, kFaulty };

struct Fixture {
  std::vector<std::string> regions;
  std::vector<std::string> posts;
  std::vector<std::string> holders;
  std::vector<std::string> models = {"BWC-100", "BWC-200", "BWC-300", "BWC-X1"};
  std::vector<std::unique_ptr<ClientCameras>> clients;
  std::string holder_with_cameras;
  int64_t not_seen_since_us = 0;
  std::map<std::string, int64_t> state_counts;
  int64_t never_seen = 0;
  int64_t not_seen_matches = 0;
  json timings = json::object();
};

class FixtureBuilder {
 public:
  FixtureBuilder(server::Server& server, fleet::FleetManager& manager,
                 v1::FleetService::Stub& stub, const BenchOptions& options)
      : server_(server), manager_(manager), stub_(stub), options_(options), rng_(options.seed) {}

  absl::StatusOr<Fixture> Build(int max_clients) {
    Fixture f;
    int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(CreateSites(f));
    RETURN_IF_ERROR(CreateHolders(f));
    RETURN_IF_ERROR(CreateClientCameras(f, max_clients));
    f.timings["sites_holders_client_cameras_s"] = Seconds(t);
    std::cout << absl::StrFormat(
                     "  %zu regions, %zu posts (%d sites in all), %zu holders, %d lifecycle "
                     "clients x %d cameras: %.1f s\n",
                     f.regions.size(), f.posts.size(),
                     options_.regions * (1 + options_.districts * (1 + options_.posts)),
                     f.holders.size(), max_clients, options_.cameras_per_client, Seconds(t))
              << std::flush;
    RETURN_IF_ERROR(ImportCameras(f));
    RETURN_IF_ERROR(SetStates(f));
    RETURN_IF_ERROR(SetLastSeen(f));
    RETURN_IF_ERROR(CountStates(f));
    return f;
  }

 private:
  rpc::Identity Who() const { return Operator("bench-setup"); }

  absl::Status CreateSites(Fixture& f) {
    Pending pending(4096);
    auto create = [&](const std::string& code, const std::string& name,
                      const std::string& parent) {
      v1::CreateSiteRequest req;
      req.set_code(code);
      req.set_name(name);
      req.set_parent_code(parent);
      manager_.CreateSite(Who(), req, pending.Add<v1::CreateSiteResponse>());
    };
    for (int r = 1; r <= options_.regions; ++r) {
      f.regions.push_back(absl::StrFormat("R%d", r));
      create(f.regions.back(), absl::StrFormat("Region %d", r), "");
    }
    RETURN_IF_ERROR(pending.Wait("creating regions"));
    std::vector<std::string> districts;
    for (const std::string& region : f.regions) {
      for (int d = 1; d <= options_.districts; ++d) {
        districts.push_back(absl::StrFormat("%s-D%02d", region, d));
        create(districts.back(), absl::StrCat("District ", districts.back()), region);
      }
    }
    RETURN_IF_ERROR(pending.Wait("creating districts"));
    for (const std::string& district : districts) {
      for (int p = 1; p <= options_.posts; ++p) {
        f.posts.push_back(absl::StrFormat("%s-P%02d", district, p));
        create(f.posts.back(), absl::StrCat("Post ", f.posts.back()), district);
      }
    }
    return pending.Wait("creating posts");
  }

  const std::string& RandomPost(const Fixture& f) {
    return f.posts[std::uniform_int_distribution<size_t>(0, f.posts.size() - 1)(rng_)];
  }

  absl::Status CreateHolders(Fixture& f) {
    Pending pending(4096);
    const int count = std::max(options_.cameras / 10, 1);
    for (int i = 1; i <= count; ++i) {
      v1::CreateHolderRequest req;
      req.set_badge(absl::StrFormat("H%06d", i));
      req.set_name(absl::StrFormat("Officer %d", i));
      req.set_unit(absl::StrFormat("Patrol %d", i % 40));
      req.set_home_site_code(RandomPost(f));
      f.holders.push_back(req.badge());
      manager_.CreateHolder(Who(), req, pending.Add<v1::CreateHolderResponse>());
    }
    return pending.Wait("creating holders");
  }

  // Each lifecycle client gets a holder and its own commissioned cameras.
  absl::Status CreateClientCameras(Fixture& f, int max_clients) {
    Pending pending(4096);
    for (int c = 0; c < max_clients; ++c) {
      auto cams = std::make_unique<ClientCameras>();
      cams->operator_name = absl::StrFormat("bench-client-%02d", c);
      cams->holder = absl::StrFormat("BENCH-%02d", c);
      v1::CreateHolderRequest h;
      h.set_badge(cams->holder);
      h.set_name(absl::StrFormat("Bench holder %d", c));
      h.set_home_site_code(f.posts.front());
      manager_.CreateHolder(Who(), h, pending.Add<v1::CreateHolderResponse>());
      for (int k = 0; k < options_.cameras_per_client; ++k) {
        v1::RegisterCameraRequest req;
        // "LC" sorts after the fleet's "CF" serials, so these do not fill the lists' first pages.
        req.set_serial(absl::StrFormat("LC-%02d-%02d", c, k));
        req.set_model(f.models.front());
        req.set_site_code(RandomPost(f));
        cams->serials.push_back(req.serial());
        manager_.RegisterCamera(Who(), req, pending.Add<v1::RegisterCameraResponse>());
      }
      f.clients.push_back(std::move(cams));
    }
    RETURN_IF_ERROR(pending.Wait("registering the lifecycle clients' cameras"));
    for (const auto& cams : f.clients) {
      for (const std::string& serial : cams->serials) {
        v1::CommissionCameraRequest req;
        req.set_serial(serial);
        req.set_reason("benchmark unit");
        manager_.CommissionCamera(Who(), req, pending.Add<v1::CommissionCameraResponse>());
      }
    }
    return pending.Wait("commissioning the lifecycle clients' cameras");
  }

  static std::string Serial(int i) { return absl::StrFormat("CF%07d", i); }

  // The bulk load goes through the real API: ImportManifest over gRPC, one chunk per call.
  absl::Status ImportCameras(Fixture& f) {
    // Models are skewed the way a real fleet is: one main model, an older and a newer one,
    // and a small trial batch.
    std::discrete_distribution<size_t> model_pick({55, 30, 12, 3});
    const int64_t t = MonotonicNanos();
    int64_t imported = 0;
    for (int first = 1; first <= options_.cameras; first += options_.import_chunk) {
      const int last = std::min(options_.cameras, first + options_.import_chunk - 1);
      std::string csv = "serial,model,hardware_revision,site\n";
      for (int i = first; i <= last; ++i) {
        absl::StrAppend(&csv, Serial(i), ",", f.models[model_pick(rng_)], ",",
                        i % 3 == 0 ? "B" : "A", ",", RandomPost(f), "\n");
      }
      v1::ImportManifestRequest req;
      req.set_csv(std::move(csv));
      v1::ImportManifestResponse resp;
      auto ctx = NewContext("bench-setup", kBulkDeadline);
      RETURN_IF_ERROR(FromGrpc(stub_.ImportManifest(ctx.get(), req, &resp)));
      if (resp.errors_size() > 0 || resp.imported() != last - first + 1) {
        return absl::InternalError(absl::StrCat(
            "ImportManifest of rows ", first, "..", last, " imported ", resp.imported(),
            resp.errors_size() > 0 ? absl::StrCat(", first error: ", resp.errors(0).message())
                                   : ""));
      }
      imported += resp.imported();
    }
    const double secs = Seconds(t);
    f.timings["import_s"] = secs;
    f.timings["import_rows_per_s"] = static_cast<double>(imported) / secs;
    std::cout << absl::StrFormat(
                     "  ImportManifest over gRPC: %d cameras in chunks of %d: %.1f s "
                     "(%.0f rows/s)\n",
                     imported, options_.import_chunk, secs, static_cast<double>(imported) / secs)
              << std::flush;
    return absl::OkStatus();
  }

  // States through FleetManager (the same code the RPCs run, audit events included), queued
  // deep so the store commits them in full groups.
  absl::Status SetStates(Fixture& f) {
    std::uniform_real_distribution<double> u(0, 1);
    plan_.resize(static_cast<size_t>(options_.cameras) + 1);
    for (int i = 1; i <= options_.cameras; ++i) {
      const double r = u(rng_);
      Plan p = Plan::kAvailable;
      if (r < 0.02) {
        p = Plan::kRegistered;
      } else if (r < 0.17) {
        p = Plan::kIssued;
      } else if (r < 0.175) {
        p = Plan::kLost;  // rare: 0.5 %
      } else if (r < 0.185) {
        p = Plan::kFaulty;
      }
      plan_[static_cast<size_t>(i)] = p;
    }
    Pending pending(20000);
    auto phase = [&](const char* what, auto start_one, auto wanted) -> absl::Status {
      const int64_t t = MonotonicNanos();
      int64_t n = 0;
      for (int i = 1; i <= options_.cameras; ++i) {
        if (!wanted(plan_[static_cast<size_t>(i)])) continue;
        start_one(i);
        ++n;
      }
      RETURN_IF_ERROR(pending.Wait(what));
      const double secs = Seconds(t);
      f.timings[absl::StrCat(what, "_s")] = secs;
      f.timings[absl::StrCat(what, "_per_s")] = static_cast<double>(n) / secs;
      std::cout << absl::StrFormat("  %s via FleetManager: %d cameras: %.1f s (%.0f/s)\n", what,
                                   n, secs, static_cast<double>(n) / secs)
                << std::flush;
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(phase(
        "commission",
        [&](int i) {
          v1::CommissionCameraRequest req;
          req.set_serial(Serial(i));
          req.set_reason("delivery accepted");
          manager_.CommissionCamera(Who(), req, pending.Add<v1::CommissionCameraResponse>());
        },
        [](Plan p) { return p != Plan::kRegistered; }));
    const absl::Time now = absl::Now();
    std::uniform_int_distribution<size_t> holder_pick(0, f.holders.size() - 1);
    std::uniform_int_distribution<int64_t> due_hours(1, 24);
    RETURN_IF_ERROR(phase(
        "issue",
        [&](int i) {
          v1::IssueCameraRequest req;
          req.set_serial(Serial(i));
          req.set_holder_badge(f.holders[holder_pick(rng_)]);
          if (f.holder_with_cameras.empty()) f.holder_with_cameras = req.holder_badge();
          *req.mutable_due_back_time() = Ts(now + absl::Hours(due_hours(rng_)));
          manager_.IssueCamera(Who(), req, pending.Add<v1::IssueCameraResponse>());
        },
        [](Plan p) { return p == Plan::kIssued; }));
    RETURN_IF_ERROR(phase(
        "report_lost",
        [&](int i) {
          v1::ReportCameraLostRequest req;
          req.set_serial(Serial(i));
          req.set_note("not in the dock after the shift");
          manager_.ReportCameraLost(Who(), req, pending.Add<v1::ReportCameraLostResponse>());
        },
        [](Plan p) { return p == Plan::kLost; }));
    return phase(
        "report_faulty",
        [&](int i) {
          v1::ReportCameraFaultyRequest req;
          req.set_serial(Serial(i));
          req.set_note("lens cracked");
          manager_.ReportCameraFaulty(Who(), req, pending.Add<v1::ReportCameraFaultyResponse>());
        },
        [](Plan p) { return p == Plan::kFaulty; });
  }

  // No RPC sets "last seen" yet (that is the dock service's job), so it goes straight into the
  // store: most units docked in the last two days, a few not for weeks, REGISTERED ones never.
  absl::Status SetLastSeen(Fixture& f) {
    const int64_t now_us = common::ToMicros(absl::Now());
    constexpr int64_t kHour = int64_t{3600} * 1000000;
    constexpr int64_t kDay = 24 * kHour;
    f.not_seen_since_us = now_us - 14 * kDay;
    std::uniform_real_distribution<double> u(0, 1);
    std::uniform_int_distribution<int64_t> recent(0, 48 * kHour);
    std::uniform_int_distribution<int64_t> stale(15 * kDay, 60 * kDay);
    std::vector<std::pair<std::string, int64_t>> seen;
    for (const auto& cams : f.clients) {
      for (const std::string& serial : cams->serials) seen.emplace_back(serial, now_us);
    }
    for (int i = 1; i <= options_.cameras; ++i) {
      const Plan p = plan_[static_cast<size_t>(i)];
      if (p == Plan::kRegistered) {
        ++f.never_seen;
        ++f.not_seen_matches;
        continue;
      }
      const bool is_stale = p == Plan::kLost || u(rng_) < 0.015;
      if (is_stale) ++f.not_seen_matches;
      seen.emplace_back(Serial(i), now_us - (is_stale ? stale(rng_) : recent(rng_)));
    }
    const int64_t t = MonotonicNanos();
    absl::Status written = server_.store().WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
      for (const auto& [serial, us] : seen) {
        ASSIGN_OR_RETURN(common::Statement s,
                         tx.db().Prepare("UPDATE cameras SET last_seen_us = ? WHERE serial = ?"));
        s.Bind(1, us).Bind(2, serial);
        RETURN_IF_ERROR(s.Run());
      }
      return absl::OkStatus();
    });
    f.timings["last_seen_s"] = Seconds(t);
    return written;
  }

  absl::Status CountStates(Fixture& f) {
    return server_.store().Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(common::Statement s,
                       db.Prepare("SELECT state, count(*) FROM cameras GROUP BY state"));
      while (true) {
        ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        f.state_counts[s.ColumnText(0)] = s.ColumnInt(1);
      }
      return absl::OkStatus();
    });
  }

  server::Server& server_;
  fleet::FleetManager& manager_;
  v1::FleetService::Stub& stub_;
  const BenchOptions& options_;
  std::mt19937_64 rng_;
  std::vector<Plan> plan_;
};

// ---------------------------------------------------------------------- callers

// grpc.health.v1.Health/Check: the cheapest unary call the server answers.
class HealthCaller final : public Caller {
 public:
  explicit HealthCaller(std::shared_ptr<grpc::Channel> channel)
      : stub_(grpc::health::v1::Health::NewStub(std::move(channel))) {}

  void Start(std::function<void(absl::Status)> done) override {
    ctx_ = NewContext("bench-health", kCallDeadline);
    stub_->async()->Check(ctx_.get(), &req_, &resp_, [this, done](grpc::Status s) {
      if (s.ok() && resp_.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
        s = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is not SERVING");
      }
      done(FromGrpc(s));
    });
  }

 private:
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::health::v1::HealthCheckRequest req_;
  grpc::health::v1::HealthCheckResponse resp_;
};

// Alternates IssueCamera and ReturnCamera (GOOD) over the client's own cameras, over gRPC.
class GrpcLifecycleCaller final : public Caller {
 public:
  GrpcLifecycleCaller(std::shared_ptr<grpc::Channel> channel, ClientCameras& cams)
      : stub_(v1::FleetService::NewStub(std::move(channel))), cams_(cams) {}

  void Start(std::function<void(absl::Status)> done) override {
    ctx_ = NewContext(cams_.operator_name, kCallDeadline);
    if (!cams_.issued) {
      issue_req_.set_serial(cams_.serials[cams_.next]);
      issue_req_.set_holder_badge(cams_.holder);
      *issue_req_.mutable_due_back_time() = Ts(absl::Now() + absl::Hours(8));
      stub_->async()->IssueCamera(ctx_.get(), &issue_req_, &issue_resp_,
                                  [this, done](grpc::Status s) {
                                    if (s.ok()) cams_.issued = true;
                                    done(FromGrpc(s));
                                  });
    } else {
      return_req_.set_serial(cams_.serials[cams_.next]);
      return_req_.set_condition(v1::RETURN_CONDITION_GOOD);
      stub_->async()->ReturnCamera(ctx_.get(), &return_req_, &return_resp_,
                                   [this, done](grpc::Status s) {
                                     if (s.ok()) {
                                       cams_.issued = false;
                                       cams_.next = (cams_.next + 1) % cams_.serials.size();
                                     }
                                     done(FromGrpc(s));
                                   });
    }
  }

 private:
  std::unique_ptr<v1::FleetService::Stub> stub_;
  ClientCameras& cams_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  v1::IssueCameraRequest issue_req_;
  v1::IssueCameraResponse issue_resp_;
  v1::ReturnCameraRequest return_req_;
  v1::ReturnCameraResponse return_resp_;
};

// The same calls straight into FleetManager: no gRPC, no sockets. The completion runs on the
// store's writer thread, which must not queue writes, so it hops to `executor` first.
class DirectLifecycleCaller final : public Caller {
 public:
  DirectLifecycleCaller(fleet::FleetManager& manager, SerialExecutor& executor,
                        ClientCameras& cams)
      : manager_(manager), executor_(executor), cams_(cams) {}

  void Start(std::function<void(absl::Status)> done) override {
    const rpc::Identity who = Operator(cams_.operator_name);
    if (!cams_.issued) {
      v1::IssueCameraRequest req;
      req.set_serial(cams_.serials[cams_.next]);
      req.set_holder_badge(cams_.holder);
      *req.mutable_due_back_time() = Ts(absl::Now() + absl::Hours(8));
      manager_.IssueCamera(who, req, [this, done](absl::StatusOr<v1::IssueCameraResponse> r) {
        executor_.Post([this, done, s = r.status()] {
          if (s.ok()) cams_.issued = true;
          done(s);
        });
      });
    } else {
      v1::ReturnCameraRequest req;
      req.set_serial(cams_.serials[cams_.next]);
      req.set_condition(v1::RETURN_CONDITION_GOOD);
      manager_.ReturnCamera(who, req, [this, done](absl::StatusOr<v1::ReturnCameraResponse> r) {
        executor_.Post([this, done, s = r.status()] {
          if (s.ok()) {
            cams_.issued = false;
            cams_.next = (cams_.next + 1) % cams_.serials.size();
          }
          done(s);
        });
      });
    }
  }

 private:
  fleet::FleetManager& manager_;
  SerialExecutor& executor_;
  ClientCameras& cams_;
};

// ---------------------------------------------------------------------- throughput

struct ThroughputRun {
  std::string kind;
  int clients = 0;
  LoadResult load;
  storage::StoreStats store;  // commits and writes inside the window
  double writer_busy = 0;     // share of the window the store's writer thread was on a CPU
  double writer_runnable = 0;  // share it was ready to run but waiting for a CPU
  std::vector<StatementCost> statements;  // the writer's statements, costliest first
  double process_cpu = 0;     // CPU-seconds per second for the whole process (2.0 = 2 cores)
  WriterTotals writer;        // COMMIT and checkpoint time on the writer, inside the window
  int64_t write_bytes = 0;    // written to storage by the process inside the window

  double avg_commit_ms() const {
    return writer.commits > 0 ? static_cast<double>(writer.commit_ns) / 1e6 /
                                    static_cast<double>(writer.commits)
                              : 0;
  }
  double in_commit() const {
    return load.window_s > 0 ? static_cast<double>(writer.commit_ns) / 1e9 / load.window_s : 0;
  }

  double writes_per_commit() const {
    return store.commits > 0 ? static_cast<double>(store.writes) / static_cast<double>(store.commits)
                             : 0;
  }
  json ToJson() const {
    return {{"kind", kind},
            {"clients", clients},
            {"calls_per_s", load.calls_per_s()},
            {"calls", load.calls},
            {"errors", load.errors},
            {"first_error", load.first_error},
            {"window_s", load.window_s},
            {"latency", LatencyJson(load.latency)},
            {"store_commits", store.commits},
            {"store_writes", store.writes},
            {"writes_per_commit", writes_per_commit()},
            {"writer_busy", writer_busy},
            {"writer_waiting_for_cpu", writer_runnable},
            {"process_cpu", process_cpu},
            {"writer_commits", writer.commits},
            {"writer_commit_ms_avg", avg_commit_ms()},
            {"writer_in_commit", in_commit()},
            {"checkpoints", writer.checkpoints},
            {"checkpoint_ms_total", static_cast<double>(writer.checkpoint_ns) / 1e6},
            {"checkpoint_frames", writer.checkpoint_frames},
            {"writer_statements", writer.statements},
            {"writer_statement_ms_total", static_cast<double>(writer.statement_ns) / 1e6},
            {"write_bytes", write_bytes},
            {"drained", load.drained}};
  }
};

ThroughputRun RunLoad(const std::string& kind, const std::vector<Caller*>& callers,
                      const LoadOptions& load, storage::Store& store, pid_t writer_tid,
                      WriterProbe& probe) {
  ThroughputRun run;
  run.kind = kind;
  run.clients = static_cast<int>(callers.size());
  storage::StoreStats stats0;
  ThreadSched writer0;
  int64_t cpu0 = 0;
  int64_t wall0 = 0;
  WriterTotals writer0_totals;
  int64_t bytes0 = 0;
  WindowHooks hooks;
  hooks.begin = [&] {
    stats0 = store.stats();
    writer0_totals = probe.Snapshot();
    bytes0 = ProcessWriteBytes();
    writer0 = ThreadSchedStat(writer_tid);
    probe.ResetStatementCosts();
    cpu0 = ProcessCpuNanos();
    wall0 = MonotonicNanos();
  };
  hooks.end = [&] {
    storage::StoreStats stats1 = store.stats();
    const double wall = static_cast<double>(MonotonicNanos() - wall0);
    run.store.commits = stats1.commits - stats0.commits;
    run.store.writes = stats1.writes - stats0.writes;
    const ThreadSched writer1 = ThreadSchedStat(writer_tid);
    run.writer_busy = static_cast<double>(writer1.on_cpu - writer0.on_cpu) / wall;
    run.writer_runnable =
        static_cast<double>(writer1.waiting_for_cpu - writer0.waiting_for_cpu) / wall;
    run.statements = probe.StatementCosts();
    run.process_cpu = static_cast<double>(ProcessCpuNanos() - cpu0) / wall;
    const WriterTotals w = probe.Snapshot();
    run.writer.commits = w.commits - writer0_totals.commits;
    run.writer.commit_ns = w.commit_ns - writer0_totals.commit_ns;
    run.writer.checkpoints = w.checkpoints - writer0_totals.checkpoints;
    run.writer.checkpoint_ns = w.checkpoint_ns - writer0_totals.checkpoint_ns;
    run.writer.checkpoint_frames = w.checkpoint_frames - writer0_totals.checkpoint_frames;
    run.writer.statements = w.statements - writer0_totals.statements;
    run.writer.statement_ns = w.statement_ns - writer0_totals.statement_ns;
    run.write_bytes = ProcessWriteBytes() - bytes0;
  };
  run.load = RunClosedLoop(callers, load, std::move(hooks));
  return run;
}

void PrintRuns(const std::vector<ThroughputRun>& runs, const std::string& kind) {
  std::vector<std::vector<std::string>> rows = {
      {"clients", "calls/s", "p50 ms", "p99 ms", "max ms", "errors", "commits", "writes",
       "writes/commit", "writer busy", "process cpu"}};
  for (const ThroughputRun& r : runs) {
    if (r.kind != kind) continue;
    rows.push_back({absl::StrCat(r.clients), Rate(r.load.calls_per_s()),
                    Ms(r.load.latency.p50_ms), Ms(r.load.latency.p99_ms),
                    Ms(r.load.latency.max_ms), absl::StrCat(r.load.errors),
                    absl::StrCat(r.store.commits), absl::StrCat(r.store.writes),
                    absl::StrFormat("%.1f", r.writes_per_commit()),
                    absl::StrFormat("%.0f%%", 100 * r.writer_busy),
                    absl::StrFormat("%.2f", r.process_cpu)});
  }
  PrintTable(std::cout, rows);
  for (const ThroughputRun& r : runs) {
    if (r.kind != kind) continue;
    if (!r.load.first_error.empty()) {
      std::cout << "  first error with " << r.clients << " clients: " << r.load.first_error
                << "\n";
    }
    if (!r.load.drained) std::cout << "  WARNING: " << r.clients << " clients did not drain\n";
  }
}

// Where the writer's time went in the write runs. Per write: the window divided among the
// writes committed in it; "rest" is the writer's time outside SQL statements (the services'
// C++ between statements, completion callbacks, waiting for work).
void PrintWriterBreakdown(const std::vector<ThroughputRun>& runs, const std::string& kind) {
  std::vector<std::vector<std::string>> rows = {
      {"clients", "writes/s", "writes/commit", "COMMIT ms", "us/write", "COMMIT us", "SQL us",
       "rest us", "on CPU", "waiting for CPU", "stmts/write", "checkpoints", "ckpt ms",
       "KB out/commit"}};
  for (const ThroughputRun& r : runs) {
    if (r.kind != kind) continue;
    const double writes = static_cast<double>(std::max<int64_t>(r.store.writes, 1));
    const double wall_us = r.load.window_s * 1e6 / writes;
    const double commit_us = static_cast<double>(r.writer.commit_ns) / 1e3 / writes;
    const double sql_us = static_cast<double>(r.writer.statement_ns) / 1e3 / writes;
    rows.push_back(
        {absl::StrCat(r.clients), Rate(static_cast<double>(r.store.writes) / r.load.window_s),
         absl::StrFormat("%.1f", r.writes_per_commit()), Ms(r.avg_commit_ms()),
         absl::StrFormat("%.0f", wall_us), absl::StrFormat("%.0f", commit_us),
         absl::StrFormat("%.0f", sql_us), absl::StrFormat("%.0f", wall_us - commit_us - sql_us),
         absl::StrFormat("%.0f%%", 100 * r.writer_busy),
         absl::StrFormat("%.0f%%", 100 * r.writer_runnable),
         absl::StrFormat("%.1f", static_cast<double>(r.writer.statements) / writes),
         absl::StrCat(r.writer.checkpoints),
         Ms(static_cast<double>(r.writer.checkpoint_ns) / 1e6),
         absl::StrFormat("%.0f", static_cast<double>(r.write_bytes) / 1024 /
                                     static_cast<double>(std::max<int64_t>(r.store.commits, 1)))});
  }
  PrintTable(std::cout, rows);
}

// The writer's statements in one run, by total time.
void PrintStatementCosts(const ThroughputRun& r, size_t top) {
  std::vector<std::vector<std::string>> rows = {{"us/write", "us/call", "calls/write", "SQL"}};
  const double writes = static_cast<double>(std::max<int64_t>(r.store.writes, 1));
  for (size_t i = 0; i < r.statements.size() && i < top; ++i) {
    const StatementCost& c = r.statements[i];
    std::string sql = c.sql;
    if (sql.size() > 110) sql = sql.substr(0, 107) + "...";
    rows.push_back({absl::StrFormat("%.1f", static_cast<double>(c.nanos) / 1e3 / writes),
                    absl::StrFormat("%.1f", static_cast<double>(c.nanos) / 1e3 /
                                                static_cast<double>(std::max<int64_t>(c.calls, 1))),
                    absl::StrFormat("%.2f", static_cast<double>(c.calls) / writes), sql});
  }
  PrintTable(std::cout, rows);
}

const ThroughputRun* FindRun(const std::vector<ThroughputRun>& runs, const std::string& kind,
                             int clients) {
  for (const ThroughputRun& r : runs) {
    if (r.kind == kind && r.clients == clients) return &r;
  }
  return nullptr;
}

// ---------------------------------------------------------------------- lists

struct ListCase {
  std::string name;
  v1::ListCamerasRequest request;
  std::string site_code;     // resolved to an id for the SQL-level timing
  std::string holder_badge;  // likewise
  std::string after_serial;  // the cursor the page token carries (deep page)
};

// What SQLite did for the camera query: its text, plan and work counters.
struct StatementProfile {
  std::string sql;
  int64_t nanos = 0;
  int vm_steps = 0;
  int fullscan_steps = 0;
  int sorts = 0;
  int autoindexes = 0;
};

struct ListResult {
  std::string name;
  int rows = 0;
  bool has_next = false;
  LatencySummary api;  // the RPC, end to end over loopback
  LatencySummary sql;  // storage::ListCameras inside Store::Read, no gRPC
  StatementProfile profile;
  std::vector<std::string> plan;
};

int TraceCameraQuery(unsigned type, void* ctx, void* p, void* x) {
  if (type != SQLITE_TRACE_PROFILE) return 0;
  auto* stmt = static_cast<sqlite3_stmt*>(p);
  const char* sql = sqlite3_sql(stmt);
  // Only the camera list itself, not the site/holder lookups before it.
  if (sql == nullptr || std::strstr(sql, "FROM cameras c") == nullptr ||
      std::strstr(sql, "ORDER BY c.serial") == nullptr) {
    return 0;
  }
  auto* out = static_cast<StatementProfile*>(ctx);
  out->sql = sql;
  out->nanos = *static_cast<int64_t*>(x);
  // Read and reset: the statement is cached and its counters add up across runs.
  out->vm_steps = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
  out->fullscan_steps = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
  out->sorts = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 1);
  out->autoindexes = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_AUTOINDEX, 1);
  return 0;
}

class ListBench {
 public:
  ListBench(storage::Store& store, v1::FleetService::Stub& stub, const BenchOptions& options)
      : store_(store), stub_(stub), options_(options) {}

  absl::StatusOr<ListResult> Run(const ListCase& c) {
    ListResult r;
    r.name = c.name;
    // One untimed call to check the answer and warm the statement cache.
    v1::ListCamerasResponse first;
    RETURN_IF_ERROR(Call(c.request, &first));
    r.rows = first.cameras_size();
    r.has_next = !first.next_page_token().empty();
    std::vector<int64_t> api;
    for (int i = 0; i < options_.list_iterations; ++i) {
      v1::ListCamerasResponse resp;
      const int64_t t = MonotonicNanos();
      RETURN_IF_ERROR(Call(c.request, &resp));
      api.push_back(MonotonicNanos() - t);
    }
    r.api = Summarize(std::move(api));

    ASSIGN_OR_RETURN(storage::CameraFilter filter, Filter(c));
    std::vector<int64_t> sql;
    for (int i = 0; i < options_.sql_iterations; ++i) {
      const int64_t t = MonotonicNanos();
      RETURN_IF_ERROR(store_.Read([&](common::Database& db) {
        return storage::ListCameras(db, filter).status();
      }));
      sql.push_back(MonotonicNanos() - t);
    }
    r.sql = Summarize(std::move(sql));
    RETURN_IF_ERROR(Explain(filter, r));
    return r;
  }

 private:
  absl::Status Call(const v1::ListCamerasRequest& req, v1::ListCamerasResponse* resp) {
    auto ctx = NewContext("bench-lister", kCallDeadline);
    return FromGrpc(stub_.ListCameras(ctx.get(), req, resp));
  }

  // The filter FleetManager::ListCameras would build for this request.
  absl::StatusOr<storage::CameraFilter> Filter(const ListCase& c) {
    storage::CameraFilter f;
    f.state = c.request.state();
    f.model = c.request.model();
    if (c.request.has_not_seen_since()) {
      f.not_seen_since_us = TimeUtil::TimestampToMicroseconds(c.request.not_seen_since());
    }
    f.after_serial = c.after_serial;
    f.limit = kPageSize + 1;
    absl::Status read = store_.Read([&](common::Database& db) -> absl::Status {
      if (!c.site_code.empty()) {
        ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(db, c.site_code));
        f.site_id = site.id;
      }
      if (!c.holder_badge.empty()) {
        ASSIGN_OR_RETURN(storage::HolderRow holder, storage::FindHolder(db, c.holder_badge));
        f.holder_id = holder.id;
      }
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return f;
  }

  // Runs the query twice with a profile hook (the first run clears the cached statement's
  // counters), then asks SQLite for the plan of the statement it ran.
  absl::Status Explain(const storage::CameraFilter& filter, ListResult& r) {
    return store_.Read([&](common::Database& db) -> absl::Status {
      StatementProfile profile;
      sqlite3_trace_v2(db.handle(), SQLITE_TRACE_PROFILE, &TraceCameraQuery, &profile);
      absl::Status s = storage::ListCameras(db, filter).status();
      if (s.ok()) s = storage::ListCameras(db, filter).status();
      sqlite3_trace_v2(db.handle(), 0, nullptr, nullptr);
      RETURN_IF_ERROR(s);
      r.profile = profile;
      if (profile.sql.empty()) return absl::OkStatus();
      ASSIGN_OR_RETURN(common::Statement plan,
                       db.Prepare(absl::StrCat("EXPLAIN QUERY PLAN ", profile.sql)));
      std::map<int64_t, int> depth;
      while (true) {
        ASSIGN_OR_RETURN(bool row, plan.Step());
        if (!row) break;
        const int d = depth.count(plan.ColumnInt(1)) ? depth[plan.ColumnInt(1)] + 1 : 0;
        depth[plan.ColumnInt(0)] = d;
        r.plan.push_back(std::string(static_cast<size_t>(2 * d), ' ') + plan.ColumnText(3));
      }
      return absl::OkStatus();
    });
  }

  storage::Store& store_;
  v1::FleetService::Stub& stub_;
  const BenchOptions& options_;
};

// Walks `pages - 1` pages of the unfiltered list and returns the token (and its cursor) for
// page `pages`, and the walk's per-page latency.
struct DeepToken {
  std::string token;
  std::string cursor;
  int pages = 0;
  LatencySummary walk;
};

absl::StatusOr<DeepToken> WalkToPage(v1::FleetService::Stub& stub, int pages) {
  DeepToken out;
  v1::ListCamerasRequest req;
  req.set_page_size(kPageSize);
  std::vector<int64_t> lat;
  for (int p = 1; p < pages; ++p) {
    v1::ListCamerasResponse resp;
    auto ctx = NewContext("bench-lister", kCallDeadline);
    const int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(FromGrpc(stub.ListCameras(ctx.get(), req, &resp)));
    lat.push_back(MonotonicNanos() - t);
    if (resp.next_page_token().empty()) break;
    out.cursor = resp.cameras(resp.cameras_size() - 1).serial();
    out.token = resp.next_page_token();
    req.set_page_token(out.token);
    out.pages = p + 1;
  }
  out.walk = Summarize(std::move(lat));
  return out;
}

// ---------------------------------------------------------------------- the run

class Bench {
 public:
  explicit Bench(BenchOptions options) : options_(std::move(options)) {}

  absl::Status Run() {
    const int max_clients = *std::max_element(options_.clients.begin(), options_.clients.end());
    ASSIGN_OR_RETURN(scratch_, ScratchDir::Create(options_.db_dir, options_.keep_db));
    const LoadOptions load{absl::Seconds(options_.warmup_s), absl::Seconds(options_.duration_s)};
    PrintHeader();

    // 1b. The durable-commit ceiling, first, on a quiet machine.
    std::cout << "\n== Ceiling: one-row durable SQLite commits (WAL, synchronous=FULL) ==\n";
    ASSIGN_OR_RETURN(commit_, MeasureCommitCeiling(scratch_->File("commit-ceiling.db"),
                                                   absl::Seconds(options_.commit_duration_s)));
    std::cout << absl::StrFormat(
        "  steady (WAL space reused): %.0f commits/s, p50 %.2f ms, p99 %.2f ms (%d commits)\n"
        "  for reference, fresh file (WAL growing): %.0f commits/s, p50 %.2f ms, p99 %.2f ms\n",
        commit_.commits_per_s, commit_.latency.p50_ms, commit_.latency.p99_ms,
        commit_.latency.count, commit_.growing_commits_per_s, commit_.growing_latency.p50_ms,
        commit_.growing_latency.p99_ms);

    server::ServerOptions so;
    so.db_path = scratch_->File("camfleet.db");
    so.listen = {"127.0.0.1:0"};
    // Plaintext on loopback: the ceilings run over the same connections, so TLS would cost
    // both sides alike; this benchmark is about the store and the handlers.
    so.insecure_dev = true;
    so.dev_operator = "bench";
    ASSIGN_OR_RETURN(server_, server::Server::Start(so));
    RETURN_IF_ERROR(server_->store().WriteAndWait([this](storage::WriteTx&) {
      writer_tid_ = CurrentThreadId();  // runs on the store's writer thread
      return absl::OkStatus();
    }));
    std::cout << "\nserver: " << server_->target() << ", database " << so.db_path
              << "\n(process " << getpid() << ", store writer thread " << writer_tid_
              << ", for an outside profiler)\n";
    tokens_ = std::make_unique<rpc::PageTokens>("bench: setup only, never lists");
    manager_ = std::make_unique<fleet::FleetManager>(server_->store(), *tokens_);
    RETURN_IF_ERROR(Connect(max_clients));

    std::cout << "\n== Fixture ==\n" << std::flush;
    FixtureBuilder builder(*server_, *manager_, *setup_stub_, options_);
    ASSIGN_OR_RETURN(fixture_, builder.Build(max_clients));
    PrintFixture();

    std::cout << "\n== Throughput: " << options_.warmup_s << " s warm-up + "
              << options_.duration_s << " s measured per run ==\n"
              << std::flush;
    std::vector<std::unique_ptr<Caller>> health, lifecycle, direct;
    SerialExecutor executor;
    for (int i = 0; i < max_clients; ++i) {
      auto channel = channels_[static_cast<size_t>(i) % channels_.size()];
      ClientCameras& cams = *fixture_.clients[static_cast<size_t>(i)];
      health.push_back(std::make_unique<HealthCaller>(channel));
      lifecycle.push_back(std::make_unique<GrpcLifecycleCaller>(channel, cams));
      direct.push_back(std::make_unique<DirectLifecycleCaller>(*manager_, executor, cams));
    }
    auto first = [](const std::vector<std::unique_ptr<Caller>>& all, int n) {
      std::vector<Caller*> out;
      for (int i = 0; i < n; ++i) out.push_back(all[static_cast<size_t>(i)].get());
      return out;
    };
    WriterProbe probe;
    RETURN_IF_ERROR(probe.Install(server_->store(), options_.experiment));
    auto run = [&](const char* kind, const std::vector<std::unique_ptr<Caller>>& callers, int n) {
      runs_.push_back(RunLoad(kind, first(callers, n), load, server_->store(), writer_tid_, probe));
      Progress(runs_.back());
    };
    for (int n : options_.clients) {
      run("empty", health, n);
      run("lifecycle", lifecycle, n);
      if (options_.direct) run("direct", direct, n);
    }
    RETURN_IF_ERROR(probe.Remove(server_->store()));
    std::cout << "\n-- empty unary call: grpc.health.v1.Health/Check --\n";
    PrintRuns(runs_, "empty");
    std::cout << "\n-- lifecycle over gRPC: IssueCamera / ReturnCamera alternating --\n";
    PrintRuns(runs_, "lifecycle");
    if (options_.direct) {
      std::cout << "\n-- diagnostic: the same lifecycle calls straight into FleetManager "
                   "(no gRPC) --\n";
      PrintRuns(runs_, "direct");
    }
    std::cout << "\n-- where the store's writer thread spent the window ("
              << "SQLite's auto-checkpoint every " << probe.autocheckpoint_pages()
              << " WAL pages, inside COMMIT) --\n";
    std::cout << "lifecycle over gRPC:\n";
    PrintWriterBreakdown(runs_, "lifecycle");
    if (options_.direct) {
      std::cout << "direct into FleetManager:\n";
      PrintWriterBreakdown(runs_, "direct");
    }
    if (const ThroughputRun* r = FindRun(runs_, "lifecycle", max_clients); r != nullptr) {
      std::cout << "\nthe writer's statements, lifecycle over gRPC with " << max_clients
                << " clients (COMMIT includes the WAL write, fsync and any checkpoint):\n";
      PrintStatementCosts(*r, 14);
    }

    RETURN_IF_ERROR(RunLists());
    BuildFigures();
    load_after_ = LoadAverage();
    std::cout << "\n== Summary ==\n";
    PrintFigures(std::cout, figures_);
    std::cout << absl::StrFormat("load average (1 min): %.2f at start, %.2f at end, on %d CPUs\n",
                                 load_before_, load_after_, std::thread::hardware_concurrency());
    if (!options_.json_out.empty()) RETURN_IF_ERROR(WriteJson());
    server_->Shutdown(absl::Seconds(5));
    if (options_.keep_db) std::cout << "\ndatabase kept in " << scratch_->path() << "\n";
    return absl::OkStatus();
  }

 private:
  void PrintHeader() {
    std::cout << "camfleet-bench-fleet: " << std::thread::hardware_concurrency()
              << " CPUs, SQLite " << sqlite3_libversion() << ", gRPC " << grpc::Version()
              << "\nscratch directory: " << scratch_->path() << "\n"
              << "clients: " << absl::StrJoin(options_.clients, ", ") << " ("
              << (options_.channels == 0 ? std::string("one TCP connection each")
                                         : absl::StrCat(options_.channels, " shared connections"))
              << ", callback API, one call in flight per client)\n";
    if (options_.experiment.temp_store_memory) {
      std::cout << "EXPERIMENT: temp_store=MEMORY on the writer's connection, not the store's "
                   "setting; the write figures are not the store's\n";
    }
    if (options_.experiment.cache_mb > 0) {
      std::cout << "EXPERIMENT: the writer's page cache is " << options_.experiment.cache_mb
                << " MiB, not the store's; the write figures are not the store's\n";
    }
    load_before_ = LoadAverage();
    std::cout << absl::StrFormat("load average (1 min) at start: %.2f", load_before_);
    if (load_before_ > 0.5 * std::thread::hardware_concurrency()) {
      std::cout << "  -- WARNING: the machine is busy; figures will be low and noisy";
    }
    std::cout << "\n";
  }

  absl::Status Connect(int max_clients) {
    const int n = options_.channels == 0 ? max_clients : options_.channels;
    for (int i = 0; i < n; ++i) {
      grpc::ChannelArguments args;
      // Distinct arguments keep gRPC from sharing one connection between the channels.
      args.SetInt("camfleet.bench.channel", i);
      auto channel = grpc::CreateCustomChannel(server_->target(),
                                               grpc::InsecureChannelCredentials(), args);
      if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
        return absl::UnavailableError(
            absl::StrCat("channel ", i, " could not connect to ", server_->target()));
      }
      channels_.push_back(std::move(channel));
    }
    setup_stub_ = v1::FleetService::NewStub(channels_.front());
    return absl::OkStatus();
  }

  void PrintFixture() {
    std::vector<std::string> counts;
    for (const auto& [state, n] : fixture_.state_counts) counts.push_back(absl::StrCat(state, " ", n));
    std::cout << "  cameras by state: " << absl::StrJoin(counts, ", ") << "\n"
              << "  last seen: " << fixture_.never_seen << " never, "
              << fixture_.not_seen_matches << " not since 14 days ago (the not_seen_since filter)\n"
              << std::flush;
  }

  static void Progress(const ThroughputRun& r) {
    std::cout << absl::StrFormat("  %-9s %2d clients: %7.0f calls/s  p50 %6.2f ms  p99 %6.2f ms",
                                 r.kind, r.clients, r.load.calls_per_s(), r.load.latency.p50_ms,
                                 r.load.latency.p99_ms)
              << (r.load.errors > 0 ? absl::StrCat("  ", r.load.errors, " ERRORS") : "") << "\n"
              << std::flush;
  }

  absl::Status RunLists() {
    std::cout << "\n== List latency: ListCameras, page_size " << kPageSize << ", "
              << options_.list_iterations << " calls each over gRPC, " << options_.sql_iterations
              << " at the store ==\n"
              << std::flush;
    std::vector<ListCase> cases;
    auto add = [&](std::string name) -> ListCase& {
      cases.push_back(ListCase{std::move(name), {}, "", "", ""});
      cases.back().request.set_page_size(kPageSize);
      return cases.back();
    };
    add("none");
    add("state=LOST").request.set_state(v1::CAMERA_STATE_LOST);
    add("state=AVAILABLE").request.set_state(v1::CAMERA_STATE_AVAILABLE);
    const std::string post = fixture_.posts[fixture_.posts.size() / 2];
    {
      ListCase& c = add(absl::StrCat("site=", post, " (post)"));
      c.request.set_site_code(post);
      c.site_code = post;
    }
    const std::string region = fixture_.regions[fixture_.regions.size() / 2];
    {
      ListCase& c = add(absl::StrCat("site=", region, " (region)"));
      c.request.set_site_code(region);
      c.site_code = region;
    }
    {
      // Not in the issue's list, but the question a quartermaster asks most: what is in stock
      // here. Two filters, each served by its own index.
      ListCase& c = add(absl::StrCat("state=AVAILABLE+site=", post));
      c.request.set_state(v1::CAMERA_STATE_AVAILABLE);
      c.request.set_site_code(post);
      c.site_code = post;
    }
    add(absl::StrCat("model=", fixture_.models[2])).request.set_model(fixture_.models[2]);
    {
      ListCase& c = add(absl::StrCat("holder=", fixture_.holder_with_cameras));
      c.request.set_holder_badge(fixture_.holder_with_cameras);
      c.holder_badge = fixture_.holder_with_cameras;
    }
    *add("not_seen_since=14d").request.mutable_not_seen_since() =
        TimeUtil::MicrosecondsToTimestamp(fixture_.not_seen_since_us);
    ASSIGN_OR_RETURN(deep_, WalkToPage(*setup_stub_, options_.deep_page));
    {
      ListCase& c = add(absl::StrCat("none, page ", deep_.pages, " by token"));
      c.request.set_page_token(deep_.token);
      c.after_serial = deep_.cursor;
    }
    ListBench bench(server_->store(), *setup_stub_, options_);
    for (const ListCase& c : cases) {
      ASSIGN_OR_RETURN(ListResult r, bench.Run(c));
      std::cout << absl::StrFormat("  %-32s p50 %6.2f ms  p99 %6.2f ms\n", r.name, r.api.p50_ms,
                                   r.api.p99_ms)
                << std::flush;
      lists_.push_back(std::move(r));
    }
    std::cout << "  (page walk to page " << deep_.pages << ": p50 " << Ms(deep_.walk.p50_ms)
              << " ms, p99 " << Ms(deep_.walk.p99_ms) << " ms per page)\n\n";

    std::vector<std::vector<std::string>> rows = {
        {"filter", "rows", "more", "api p50", "api p99", "api max", "store p50", "store p99",
         "vm steps", "fullscan steps", "sorts"}};
    for (const ListResult& r : lists_) {
      rows.push_back({r.name, absl::StrCat(r.rows), r.has_next ? "yes" : "no", Ms(r.api.p50_ms),
                      Ms(r.api.p99_ms), Ms(r.api.max_ms), Ms(r.sql.p50_ms), Ms(r.sql.p99_ms),
                      absl::StrCat(r.profile.vm_steps), absl::StrCat(r.profile.fullscan_steps),
                      absl::StrCat(r.profile.sorts)});
    }
    PrintTable(std::cout, rows);
    std::cout << "(ms; 'store' is storage::ListCameras inside Store::Read, without gRPC; the "
                 "counters are SQLite's for that statement)\n";
    std::cout << "\n-- query plans (EXPLAIN QUERY PLAN of the statement each filter ran) --\n";
    for (const ListResult& r : lists_) {
      std::cout << r.name << ":\n";
      for (const std::string& line : r.plan) std::cout << "    " << line << "\n";
    }
    return absl::OkStatus();
  }

  void BuildFigures() {
    for (int n : options_.clients) {
      const ThroughputRun* empty = FindRun(runs_, "empty", n);
      figures_.push_back({absl::StrFormat("empty call rate, %s", Clients(n)),
                          empty->load.calls_per_s(), "calls/s", 0, std::nullopt, "", std::nullopt});
    }
    figures_.push_back({"1-row durable commits", commit_.commits_per_s, "commits/s", 0,
                        std::nullopt, "", std::nullopt});
    const int max_clients = *std::max_element(options_.clients.begin(), options_.clients.end());
    for (int n : options_.clients) {
      const ThroughputRun* empty = FindRun(runs_, "empty", n);
      const ThroughputRun* life = FindRun(runs_, "lifecycle", n);
      std::optional<Goal> half;
      if (n == 64 || (n == max_clients && n >= 64)) {
        half = Goal{Goal::On::kRatio, Goal::Bound::kAtLeast, 0.5};
      }
      figures_.push_back({absl::StrFormat("lifecycle calls/s, %s", Clients(n)),
                          life->load.calls_per_s(), "calls/s", 0, empty->load.calls_per_s(),
                          absl::StrFormat("empty, %d cl", n), half});
      figures_.push_back({absl::StrFormat("lifecycle calls/s, %s", Clients(n)),
                          life->load.calls_per_s(), "calls/s", 0, commit_.commits_per_s,
                          "1-row commits", std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle p50, %s", Clients(n)),
                          life->load.latency.p50_ms, "ms", 2, empty->load.latency.p50_ms,
                          absl::StrFormat("empty p50, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle p99, %s", Clients(n)),
                          life->load.latency.p99_ms, "ms", 2, empty->load.latency.p99_ms,
                          absl::StrFormat("empty p99, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle writes/commit, %s", Clients(n)),
                          life->writes_per_commit(), "writes/commit", 1,
                          static_cast<double>(n), "clients", std::nullopt});
    }
    const ThroughputRun* empty1 = FindRun(runs_, "empty", options_.clients.front());
    for (const ListResult& r : lists_) {
      const Goal under20{Goal::On::kValue, Goal::Bound::kAtMost, 20};
      figures_.push_back({absl::StrCat("list p50, ", r.name), r.api.p50_ms, "ms", 2,
                          empty1->load.latency.p50_ms,
                          absl::StrFormat("empty p50, %d cl", empty1->clients), std::nullopt});
      figures_.push_back({absl::StrCat("list p99, ", r.name), r.api.p99_ms, "ms", 2,
                          empty1->load.latency.p99_ms,
                          absl::StrFormat("empty p99, %d cl", empty1->clients), under20});
    }
  }

  absl::Status WriteJson() {
    json out;
    out["config"] = {{"warmup_s", options_.warmup_s},
                     {"duration_s", options_.duration_s},
                     {"commit_duration_s", options_.commit_duration_s},
                     {"clients", options_.clients},
                     {"channels", options_.channels},
                     {"cameras", options_.cameras},
                     {"sites", {options_.regions, options_.districts, options_.posts}},
                     {"cameras_per_client", options_.cameras_per_client},
                     {"import_chunk", options_.import_chunk},
                     {"list_iterations", options_.list_iterations},
                     {"deep_page", options_.deep_page},
                     {"seed", options_.seed},
                     {"experiment_writer_cache_mb", options_.experiment.cache_mb},
                     {"experiment_writer_temp_store_memory",
                      options_.experiment.temp_store_memory}};
    out["machine"] = {{"cpus", std::thread::hardware_concurrency()},
                      {"load_average_start", load_before_},
                      {"load_average_end", load_after_},
                      {"sqlite", sqlite3_libversion()},
                      {"grpc", grpc::Version()}};
    out["commit_ceiling"] = {{"commits_per_s", commit_.commits_per_s},
                             {"latency", LatencyJson(commit_.latency)},
                             {"growing_wal_commits_per_s", commit_.growing_commits_per_s},
                             {"growing_wal_latency", LatencyJson(commit_.growing_latency)}};
    out["fixture"] = {{"state_counts", fixture_.state_counts},
                      {"never_seen", fixture_.never_seen},
                      {"not_seen_since_matches", fixture_.not_seen_matches},
                      {"timings", fixture_.timings}};
    out["runs"] = json::array();
    for (const ThroughputRun& r : runs_) out["runs"].push_back(r.ToJson());
    out["lists"] = json::array();
    for (const ListResult& r : lists_) {
      out["lists"].push_back({{"filter", r.name},
                              {"rows", r.rows},
                              {"has_next", r.has_next},
                              {"api", LatencyJson(r.api)},
                              {"store", LatencyJson(r.sql)},
                              {"vm_steps", r.profile.vm_steps},
                              {"fullscan_steps", r.profile.fullscan_steps},
                              {"sorts", r.profile.sorts},
                              {"sql", r.profile.sql},
                              {"plan", r.plan}});
    }
    out["deep_page_walk"] = {{"pages", deep_.pages}, {"latency", LatencyJson(deep_.walk)}};
    out["figures"] = FiguresJson(figures_);
    std::ofstream file(options_.json_out);
    file << out.dump(2) << "\n";
    file.close();
    if (!file) {
      return absl::UnavailableError(absl::StrCat("could not write --json-out ", options_.json_out));
    }
    std::cout << "\nJSON written to " << options_.json_out << "\n";
    return absl::OkStatus();
  }

  BenchOptions options_;
  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<server::Server> server_;
  pid_t writer_tid_ = 0;
  std::unique_ptr<rpc::PageTokens> tokens_;
  std::unique_ptr<fleet::FleetManager> manager_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::unique_ptr<v1::FleetService::Stub> setup_stub_;
  CommitCeiling commit_;
  Fixture fixture_;
  std::vector<ThroughputRun> runs_;
  DeepToken deep_;
  std::vector<ListResult> lists_;
  std::vector<Figure> figures_;
  double load_before_ = 0;
  double load_after_ = 0;
};

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::BenchOptions o;
  CLI::App app{
      "camfleet-bench-fleet: lifecycle throughput and list latency of the real camfleetd "
      "wiring, each next to the machine's ceiling measured in the same run"};
  app.add_option("--warmup", o.warmup_s, "Seconds of warm-up before each throughput window")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds measured per throughput run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--commit-duration", o.commit_duration_s,
                 "Seconds of one-row commits for the durable-commit ceiling")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--clients", o.clients, "Concurrent clients for each throughput run")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--channels", o.channels,
                 "TCP connections shared by the clients; 0 gives each client its own")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--cameras", o.cameras, "Cameras in the fleet for the list benchmark")
      ->check(CLI::Range(1, 9999999))
      ->capture_default_str();
  app.add_option("--regions", o.regions, "Regions in the site tree")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--districts", o.districts, "Districts per region")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--posts", o.posts, "Posts per district")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--cameras-per-client", o.cameras_per_client,
                 "Cameras each lifecycle client issues and returns in turn")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--import-chunk", o.import_chunk, "Rows per ImportManifest call")
      ->check(CLI::Range(1, 50000))
      ->capture_default_str();
  app.add_option("--list-iterations", o.list_iterations, "Timed ListCameras calls per filter")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--store-iterations", o.sql_iterations,
                 "Timed store-level list queries per filter (no gRPC)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--deep-page", o.deep_page, "Page number reached by token for the deep page")
      ->check(CLI::Range(2, 1000000))
      ->capture_default_str();
  app.add_flag("!--no-direct", o.direct,
               "Skip the diagnostic lifecycle runs straight into FleetManager");
  app.add_option("--db-dir", o.db_dir,
                 "Directory for the scratch databases (default $TMPDIR or /tmp); use a disk "
                 "like the one production runs on")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--experiment-writer-temp-store-memory", o.experiment.temp_store_memory,
               "EXPERIMENT, not how the store runs: PRAGMA temp_store=MEMORY on the writer's "
               "connection, so the statement journals of the per-write savepoints stay in "
               "memory instead of spilling to a temp file");
  app.add_option("--experiment-writer-cache-mb", o.experiment.cache_mb,
                 "EXPERIMENT, not how the store runs: give the writer's connection a page cache "
                 "of this many MiB (SQLite's default is 2 MiB)")
      ->check(CLI::Range(0, 4096));
  app.add_flag("--keep-db", o.keep_db, "Keep the scratch directory afterwards");
  app.add_option("--json-out", o.json_out, "Also write every figure as JSON to this file");
  app.add_option("--seed", o.seed, "Seed for the fixture's random choices")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::sort(o.clients.begin(), o.clients.end());
  o.clients.erase(std::unique(o.clients.begin(), o.clients.end()), o.clients.end());
  camfleet::bench::Bench bench(o);
  if (absl::Status s = bench.Run(); !s.ok()) {
    std::cerr << "camfleet-bench-fleet: " << s << "\n";
    return 1;
  }
  return 0;
}
