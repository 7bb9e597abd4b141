// camfleet-bench-report: every report (ReportService.RunReport) and the stock check at 100,000
// cameras. Starts the real camfleetd wiring in-process (Server::Start on 127.0.0.1:0 over a
// real SQLite file in a scratch directory), loads the fleet straight into its store (sites,
// docks, holders, cameras in every state, open and overdue assignments, one health reading and
// the status row per camera: what months of docks would have written), then times the first
// page of each report, for the whole fleet, one region and one post, over gRPC and through the
// C++ API the web page calls (ReportManager). Each figure is printed next to the machine's
// ceiling measured in the same run: the empty gRPC call (grpc.health.v1.Health/Check) over the
// same connection. Plus the time to export each report whole, page by page, as the CLI does.
// See bench/README.md.

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/client_call.h"
#include "bench/closed_loop.h"
#include "bench/process_stats.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "camfleet/v1/report.grpc.pb.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/reports/report_manager.h"
#include "services/rpc/page_token.h"
#include "services/server/server.h"
#include "services/storage/report_repository.h"
#include "services/storage/store.h"

namespace camfleet::bench {
namespace {

struct Options {
  int cameras = 100000;
  int regions = 5;
  int districts = 4;  // per region
  int posts = 10;     // per district
  int iterations = 50;
  int page_size = 100;
  std::string db_dir = "/tmp";
  bool keep_db = false;
  double goal_p99_ms = 250;
};

struct Fleet {
  std::string region;  // the first region's code
  std::string post;    // the first post's code
  int64_t cameras = 0;
};

// The fleet, written with plain INSERTs in transactions of 10,000 cameras. Rates (per camera
// index i): 2 % lost, 3 % faulty, 20 % issued (a tenth of those overdue), 4 % with a worn
// battery by health and 2.5 % by cycles, 5 % never read by a dock, 6 % last seen 10 days ago.
absl::StatusOr<Fleet> Load(storage::Store& store, const Options& o) {
  const int64_t now = absl::ToUnixMicros(absl::Now());
  constexpr int64_t kHour = int64_t{3600} * 1000 * 1000;
  std::vector<int64_t> posts, docks, holders;
  Fleet fleet;
  const absl::Status sites_written = store.WriteAndWait([&](storage::WriteTx& tx) -> absl::Status {
    common::Database& db = tx.db();
    auto site = [&](const std::string& code,
                    std::optional<int64_t> parent) -> absl::StatusOr<int64_t> {
      ASSIGN_OR_RETURN(common::Statement s,
                       db.Prepare("INSERT INTO sites (code, name, parent_id, created_us) "
                                  "VALUES (?, ?, ?, ?)"));
      s.Bind(1, code).Bind(2, absl::StrCat("Site ", code)).BindOptional(3, parent).Bind(4, now);
      RETURN_IF_ERROR(s.Run());
      return db.LastInsertRowId();
    };
    for (int r = 0; r < o.regions; ++r) {
      const std::string rcode = absl::StrFormat("R%02d", r);
      if (r == 0) fleet.region = rcode;
      ASSIGN_OR_RETURN(int64_t rid, site(rcode, std::nullopt));
      for (int d = 0; d < o.districts; ++d) {
        const std::string dcode = absl::StrFormat("%s-D%02d", rcode, d);
        ASSIGN_OR_RETURN(int64_t did, site(dcode, rid));
        for (int p = 0; p < o.posts; ++p) {
          const std::string pcode = absl::StrFormat("%s-P%02d", dcode, p);
          if (fleet.post.empty()) fleet.post = pcode;
          ASSIGN_OR_RETURN(int64_t pid, site(pcode, did));
          posts.push_back(pid);
          ASSIGN_OR_RETURN(common::Statement token,
                           db.Prepare("INSERT INTO enrollment_tokens (token_hash, site_id, "
                                      "created_us, created_by, expires_us, used_us, used_by_dock) "
                                      "VALUES (randomblob(32), ?, ?, 'bench', ?, ?, ?)"));
          const std::string dock_id = absl::AsciiStrToLower(absl::StrCat(pcode, "-dock-1"));
          token.Bind(1, pid).Bind(2, now).Bind(3, now + kHour).Bind(4, now).Bind(5, dock_id);
          RETURN_IF_ERROR(token.Run());
          const int64_t token_id = db.LastInsertRowId();
          ASSIGN_OR_RETURN(common::Statement dock,
                           db.Prepare("INSERT INTO docks (dock_id, site_id, slot_count, "
                                      "enrolled_us, last_contact_us, token_id) "
                                      "VALUES (?, ?, 16, ?, ?, ?)"));
          // Two docks in three were in contact a minute ago.
          dock.Bind(1, dock_id)
              .Bind(2, pid)
              .Bind(3, now)
              .Bind(4, now - (p % 3 == 0 ? 6 * kHour : kHour / 60))
              .Bind(5, token_id);
          RETURN_IF_ERROR(dock.Run());
          docks.push_back(db.LastInsertRowId());
        }
      }
    }
    return absl::OkStatus();
  });
  RETURN_IF_ERROR(sites_written);
  const int holders_count = std::max(1, o.cameras / 5);
  for (int start = 0; start < holders_count; start += 10000) {
    const absl::Status written = store.WriteAndWait([&,
                                                     start](storage::WriteTx& tx) -> absl::Status {
      for (int h = start; h < std::min(holders_count, start + 10000); ++h) {
        ASSIGN_OR_RETURN(common::Statement s,
                         tx.db().Prepare("INSERT INTO holders (badge, name, unit, home_site_id, "
                                         "created_us) VALUES (?, ?, 'Patrol', ?, ?)"));
        s.Bind(1, absl::StrFormat("B%06d", h))
            .Bind(2, absl::StrFormat("Officer %06d", h))
            .Bind(3, posts[static_cast<size_t>(h) % posts.size()])
            .Bind(4, now);
        RETURN_IF_ERROR(s.Run());
        holders.push_back(tx.db().LastInsertRowId());
      }
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(written);
  }
  for (int start = 0; start < o.cameras; start += 10000) {
    const absl::Status written = store.WriteAndWait([&,
                                                     start](storage::WriteTx& tx) -> absl::Status {
      common::Database& db = tx.db();
      for (int i = start; i < std::min(o.cameras, start + 10000); ++i) {
        const size_t post = static_cast<size_t>(i) % posts.size();
        // The camera's place among its post's cameras: every post gets the same mix of states
        // (counted by i itself, the 200 posts' cameras 0, 200, 400... were all LOST, so the
        // 'one post' figures read a post with nothing overdue, faulty or expected).
        const int j = i / static_cast<int>(posts.size());
        const char* state = j % 50 == 0   ? "LOST"
                            : j % 33 == 1 ? "FAULTY"
                            : j % 5 == 2  ? "ISSUED"
                                          : "AVAILABLE";
        const bool never_read = j % 20 == 3;
        std::optional<int64_t> last_seen;
        if (!never_read)
          last_seen = i % 17 == 6 ? now - 240 * kHour - i : now - (i % 3600) * 1000000;
        ASSIGN_OR_RETURN(common::Statement cam,
                         db.Prepare("INSERT INTO cameras (serial, model, hardware_revision, state, "
                                    "site_id, state_note, last_seen_us, created_us, updated_us) "
                                    "VALUES (?, 'BWC-100', 'R1', ?, ?, ?, ?, ?, ?)"));
        cam.Bind(1, absl::StrFormat("CAM-%07d", i))
            .Bind(2, state)
            .Bind(3, posts[post])
            .Bind(4, std::string(state) == "AVAILABLE" ? "" : "bench")
            .BindOptional(5, last_seen)
            .Bind(6, now - 1000 * kHour)
            .Bind(7, now - (i % 500) * kHour);
        RETURN_IF_ERROR(cam.Run());
        const int64_t camera_id = db.LastInsertRowId();
        const int64_t holder = holders[static_cast<size_t>(i / 5) % holders.size()];
        if (std::string(state) == "ISSUED" || (std::string(state) == "LOST" && j % 100 == 0)) {
          ASSIGN_OR_RETURN(common::Statement a,
                           db.Prepare("INSERT INTO assignments (camera_id, holder_id, issued_us, "
                                      "issued_by, due_us, returned_us, returned_by, "
                                      "return_condition) VALUES (?, ?, ?, 'bench', ?, ?, ?, ?)"));
          a.Bind(1, camera_id).Bind(2, holder).Bind(3, now - 4 * kHour);
          a.Bind(4, j % 50 == 2 ? now - kHour : now + 8 * kHour);
          if (std::string(state) == "LOST") {
            a.Bind(5, now - 2 * kHour).Bind(6, "bench").Bind(7, "NOT_RETURNED");
          } else {
            a.BindNull(5).BindNull(6).BindNull(7);
          }
          RETURN_IF_ERROR(a.Run());
        }
        if (never_read) continue;
        const int64_t health_pm = j % 25 == 4 ? 700 : 850 + i % 150;
        const int64_t cycles = j % 40 == 5 ? 700 : 100 + i % 300;
        const int slot = 1 + i % 16;
        ASSIGN_OR_RETURN(common::Statement h,
                         db.Prepare("INSERT INTO health_readings (camera_id, dock_id, slot, "
                                    "camera_sequence, device_us, received_us, battery_percent, "
                                    "battery_health_pm, cycle_count, reading) "
                                    "VALUES (?, ?, ?, 1, ?, ?, 90, ?, ?, x'')"));
        h.Bind(1, camera_id).Bind(2, docks[post]).Bind(3, int64_t{slot}).Bind(4, *last_seen);
        h.Bind(5, *last_seen).Bind(6, health_pm).Bind(7, cycles);
        RETURN_IF_ERROR(h.Run());
        const int64_t reading = db.LastInsertRowId();
        ASSIGN_OR_RETURN(
            common::Statement cs,
            db.Prepare("INSERT INTO camera_status (camera_id, last_dock_id, last_slot, "
                       "health_reading_id, health_device_us, health_sequence, "
                       "battery_percent, battery_health_pm) "
                       "VALUES (?, ?, ?, ?, ?, 1, 90, ?)"));
        cs.Bind(1, camera_id).Bind(2, docks[post]).Bind(3, int64_t{slot}).Bind(4, reading);
        cs.Bind(5, *last_seen).Bind(6, health_pm);
        RETURN_IF_ERROR(cs.Run());
      }
      return absl::OkStatus();
    });
    RETURN_IF_ERROR(written);
    std::cout << "\r  cameras loaded: " << std::min(o.cameras, start + 10000) << std::flush;
  }
  std::cout << "\n";
  fleet.cameras = o.cameras;
  return fleet;
}

struct Case {
  std::string name;
  v1::RunReportRequest request;
};

std::string KindName(v1::ReportKind kind) {
  std::string name = v1::ReportKind_Name(kind);
  return absl::AsciiStrToLower(name.substr(sizeof("REPORT_KIND_") - 1));
}

class ReportBench {
 public:
  explicit ReportBench(Options o) : o_(std::move(o)) {}

  absl::Status Run() {
    PrintLoad("start");
    ASSIGN_OR_RETURN(scratch_, ScratchDir::Create(o_.db_dir, o_.keep_db));
    server::ServerOptions so;
    so.db_path = scratch_->File("camfleet.db");
    so.listen = {"127.0.0.1:0"};
    so.insecure_dev = true;
    so.dev_operator = "bench";
    ASSIGN_OR_RETURN(server_, server::Server::Start(so));
    std::cout << "server: " << server_->target() << ", database " << so.db_path << "\n";
    const int64_t load_start = MonotonicNanos();
    std::cout << "\n== Fleet: " << o_.cameras << " cameras, "
              << o_.regions * o_.districts * o_.posts << " posts ==\n";
    ASSIGN_OR_RETURN(Fleet fleet, Load(server_->store(), o_));
    std::cout << absl::StrFormat("  loaded in %.1f s\n", SecondsSince(load_start));

    auto channel = grpc::CreateChannel(server_->target(), grpc::InsecureChannelCredentials());
    auto report_stub = v1::ReportService::NewStub(channel);
    auto health = grpc::health::v1::Health::NewStub(channel);

    // The ceiling: an empty call over the same connection.
    std::vector<int64_t> empty;
    for (int i = 0; i < o_.iterations * 4; ++i) {
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
      auto ctx = NewContext("bench");
      const int64_t t = MonotonicNanos();
      RETURN_IF_ERROR(FromGrpc(health->Check(ctx.get(), req, &resp)));
      if (i >= o_.iterations) empty.push_back(MonotonicNanos() - t);
    }
    const LatencySummary ceiling = Summarize(empty);
    std::cout << absl::StrFormat("\n== Ceiling: empty gRPC call p50 %.3f ms, p99 %.3f ms ==\n",
                                 ceiling.p50_ms, ceiling.p99_ms);

    std::vector<Case> cases;
    for (v1::ReportKind kind :
         {v1::REPORT_KIND_LOST, v1::REPORT_KIND_OVERDUE, v1::REPORT_KIND_WORN_BATTERY,
          v1::REPORT_KIND_NOT_SEEN, v1::REPORT_KIND_FAULTY, v1::REPORT_KIND_FLEET_SUMMARY}) {
      for (const auto& [where, site] : std::vector<std::pair<std::string, std::string>>{
               {"fleet", ""}, {"region", fleet.region}, {"post", fleet.post}}) {
        Case c;
        c.name = absl::StrCat(KindName(kind), ", ", where);
        c.request.set_report(kind);
        c.request.set_site_code(site);
        c.request.set_page_size(o_.page_size);
        cases.push_back(std::move(c));
      }
    }

    std::cout << "\n== First page (" << o_.page_size << " rows), " << o_.iterations
              << " calls each ==\n";
    std::vector<std::vector<std::string>> table = {
        {"report", "rows", "more", "gRPC p50 ms", "gRPC p99 ms", "API p50 ms", "API p99 ms"}};
    rpc::PageTokens tokens("bench: the API path's own tokens");
    reports::ReportManager manager(server_->store(), tokens);
    for (const Case& c : cases) {
      std::vector<int64_t> grpc_ns, api_ns;
      v1::RunReportResponse resp;
      for (int i = 0; i <= o_.iterations; ++i) {
        auto ctx = NewContext("bench");
        const int64_t t = MonotonicNanos();
        RETURN_IF_ERROR(FromGrpc(report_stub->RunReport(ctx.get(), c.request, &resp)));
        if (i > 0) grpc_ns.push_back(MonotonicNanos() - t);  // the first warms the cache
      }
      for (int i = 0; i <= o_.iterations; ++i) {
        const int64_t t = MonotonicNanos();
        absl::StatusOr<v1::RunReportResponse> direct = manager.RunReport(c.request);
        if (!direct.ok()) return direct.status();
        if (i > 0) api_ns.push_back(MonotonicNanos() - t);
      }
      const LatencySummary g = Summarize(grpc_ns);
      const LatencySummary a = Summarize(api_ns);
      table.push_back({c.name, absl::StrCat(resp.rows_size()),
                       resp.next_page_token().empty() ? "no" : "yes",
                       absl::StrFormat("%.2f", g.p50_ms), absl::StrFormat("%.2f", g.p99_ms),
                       absl::StrFormat("%.2f", a.p50_ms), absl::StrFormat("%.2f", a.p99_ms)});
      figures_.push_back({absl::StrCat(c.name, ": first page p50"), g.p50_ms, "ms", 2,
                          ceiling.p50_ms, "empty call p50", std::nullopt});
      figures_.push_back({absl::StrCat(c.name, ": first page p99"), g.p99_ms, "ms", 2,
                          ceiling.p99_ms, "empty call p99",
                          Goal{Goal::On::kValue, Goal::Bound::kAtMost, o_.goal_p99_ms}});
    }
    PrintTable(std::cout, table);

    std::cout << "\n== Whole report, page by page at 1000 rows (as `camfleet report --csv`) ==\n";
    std::vector<std::vector<std::string>> export_table = {
        {"report", "rows", "pages", "total ms", "slowest page ms"}};
    for (const Case& c : cases) {
      if (!c.request.site_code().empty()) continue;
      v1::RunReportRequest req = c.request;
      req.set_page_size(1000);
      int64_t rows = 0, pages = 0, slowest = 0;
      const int64_t start = MonotonicNanos();
      while (true) {
        v1::RunReportResponse resp;
        auto ctx = NewContext("bench");
        const int64_t t = MonotonicNanos();
        RETURN_IF_ERROR(FromGrpc(report_stub->RunReport(ctx.get(), req, &resp)));
        slowest = std::max(slowest, MonotonicNanos() - t);
        rows += resp.rows_size();
        ++pages;
        if (resp.next_page_token().empty()) break;
        req.set_page_token(resp.next_page_token());
      }
      export_table.push_back({KindName(c.request.report()), absl::StrCat(rows), absl::StrCat(pages),
                              absl::StrFormat("%.1f", SecondsSince(start) * 1000),
                              absl::StrFormat("%.1f", static_cast<double>(slowest) / 1e6)});
      figures_.push_back({absl::StrCat(KindName(c.request.report()), ": slowest export page"),
                          static_cast<double>(slowest) / 1e6, "ms", 1, std::nullopt, "",
                          Goal{Goal::On::kValue, Goal::Bound::kAtMost, o_.goal_p99_ms}});
    }
    PrintTable(std::cout, export_table);

    std::cout << "\n== Stock check of one post ("
              << o_.cameras / (o_.regions * o_.districts * o_.posts) << " cameras) ==\n";
    {
      v1::CheckStockRequest req;
      req.set_site_code(fleet.post);
      std::vector<int64_t> ns;
      v1::CheckStockResponse resp;
      for (int i = 0; i <= o_.iterations; ++i) {
        auto ctx = NewContext("bench");
        const int64_t t = MonotonicNanos();
        RETURN_IF_ERROR(FromGrpc(report_stub->CheckStock(ctx.get(), req, &resp)));
        if (i > 0) ns.push_back(MonotonicNanos() - t);
      }
      const LatencySummary s = Summarize(ns);
      std::cout << absl::StrFormat(
          "  expected %d, seen %d, issued %d, missing %d: p50 %.2f ms, p99 %.2f ms\n",
          resp.check().expected_size(), resp.check().seen_size(), resp.check().issued_size(),
          resp.check().missing_size(), s.p50_ms, s.p99_ms);
      figures_.push_back({"stock check of a post p99", s.p99_ms, "ms", 2, ceiling.p99_ms,
                          "empty call p99",
                          Goal{Goal::On::kValue, Goal::Bound::kAtMost, o_.goal_p99_ms}});
    }

    std::cout << "\n== Summary ==\n";
    PrintFigures(std::cout, figures_);
    PrintLoad("end");
    server_->Shutdown();
    return absl::OkStatus();
  }

 private:
  void PrintLoad(const char* when) {
    const double load = LoadAverage();
    std::cout << "load average at " << when << ": " << LoadAverages()
              << (load > 0.5 ? "  -- the machine is busy; figures are worse than on a quiet one"
                             : "")
              << "\n";
  }

  Options o_;
  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<server::Server> server_;
  std::vector<Figure> figures_;
};

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::Options o;
  CLI::App app{
      "camfleet-bench-report: the first page of every report and the stock check at 100,000 "
      "cameras, over gRPC and the C++ API, next to the empty-call ceiling"};
  app.add_option("--cameras", o.cameras, "Cameras in the fleet");
  app.add_option("--regions", o.regions, "Regions");
  app.add_option("--districts", o.districts, "Districts per region");
  app.add_option("--posts", o.posts, "Posts per district");
  app.add_option("--iterations", o.iterations, "Timed calls per case");
  app.add_option("--page-size", o.page_size, "Rows per page");
  app.add_option("--db-dir", o.db_dir, "Where the scratch database goes");
  app.add_flag("--keep-db", o.keep_db, "Keep the scratch database");
  app.add_option("--goal-p99-ms", o.goal_p99_ms, "The p99 a page must stay under");
  CLI11_PARSE(app, argc, argv);
  camfleet::server::PrepareServingProcess();
  camfleet::bench::ReportBench bench(o);
  absl::Status s = bench.Run();
  if (!s.ok()) {
    std::cerr << "error: " << s << "\n";
    return 1;
  }
  return 0;
}
