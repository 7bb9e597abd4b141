#include "bench/throughput_run.h"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/process_stats.h"
#include "bench/report.h"

namespace camfleet::bench {

using json = nlohmann::json;

std::string Clients(int n) { return absl::StrCat(n, n == 1 ? " client" : " clients"); }

std::string Ms(double ms) { return absl::StrFormat("%.2f", ms); }
std::string Rate(double per_s) { return absl::StrFormat("%.0f", per_s); }

json LatencyJson(const LatencySummary& l) {
  return {{"count", l.count},
          {"p50_ms", l.p50_ms},
          {"p99_ms", l.p99_ms},
          {"max_ms", l.max_ms},
          {"mean_ms", l.mean_ms}};
}

double ThroughputRun::avg_commit_ms() const {
  return writer.commits > 0
             ? static_cast<double>(writer.commit_ns) / 1e6 / static_cast<double>(writer.commits)
             : 0;
}

double ThroughputRun::in_commit() const {
  return load.window_s > 0 ? static_cast<double>(writer.commit_ns) / 1e9 / load.window_s : 0;
}

double ThroughputRun::writes_per_commit() const {
  return store.commits > 0 ? static_cast<double>(store.writes) / static_cast<double>(store.commits)
                           : 0;
}

double ThroughputRun::writes_per_sync() const {
  return store.syncs > 0 ? static_cast<double>(store.writes) / static_cast<double>(store.syncs) : 0;
}

double ThroughputRun::cpu_us_per_call() const {
  return load.calls > 0 ? process_cpu * load.window_s * 1e6 / static_cast<double>(load.calls) : 0;
}

double ThroughputRun::writer_cpu_us_per_call() const {
  return load.calls > 0 ? writer_busy * load.window_s * 1e6 / static_cast<double>(load.calls) : 0;
}

json ThroughputRun::ToJson() const {
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
          {"store_syncs", store.syncs},
          {"writes_per_commit", writes_per_commit()},
          {"writer_busy", writer_busy},
          {"writer_waiting_for_cpu", writer_runnable},
          {"process_cpu", process_cpu},
          {"cpu_us_per_call", cpu_us_per_call()},
          {"writer_cpu_us_per_call", writer_cpu_us_per_call()},
          {"writer_commits", writer.commits},
          {"writer_commit_ms_avg", avg_commit_ms()},
          {"writer_in_commit", in_commit()},
          {"checkpoints", writer.checkpoints},
          {"checkpoint_ms_total", static_cast<double>(writer.checkpoint_ns) / 1e6},
          {"checkpoint_frames", writer.checkpoint_frames},
          {"writer_statements", writer.statements},
          {"writer_statement_ms_total", static_cast<double>(writer.statement_ns) / 1e6},
          {"write_bytes", write_bytes},
          {"thread_cpu_ns", thread_cpu},
          {"thread_count", thread_count},
          {"stages",
           {{"queued", stages.queued},
            {"running", stages.running},
            {"awaiting_sync", stages.awaiting_sync},
            {"answering", stages.answering}}},
          {"drained", load.drained}};
}

ThroughputRun RunLoad(const std::string& kind, const std::vector<Caller*>& callers,
                      const LoadOptions& load, storage::Store& store, pid_t writer_tid,
                      WriterProbe& probe, const std::map<pid_t, std::string>& thread_labels) {
  ThroughputRun run;
  run.kind = kind;
  run.clients = static_cast<int>(callers.size());
  storage::StoreStats stats0;
  ThreadSched writer0;
  int64_t cpu0 = 0;
  int64_t wall0 = 0;
  WriterTotals writer0_totals;
  int64_t bytes0 = 0;
  std::vector<ThreadCpu> threads0;
  // Samples where the store's writes are, every millisecond of the window.
  std::atomic<bool> sampling{false};
  std::thread sampler;
  int64_t samples = 0;
  ThroughputRun::Stages sums;
  WindowHooks hooks;
  hooks.begin = [&] {
    sampling = true;
    sampler = std::thread([&] {
      while (sampling.load()) {
        const storage::StoreStats s = store.stats();
        sums.queued += static_cast<double>(s.queued);
        sums.running += static_cast<double>(s.running);
        sums.awaiting_sync += static_cast<double>(s.awaiting_sync);
        sums.answering += static_cast<double>(s.answering);
        ++samples;
        absl::SleepFor(absl::Milliseconds(1));
      }
    });
    threads0 = ThreadsCpu();
    stats0 = store.stats();
    writer0_totals = probe.Snapshot();
    bytes0 = ProcessWriteBytes();
    writer0 = ThreadSchedStat(writer_tid);
    probe.ResetStatementCosts();
    cpu0 = ProcessCpuNanos();
    wall0 = MonotonicNanos();
  };
  hooks.end = [&] {
    sampling = false;
    sampler.join();
    if (samples > 0) {
      const auto n = static_cast<double>(samples);
      run.stages = {sums.queued / n, sums.running / n, sums.awaiting_sync / n, sums.answering / n};
    }
    storage::StoreStats stats1 = store.stats();
    const double wall = static_cast<double>(MonotonicNanos() - wall0);
    run.store.commits = stats1.commits - stats0.commits;
    run.store.writes = stats1.writes - stats0.writes;
    run.store.syncs = stats1.syncs - stats0.syncs;
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
    std::map<pid_t, int64_t> before;
    for (const ThreadCpu& t : threads0) before[t.tid] = t.on_cpu;
    for (const ThreadCpu& t : ThreadsCpu()) {
      auto it = before.find(t.tid);
      const int64_t spent = t.on_cpu - (it == before.end() ? 0 : it->second);
      auto label = thread_labels.find(t.tid);
      const std::string name = t.tid == writer_tid            ? std::string("store writer")
                               : label != thread_labels.end() ? label->second
                                                              : t.name;
      run.thread_cpu[name] += spent;
      ++run.thread_count[name];
    }
  };
  run.load = RunClosedLoop(callers, load, std::move(hooks));
  return run;
}

