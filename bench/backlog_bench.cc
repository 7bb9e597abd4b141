// camfleet-bench-backlog: a dock back from a long outage. The backlog a post builds while cut
// off (8 cameras, a health reading every 5 minutes while docked, check-outs and returns twice a
// day, 30 days) is written into the agent's real OutboxStore on a fake clock, then drained by
// the agent's real SyncClient to a real camfleetd over mutual TLS: how big it is and how long
// until all of it is acknowledged. Beside it, in the same run, the same items streamed without
// the agent's outbox (to camfleetd, and to the ack-only ceiling server), which says where the
// time goes. See bench/README.md.

#include <unistd.h>

#include <filesystem>
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
#include "agent/clock_offset.h"
#include "agent/dock_events.h"
#include "agent/dock_paths.h"
#include "agent/outbox_store.h"
#include "agent/site_view_store.h"
#include "agent/sync_client.h"
#include "bench/closed_loop.h"
#include "bench/dock_fleet.h"
#include "bench/process_stats.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "bench/tls_server.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "nlohmann/json.hpp"
#include "provisioning/credential_bundle.h"
#include "provisioning/key.h"

namespace camfleet::bench {
namespace {

using json = nlohmann::json;

struct Options {
  int days = 30;
  int cameras = 8;
  int interval_min = 5;
  int shift_hours = 8;
  bool quick = false;
  bool build_on_tmpfs = true;
  double goal_s = 10;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
};

// The post's month, in the order the agent would have written it. Two shifts a day: at 06:00
// the first half of the cameras is checked out (one badge each) and comes back at 06:00 + shift,
// when the second half goes out until 06:00 + 2 shifts. A camera in its slot is read every
// `interval_min` minutes. Items get their lane and sequence as the outbox would number them.
std::vector<v1::OutboxItem> PostTimeline(const BenchDock& dock, const Options& options,
                                         absl::Time start) {
  std::vector<v1::OutboxItem> items;
  const int n = static_cast<int>(dock.cameras.size());
  std::vector<bool> docked(static_cast<size_t>(n), true);
  std::vector<uint64_t> camera_sequence(static_cast<size_t>(n), 0);
  std::vector<int> battery(static_cast<size_t>(n), 100);
  uint64_t custody = 0;
  uint64_t telemetry = 0;
  const absl::Duration shift = absl::Hours(options.shift_hours);
  auto add = [&](v1::OutboxItem item, bool is_custody) {
    item.set_lane(is_custody ? v1::SYNC_LANE_CUSTODY : v1::SYNC_LANE_TELEMETRY);
    item.set_sequence(is_custody ? ++custody : ++telemetry);
    items.push_back(std::move(item));
  };
  auto slot = [](int c) { return static_cast<uint32_t>(c + 1); };
  auto badge = [&](int c) { return dock.badges[static_cast<size_t>(c) % dock.badges.size()]; };
  const absl::Duration tick = absl::Minutes(options.interval_min);
  const int64_t ticks = options.days * (24 * 60 / options.interval_min);
  for (int64_t k = 0; k < ticks; ++k) {
    const absl::Time now = start + k * tick;
    const absl::Duration of_day =
        now - absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 86400 * 86400);
    // Shift changes: the returns come in first, then the next half goes out.
    for (int round = 0; round < 2; ++round) {
      const absl::Duration out_at = absl::Hours(6) + round * shift;
      const int first = round == 0 ? 0 : n / 2;
      const int last = round == 0 ? n / 2 : n;
      if (of_day == out_at + shift) {
        for (int c = first; c < last; ++c) {
          add(InsertedItem(dock.cameras[static_cast<size_t>(c)], slot(c), now), true);
          add(ReturnItem(dock.cameras[static_cast<size_t>(c)], slot(c), badge(c), now), true);
          docked[static_cast<size_t>(c)] = true;
          battery[static_cast<size_t>(c)] = 35;
        }
      }
      if (of_day == out_at) {
        for (int c = first; c < last; ++c) {
          add(CheckoutItem(dock.cameras[static_cast<size_t>(c)], slot(c), badge(c), now, shift),
              true);
          add(RemovedItem(dock.cameras[static_cast<size_t>(c)], slot(c), now), true);
          docked[static_cast<size_t>(c)] = false;
        }
      }
    }
    for (int c = 0; c < n; ++c) {
      if (!docked[static_cast<size_t>(c)]) continue;
      int& b = battery[static_cast<size_t>(c)];
      add(HealthItem(dock.cameras[static_cast<size_t>(c)], slot(c),
                     ++camera_sequence[static_cast<size_t>(c)], now, static_cast<uint32_t>(b),
                     b < 100),
          false);
      b = std::min(100, b + 3);
    }
  }
  return items;
}

struct Drain {
  std::string name;
  double seconds = 0;
  double to_welcome_s = 0;
  int64_t items = 0;
  int64_t batches = 0;
  int64_t streams = 0;
  std::string error;
  double process_cpu = 0;
};

// The items through DockStreamer (no outbox at the dock), one stream.
Drain StreamList(const std::string& name, grpc::GenericStub& stub,
                 const std::vector<v1::OutboxItem>& items) {
  Drain d;
  d.name = name;
  ListSource source(items);
  const int64_t cpu0 = ProcessCpuNanos();
  DockStreamer stream(stub, MakeHello(NewEpoch(), source.size(), source.bytes()), source);
  stream.Start();
  stream.Wait(absl::Minutes(10));
  const StreamTimes t = stream.times();
  const int64_t end = t.drained != 0 ? t.drained : t.done;
  d.seconds = static_cast<double>(end - t.started) / 1e9;
  d.to_welcome_s = static_cast<double>(t.welcomed - t.started) / 1e9;
  d.items = t.items_acked;
  d.batches = t.batches_acked;
  d.streams = 1;
  d.process_cpu =
      static_cast<double>(ProcessCpuNanos() - cpu0) / static_cast<double>(end - t.started);
  if (!t.status.ok()) d.error = t.status.ToString();
  if (t.items_acked != source.size()) {
    d.error =
        absl::StrCat("acknowledged ", t.items_acked, " of ", source.size(), " items ", d.error);
  }
  return d;
}

Figure PlainFigure(std::string name, double value, std::string unit, int precision) {
  Figure f;
  f.name = std::move(name);
  f.value = value;
  f.unit = std::move(unit);
  f.precision = precision;
  return f;
}

int64_t CountRows(const std::string& db_path, const std::string& sql) {
  common::OpenOptions ro;
  ro.read_only = true;
  absl::StatusOr<std::unique_ptr<common::Database>> db = common::Database::Open(db_path, ro);
  if (!db.ok()) return -1;
  absl::StatusOr<common::Statement> st = (*db)->Prepare(sql);
  if (!st.ok()) return -2;
  absl::StatusOr<bool> row = st->Step();
  if (!row.ok() || !*row) return -3;
  return st->ColumnInt(0);
}

#define CHECK_OK_OR_RETURN(expr)    \
  do {                              \
    const absl::Status _s = (expr); \
    if (!_s.ok()) {                 \
      std::cerr << _s << "\n";      \
      return 1;                     \
    }                               \
  } while (0)

int Run(const Options& options) {
  std::cout << absl::StrFormat(
                   "camfleet-bench-backlog: a dock back from %d days cut off (%d cameras, a "
                   "reading every %d min while docked, check-outs and returns twice a day)\n",
                   options.days, options.cameras, options.interval_min)
            << "load average at start: " << LoadAverages() << " ("
            << std::thread::hardware_concurrency() << " CPUs)\n";
  if (LoadAverage() > 0.5 * std::thread::hardware_concurrency()) {
    std::cout << "WARNING: the machine is busy; every figure below is lower than on a quiet one\n";
  }
  absl::StatusOr<std::unique_ptr<ScratchDir>> scratch =
      ScratchDir::Create(options.db_dir, options.keep_db);
  CHECK_OK_OR_RETURN(scratch.status());
  std::cout << "\n== setup (not timed)\n";
  absl::StatusOr<std::unique_ptr<TlsServer>> server =
      TlsServer::Start((*scratch)->File("home"), "bench-admin");
  CHECK_OK_OR_RETURN(server.status());
  std::cout << "  camfleetd (in this process) over mTLS at " << (*server)->target() << "\n";
  // Dock 1 drains through the agent; dock 2 takes the same month without the agent's outbox.
  DockFleetOptions fleet;
  fleet.docks = 2;
  fleet.cameras_per_dock = options.cameras;
  fleet.holders_per_dock = options.cameras;
  fleet.commissioned_per_dock = options.cameras;
  absl::StatusOr<std::vector<BenchDock>> docks = MakeDockFleet(**server, fleet, std::cout);
  CHECK_OK_OR_RETURN(docks.status());
  absl::StatusOr<std::unique_ptr<AckServer>> ceiling = AckServer::Start((*server)->home());
  CHECK_OK_OR_RETURN(ceiling.status());

  // The month, in the agent's real outbox, on a fake clock. Built on tmpfs (each append is a
  // durable commit: a month of them would take minutes of fsyncs), then moved to the disk the
  // drain runs on, as the file it is.
  const BenchDock& dock = (*docks)[0];
  const agent::DockPaths paths{(*scratch)->File("dock")};
  std::filesystem::create_directories(paths.dir);
  std::filesystem::permissions(paths.dir, std::filesystem::perms::owner_all);
  {
    absl::StatusOr<provisioning::PrivateKey> key =
        provisioning::PrivateKey::FromPem(dock.bundle.key_pem);
    CHECK_OK_OR_RETURN(key.status());
    CHECK_OK_OR_RETURN(provisioning::WriteCredentialBundle(
        paths.Credentials(), *key, dock.bundle.cert_pem, dock.bundle.ca_pem));
  }
  const absl::Time month_start = absl::FromUnixSeconds(
      absl::ToUnixSeconds(absl::Now() - absl::Hours(24 * options.days)) / 86400 * 86400);
  const std::vector<v1::OutboxItem> timeline = PostTimeline(dock, options, month_start);
  std::string build_dir = paths.dir;
  if (options.build_on_tmpfs && std::filesystem::is_directory("/dev/shm")) {
    build_dir = absl::StrCat("/dev/shm/camfleet-bench-backlog-", getpid());
  }
  std::filesystem::create_directories(build_dir);
  const std::string outbox_path = paths.dir + "/outbox.db";
  const int64_t tb = MonotonicNanos();
  {
    common::FakeClock clock(month_start);
    absl::StatusOr<std::unique_ptr<agent::OutboxStore>> outbox =
        agent::OutboxStore::Open(build_dir + "/outbox.db", agent::OutboxLimits{}, &clock);
    CHECK_OK_OR_RETURN(outbox.status());
    for (const v1::OutboxItem& planned : timeline) {
      clock.Set(absl::FromUnixMicros(planned.record_time().seconds() * 1000000));
      v1::OutboxItem item = planned;
      item.clear_lane();
      item.clear_sequence();
      absl::StatusOr<agent::AppendResult> appended = (*outbox)->Append(std::move(item));
      CHECK_OK_OR_RETURN(appended.status());
      if (appended->sequence != planned.sequence() || appended->outbox_full) {
        std::cerr << "the outbox numbered or thinned differently from the plan\n";
        return 1;
      }
    }
  }
  if (build_dir != paths.dir) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string from = build_dir + "/outbox.db" + suffix;
      if (std::filesystem::exists(from)) {
        std::filesystem::copy_file(from, outbox_path + suffix);
      }
    }
    std::filesystem::remove_all(build_dir);
  }
  std::cout << absl::StrFormat("  the month written into the agent's OutboxStore%s: %.1f s\n",
                               build_dir != paths.dir ? " (on tmpfs, then moved)" : "",
                               SecondsSince(tb));

  common::RealClock real_clock;
  absl::StatusOr<std::unique_ptr<agent::OutboxStore>> outbox =
      agent::OutboxStore::Open(outbox_path, agent::OutboxLimits{}, &real_clock);
  CHECK_OK_OR_RETURN(outbox.status());
  absl::StatusOr<agent::OutboxBacklog> backlog = (*outbox)->Backlog();
  CHECK_OK_OR_RETURN(backlog.status());
  const int64_t file_bytes = static_cast<int64_t>(std::filesystem::file_size(outbox_path));
  std::cout << absl::StrFormat(
      "  backlog: %d items, %.2f MiB of payload (custody %d items, telemetry %d readings); "
      "outbox file %.2f MiB\n",
      backlog->total.items, static_cast<double>(backlog->total.bytes) / (1 << 20),
      backlog->custody.items, backlog->telemetry.items,
      static_cast<double>(file_bytes) / (1 << 20));

  std::cout << "\n== drains\n" << std::flush;
  std::vector<Drain> drains;
  // The ceiling: the same items, the same batches, one stream, nothing stored at either end.
  {
    grpc::GenericStub stub((*ceiling)->Channel(dock.bundle, 1));
    drains.push_back(StreamList("ceiling: ack server, no outbox", stub, timeline));
  }
  // The server's share: dock 2's month straight from memory to camfleetd.
  {
    const std::vector<v1::OutboxItem> other = PostTimeline((*docks)[1], options, month_start);
    grpc::GenericStub stub((*server)->Channel((*docks)[1].bundle, 2));
    drains.push_back(StreamList("camfleetd, no outbox (items from memory)", stub, other));
  }
  // The agent: its SyncClient over its outbox.
  {
    absl::StatusOr<std::unique_ptr<agent::SiteViewStore>> site_view =
        agent::SiteViewStore::Open(paths.dir + "/site_view.db");
    CHECK_OK_OR_RETURN(site_view.status());
    agent::ClockOffset offset("");
    absl::Mutex mu;
    int64_t welcomed = 0;
    agent::SyncClientOptions o;
    o.endpoint = agent::ServerEndpoint{.address = (*server)->target(),
                                       .server_name = kTlsServerName,
                                       .call_deadline = absl::Seconds(30)};
    o.paths = paths;
    o.outbox = outbox->get();
    o.site_view = site_view->get();
    o.clock_offset = &offset;
    o.clock = &real_clock;
    o.events = [&](const agent::DockEvent& e) {
      if (e.kind == agent::DockEvent::Kind::kSyncWelcomed) {
        absl::MutexLock lock(&mu);
        if (welcomed == 0) welcomed = MonotonicNanos();
      }
      if (e.kind == agent::DockEvent::Kind::kSyncEnded ||
          e.kind == agent::DockEvent::Kind::kFailed) {
        std::cout << "  agent: " << e.message << " " << e.status << "\n";
      }
    };
    agent::SyncClient client(std::move(o));
    const int64_t cpu0 = ProcessCpuNanos();
    const int64_t t0 = MonotonicNanos();
    std::thread runner([&client] { client.Run(); });
    int64_t remaining = backlog->total.items;
    const int64_t give_up = t0 + int64_t{300} * 1000000000;
    while (remaining > 0 && MonotonicNanos() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
      absl::StatusOr<agent::OutboxBacklog> now = (*outbox)->Backlog();
      if (now.ok()) remaining = now->total.items;
    }
    const int64_t t1 = MonotonicNanos();
    const int64_t cpu1 = ProcessCpuNanos();
    client.Stop();
    runner.join();
    const agent::SyncState state = client.state();
    Drain d;
    d.name = "the agent: SyncClient over its OutboxStore";
    d.seconds = static_cast<double>(t1 - t0) / 1e9;
    {
      absl::MutexLock lock(&mu);
      d.to_welcome_s = welcomed != 0 ? static_cast<double>(welcomed - t0) / 1e9 : 0;
    }
    d.items = backlog->total.items - remaining;
    d.batches = state.batches_acked;
    d.streams = state.attempts;
    d.process_cpu = static_cast<double>(cpu1 - cpu0) / static_cast<double>(t1 - t0);
    if (remaining > 0) d.error = absl::StrCat(remaining, " items still unacknowledged after 300 s");
    drains.push_back(d);
  }

  std::vector<std::vector<std::string>> rows = {
      {"drain", "items", "seconds", "items/s", "to welcome", "batches", "streams", "process cpu"}};
  for (const Drain& d : drains) {
    rows.push_back(
        {d.name, absl::StrCat(d.items), absl::StrFormat("%.2f", d.seconds),
         absl::StrFormat("%.0f", d.seconds > 0 ? static_cast<double>(d.items) / d.seconds : 0),
         absl::StrFormat("%.3f s", d.to_welcome_s), absl::StrCat(d.batches),
         absl::StrCat(d.streams), absl::StrFormat("%.2f", d.process_cpu)});
  }
  PrintTable(std::cout, rows);
  bool failed = false;
  for (const Drain& d : drains) {
    if (!d.error.empty()) {
      std::cout << "  " << d.name << ": " << d.error << "\n";
      failed = true;
    }
  }
  const std::string db = (*server)->server().store().path();
  std::cout << absl::StrFormat(
      "  at the server: %d health readings from dock 1 (its backlog had %d); %d conflicts, %d "
      "rejected items, %d alerts in all (all three should be 0)\n",
      CountRows(db, absl::StrCat("SELECT count(*) FROM health_readings h JOIN docks d ON "
                                 "d.id = h.dock_id WHERE d.dock_id = '",
                                 dock.id, "'")),
      backlog->telemetry.items, CountRows(db, "SELECT count(*) FROM conflicts"),
      CountRows(db, "SELECT count(*) FROM rejected_items"),
      CountRows(db, "SELECT count(*) FROM alerts"));

  const Drain& agent_drain = drains.back();
  std::vector<Figure> figures;
  figures.push_back(
      PlainFigure("backlog items", static_cast<double>(backlog->total.items), "items", 0));
  figures.push_back(PlainFigure("backlog payload",
                                static_cast<double>(backlog->total.bytes) / (1 << 20), "MiB", 2));
  figures.push_back(Figure{
      .name = "time until all of it is acknowledged (agent)",
      .value = agent_drain.seconds,
      .unit = "s",
      .precision = 2,
      .ceiling = drains[0].seconds,
      .ceiling_name = "same items to the ack server",
      .goal = Goal{.on = Goal::On::kValue, .bound = Goal::Bound::kAtMost, .limit = options.goal_s},
  });
  std::cout << "\n== summary (machine load average at end: " << LoadAverages() << ")\n";
  PrintFigures(std::cout, figures);
  if (!options.json_out.empty()) {
    json out{{"benchmark", "camfleet-bench-backlog"},
             {"days", options.days},
             {"cameras", options.cameras},
             {"backlog_items", backlog->total.items},
             {"backlog_bytes", backlog->total.bytes},
             {"custody_items", backlog->custody.items},
             {"telemetry_items", backlog->telemetry.items},
             {"outbox_file_bytes", file_bytes},
             {"drains", json::array()},
             {"load_average_end", LoadAverages()},
             {"figures", FiguresJson(figures)}};
    for (const Drain& d : drains) {
      out["drains"].push_back(json{{"name", d.name},
                                   {"items", d.items},
                                   {"seconds", d.seconds},
                                   {"to_welcome_s", d.to_welcome_s},
                                   {"batches", d.batches},
                                   {"streams", d.streams},
                                   {"error", d.error}});
    }
    std::ofstream(options.json_out) << out.dump(2) << "\n";
  }
  outbox->reset();
  ceiling->reset();
  (*server)->Shutdown();
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::Options options;
  CLI::App app{
      "camfleet-bench-backlog: a dock's month-long backlog built in the agent's OutboxStore and "
      "drained by its SyncClient to camfleetd over mutual TLS (bench/README.md)"};
  app.add_option("--days", options.days, "Days the post was cut off")->capture_default_str();
  app.add_option("--cameras", options.cameras, "Cameras at the dock (even)")->capture_default_str();
  app.add_option("--interval", options.interval_min, "Minutes between readings of a docked camera")
      ->capture_default_str();
  app.add_option("--shift-hours", options.shift_hours, "Length of a shift (a check-out)")
      ->capture_default_str();
  app.add_flag("--quick", options.quick, "A smaller run: 3 days");
  app.add_flag(
      "!--no-tmpfs", options.build_on_tmpfs,
      "Build the outbox on the drain's disk instead of /dev/shm (slow: one fsync per item)");
  app.add_option("--db-dir", options.db_dir,
                 "Where the scratch directory goes (default $TMPDIR or /tmp)");
  app.add_flag("--keep-db", options.keep_db, "Keep the scratch directory");
  app.add_option("--json-out", options.json_out, "Also write the figures as JSON to this file");
  CLI11_PARSE(app, argc, argv);
  if (options.quick) options.days = std::min(options.days, 3);
  if (options.cameras < 2 || options.cameras % 2 != 0 || options.interval_min < 1 ||
      (24 * 60) % options.interval_min != 0 || options.shift_hours < 1 || options.shift_hours > 9) {
    std::cerr << "--cameras must be even and >= 2, --interval divide a day, --shift-hours 1-9\n";
    return 2;
  }
  return camfleet::bench::Run(options);
}
