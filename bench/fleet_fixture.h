#pragma once
// The fleet the benchmark runs against, loaded through the real code paths: a site tree,
// holders, cameras imported over gRPC with ImportManifest, their lifecycle states set through
// FleetManager (audit events included), and "last seen" times written straight into the store
// (no RPC sets them yet). Plus, for the lifecycle runs, each client's own holder and cameras.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "services/fleet/fleet_manager.h"
#include "services/server/server.h"

namespace camfleet::bench {

struct FixtureOptions {
  int cameras = 100000;
  int regions = 5;
  int districts = 10;  // per region
  int posts = 20;      // per district
  int cameras_per_client = 4;
  int import_chunk = 10000;
  uint64_t seed = 1;
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
  nlohmann::json timings = nlohmann::json::object();  // how long each loading step took
};

// Loads the fleet into `server`'s store, with cameras for `clients` lifecycle clients, printing
// progress to stdout. Errors: the first failed call, saying which step.
absl::StatusOr<Fixture> BuildFixture(server::Server& server, fleet::FleetManager& manager,
                                     v1::FleetService::Stub& stub, const FixtureOptions& options,
                                     int clients);

}  // namespace camfleet::bench
