#pragma once
// The CLI's only way to camfleetd: one channel, the generated stubs, and per call the operator
// metadata and a deadline. Errors come back as absl::Status with the server's code and message.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"

namespace camfleet::cli {

inline constexpr char kDefaultServer[] = "127.0.0.1:7443";
// The metadata header the server's DevAuthenticator reads (services/rpc/identity.h). Repeated
// here because the CLI must not depend on server code.
inline constexpr char kOperatorMetadata[] = "camfleet-operator";

struct ConnectionOptions {
  std::string server = kDefaultServer;
  // Sent as camfleet-operator on every call; empty sends nothing (the server's default applies).
  std::string operator_name;
  // The deadline of every call, counted from when the call starts.
  absl::Duration timeout = absl::Seconds(30);
};

// The one place a channel is made. Plaintext for now (the server allows it only on loopback);
// mutual TLS with client certificate, key and CA goes here.
std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options);

// grpc::Status to absl::Status; the numeric codes are the same by definition.
absl::Status FromGrpcStatus(const grpc::Status& status);

// "error: NOT_FOUND: camera 'X' does not exist", plus a hint line when the server could not be
// reached or did not answer in time. No trailing newline.
std::string FormatRpcError(const absl::Status& status, const ConnectionOptions& options);

class Client {
 public:
  explicit Client(ConnectionOptions options);

  const ConnectionOptions& options() const { return options_; }

  // Calls one FleetService method, e.g. Fleet(&v1::FleetService::Stub::GetSite, request).
  template <typename Request, typename Response>
  absl::StatusOr<Response> Fleet(grpc::Status (v1::FleetService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*),
                                 const Request& request) const {
    return Call(*fleet_, method, request);
  }
  // Calls one AuditService method.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Audit(grpc::Status (v1::AuditService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*),
                                 const Request& request) const {
    return Call(*audit_, method, request);
  }

 private:
  // Sets the deadline and the operator metadata on a fresh context.
  void Prepare(grpc::ClientContext& context) const;

  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) const {
    grpc::ClientContext context;
    Prepare(context);
    Response response;
    grpc::Status status = (stub.*method)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
};

}  // namespace camfleet::cli
