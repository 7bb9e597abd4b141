// camfleet-bench-reconnect: many docks reconnecting at once after an outage, each with a small
// backlog, over mutual TLS, to the real camfleetd running as its own process: the time until
// every dock is drained, the slowest dock's wait, and the server's peak memory. Beside it, the
// same reconnect against the ack-only ceiling server (bench/dock_fleet.h). See bench/README.md.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
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
#include "common/sqlite.h"
#include "nlohmann/json.hpp"
#include "services/server/home.h"

#ifndef CAMFLEET_CAMFLEETD_PATH
#define CAMFLEET_CAMFLEETD_PATH "camfleetd"
#endif

namespace camfleet::bench {
namespace {

using json = nlohmann::json;

constexpr char kAdmin[] = "bench-admin";

struct Options {
  int docks = 1000;
  int cameras_per_dock = 8;
  int outage_hours = 2;
  int interval_min = 5;
  int max_attempts = 5;
  double timeout_s = 120;
  double goal_s = 60;
  bool quick = false;
  bool ceiling = true;
  std::string camfleetd = CAMFLEET_CAMFLEETD_PATH;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
};

// Runs `argv` with stdout and stderr appended to `log`; returns its pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int64_t ProcessCpuNanosOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(line.substr(paren + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt (fields 3-13)
  int64_t utime = 0;
  int64_t stime = 0;
  fields >> utime >> stime;
  return (utime + stime) * (1000000000 / sysconf(_SC_CLK_TCK));
}

// A camfleetd process made and started the way an operator does it.
class ServerProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& binary,
                                                              const std::string& dir) {
    std::unique_ptr<ServerProcess> p(new ServerProcess());
    p->home_ = dir + "/home";
    p->log_ = dir + "/camfleetd.log";
    const pid_t init = Spawn({binary, "init", p->home_, "--admin", kAdmin}, p->log_);
    int status = 0;
    if (init < 0 || waitpid(init, &status, 0) != init || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      return absl::InternalError(absl::StrCat("`", binary, " init` failed; see ", p->log_));
    }
    const std::string port_file = dir + "/camfleetd.port";
    p->pid_ = Spawn(
        {binary, "serve", "--home", p->home_, "--listen", "127.0.0.1:0", "--port-file", port_file},
        p->log_);
    if (p->pid_ < 0) return absl::InternalError("fork failed");
    const absl::Time until = absl::Now() + absl::Seconds(30);
    while (absl::Now() < until) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        p->target_ = absl::StrCat("127.0.0.1:", port);
        return p;
      }
      if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
        p->pid_ = -1;
        return absl::InternalError(absl::StrCat("camfleetd exited at start; see ", p->log_));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat("camfleetd did not start; see ", p->log_));
  }
  ~ServerProcess() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  const std::string& home() const { return home_; }
  const std::string& target() const { return target_; }
  const std::string& log() const { return log_; }

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  std::string home_;
  std::string target_;
  std::string log_;
};

// A post's few hours cut off: every camera read every `interval_min` minutes, and one
// check-out and return of the first camera (its first badge).
std::vector<v1::OutboxItem> SmallBacklog(const BenchDock& dock, const Options& options,
                                         absl::Time start) {
  std::vector<v1::OutboxItem> items;
  uint64_t custody = 0;
  uint64_t telemetry = 0;
  auto add = [&](v1::OutboxItem item, bool is_custody) {
    item.set_lane(is_custody ? v1::SYNC_LANE_CUSTODY : v1::SYNC_LANE_TELEMETRY);
    item.set_sequence(is_custody ? ++custody : ++telemetry);
    items.push_back(std::move(item));
  };
  const int ticks = options.outage_hours * 60 / options.interval_min;
  const absl::Time out = start + absl::Minutes(1);
  const absl::Time back = start + absl::Hours(options.outage_hours) - absl::Minutes(10);
  add(CheckoutItem(dock.cameras[0], 1, dock.badges[0], out, absl::Hours(8)), true);
  add(RemovedItem(dock.cameras[0], 1, out), true);
  for (int k = 0; k < ticks; ++k) {
    const absl::Time now = start + k * absl::Minutes(options.interval_min);
    for (size_t c = 0; c < dock.cameras.size(); ++c) {
      if (c == 0 && now > out && now < back) continue;  // out with its officer
      add(HealthItem(dock.cameras[c], static_cast<uint32_t>(c + 1), static_cast<uint64_t>(k + 1),
                     now, static_cast<uint32_t>(std::min(100, 70 + k)), true),
          false);
    }
  }
  add(InsertedItem(dock.cameras[0], 1, back), true);
  add(ReturnItem(dock.cameras[0], 1, dock.badges[0], back), true);
  return items;
}

