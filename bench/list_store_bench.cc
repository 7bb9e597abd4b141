// camfleet-bench-list: the audit list, the overdue list and the camera list's not-seen and
// battery filters at fleet scale, at the store (no gRPC: bench/list_bench.* times ListCameras
// end to end). For each fleet size it builds a real store in a scratch directory directly
// through the repositories (cameras, holders, open and closed assignments, a hash-chained
// audit trail of three events per camera, when each camera was last seen and its newest
// charge), then times each list query with each filter, first page and a deep page, and
// prints p50/p99 against the goal (20 ms), and against the same filter in the old form
// ("(? = '' OR col = ?)", or a walk of the serial index testing each camera) measured in the
// same run on the same file.

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/store.h"

namespace camfleet::bench {
namespace {

constexpr double kGoalMs = 20.0;
constexpr int kPageSize = 100;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The calling thread's CPU time: what a query cost, without the time it waited for a CPU (on a
// loaded machine a p99 of wall time is mostly the scheduler's quantum, not the query).
int64_t ThreadCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Percentiles {
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_p99_ms = 0;  // p99 of the thread's CPU time per query
};

Percentiles Measure(int iterations, const std::function<absl::Status()>& fn, absl::Status& error) {
  std::vector<int64_t> nanos;
  std::vector<int64_t> cpu;
  for (int i = 0; i < iterations && error.ok(); ++i) {
    const int64_t t = NowNanos();
    const int64_t c = ThreadCpuNanos();
    error = fn();
    cpu.push_back(ThreadCpuNanos() - c);
    nanos.push_back(NowNanos() - t);
  }
  std::sort(nanos.begin(), nanos.end());
  std::sort(cpu.begin(), cpu.end());
  auto rank = [](const std::vector<int64_t>& v, double p) {
    const size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1e6;
  };
  return nanos.empty() ? Percentiles{}
                       : Percentiles{rank(nanos, 0.5), rank(nanos, 0.99), rank(cpu, 0.99)};
}

struct Fleet {
  int64_t cameras = 0;
  int64_t region_id = 0;
  int64_t now_us = 0;
  int64_t mid_seq = 0;          // an audit sequence half way down the chain (a deep page)
  int64_t window_start_us = 0;  // the last hour of the audit trail
  std::pair<int64_t, int64_t> overdue_cursor;  // (due, id) half way down the overdue list
};

constexpr int64_t kHourUs = 3'600'000'000LL;
constexpr int64_t kDayUs = 24 * kHourUs;

// When camera i was last seen by a dock, as of `now` (the end of the fleet's history, when the
// lists are read): one in 50 never (delivered, not yet in a dock), one in 50 between 15 and 60
// days ago (in a cupboard), the rest in the last 48 h.
std::optional<int64_t> LastSeen(int64_t i, int64_t now) {
  if (i % 50 == 0) return std::nullopt;
  if (i % 50 == 1) return now - 15 * kDayUs - (i * 7919) % (45 * kDayUs);
  return now - (i * 104729) % (48 * kHourUs);
}
// The charge in camera i's newest reading (cameras never seen have none): 3 % below 20.
int64_t Charge(int64_t i) { return i % 97 < 3 ? 5 + i % 15 : 20 + i % 81; }

std::string Serial(int64_t i) { return absl::StrFormat("CAM%08d", i); }

// Builds the fleet in chunks of `chunk` cameras per write, moving the clock on between chunks
// so that the audit trail spans weeks.
absl::StatusOr<Fleet> BuildFleet(storage::Store& store, common::FakeClock& clock, int64_t cameras,
                                 int64_t chunk) {
  Fleet fleet;
  fleet.cameras = cameras;
  constexpr int kRegions = 10;
  constexpr int kPostsPerRegion = 20;
  std::vector<int64_t> posts;
  const absl::Status sites = store.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    for (int r = 0; r < kRegions; ++r) {
      ASSIGN_OR_RETURN(storage::SiteRow region,
                       storage::InsertSite(tx, absl::StrCat("R", r), "Region", std::nullopt));
      if (r == 0) fleet.region_id = region.id;
      for (int p = 0; p < kPostsPerRegion; ++p) {
        ASSIGN_OR_RETURN(storage::SiteRow post,
                         storage::InsertSite(tx, absl::StrCat("R", r, "-P", p), "Post", region.id));
        posts.push_back(post.id);
      }
    }
    return absl::OkStatus();
  });
  if (!sites.ok()) return sites;
  const int64_t holders = std::max<int64_t>(1, cameras / 5);
  const int64_t start_us = common::ToMicros(clock.Now());
  const int64_t span_us = int64_t{60} * 86'400'000'000;  // sixty days of history
  for (int64_t first = 0; first < cameras; first += chunk) {
    const int64_t last = std::min(cameras, first + chunk);
    clock.Set(common::FromMicros(start_us + span_us * last / cameras));
    const absl::Status chunk_written =
        store.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
          const int64_t now = common::ToMicros(tx.now());
          for (int64_t i = first; i < last; ++i) {
            const int64_t site = posts[static_cast<size_t>(i) % posts.size()];
            if (i < holders) {
              v1::Holder h;
              h.set_badge(absl::StrFormat("B%07d", i));
              h.set_name("Officer");
              RETURN_IF_ERROR(storage::InsertHolder(tx, h, site).status());
            }
            v1::Camera c;
            c.set_serial(Serial(i));
            c.set_model(i % 3 == 0 ? "BWC-7" : "BWC-9");
            c.set_state(i % 5 < 2 ? v1::CAMERA_STATE_ISSUED : v1::CAMERA_STATE_AVAILABLE);
            ASSIGN_OR_RETURN(storage::CameraRow row, storage::InsertCamera(tx, c, site));
            const std::string actor = absl::StrCat("qm-", i % 50);
            RETURN_IF_ERROR(storage::Audit(tx, "admin", "camera.register", "camera", Serial(i),
                                           {{"model", c.model()}}));
            RETURN_IF_ERROR(storage::Audit(tx, "admin", "camera.commission", "camera", Serial(i),
                                           {{"reason", "delivered"}}));
            const int64_t holder_id = 1 + (i % holders);
            // A closed assignment for every other camera: history the open-only index skips.
            if (i % 2 == 0) {
              ASSIGN_OR_RETURN(int64_t closed,
                               storage::OpenAssignment(
                                   tx, {row.id, holder_id, actor, now - 3'600'000'000, "", ""}));
              RETURN_IF_ERROR(
                  storage::CloseAssignment(tx, closed, actor, v1::RETURN_CONDITION_GOOD, ""));
            }
            if (std::optional<int64_t> seen = LastSeen(i, start_us + span_us); seen.has_value()) {
              ASSIGN_OR_RETURN(common::Statement mark,
                               tx.db().Prepare("UPDATE cameras SET last_seen_us = ? WHERE id = ?"));
              mark.Bind(1, *seen).Bind(2, row.id);
              RETURN_IF_ERROR(mark.Run());
              ASSIGN_OR_RETURN(common::Statement status,
                               tx.db().Prepare("INSERT INTO camera_status (camera_id, "
                                               "battery_percent) VALUES (?, ?)"));
              status.Bind(1, row.id).Bind(2, Charge(i));
              RETURN_IF_ERROR(status.Run());
            }
            if (c.state() == v1::CAMERA_STATE_ISSUED) {
              // One issued camera in eight is overdue, by up to sixty days.
              const int64_t due = i % 8 == 0 ? now - 1 - (i * 7919) % span_us
                                             : now + 8 * 3'600'000'000LL + (i % 1000) * 1'000'000;
              RETURN_IF_ERROR(
                  storage::OpenAssignment(tx, {row.id, holder_id, actor, due, "", ""}).status());
              RETURN_IF_ERROR(
                  storage::Audit(tx, actor, "camera.issue", "camera", Serial(i),
                                 {{"holder", absl::StrFormat("B%07d", holder_id - 1)}}));
            }
          }
          return absl::OkStatus();
        });
    if (!chunk_written.ok()) return chunk_written;
  }
  fleet.now_us = common::ToMicros(clock.Now()) + 1;
  const absl::Status summary = store.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t head, storage::AuditHeadSequence(db));
    fleet.mid_seq = head / 2;
    fleet.window_start_us = fleet.now_us - 3'600'000'000LL;
    ASSIGN_OR_RETURN(common::Statement count,
                     db.Prepare("SELECT COUNT(*) FROM assignments WHERE returned_us IS NULL AND "
                                "due_us < ?"));
    count.Bind(1, fleet.now_us);
    ASSIGN_OR_RETURN(bool row, count.Step());
    const int64_t overdue = row ? count.ColumnInt(0) : 0;
    ASSIGN_OR_RETURN(common::Statement mid,
                     db.Prepare("SELECT due_us, id FROM assignments WHERE returned_us IS NULL "
                                "AND due_us < ?1 ORDER BY due_us, id LIMIT 1 OFFSET ?2"));
    mid.Bind(1, fleet.now_us).Bind(2, overdue / 2);
    ASSIGN_OR_RETURN(row, mid.Step());
    if (row) fleet.overdue_cursor = {mid.ColumnInt(0), mid.ColumnInt(1)};
    std::printf("  built: %lld cameras, %lld audit events, %lld overdue\n",
                static_cast<long long>(fleet.cameras), static_cast<long long>(head),
                static_cast<long long>(overdue));
    return absl::OkStatus();
  });
  if (!summary.ok()) return summary;
  return fleet;
}

