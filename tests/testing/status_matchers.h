#pragma once
// StatusIs / IsOk matchers for absl::Status and absl::StatusOr<T>, and for grpc::Status.

#include <grpcpp/support/status.h>

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"

namespace camfleet::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
inline absl::Status GetStatus(const grpc::Status& s) { return common::FromGrpcStatus(s); }

MATCHER(IsOk, "is OK") {
  const absl::Status status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  const absl::Status status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

// Code and a matcher on the message, e.g. StatusIs(kInvalidArgument, HasSubstr("serial")).
MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + ::testing::PrintToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace camfleet::testing
