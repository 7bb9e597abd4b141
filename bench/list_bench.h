#pragma once
// List latency: one ListCameras request timed end to end over gRPC, the same query timed at the
// store without gRPC, SQLite's work counters for it and its query plan.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/closed_loop.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/store.h"

namespace camfleet::bench {

inline constexpr int kListPageSize = 100;

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

// Times list requests against one server and its store.
class ListBench {
 public:
  ListBench(storage::Store& store, v1::FleetService::Stub& stub, int api_iterations,
            int store_iterations)
      : store_(store),
        stub_(stub),
        api_iterations_(api_iterations),
        store_iterations_(store_iterations) {}

  // Errors: the first failed call.
  absl::StatusOr<ListResult> Run(const ListCase& c);

 private:
  absl::Status Call(const v1::ListCamerasRequest& req, v1::ListCamerasResponse* resp);
  // The filter FleetManager::ListCameras would build for this request.
  absl::StatusOr<storage::CameraFilter> Filter(const ListCase& c);
  // Runs the query twice with a profile hook (the first run clears the cached statement's
  // counters), then asks SQLite for the plan of the statement it ran.
  absl::Status Explain(const storage::CameraFilter& filter, ListResult& r);

  storage::Store& store_;
  v1::FleetService::Stub& stub_;
  const int api_iterations_;
  const int store_iterations_;
};

// Walks `pages - 1` pages of the unfiltered list and returns the token (and its cursor) for
// page `pages`, and the walk's per-page latency.
struct DeepToken {
  std::string token;
  std::string cursor;
  int pages = 0;
  LatencySummary walk;
};
absl::StatusOr<DeepToken> WalkToPage(v1::FleetService::Stub& stub, int pages);

}  // namespace camfleet::bench