// The audit list as it was before issue 10 item 7: every filter in the statement, given or not.
absl::Status OldAuditList(common::Database& db, const storage::AuditFilter& f) {
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare("SELECT seq, time_us, actor, action, object_type, object_id, details, "
                 "prev_hash, hash FROM audit_events WHERE seq > ?1 AND (?2 = '' OR object_id = "
                 "?2) AND (?3 = '' OR actor = ?3) AND (?4 = '' OR action = ?4) AND (?5 IS NULL "
                 "OR time_us >= ?5) AND (?6 IS NULL OR time_us < ?6) ORDER BY seq LIMIT ?7"));
  s.Bind(1, f.after_seq).Bind(2, f.object_id).Bind(3, f.actor).Bind(4, f.action);
  s.BindOptional(5, f.start_us).BindOptional(6, f.end_us).Bind(7, int64_t{f.limit});
  return s.Run();
}

// The overdue list's old cursor, which could not seek.
absl::Status OldOverdueList(common::Database& db, const storage::OverdueFilter& f) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT a.id FROM assignments a JOIN cameras c ON c.id = "
                              "a.camera_id JOIN holders h ON h.id = a.holder_id WHERE "
                              "a.returned_us IS NULL AND a.due_us < ?2 AND (?3 IS NULL OR "
                              "a.due_us > ?3 OR (a.due_us = ?3 AND a.id > ?4)) ORDER BY "
                              "a.due_us, a.id LIMIT ?5"));
  s.Bind(2, f.now_us);
  if (f.after.has_value()) {
    s.Bind(3, f.after->first).Bind(4, f.after->second);
  } else {
    s.BindNull(3).BindNull(4);
  }
  s.Bind(5, int64_t{f.limit});
  return s.Run();
}