void PrintRuns(const std::vector<ThroughputRun>& runs, const std::string& kind) {
  std::vector<std::vector<std::string>> rows = {{"clients", "calls/s", "p50 ms", "p99 ms", "max ms",
                                                 "errors", "commits", "writes", "writes/commit",
                                                 "writes/sync", "writer busy", "process cpu"}};
  for (const ThroughputRun& r : runs) {
    if (r.kind != kind) continue;
    rows.push_back({absl::StrCat(r.clients), Rate(r.load.calls_per_s()), Ms(r.load.latency.p50_ms),
                    Ms(r.load.latency.p99_ms), Ms(r.load.latency.max_ms),
                    absl::StrCat(r.load.errors), absl::StrCat(r.store.commits),
                    absl::StrCat(r.store.writes), absl::StrFormat("%.1f", r.writes_per_commit()),
                    absl::StrFormat("%.1f", r.writes_per_sync()),
                    absl::StrFormat("%.0f%%", 100 * r.writer_busy),
                    absl::StrFormat("%.2f", r.process_cpu)});
  }
  PrintTable(std::cout, rows);
  for (const ThroughputRun& r : runs) {
    if (r.kind != kind) continue;
    if (!r.load.first_error.empty()) {
      std::cout << "  first error with " << r.clients << " clients: " << r.load.first_error << "\n";
    }
    if (!r.load.drained) std::cout << "  WARNING: " << r.clients << " clients did not drain\n";
  }
}

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
         absl::StrCat(r.writer.checkpoints), Ms(static_cast<double>(r.writer.checkpoint_ns) / 1e6),
         absl::StrFormat("%.0f", static_cast<double>(r.write_bytes) / 1024 /
                                     static_cast<double>(std::max<int64_t>(r.store.commits, 1)))});
  }
  PrintTable(std::cout, rows);
}

void PrintStages(const std::vector<ThroughputRun>& runs, const std::string& kind) {
  std::vector<std::vector<std::string>> rows = {
      {"clients", "calls/s", "queued", "running", "awaiting fsync", "answering", "outside store",
       "ms queued", "ms running", "ms awaiting fsync", "ms answering", "ms outside store"}};
  for (const ThroughputRun& r : runs) {
    if (r.kind != kind) continue;
    const double rate = r.load.calls_per_s();
    const ThroughputRun::Stages& s = r.stages;
    const double outside =
        std::max(0.0, r.clients - s.queued - s.running - s.awaiting_sync - s.answering);
    auto ms = [rate](double count) { return Ms(rate > 0 ? count / rate * 1e3 : 0); };
    auto n = [](double count) { return absl::StrFormat("%.1f", count); };
    rows.push_back({absl::StrCat(r.clients), Rate(rate), n(s.queued), n(s.running),
                    n(s.awaiting_sync), n(s.answering), n(outside), ms(s.queued), ms(s.running),
                    ms(s.awaiting_sync), ms(s.answering), ms(outside)});
  }
  PrintTable(std::cout, rows);
}

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

void PrintThreadCpu(const std::vector<ThroughputRun>& runs, const std::vector<std::string>& kinds,
                    int clients) {
  std::vector<const ThroughputRun*> picked;
  std::map<std::string, int64_t> total;
  for (const std::string& kind : kinds) {
    if (const ThroughputRun* r = FindRun(runs, kind, clients); r != nullptr) {
      picked.push_back(r);
      for (const auto& [name, ns] : r->thread_cpu) total[name] += ns;
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, ns] : total) {
    if (ns > 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end(),
            [&](const std::string& a, const std::string& b) { return total[a] > total[b]; });
  std::vector<std::vector<std::string>> rows = {{"thread (how many)"}};
  for (const ThroughputRun* r : picked) rows[0].push_back(r->kind);
  for (const std::string& name : names) {
    int count = 0;
    for (const ThroughputRun* r : picked) {
      auto it = r->thread_count.find(name);
      if (it != r->thread_count.end()) count = std::max(count, it->second);
    }
    std::vector<std::string> row = {absl::StrCat(name, " (", count, ")")};
    for (const ThroughputRun* r : picked) {
      auto it = r->thread_cpu.find(name);
      const double ns = it == r->thread_cpu.end() ? 0 : static_cast<double>(it->second);
      row.push_back(r->load.calls > 0
                        ? absl::StrFormat("%.0f", ns / 1e3 / static_cast<double>(r->load.calls))
                        : "-");
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> sum = {"all threads"};
  for (const ThroughputRun* r : picked) {
    int64_t ns = 0;
    for (const auto& [name, n] : r->thread_cpu) ns += n;
    sum.push_back(r->load.calls > 0
                      ? absl::StrFormat("%.0f", static_cast<double>(ns) / 1e3 /
                                                    static_cast<double>(r->load.calls))
                      : "-");
  }
  rows.push_back(std::move(sum));
  PrintTable(std::cout, rows);
}

const ThroughputRun* FindRun(const std::vector<ThroughputRun>& runs, const std::string& kind,
                             int clients) {
  for (const ThroughputRun& r : runs) {
    if (r.kind == kind && r.clients == clients) return &r;
  }
  return nullptr;
}

}  // namespace camfleet::bench
