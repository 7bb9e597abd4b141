#pragma once
// Calling FleetManager's asynchronous methods from a test thread: the call, then a wait for its
// Done. Header-only (a template over the method's request and response).

#include <chrono>
#include <future>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/fleet/fleet_manager.h"

namespace camfleet::testing {

// Calls `method` as `who` and waits up to 60 s for its answer (DEADLINE_EXCEEDED if none came).
template <typename Req, typename Resp>
absl::StatusOr<Resp> CallFleet(fleet::FleetManager& manager,
                               void (fleet::FleetManager::*method)(const rpc::Identity&, const Req&,
                                                                   fleet::Done<Resp>),
                               const rpc::Identity& who, const Req& req) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Resp>>>();
  std::future<absl::StatusOr<Resp>> result = promise->get_future();
  (manager.*method)(who, req,
                    [promise](absl::StatusOr<Resp> r) { promise->set_value(std::move(r)); });
  if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    return absl::DeadlineExceededError("the write was never answered");
  }
  return result.get();
}

}  // namespace camfleet::testing