// The camera list's not-seen and battery filters as they were before: the serial index walked
// from the cursor, each camera tested.
absl::Status OldCameraList(common::Database& db, const storage::CameraFilter& f) {
  std::string where = "c.serial > ?1";
  if (f.not_seen_since_us.has_value()) {
    where += " AND (c.last_seen_us IS NULL OR c.last_seen_us < ?2)";
  }
  if (f.battery_below.has_value()) where += " AND cs.battery_percent < ?3";
  if (f.site_id.has_value()) {
    where += " AND +c.site_id IN (SELECT id FROM subtree)";
  }
  ASSIGN_OR_RETURN(
      common::Statement s,
      db.Prepare(absl::StrCat(
          f.site_id.has_value() ? "WITH RECURSIVE subtree(id) AS (SELECT ?5 UNION ALL SELECT "
                                  "s2.id FROM sites s2 JOIN subtree t ON s2.parent_id = t.id) "
                                : "",
          "SELECT c.id, c.serial, s.code, a.due_us, cs.battery_percent FROM cameras c "
          "JOIN sites s ON s.id = c.site_id LEFT JOIN assignments a ON a.camera_id = c.id AND "
          "a.returned_us IS NULL LEFT JOIN camera_status cs ON cs.camera_id = c.id WHERE ",
          where, " ORDER BY c.serial LIMIT ?4")));
  s.Bind(1, f.after_serial);
  if (f.not_seen_since_us.has_value()) s.Bind(2, *f.not_seen_since_us);
  if (f.battery_below.has_value()) s.Bind(3, *f.battery_below);
  s.Bind(4, int64_t{f.limit});
  if (f.site_id.has_value()) s.Bind(5, *f.site_id);
  return s.Run();
}

