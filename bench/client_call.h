#pragma once
// What every call the benchmark makes has in common: a deadline, the operator header the
// development authenticator reads, and the status as an absl::Status.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/rpc/identity.h"

namespace camfleet::bench {

inline constexpr absl::Duration kCallDeadline = absl::Seconds(30);
// For one ImportManifest chunk of up to 50,000 rows.
inline constexpr absl::Duration kBulkDeadline = absl::Seconds(300);

absl::Status FromGrpc(const grpc::Status& s);

// A context with a deadline `deadline` from now, calling as `operator_name` (the header the
// development authenticator reads; none when empty).
std::unique_ptr<grpc::ClientContext> NewContext(const std::string& operator_name,
                                                absl::Duration deadline = kCallDeadline);

google::protobuf::Timestamp Ts(absl::Time t);

// An admin acting under `name`, as the development authenticator would produce; for calls
// straight into the services.
rpc::Identity Operator(std::string name);

}  // namespace camfleet::bench
