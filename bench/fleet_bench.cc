// camfleet-bench-fleet: the foundation benchmark. Starts the real camfleetd wiring in-process
// (Server::Start on 127.0.0.1:0 over a real SQLite file in a scratch directory), drives it over
// real loopback TCP through the generated stubs, and prints each figure next to the machine's
// ceiling measured in the same run: empty gRPC calls and one-row durable SQLite commits.
// See bench/README.md for what each figure means.

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/callers.h"
#include "bench/client_call.h"
#include "bench/closed_loop.h"
#include "bench/commit_ceiling.h"
#include "bench/fleet_fixture.h"
#include "bench/list_bench.h"
#include "bench/process_stats.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "bench/throughput_run.h"
#include "bench/writer_probe.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "services/fleet/fleet_manager.h"
#include "services/rpc/page_token.h"
#include "services/server/server.h"
#include "services/storage/store.h"

namespace camfleet::bench {
namespace {

using google::protobuf::util::TimeUtil;
using json = nlohmann::json;

struct BenchOptions {
  double warmup_s = 1.0;
  double duration_s = 4.0;
  double commit_duration_s = 3.0;
  std::vector<int> clients = {1, 16, 64};
  int channels = 0;  // 0: one channel (one TCP connection) per client
  FixtureOptions fleet;
  int list_iterations = 200;
  int sql_iterations = 50;
  int deep_page = 500;
  bool direct = true;  // also drive lifecycle through FleetManager without gRPC
  // Experiments on the writer's connection; figures taken with them are not the store's.
  WriterProbe::Experiment experiment;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
  // Serve /metrics (loopback, a free port) as `camfleetd serve --metrics-listen` does: every
  // call then goes through the metrics interceptor and the store feeds its histograms.
  bool metrics = false;
};

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
    if (options_.metrics) so.metrics_listen = "127.0.0.1:0";
    ASSIGN_OR_RETURN(server_, server::Server::Start(so));
    ASSIGN_OR_RETURN(writer_tid_, WriterThreadId(server_->store()));
    std::cout << "\nserver: " << server_->target() << ", database " << so.db_path << "\n(process "
              << getpid() << ", store writer thread " << writer_tid_
              << ", for an outside profiler)\n";
    tokens_ = std::make_unique<rpc::PageTokens>("bench: setup only, never lists");
    manager_ = std::make_unique<fleet::FleetManager>(server_->store(), *tokens_);
    RETURN_IF_ERROR(Connect(max_clients));

    std::cout << "\n== Fixture ==\n" << std::flush;
    ASSIGN_OR_RETURN(fixture_,
                     BuildFixture(*server_, *manager_, *setup_stub_, options_.fleet, max_clients));
    PrintFixture();

