#pragma once
// The one place a grpc::Status and an absl::Status turn into each other (server, agent, camera
// simulator, command line, tests and benchmarks all go through here). The codes are numerically
// the same. An absl::Status's payloads travel as the details of a google.rpc.Status in the
// call's grpc-status-details-bin trailer (each payload's URL is its Any's type URL), the rich
// error model gRPC tools read; so a program can act on a refusal's reason without matching
// its message, which is for people and may be reworded.

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace camfleet::common {

grpc::Status ToGrpcStatus(const absl::Status& status);
// A grpc-status-details-bin that does not parse is dropped (the code and message stay).
absl::Status FromGrpcStatus(const grpc::Status& status);

// The domain of camfleet's google.rpc.ErrorInfo reasons.
inline constexpr char kErrorDomain[] = "camfleet.v1";

// The reasons camfleetd sends. A program acts on these, never on a message's words.
// UNAUTHENTICATED: the caller's certificate comes from an issuing CA the fleet root revoked
// (a compromised rotation) and may renew itself onto the current one, once; a dock does so at
// once, whatever its renewal window.
inline constexpr char kReasonIssuerRevoked[] = "ISSUER_REVOKED";
// FAILED_PRECONDITION from EnrollCamera: the camera holds a usable certificate already. A dock
// whose camera holds only its factory (supplier) certificate renews it instead.
inline constexpr char kReasonCameraAlreadyEnrolled[] = "CAMERA_ALREADY_ENROLLED";

// `status` with a google.rpc.ErrorInfo{reason, domain "camfleet.v1"} attached. OK stays OK.
absl::Status WithReason(absl::Status status, absl::string_view reason);
// The reason WithReason attached (also after a round trip over gRPC); "" if none, or if the
// ErrorInfo is of another domain.
std::string ReasonOf(const absl::Status& status);

}  // namespace camfleet::common