struct DockResult {
  double welcome_s = -1;  // since everyone started
  double first_ack_s = -1;
  double drained_s = -1;
  int attempts = 0;
  int64_t items = 0;
  std::string last_error;
};

struct ReconnectRun {
  std::string name;
  std::vector<DockResult> docks;
  double all_drained_s = -1;  // -1: not every dock drained
  int64_t items = 0;
  int streams_failed = 0;
  std::string first_error;
  double client_cpu = 0;  // this process, CPU-seconds per second
  double server_cpu = 0;  // camfleetd, CPU-seconds per second (0 when in this process)
};

// Every dock opens its stream at the same moment over a fresh connection (TCP + TLS handshake
// inside the figure), sends its backlog and half-closes. A stream that fails before its dock
// drained is reopened after a backoff with jitter (1 s, 2 s, ...), as the agent does, and goes
// on from the welcome's positions.
ReconnectRun Reconnect(
    const std::string& name, const std::vector<BenchDock>& docks,
    const std::vector<std::vector<v1::OutboxItem>>& backlogs,
    const std::function<std::shared_ptr<grpc::Channel>(size_t, int)>& channel_for,
    const Options& options, pid_t server_pid) {
  ReconnectRun run;
  run.name = name;
  const size_t n = docks.size();
  struct Dock {
    std::unique_ptr<ListSource> source;
    std::unique_ptr<grpc::GenericStub> stub;
    std::string epoch;
    std::vector<std::unique_ptr<DockStreamer>> attempts;  // the last is the live one
    int64_t retry_at = 0;
    DockResult result;
    bool done = false;
  };
  std::vector<Dock> state(n);
  for (size_t d = 0; d < n; ++d) {
    state[d].source = std::make_unique<ListSource>(backlogs[d]);
    state[d].stub = std::make_unique<grpc::GenericStub>(channel_for(d, 0));
    state[d].epoch = NewEpoch();
    state[d].attempts.push_back(std::make_unique<DockStreamer>(
        *state[d].stub,
        MakeHello(state[d].epoch, state[d].source->size(), state[d].source->bytes()),
        *state[d].source));
  }
  std::mt19937_64 rng(42);
  const int64_t cpu0 = ProcessCpuNanos();
  const int64_t scpu0 = server_pid > 0 ? ProcessCpuNanosOf(server_pid) : 0;
  const int64_t t0 = MonotonicNanos();
  for (Dock& dock : state) dock.attempts.back()->Start();
  const int64_t give_up = t0 + static_cast<int64_t>(options.timeout_s * 1e9);
  size_t remaining = n;
  while (remaining > 0 && MonotonicNanos() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
    const int64_t now = MonotonicNanos();
    for (size_t d = 0; d < n; ++d) {
      Dock& dock = state[d];
      if (dock.done) continue;
      if (dock.retry_at != 0) {
        if (now < dock.retry_at) continue;
        dock.retry_at = 0;
        dock.stub = std::make_unique<grpc::GenericStub>(
            channel_for(d, static_cast<int>(dock.attempts.size())));
        dock.attempts.push_back(std::make_unique<DockStreamer>(
            *dock.stub, MakeHello(dock.epoch, dock.source->size(), dock.source->bytes()),
            *dock.source));
        dock.attempts.back()->Start();
        continue;
      }
      DockStreamer& live = *dock.attempts.back();
      if (!live.finished()) continue;
      const StreamTimes t = live.times();
      auto since = [t0](int64_t at) { return at != 0 ? static_cast<double>(at - t0) / 1e9 : -1.0; };
      if (dock.result.welcome_s < 0) dock.result.welcome_s = since(t.welcomed);
      if (dock.result.first_ack_s < 0) dock.result.first_ack_s = since(t.first_ack);
      dock.result.items += t.items_acked;
      if (t.drained != 0 && t.status.ok()) {
        dock.result.drained_s = since(t.drained);
        dock.result.attempts = static_cast<int>(dock.attempts.size());
        dock.done = true;
        --remaining;
        continue;
      }
      ++run.streams_failed;
      dock.result.last_error = t.status.ToString();
      if (run.first_error.empty()) run.first_error = dock.result.last_error;
      if (static_cast<int>(dock.attempts.size()) >= options.max_attempts) {
        dock.result.attempts = static_cast<int>(dock.attempts.size());
        dock.done = true;
        --remaining;
        continue;
      }
      const double backoff =
          std::min(30.0, std::ldexp(1.0, static_cast<int>(dock.attempts.size()) - 1));
      std::uniform_real_distribution<double> jitter(0.5, 1.0);
      dock.retry_at = now + static_cast<int64_t>(backoff * jitter(rng) * 1e9);
    }
  }
  const int64_t t1 = MonotonicNanos();
  run.client_cpu = static_cast<double>(ProcessCpuNanos() - cpu0) / static_cast<double>(t1 - t0);
  if (server_pid > 0) {
    run.server_cpu =
        static_cast<double>(ProcessCpuNanosOf(server_pid) - scpu0) / static_cast<double>(t1 - t0);
  }
  double slowest = 0;
  bool all = true;
  for (Dock& dock : state) {
    if (!dock.done) {
      // Still running at the timeout: end it, wait for it, count it as starved.
      for (auto& a : dock.attempts) a->Cancel();
      for (auto& a : dock.attempts) a->Wait(absl::Seconds(10));
    }
    if (dock.result.drained_s < 0) all = false;
    slowest = std::max(slowest, dock.result.drained_s);
    run.items += dock.result.items;
    run.docks.push_back(dock.result);
  }
  run.all_drained_s = all ? slowest : -1;
  return run;
}

