#pragma once
// The CLI's only way to camfleetd: one channel, the generated stubs, and per call a deadline
// (and, on a plaintext development server, the operator metadata). Errors come back as
// absl::Status with the server's code and message.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.grpc.pb.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/monitoring.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "camfleet/v1/web.grpc.pb.h"
#include "common/grpc_status.h"
#include "google/protobuf/message.h"

namespace camfleet::cli {

inline constexpr char kDefaultServer[] = "127.0.0.1:7443";
// The metadata header the server's DevAuthenticator reads (services/rpc/identity.h). Repeated
// here because the CLI must not depend on server code.
inline constexpr char kOperatorMetadata[] = "camfleet-operator";

// How the channel is secured.
enum class Transport {
  kUnset,     // neither --credentials nor --insecure: only local commands may run
  kTls,       // mutual TLS with the bundle in credentials_dir
  kInsecure,  // plaintext, for `camfleetd serve --insecure-dev` on loopback
};

struct ConnectionOptions {
  std::string server = kDefaultServer;
  Transport transport = Transport::kUnset;
  // A credential bundle (provisioning/credential_bundle.h): key.pem, cert.pem, ca.pem. Used for
  // TLS, and by `whoami` and `operator renew` whatever the transport.
  std::string credentials_dir;
  // With TLS: the name the server's certificate must carry, when it differs from the host in
  // `server` (dialling an IP address whose certificate names a host). Empty: the host itself.
  std::string server_name;
  // Sent as camfleet-operator on every call, only without TLS (with TLS the server takes the
  // identity from the certificate). Empty sends nothing (the server's default applies).
  std::string operator_name;
  // The deadline of every call, counted from when the call starts.
  absl::Duration timeout = absl::Seconds(30);
};

// The one place a channel is made: mutual TLS with the bundle in options.credentials_dir, or
// plaintext with kInsecure. Nothing is sent yet; gRPC connects on the first call.
// Errors: FAILED_PRECONDITION for kUnset (the message says to pass --credentials or
// --insecure); LoadCredentialBundle's errors, prefixed with the directory (NOT_FOUND for a
// missing file, FAILED_PRECONDITION for a key others can read, INVALID_ARGUMENT for a file
// that does not parse).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionOptions& options);

// grpc::Status to absl::Status (common/grpc_status.h).
using ::camfleet::common::FromGrpcStatus;

// "error: NOT_FOUND: camera 'X' does not exist", plus a hint line when the server could not be
// reached, the TLS handshake failed, the certificate was refused, or the server did not answer
// in time. No trailing newline.
std::string FormatRpcError(const absl::Status& status, const ConnectionOptions& options);

// INVALID_ARGUMENT naming the first string field of `request` (nested fields as a.b) that is
// not UTF-8 text, and the fix. Protobuf refuses such a field where it is parsed, and the server
// would answer a confusing status that names neither the field nor the terminal setting (or the
// file) it came from; so the client checks before it sends.
absl::Status CheckTextFields(const google::protobuf::Message& request);

class Client {
 public:
  // `channel` is MakeChannel's result; when it is an error, every call returns that error.
  Client(ConnectionOptions options, absl::StatusOr<std::shared_ptr<grpc::Channel>> channel);

  const ConnectionOptions& options() const { return options_; }

  // Calls one FleetService method, e.g. Fleet(&v1::FleetService::Stub::GetSite, request).
  template <typename Request, typename Response>
  absl::StatusOr<Response> Fleet(grpc::Status (v1::FleetService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*),
                                 const Request& request) const {
    return Call(fleet_.get(), method, request);
  }
  // Calls one AuditService method.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Audit(grpc::Status (v1::AuditService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*),
                                 const Request& request) const {
    return Call(audit_.get(), method, request);
  }
  // Calls one FirmwareService method (unary ones).
  template <typename Request, typename Response>
  absl::StatusOr<Response> Firmware(grpc::Status (v1::FirmwareService::Stub::*method)(
                                        grpc::ClientContext*, const Request&, Response*),
                                    const Request& request) const {
    return Call(firmware_.get(), method, request);
  }
  // Calls one RolloutService method.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Rollout(grpc::Status (v1::RolloutService::Stub::*method)(
                                       grpc::ClientContext*, const Request&, Response*),
                                   const Request& request) const {
    return Call(rollout_.get(), method, request);
  }
  // Calls one ProvisioningService method.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Provisioning(grpc::Status (v1::ProvisioningService::Stub::*method)(
                                            grpc::ClientContext*, const Request&, Response*),
                                        const Request& request) const {
    return Call(provisioning_.get(), method, request);
  }
  // Calls one WebService method.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Web(grpc::Status (v1::WebService::Stub::*method)(grpc::ClientContext*,
                                                                            const Request&,
                                                                            Response*),
                               const Request& request) const {
    return Call(web_.get(), method, request);
  }
  // Calls one MonitoringService method.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Monitoring(grpc::Status (v1::MonitoringService::Stub::*method)(
                                          grpc::ClientContext*, const Request&, Response*),
                                      const Request& request) const {
    return Call(monitoring_.get(), method, request);
  }

  // For calls the helpers above do not cover (client streams): the channel (or the error that
  // made it), and a context prepared as every call's, with `timeout` instead of the usual one.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel() const {
    if (!channel_status_.ok()) return channel_status_;
    return channel_;
  }
  void PrepareContext(grpc::ClientContext& context, absl::Duration timeout) const;

 private:
  // Sets the deadline and, without TLS, the operator metadata on a fresh context.
  void Prepare(grpc::ClientContext& context) const { PrepareContext(context, options_.timeout); }

  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub* stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) const {
    if (!channel_status_.ok()) return channel_status_;
    if (absl::Status text = CheckTextFields(request); !text.ok()) return text;
    grpc::ClientContext context;
    Prepare(context);
    Response response;
    grpc::Status status = (stub->*method)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  ConnectionOptions options_;
  absl::Status channel_status_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  std::unique_ptr<v1::ProvisioningService::Stub> provisioning_;
  std::unique_ptr<v1::MonitoringService::Stub> monitoring_;
  std::unique_ptr<v1::FirmwareService::Stub> firmware_;
  std::unique_ptr<v1::RolloutService::Stub> rollout_;
  std::unique_ptr<v1::WebService::Stub> web_;
};

}  // namespace camfleet::cli