struct Case {
  std::string name;
  std::function<absl::Status(common::Database&)> now;
  std::function<absl::Status(common::Database&)> old;
};

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

int Run(const std::vector<int64_t>& sizes, int iterations, int old_iterations,
        const std::string& dir_root, int64_t chunk) {
  std::printf("load average at start: %s (2 cores: above ~1, every p99 below is noise)\n",
              LoadAverage().c_str());
  std::printf(
      "camfleet-bench-list: p99 goal %.0f ms; 'old' is the same filter in the form "
      "before issue 10 item 7\n",
      kGoalMs);
  for (int64_t cameras : sizes) {
    const std::string dir =
        absl::StrCat(dir_root, "/camfleet-list-bench-", ::getpid(), "-", cameras);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    common::FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(dir + "/fleet.db", clock);
    if (!store.ok()) {
      std::cerr << store.status() << "\n";
      return 1;
    }
    std::printf("\n%lld cameras:\n", static_cast<long long>(cameras));
    const absl::Time build_start = absl::Now();
    absl::StatusOr<Fleet> fleet = BuildFleet(**store, clock, cameras, chunk);
    if (!fleet.ok()) {
      std::cerr << fleet.status() << "\n";
      return 1;
    }
    std::printf("  (built in %s)\n", absl::FormatDuration(absl::Now() - build_start).c_str());
    std::vector<Case> cases;
    auto audit = [&](std::string name, storage::AuditFilter f) {
      f.limit = kPageSize + 1;
      cases.push_back({std::move(name),
                       [f](common::Database& db) { return storage::ListAudit(db, f).status(); },
                       [f](common::Database& db) { return OldAuditList(db, f); }});
    };
    storage::AuditFilter f;
    audit("audit: first page", f);
    f.after_seq = fleet->mid_seq;
    audit("audit: deep page", f);
    f = {};
    f.object_id = Serial(cameras / 2);
    audit("audit: one camera", f);
    f = {};
    f.actor = "qm-1";
    audit("audit: one actor", f);
    f.after_seq = fleet->mid_seq;
    audit("audit: one actor, deep page", f);
    f = {};
    f.action = "camera.issue";
    audit("audit: one action", f);
    f = {};
    f.start_us = fleet->window_start_us;
    audit("audit: the last hour", f);
    f.end_us = fleet->now_us;
    audit("audit: the last hour, both bounds", f);
    f = {};
    f.start_us = fleet->now_us - 24 * kHourUs;  // a window of tens of thousands of events
    audit("audit: the last day", f);
    f.after_seq = fleet->mid_seq;  // a cursor far before the window
    audit("audit: the last day, old cursor", f);
    auto overdue = [&](std::string name, storage::OverdueFilter o) {
      o.now_us = fleet->now_us;
      o.limit = kPageSize + 1;
      cases.push_back({std::move(name),
                       [o](common::Database& db) { return storage::ListOverdue(db, o).status(); },
                       [o](common::Database& db) { return OldOverdueList(db, o); }});
    };
    storage::OverdueFilter o;
    overdue("overdue: first page", o);
    o.after = fleet->overdue_cursor;
    overdue("overdue: deep page (half way)", o);
    o = {};
    o.site_id = fleet->region_id;
    overdue("overdue: one region, first page", o);

    auto cameras_case = [&](std::string name, storage::CameraFilter c) {
      c.limit = kPageSize + 1;
      cases.push_back({std::move(name),
                       [c](common::Database& db) { return storage::ListCameras(db, c).status(); },
                       [c](common::Database& db) { return OldCameraList(db, c); }});
    };
    storage::CameraFilter c;
    c.not_seen_since_us = fleet->now_us - 14 * kDayUs;  // ~4 % of the fleet
    cameras_case("cameras: not seen 14 days", c);
    c.after_serial = Serial(cameras / 2);
    cameras_case("cameras: not seen 14 days, deep page", c);
    c.after_serial.clear();
    c.site_id = fleet->region_id;
    cameras_case("cameras: not seen 14 days, one region", c);
    c.after_serial = Serial(cameras / 2);
    cameras_case("cameras: not seen 14d, region, deep page", c);
    c.after_serial.clear();
    c = {};
    c.not_seen_since_us = fleet->now_us - kHourUs;  // ~98 %: the worst case for the seek
    cameras_case("cameras: not seen 1 hour (most)", c);
    c = {};
    c.battery_below = 20;  // ~3 %
    cameras_case("cameras: battery below 20", c);
    c.after_serial = Serial(cameras / 2);
    cameras_case("cameras: battery below 20, deep page", c);
    c = {};
    c.battery_below = 5;  // none: the worst case for the walk
    cameras_case("cameras: battery below 5 (none)", c);

    std::printf("  %-40s %9s %9s %9s %8s %11s %9s\n", "query", "p50 ms", "p99 ms", "cpu p99",
                "p99/goal", "old p99 ms", "old/new");
    {
      // The ceiling: an empty read through the same store, whose p99 is the machine's noise.
      absl::Status error;
      Percentiles empty = Measure(
          iterations,
          [&] { return (*store)->Read([](common::Database&) { return absl::OkStatus(); }); },
          error);
      std::printf("  %-40s %9.3f %9.3f %9.3f %8.2f\n", "empty read (ceiling)", empty.p50_ms,
                  empty.p99_ms, empty.cpu_p99_ms, empty.p99_ms / kGoalMs);
    }
    for (const Case& c : cases) {
      absl::Status error;
      Percentiles now = Measure(
          iterations,
          [&] { return (*store)->Read([&](common::Database& db) { return c.now(db); }); }, error);
      Percentiles old = Measure(
          old_iterations,
          [&] { return (*store)->Read([&](common::Database& db) { return c.old(db); }); }, error);
      if (!error.ok()) {
        std::cerr << c.name << ": " << error << "\n";
        return 1;
      }
      std::printf("  %-40s %9.3f %9.3f %9.3f %8.2f %11.3f %9.1f\n", c.name.c_str(), now.p50_ms,
                  now.p99_ms, now.cpu_p99_ms, now.p99_ms / kGoalMs, old.p99_ms,
                  now.p99_ms > 0 ? old.p99_ms / now.p99_ms : 0.0);
    }
    store->reset();
    std::filesystem::remove_all(dir);
  }
  std::printf("\nload average at end: %s\n", LoadAverage().c_str());
  return 0;
}

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured
  CLI::App app{
      "camfleet-bench-list: the audit and overdue lists and the camera list's not-seen and "
      "battery filters at 100,000 and 1,000,000 cameras, at the store, p50/p99 per filter "
      "against a 20 ms goal and against the old query form"};
  std::string sizes = "100000,1000000";
  int iterations = 200;
  int old_iterations = 5;
  int64_t chunk = 2'000;
  std::string dir = std::filesystem::temp_directory_path().string();
  app.add_option("--cameras", sizes, "Fleet sizes, comma-separated")->capture_default_str();
  app.add_option("--iterations", iterations, "Timed runs of each query")->capture_default_str();
  app.add_option("--old-iterations", old_iterations, "Timed runs of each query's old form")
      ->capture_default_str();
  app.add_option("--chunk", chunk, "Cameras written per transaction while building")
      ->capture_default_str();
  app.add_option("--db-dir", dir, "Where the scratch databases go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::vector<int64_t> counts;
  for (absl::string_view s : absl::StrSplit(sizes, ',')) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(s, &n) || n <= 0) {
      std::cerr << "--cameras: '" << s << "' is not a positive count\n";
      return 2;
    }
    counts.push_back(n);
  }
  return camfleet::bench::Run(counts, iterations, old_iterations, dir, chunk);
}
