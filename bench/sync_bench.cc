// camfleet-bench-sync: health readings ingested per second, durable, from many docks streaming
// at once over mutual TLS (DockService.Sync on the real camfleetd), beside the streaming ceiling
// of the same gRPC setup with messages of the same size, measured in the same run (AckServer:
// the same TLS credentials, the same callback API, the same one-batch-in-flight flow, nothing
// stored). See bench/README.md.

#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "bench/dock_fleet.h"
#include "bench/process_stats.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "bench/tls_server.h"
#include "bench/writer_probe.h"
#include "nlohmann/json.hpp"

namespace camfleet::bench {
namespace {

using json = nlohmann::json;

struct Options {
  int docks = 100;
  int cameras_per_dock = 8;
  double warmup_s = 2.0;
  double duration_s = 8.0;
  bool quick = false;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
  bool experiment_temp_store_memory = false;
};

struct StreamRun {
  std::string name;
  double window_s = 0;
  int64_t readings = 0;  // acknowledged inside the window
  int64_t batches = 0;
  int64_t total_readings = 0;
  int errors = 0;
  std::string first_error;
  double process_cpu = 0;  // CPU-seconds per second
  double writer_busy = 0;  // share of the window the store's writer was on a CPU
  storage::StoreStats store;
  WriterTotals writer;                    // with a probe: the writer's statements over the window
  std::vector<StatementCost> statements;  // with a probe: by statement text, costliest first
  double readings_per_s() const {
    return window_s > 0 ? static_cast<double>(readings) / window_s : 0;
  }
  double batches_per_s() const {
    return window_s > 0 ? static_cast<double>(batches) / window_s : 0;
  }
};

// Every dock streams readings at once over its own connection; only acks that arrive inside
// the window count.
StreamRun RunStreams(
    const std::string& name, const std::vector<BenchDock>& docks,
    const std::function<std::shared_ptr<grpc::Channel>(const BenchDock&, int)>& channel_for,
    const Options& options, storage::Store* store, pid_t writer_tid, WriterProbe* probe = nullptr,
    double duration_s = 0) {
  StreamRun run;
  run.name = name;
  // Every run's readings are new to the server: camera sequences never seen before.
  static uint64_t next_base = 0;
  const uint64_t run_base = next_base;
  next_base += 100'000'000;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> readings{0};
  std::atomic<int64_t> batches{0};
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  std::vector<std::unique_ptr<ReadingSource>> sources;
  std::vector<std::unique_ptr<DockStreamer>> streams;
  for (size_t d = 0; d < docks.size(); ++d) {
    stubs.push_back(
        std::make_unique<grpc::GenericStub>(channel_for(docks[d], static_cast<int>(d))));
    sources.push_back(std::make_unique<ReadingSource>(docks[d].cameras, &stop, run_base));
    streams.push_back(std::make_unique<DockStreamer>(
        *stubs.back(), MakeHello(NewEpoch(), 0, 0), *sources.back(), [&](int64_t items) {
          readings.fetch_add(items, std::memory_order_relaxed);
          batches.fetch_add(1, std::memory_order_relaxed);
        }));
  }
  for (auto& s : streams) s->Start();
  absl::SleepFor(absl::Seconds(options.warmup_s));
  const int64_t r0 = readings.load();
  const int64_t b0 = batches.load();
  const int64_t cpu0 = ProcessCpuNanos();
  const ThreadSched w0 = writer_tid != 0 ? ThreadSchedStat(writer_tid) : ThreadSched{};
  const storage::StoreStats s0 = store != nullptr ? store->stats() : storage::StoreStats{};
  if (probe != nullptr) probe->ResetStatementCosts();
  const WriterTotals p0 = probe != nullptr ? probe->Snapshot() : WriterTotals{};
  const int64_t t0 = MonotonicNanos();
  absl::SleepFor(absl::Seconds(duration_s > 0 ? duration_s : options.duration_s));
  const int64_t r1 = readings.load();
  const int64_t b1 = batches.load();
  const int64_t t1 = MonotonicNanos();
  const int64_t cpu1 = ProcessCpuNanos();
  const ThreadSched w1 = writer_tid != 0 ? ThreadSchedStat(writer_tid) : ThreadSched{};
  const storage::StoreStats s1 = store != nullptr ? store->stats() : storage::StoreStats{};
  if (probe != nullptr) {
    const WriterTotals p1 = probe->Snapshot();
    run.statements = probe->StatementCosts();
    run.writer.commits = p1.commits - p0.commits;
    run.writer.commit_ns = p1.commit_ns - p0.commit_ns;
    run.writer.statements = p1.statements - p0.statements;
    run.writer.statement_ns = p1.statement_ns - p0.statement_ns;
    run.writer.checkpoints = p1.checkpoints - p0.checkpoints;
    run.writer.checkpoint_ns = p1.checkpoint_ns - p0.checkpoint_ns;
  }
  stop.store(true);
  run.window_s = static_cast<double>(t1 - t0) / 1e9;
  run.readings = r1 - r0;
  run.batches = b1 - b0;
  run.process_cpu = static_cast<double>(cpu1 - cpu0) / static_cast<double>(t1 - t0);
  run.writer_busy = static_cast<double>(w1.on_cpu - w0.on_cpu) / static_cast<double>(t1 - t0);
  run.store.commits = s1.commits - s0.commits;
  run.store.writes = s1.writes - s0.writes;
  run.store.syncs = s1.syncs - s0.syncs;
  run.store.checkpoints = s1.checkpoints - s0.checkpoints;
  for (auto& s : streams) {
    if (!s->Wait(absl::Seconds(60))) {
      s->Cancel();
      s->Wait(absl::Seconds(10));
    }
    const StreamTimes t = s->times();
    if (!t.status.ok() && run.errors++ == 0) run.first_error = t.status.ToString();
  }
  run.total_readings = readings.load();
  return run;
}

void PrintRuns(const std::vector<StreamRun>& runs) {
  std::vector<std::vector<std::string>> rows = {{"run", "readings/s", "batches/s", "items/batch",
                                                 "process cpu", "writer busy", "commits/s",
                                                 "batches/commit", "errors"}};
  for (const StreamRun& r : runs) {
    const bool has_store = r.store.commits > 0;
    rows.push_back(
        {r.name, absl::StrFormat("%.0f", r.readings_per_s()),
         absl::StrFormat("%.0f", r.batches_per_s()),
         absl::StrFormat(
             "%.1f",
             r.batches > 0 ? static_cast<double>(r.readings) / static_cast<double>(r.batches) : 0),
         absl::StrFormat("%.2f", r.process_cpu),
         has_store ? absl::StrFormat("%.0f %%", 100 * r.writer_busy) : "-",
         has_store ? absl::StrFormat("%.0f", static_cast<double>(r.store.commits) / r.window_s)
                   : "-",
         has_store ? absl::StrFormat("%.1f", static_cast<double>(r.store.writes) /
                                                 static_cast<double>(r.store.commits))
                   : "-",
         absl::StrCat(r.errors)});
  }
  PrintTable(std::cout, rows);
  for (const StreamRun& r : runs) {
    if (!r.first_error.empty())
      std::cout << "  " << r.name << " first error: " << r.first_error << "\n";
  }
}

// Where the store's writer spends its time per reading, by statement.
void PrintStatements(const StreamRun& r) {
  if (r.readings == 0) return;
  const double n = static_cast<double>(r.readings);
  const double window_ns = r.window_s * 1e9;
  std::cout << absl::StrFormat(
      "\n%s: the store writer per reading: %.1f us on a CPU (%.0f %% busy); inside SQL "
      "statements %.1f us (%.1f statements), COMMIT %.1f us, checkpoints %.1f us; the rest (the "
      "dock service's C++ between statements, waiting) %.1f us of wall time\n",
      r.name, r.writer_busy * window_ns / n / 1000, 100 * r.writer_busy,
      static_cast<double>(r.writer.statement_ns) / n / 1000,
      static_cast<double>(r.writer.statements) / n,
      static_cast<double>(r.writer.commit_ns) / n / 1000,
      static_cast<double>(r.writer.checkpoint_ns) / n / 1000,
      (window_ns -
       static_cast<double>(r.writer.statement_ns + r.writer.commit_ns + r.writer.checkpoint_ns)) /
          n / 1000);
  std::vector<std::vector<std::string>> rows = {
      {"statement", "per reading", "us per reading", "share of writer"}};
  int shown = 0;
  for (const StatementCost& c : r.statements) {
    if (++shown > 14) break;
    std::string sql = c.sql;
    for (char& ch : sql) {
      if (ch == '\n' || ch == '\t') ch = ' ';
    }
    if (sql.size() > 96) sql = sql.substr(0, 93) + "...";
    rows.push_back({sql, absl::StrFormat("%.2f", static_cast<double>(c.calls) / n),
                    absl::StrFormat("%.2f", static_cast<double>(c.nanos) / n / 1000),
                    absl::StrFormat("%.1f %%", 100.0 * static_cast<double>(c.nanos) /
                                                   static_cast<double>(r.writer.statement_ns +
                                                                       r.writer.commit_ns))});
  }
  PrintTable(std::cout, rows);
}

json RunJson(const StreamRun& r) {
  return json{{"name", r.name},
              {"window_s", r.window_s},
              {"readings", r.readings},
              {"batches", r.batches},
              {"readings_per_s", r.readings_per_s()},
              {"process_cpu", r.process_cpu},
              {"writer_busy", r.writer_busy},
              {"commits", r.store.commits},
              {"writes", r.store.writes},
              {"errors", r.errors},
              {"first_error", r.first_error}};
}

int Run(const Options& options) {
  std::cout << "camfleet-bench-sync: " << options.docks << " docks x " << options.cameras_per_dock
            << " cameras streaming health readings over mutual TLS\n"
            << "load average at start: " << LoadAverages() << " ("
            << std::thread::hardware_concurrency() << " CPUs)\n";
  if (LoadAverage() > 0.5 * std::thread::hardware_concurrency()) {
    std::cout << "WARNING: the machine is busy; every figure below is lower than on a quiet one\n";
  }
  absl::StatusOr<std::unique_ptr<ScratchDir>> scratch =
      ScratchDir::Create(options.db_dir, options.keep_db);
  if (!scratch.ok()) {
    std::cerr << scratch.status() << "\n";
    return 1;
  }
  std::cout << "\n== setup (not timed)\n";
  absl::StatusOr<std::unique_ptr<TlsServer>> server =
      TlsServer::Start((*scratch)->File("home"), "bench-admin");
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  std::cout << "  camfleetd (in this process) over mTLS at " << (*server)->target() << ", store "
            << (*server)->server().store().path() << "\n";
  DockFleetOptions fleet;
  fleet.docks = options.docks;
  fleet.cameras_per_dock = options.cameras_per_dock;
  absl::StatusOr<std::vector<BenchDock>> docks = MakeDockFleet(**server, fleet, std::cout);
  if (!docks.ok()) {
    std::cerr << docks.status() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<AckServer>> ceiling = AckServer::Start((*server)->home());
  if (!ceiling.ok()) {
    std::cerr << ceiling.status() << "\n";
    return 1;
  }
  std::cout << "  ack server (the ceiling) over mTLS at " << (*ceiling)->target() << "\n";
  absl::StatusOr<pid_t> writer = WriterThreadId((*server)->server().store());
  const pid_t writer_tid = writer.ok() ? *writer : 0;
  std::cout << "  process " << getpid() << ", store writer thread " << writer_tid << "\n";
  {
    v1::OutboxItem sample = HealthItem(docks->front().cameras.front(), 1, 1, absl::Now(), 80, true);
    sample.set_lane(v1::SYNC_LANE_TELEMETRY);
    sample.set_sequence(1);
    std::cout << "  one reading: " << sample.ByteSizeLong()
              << " bytes serialized; batches of up to 256 (the welcome's max_batch_items)\n";
  }

  std::cout << absl::StrFormat(
                   "\n== runs (%.0f s warm-up, %.0f s window each; each dock's stream "
                   "has one batch in flight, as the protocol allows)\n",
                   options.warmup_s, options.duration_s)
            << std::flush;
  auto to_ceiling = [&](const BenchDock& dock, int i) {
    return (*ceiling)->Channel(dock.bundle, i);
  };
  auto to_server = [&](const BenchDock& dock, int i) {
    return (*server)->Channel(dock.bundle, 10000 + i);
  };
  std::vector<StreamRun> runs;
  runs.push_back(
      RunStreams("ceiling (ack server), before", *docks, to_ceiling, options, nullptr, 0));
  runs.push_back(RunStreams("camfleetd Sync", *docks, to_server, options,
                            &(*server)->server().store(), writer_tid));
  runs.push_back(
      RunStreams("ceiling (ack server), after", *docks, to_ceiling, options, nullptr, 0));
  PrintRuns(runs);
  {
    // Where the time goes: the same run again with every writer statement timed (the timing
    // costs a little, so it is not the headline figure).
    WriterProbe probe;
    WriterProbe::Experiment experiment;
    experiment.temp_store_memory = options.experiment_temp_store_memory;
    if (experiment.temp_store_memory) {
      std::cout << "\nEXPERIMENT: the timed run's writer keeps statement journals in memory "
                   "(temp_store=MEMORY): its figures are NOT the store's\n";
    }
    if (absl::Status installed = probe.Install((*server)->server().store(), experiment);
        installed.ok()) {
      std::cout << "\n== where the time goes: camfleetd again, the writer's statements timed\n"
                << std::flush;
      StreamRun timed =
          RunStreams("camfleetd Sync (statements timed)", *docks, to_server, options,
                     &(*server)->server().store(), writer_tid, &probe, options.duration_s / 2);
      PrintRuns({timed});
      PrintStatements(timed);
      (void)probe.Remove((*server)->server().store());
    } else {
      std::cout << "(the writer probe could not be installed: " << installed << ")\n";
    }
  }
  const double ceiling_rate = (runs[0].readings_per_s() + runs[2].readings_per_s()) / 2;
  if (runs[0].readings_per_s() > 0 &&
      std::abs(runs[0].readings_per_s() - runs[2].readings_per_s()) / ceiling_rate > 0.2) {
    std::cout << "WARNING: the ceiling moved by more than 20 % between before and after: the "
                 "machine's load changed\n";
  }
  const StreamRun& real = runs[1];

  std::vector<Figure> figures;
  figures.push_back(Figure{
      .name = absl::StrCat("health readings ingested, ", options.docks, " docks (durable)"),
      .value = real.readings_per_s(),
      .unit = "readings/s",
      .precision = 0,
      .ceiling = ceiling_rate,
      .ceiling_name = "ack server, same TLS setup and message sizes (mean of before/after)",
      .goal = Goal{.on = Goal::On::kRatio, .bound = Goal::Bound::kAtLeast, .limit = 0.5},
  });
  std::cout << "\n== summary (machine load average at end: " << LoadAverages() << ")\n";
  PrintFigures(std::cout, figures);
  if (real.errors > 0 || runs[0].errors > 0 || runs[2].errors > 0) {
    std::cout << "WARNING: streams ended with errors: these figures are not valid\n";
  }
  if (!options.json_out.empty()) {
    json out{{"benchmark", "camfleet-bench-sync"},
             {"docks", options.docks},
             {"cameras_per_dock", options.cameras_per_dock},
             {"warmup_s", options.warmup_s},
             {"duration_s", options.duration_s},
             {"load_average_end", LoadAverages()},
             {"runs", json::array()},
             {"figures", FiguresJson(figures)}};
    for (const StreamRun& r : runs) out["runs"].push_back(RunJson(r));
    std::ofstream(options.json_out) << out.dump(2) << "\n";
  }
  ceiling->reset();
  (*server)->Shutdown();
  return real.errors > 0 ? 1 : 0;
}

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::Options options;
  CLI::App app{
      "camfleet-bench-sync: health readings ingested per second through DockService.Sync from "
      "many docks at once over mutual TLS, beside the streaming ceiling of the same gRPC setup "
      "(bench/README.md)"};
  app.add_option("--docks", options.docks, "Docks streaming at once")->capture_default_str();
  app.add_option("--cameras-per-dock", options.cameras_per_dock,
                 "Cameras whose readings each dock sends")
      ->capture_default_str();
  app.add_option("--warmup", options.warmup_s, "Seconds before each window")->capture_default_str();
  app.add_option("--duration", options.duration_s, "Seconds of each measured window")
      ->capture_default_str();
  app.add_flag("--quick", options.quick,
               "A smaller, shorter run: 20 docks, 1 s warm-up, 3 s windows");
  app.add_option("--db-dir", options.db_dir,
                 "Where the scratch directory goes (default $TMPDIR or /tmp)");
  app.add_flag("--keep-db", options.keep_db, "Keep the scratch directory");
  app.add_option("--json-out", options.json_out, "Also write the figures as JSON to this file");
  app.add_flag("--experiment-writer-temp-store-memory", options.experiment_temp_store_memory,
               "In the timed run only: the writer keeps statement journals (savepoints) in memory, "
               "to show what that would gain; labelled as not the store's");
  CLI11_PARSE(app, argc, argv);
  if (options.quick) {
    options.docks = std::min(options.docks, 20);
    options.warmup_s = 1;
    options.duration_s = 3;
  }
  return camfleet::bench::Run(options);
}