    std::cout << "\n== Throughput: " << options_.warmup_s << " s warm-up + " << options_.duration_s
              << " s measured per run ==\n"
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
              << (probe.times_checkpoints()
                      ? absl::StrCat("SQLite's auto-checkpoint every ",
                                     probe.autocheckpoint_pages(), " WAL pages, inside COMMIT")
                      : std::string("the store checkpoints by itself; not timed here"))
              << ") --\n";
    std::cout << "lifecycle over gRPC:\n";
    PrintWriterBreakdown(runs_, "lifecycle");
    if (options_.direct) {
      std::cout << "direct into FleetManager:\n";
      PrintWriterBreakdown(runs_, "direct");
    }
    std::cout << "\n-- where the calls in flight were (mean count in each store stage, sampled "
                 "every ms; ms = count / calls per second, Little's law) --\n";
    std::cout << "lifecycle over gRPC:\n";
    PrintStages(runs_, "lifecycle");
    if (options_.direct) {
      std::cout << "direct into FleetManager:\n";
      PrintStages(runs_, "direct");
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
    std::cout << "camfleet-bench-fleet: " << std::thread::hardware_concurrency() << " CPUs, SQLite "
              << sqlite3_libversion() << ", gRPC " << grpc::Version()
              << "\nscratch directory: " << scratch_->path() << "\n"
              << "clients: " << absl::StrJoin(options_.clients, ", ") << " ("
              << (options_.channels == 0 ? std::string("one TCP connection each")
                                         : absl::StrCat(options_.channels, " shared connections"))
              << ", callback API, one call in flight per client)\n";
    std::cout << "metrics: "
              << (options_.metrics ? "on (--metrics: the interceptor counts every call, the "
                                     "store feeds its histograms)"
                                   : "off (camfleetd's default; --metrics turns them on)")
              << "\n";
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
      auto channel =
          grpc::CreateCustomChannel(server_->target(), grpc::InsecureChannelCredentials(), args);
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
    for (const auto& [state, n] : fixture_.state_counts)
      counts.push_back(absl::StrCat(state, " ", n));
    std::cout << "  cameras by state: " << absl::StrJoin(counts, ", ") << "\n"
              << "  last seen: " << fixture_.never_seen << " never, " << fixture_.not_seen_matches
              << " not since 14 days ago (the not_seen_since filter)\n"
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
    std::cout << "\n== List latency: ListCameras, page_size " << kListPageSize << ", "
              << options_.list_iterations << " calls each over gRPC, " << options_.sql_iterations
              << " at the store ==\n"
              << std::flush;
    std::vector<ListCase> cases;
    auto add = [&](std::string name) -> ListCase& {
      cases.push_back(ListCase{std::move(name), {}, "", "", ""});
      cases.back().request.set_page_size(kListPageSize);
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
      // Not in the list, but the question a quartermaster asks most: what is in stock
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
    ListBench bench(server_->store(), *setup_stub_, options_.list_iterations,
                    options_.sql_iterations);
    for (const ListCase& c : cases) {
      ASSIGN_OR_RETURN(ListResult r, bench.Run(c));
      std::cout << absl::StrFormat("  %-32s p50 %6.2f ms  p99 %6.2f ms\n", r.name, r.api.p50_ms,
                                   r.api.p99_ms)
                << std::flush;
      lists_.push_back(std::move(r));
    }
    std::cout << "  (page walk to page " << deep_.pages << ": p50 " << Ms(deep_.walk.p50_ms)
              << " ms, p99 " << Ms(deep_.walk.p99_ms) << " ms per page)\n\n";

    std::vector<std::vector<std::string>> rows = {{"filter", "rows", "more", "api p50", "api p99",
                                                   "api max", "store p50", "store p99", "vm steps",
                                                   "fullscan steps", "sorts"}};
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
                          life->writes_per_commit(), "writes/commit", 1, static_cast<double>(n),
                          "clients", std::nullopt});
      // SQLite has one writer: at this run's CPU per write (its on-CPU share divided among the
      // writes), a writer with a CPU of its own could commit no more than this, whatever
      // gRPC and the rest cost. Beside the empty call, it bounds the lifecycle ratio above.
      if (life->writer_busy > 0 && life->store.writes > 0) {
        figures_.push_back({absl::StrFormat("one writer's cap (writes/s / busy), %s", Clients(n)),
                            life->load.calls_per_s() / life->writer_busy, "calls/s", 0,
                            empty->load.calls_per_s(), absl::StrFormat("empty, %d cl", n),
                            std::nullopt});
      }
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
    out["config"] = {
        {"warmup_s", options_.warmup_s},
        {"duration_s", options_.duration_s},
        {"commit_duration_s", options_.commit_duration_s},
        {"clients", options_.clients},
        {"channels", options_.channels},
        {"cameras", options_.fleet.cameras},
        {"sites", {options_.fleet.regions, options_.fleet.districts, options_.fleet.posts}},
        {"cameras_per_client", options_.fleet.cameras_per_client},
        {"import_chunk", options_.fleet.import_chunk},
        {"list_iterations", options_.list_iterations},
        {"deep_page", options_.deep_page},
        {"seed", options_.fleet.seed},
        {"experiment_writer_cache_mb", options_.experiment.cache_mb},
        {"experiment_writer_temp_store_memory", options_.experiment.temp_store_memory}};
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
  camfleet::server::PrepareServingProcess();
  // The commit ceiling opens SQLite before the server's store does: set what Store::Open sets
  // first, as in camfleetd, where the store is SQLite's first user.
  camfleet::storage::ConfigureSqliteForStore();
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
  app.add_option("--cameras", o.fleet.cameras, "Cameras in the fleet for the list benchmark")
      ->check(CLI::Range(1, 9999999))
      ->capture_default_str();
  app.add_option("--regions", o.fleet.regions, "Regions in the site tree")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--districts", o.fleet.districts, "Districts per region")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--posts", o.fleet.posts, "Posts per district")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--cameras-per-client", o.fleet.cameras_per_client,
                 "Cameras each lifecycle client issues and returns in turn")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--import-chunk", o.fleet.import_chunk, "Rows per ImportManifest call")
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
  app.add_flag("--metrics", o.metrics,
               "Serve /metrics as `camfleetd serve --metrics-listen` does, to measure what "
               "metrics cost a call (compare a run with and without)");
  app.add_option("--json-out", o.json_out, "Also write every figure as JSON to this file");
  app.add_option("--seed", o.fleet.seed, "Seed for the fixture's random choices")
      ->capture_default_str();
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