double Percentile(std::vector<double> v, double p) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return x < 0; }), v.end());
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::string Secs(double s) { return s < 0 ? "-" : absl::StrFormat("%.2f s", s); }

void PrintRun(const ReconnectRun& r) {
  std::vector<double> welcome;
  std::vector<double> first_ack;
  std::vector<double> drained;
  int starved = 0;
  int retried = 0;
  for (const DockResult& d : r.docks) {
    welcome.push_back(d.welcome_s);
    first_ack.push_back(d.first_ack_s);
    drained.push_back(d.drained_s);
    if (d.drained_s < 0) ++starved;
    if (d.attempts > 1) ++retried;
  }
  std::vector<std::vector<std::string>> rows = {{"since all started", "p50", "p90", "p99", "max"}};
  auto row = [&](const std::string& what, const std::vector<double>& v) {
    rows.push_back({what, Secs(Percentile(v, 0.5)), Secs(Percentile(v, 0.9)),
                    Secs(Percentile(v, 0.99)), Secs(Percentile(v, 1.0))});
  };
  row("welcomed (connected, TLS, hello answered)", welcome);
  row("first batch acknowledged", first_ack);
  row("drained (last batch acknowledged)", drained);
  std::cout << "\n"
            << r.name << ": " << r.docks.size() << " docks, " << r.items
            << " items acknowledged; every dock drained after " << Secs(r.all_drained_s)
            << "; docks not drained: " << starved
            << "; docks that needed more than one stream: " << retried << " (" << r.streams_failed
            << " streams failed" << (r.first_error.empty() ? "" : ", first: " + r.first_error)
            << ")\n"
            << absl::StrFormat(
                   "  CPU over the run: this process (the docks%s) %.2f, camfleetd %s\n",
                   r.server_cpu > 0 ? "" : " and the server", r.client_cpu,
                   r.server_cpu > 0 ? absl::StrFormat("%.2f", r.server_cpu) : "-");
  PrintTable(std::cout, rows);
}

