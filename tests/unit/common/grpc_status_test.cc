// common/grpc_status.h: a refusal's reason reaches the other side of a gRPC call, and nothing
// else changes what a caller sees.

#include "common/grpc_status.h"

#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace camfleet::common {
namespace {

TEST(GrpcStatusTest, AReasonSurvivesTheTripAndTheCodeAndMessageStay) {
  const absl::Status refused = WithReason(absl::UnauthenticatedError("renew it"), "SOME_REASON");
  const grpc::Status wire = ToGrpcStatus(refused);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wire.error_message(), "renew it");
  // What gRPC tools read from grpc-status-details-bin: a google.rpc.Status with an ErrorInfo.
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(wire.error_details()));
  EXPECT_EQ(details.code(), static_cast<int32_t>(grpc::StatusCode::UNAUTHENTICATED));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "SOME_REASON");
  EXPECT_EQ(info.domain(), "camfleet.v1");

  const absl::Status back = FromGrpcStatus(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(back.message(), "renew it");
  EXPECT_EQ(ReasonOf(back), "SOME_REASON");
}

TEST(GrpcStatusTest, AStatusWithoutReasonSendsNoDetailsAndReadsAsNoReason) {
  const grpc::Status wire = ToGrpcStatus(absl::NotFoundError("camera 'X' is not registered"));
  EXPECT_EQ(wire.error_details(), "");
  EXPECT_EQ(ReasonOf(FromGrpcStatus(wire)), "");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  EXPECT_TRUE(WithReason(absl::OkStatus(), "SOME_REASON").ok());
}

TEST(GrpcStatusTest, DetailsThatDoNotParseOrComeFromAnotherDomainGiveNoReason) {
  const absl::Status garbage = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no", std::string("\xff\xff\xff", 3)));
  EXPECT_EQ(garbage.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(garbage.message(), "no");
  EXPECT_EQ(ReasonOf(garbage), "");

  google::rpc::ErrorInfo other;
  other.set_reason("SOME_REASON");
  other.set_domain("example.com");
  google::rpc::Status details;
  details.set_code(16);
  details.add_details()->PackFrom(other);
  const absl::Status foreign = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no", details.SerializeAsString()));
  EXPECT_EQ(ReasonOf(foreign), "");
}

}  // namespace
}  // namespace camfleet::common
