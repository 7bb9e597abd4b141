#include "bench/fleet_fixture.h"

#include <algorithm>
#include <iostream>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/client_call.h"
#include "bench/closed_loop.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "services/storage/store.h"

namespace camfleet::bench {
namespace {

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
    mu_.Await(absl::Condition(
        +[](Pending* p) { return p->in_flight_ == 0; }, this));
    if (errors_ == 0) return absl::OkStatus();
    return absl::Status(
        first_error_.code(),
        absl::StrCat(what, ": ", errors_, " failed, first: ", first_error_.message()));
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

enum class Plan : uint8_t { kRegistered, kAvailable, kIssued, kLost, kFaulty };

class FixtureBuilder {
 public:
  FixtureBuilder(server::Server& server, fleet::FleetManager& manager, v1::FleetService::Stub& stub,
                 const FixtureOptions& options)
      : server_(server), manager_(manager), stub_(stub), options_(options), rng_(options.seed) {}

  absl::StatusOr<Fixture> Build(int max_clients) {
    Fixture f;
    int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(CreateSites(f));
    RETURN_IF_ERROR(CreateHolders(f));
    RETURN_IF_ERROR(CreateClientCameras(f, max_clients));
    f.timings["sites_holders_client_cameras_s"] = SecondsSince(t);
    std::cout << absl::StrFormat(
                     "  %zu regions, %zu posts (%d sites in all), %zu holders, %d lifecycle "
                     "clients x %d cameras: %.1f s\n",
                     f.regions.size(), f.posts.size(),
                     options_.regions * (1 + options_.districts * (1 + options_.posts)),
                     f.holders.size(), max_clients, options_.cameras_per_client, SecondsSince(t))
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
    auto create = [&](const std::string& code, const std::string& name, const std::string& parent) {
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
    const double secs = SecondsSince(t);
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
    // Deep, but below the store's queue bound (StoreOptions::max_queued_writes, 10,000): past
    // it the store refuses writes at once (UNAVAILABLE) instead of queuing them.
    Pending pending(5000);
    auto phase = [&](const char* what, auto start_one, auto wanted) -> absl::Status {
      const int64_t t = MonotonicNanos();
      int64_t n = 0;
      for (int i = 1; i <= options_.cameras; ++i) {
        if (!wanted(plan_[static_cast<size_t>(i)])) continue;
        start_one(i);
        ++n;
      }
      RETURN_IF_ERROR(pending.Wait(what));
      const double secs = SecondsSince(t);
      f.timings[absl::StrCat(what, "_s")] = secs;
      f.timings[absl::StrCat(what, "_per_s")] = static_cast<double>(n) / secs;
      std::cout << absl::StrFormat("  %s via FleetManager: %d cameras: %.1f s (%.0f/s)\n", what, n,
                                   secs, static_cast<double>(n) / secs)
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
    f.timings["last_seen_s"] = SecondsSince(t);
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
  const FixtureOptions& options_;
  std::mt19937_64 rng_;
  std::vector<Plan> plan_;
};

}  // namespace

absl::StatusOr<Fixture> BuildFixture(server::Server& server, fleet::FleetManager& manager,
                                     v1::FleetService::Stub& stub, const FixtureOptions& options,
                                     int clients) {
  return FixtureBuilder(server, manager, stub, options).Build(clients);
}

}  // namespace camfleet::bench
