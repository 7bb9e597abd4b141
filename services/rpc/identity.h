#pragma once
// Who is calling. Every audit event records the caller's identity.
//
// Until mutual TLS arrives the server runs only on a loopback or unix-socket listener, and the
// caller names itself in the `camfleet-operator` metadata header (the CLI sends its --operator
// flag); without the header the server's --dev-operator flag is used.

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/statusor.h"

namespace camfleet::rpc {

struct Identity {
  std::string name;  // recorded as the audit actor
  std::string role;  // "admin", "quartermaster", "auditor", "dock"
};

inline constexpr char kOperatorMetadata[] = "camfleet-operator";

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Errors: UNAUTHENTICATED or INVALID_ARGUMENT naming what is wrong with the caller's identity.
  virtual absl::StatusOr<Identity> Authenticate(const grpc::ServerContextBase& context) const = 0;
};

// The development authenticator described above. Every caller acts as an admin.
class DevAuthenticator final : public Authenticator {
 public:
  explicit DevAuthenticator(std::string default_operator)
      : default_operator_(std::move(default_operator)) {}
  absl::StatusOr<Identity> Authenticate(const grpc::ServerContextBase& context) const override;

 private:
  std::string default_operator_;
};

}  // namespace camfleet::rpc