int64_t CountRows(const std::string& db_path, const std::string& sql) {
  common::OpenOptions ro;
  ro.read_only = true;
  absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(db_path, ro);
  if (!db.ok()) return -1;
  absl::StatusOr<common::Statement> st = db->get()->Prepare(sql);
  if (!st.ok()) return -2;
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok() || !*row) return -3;
  return st->ColumnInt(0);
}

Figure MakeFigure(std::string name, double value, std::string unit, int precision) {
  Figure f;
  f.name = std::move(name);
  f.value = value;
  f.unit = std::move(unit);
  f.precision = precision;
  return f;
}

int Run(const Options& options) {
  // A thousand connections need a thousand descriptors here, and in camfleetd (which inherits
  // the limit).
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  const rlim_t want = static_cast<rlim_t>(options.docks) * 4 + 1024;
  if (files.rlim_max < want) {
    rlimit raised{want, want};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  getrlimit(RLIMIT_NOFILE, &files);
  std::cout << "camfleet-bench-reconnect: " << options.docks << " docks reconnecting at once, "
            << options.outage_hours << " h of backlog each, over mutual TLS\n"
            << "load average at start: " << LoadAverages() << " ("
            << std::thread::hardware_concurrency()
            << " CPUs); open files allowed: " << files.rlim_cur << "\n";
  if (files.rlim_cur < want) {
    std::cout << "WARNING: fewer open files allowed than " << want
              << " (raise `ulimit -n`): connections may fail\n";
  }
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
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(options.camfleetd, (*scratch)->path());
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  std::cout << "  camfleetd " << options.camfleetd << " as process " << (*server)->pid()
            << " over mTLS at " << (*server)->target() << " (log: " << (*server)->log() << ")\n";
  absl::StatusOr<std::unique_ptr<TlsServer>> api =
      TlsServer::Connect((*server)->home(), kAdmin, (*server)->target());
  if (!api.ok()) {
    std::cerr << api.status() << "\n";
    return 1;
  }
  DockFleetOptions fleet;
  fleet.docks = options.docks;
  fleet.cameras_per_dock = options.cameras_per_dock;
  fleet.holders_per_dock = 1;
  fleet.commissioned_per_dock = 1;
  absl::StatusOr<std::vector<BenchDock>> docks = MakeDockFleet(**api, fleet, std::cout);
  if (!docks.ok()) {
    std::cerr << docks.status() << "\n";
    return 1;
  }
  const absl::Time outage_start = absl::Now() - absl::Hours(options.outage_hours);
  std::vector<std::vector<v1::OutboxItem>> backlogs;
  int64_t items = 0;
  int64_t bytes = 0;
  for (const BenchDock& dock : *docks) {
    backlogs.push_back(SmallBacklog(dock, options, outage_start));
    items += static_cast<int64_t>(backlogs.back().size());
    for (const v1::OutboxItem& item : backlogs.back())
      bytes += static_cast<int64_t>(item.ByteSizeLong());
  }
  std::cout << absl::StrFormat("  backlog: %d items per dock (%.1f KiB), %d in all\n",
                               items / options.docks,
                               static_cast<double>(bytes) / options.docks / 1024, items);

  std::vector<ReconnectRun> runs;
  std::unique_ptr<AckServer> ceiling;
  if (options.ceiling) {
    absl::StatusOr<std::unique_ptr<AckServer>> started = AckServer::Start((*server)->home());
    if (!started.ok()) {
      std::cerr << started.status() << "\n";
      return 1;
    }
    ceiling = *std::move(started);
    std::cout << "\n== the ceiling: the same reconnect against the ack server (in this process)\n"
              << std::flush;
    runs.push_back(Reconnect(
        "ack server", *docks, backlogs,
        [&](size_t d, int attempt) {
          return ceiling->Channel((*docks)[d].bundle, static_cast<int>(d) * 16 + attempt);
        },
        options, 0));
    PrintRun(runs.back());
    ceiling.reset();
  }

  std::cout << "\n== camfleetd: every dock reconnects at once\n" << std::flush;
  const pid_t pid = (*server)->pid();
  const ProcessMemory before = ReadProcessMemory(pid);
  const bool reset = ResetPeakRss(pid);
  std::atomic<bool> sampling{true};
  std::atomic<int64_t> sampled_peak{before.rss};
  ProcessMemory at_peak = before;  // written by the sampler, read after it is joined
  std::thread sampler([&] {
    while (sampling.load()) {
      const ProcessMemory m = ReadProcessMemory(pid);
      if (m.rss > sampled_peak.load()) {
        sampled_peak.store(m.rss);
        at_peak = m;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  runs.push_back(Reconnect(
      "camfleetd", *docks, backlogs,
      [&](size_t d, int attempt) {
        return (*api)->Channel((*docks)[d].bundle, 100000 + static_cast<int>(d) * 16 + attempt);
      },
      options, pid));
  sampling.store(false);
  sampler.join();
  const ProcessMemory after = ReadProcessMemory(pid);
  const int64_t peak = reset ? std::max(after.peak_rss, sampled_peak.load()) : sampled_peak.load();
  const ReconnectRun& real = runs.back();
  PrintRun(real);
  std::cout << absl::StrFormat(
      "  camfleetd resident memory: %.1f MiB before, peak %.1f MiB during (%s), %.1f MiB after: "
      "%.1f KiB more per dock at the peak\n",
      static_cast<double>(before.rss) / (1 << 20), static_cast<double>(peak) / (1 << 20),
      reset ? "VmHWM reset before the run, and sampled every 20 ms" : "sampled every 20 ms",
      static_cast<double>(after.rss) / (1 << 20),
      static_cast<double>(peak - before.rss) / 1024 / options.docks);
  std::cout << absl::StrFormat(
      "  at the highest sample: %.1f MiB anonymous (heap, stacks), %.1f MiB file-backed, %.1f MiB "
      "shared (SQLite's WAL index); %d threads in camfleetd now\n",
      static_cast<double>(at_peak.rss_anon) / (1 << 20),
      static_cast<double>(at_peak.rss_file) / (1 << 20),
      static_cast<double>(at_peak.rss_shmem) / (1 << 20),
      static_cast<int>(
          std::distance(std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task")),
                        std::filesystem::directory_iterator())));
  const std::string db = server::HomePaths{(*server)->home()}.Database();
  const int64_t stored = CountRows(db, "SELECT count(*) FROM health_readings");
  const int64_t conflicts = CountRows(db, "SELECT count(*) FROM conflicts");
  const int64_t rejected = CountRows(db, "SELECT count(*) FROM rejected_items");
  int64_t readings = 0;
  for (const auto& b : backlogs) {
    for (const v1::OutboxItem& item : b) readings += item.has_health() ? 1 : 0;
  }
  std::cout << absl::StrFormat(
      "  at the server: %d health readings stored (the backlogs had %d), %d conflicts, %d "
      "rejected items\n",
      stored, readings, conflicts, rejected);

  int starved = 0;
  std::vector<double> drained;
  for (const DockResult& d : real.docks) {
    if (d.drained_s < 0) ++starved;
    drained.push_back(d.drained_s);
  }
  std::vector<Figure> figures;
  Figure all = MakeFigure(absl::StrCat("every dock drained, ", options.docks, " docks at once"),
                          real.all_drained_s, "s", 2);
  all.goal = Goal{.on = Goal::On::kValue, .bound = Goal::Bound::kAtMost, .limit = options.goal_s};
  if (!runs.empty() && options.ceiling) {
    all.ceiling = runs.front().all_drained_s;
    all.ceiling_name = "the same reconnect to the ack server";
  }
  figures.push_back(all);
  figures.push_back(MakeFigure("slowest dock's wait", Percentile(drained, 1.0), "s", 2));
  figures.push_back(MakeFigure("median dock's wait", Percentile(drained, 0.5), "s", 2));
  Figure starved_figure = MakeFigure("docks starved (not drained)", starved, "docks", 0);
  starved_figure.goal = Goal{.on = Goal::On::kValue, .bound = Goal::Bound::kAtMost, .limit = 0};
  figures.push_back(starved_figure);
  figures.push_back(MakeFigure("camfleetd peak resident memory",
                               static_cast<double>(peak) / (1 << 20), "MiB", 1));
  figures.push_back(MakeFigure("of which added by the reconnect, per dock",
                               static_cast<double>(peak - before.rss) / 1024 / options.docks, "KiB",
                               1));
  std::cout << "\n== summary (machine load average at end: " << LoadAverages() << ")\n";
  PrintFigures(std::cout, figures);
  if (!options.json_out.empty()) {
    json out{{"benchmark", "camfleet-bench-reconnect"},
             {"docks", options.docks},
             {"items", items},
             {"bytes", bytes},
             {"rss_before", before.rss},
             {"rss_peak", peak},
             {"rss_after", after.rss},
             {"stored_readings", stored},
             {"load_average_end", LoadAverages()},
             {"runs", json::array()},
             {"figures", FiguresJson(figures)}};
    for (const ReconnectRun& r : runs) {
      json drains = json::array();
      for (const DockResult& d : r.docks) drains.push_back(d.drained_s);
      out["runs"].push_back(json{{"name", r.name},
                                 {"all_drained_s", r.all_drained_s},
                                 {"streams_failed", r.streams_failed},
                                 {"first_error", r.first_error},
                                 {"client_cpu", r.client_cpu},
                                 {"server_cpu", r.server_cpu},
                                 {"drained_s", drains}});
    }
    std::ofstream(options.json_out) << out.dump(2) << "\n";
  }
  api->reset();
  (*server)->Stop();
  return real.all_drained_s < 0 ? 1 : 0;
}

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::Options options;
  CLI::App app{
      "camfleet-bench-reconnect: many docks reconnecting at once to a camfleetd process over "
      "mutual TLS, each with a small backlog (bench/README.md)"};
  app.add_option("--docks", options.docks, "Docks reconnecting at once")->capture_default_str();
  app.add_option("--cameras-per-dock", options.cameras_per_dock, "Cameras per dock")
      ->capture_default_str();
  app.add_option("--outage-hours", options.outage_hours, "Hours of backlog per dock")
      ->capture_default_str();
  app.add_option("--max-attempts", options.max_attempts,
                 "Streams a dock may open before it counts as starved")
      ->capture_default_str();
  app.add_option("--timeout", options.timeout_s,
                 "Seconds after which undrained docks count as starved")
      ->capture_default_str();
  app.add_flag("--quick", options.quick, "A smaller run: 100 docks");
  app.add_flag("!--no-ceiling", options.ceiling, "Skip the reconnect against the ack server");
  app.add_option("--camfleetd", options.camfleetd, "The camfleetd binary to run")
      ->capture_default_str();
  app.add_option("--db-dir", options.db_dir,
                 "Where the scratch directory goes (default $TMPDIR or /tmp)");
  app.add_flag("--keep-db", options.keep_db, "Keep the scratch directory (and camfleetd's log)");
  app.add_option("--json-out", options.json_out, "Also write the figures as JSON to this file");
  CLI11_PARSE(app, argc, argv);
  if (options.quick) options.docks = std::min(options.docks, 100);
  if (options.docks < 1 || options.cameras_per_dock < 1 || options.outage_hours < 1) {
    std::cerr << "--docks, --cameras-per-dock and --outage-hours must be at least 1\n";
    return 2;
  }
  return camfleet::bench::Run(options);
}
