#pragma once
// Who is calling, and may they call this method.
//
// With mutual TLS (TlsAuthenticator) the identity and role come from the client certificate,
// never from the request: the certificate must chain to the fleet CA, be within its validity
// (or its renewal grace, for renewal methods), and not be revoked; all three are checked on
// every call. Then the method's rule (authorization.h) must allow the role.
//
// One exception, for renewal methods only: a certificate whose only fault is that the root
// revoked its issuing CA (`camfleetd ca rotate-intermediate --compromised`) passes as a
// recovering identity (Identity::recovery_pem), if neither its serial nor its principal is
// revoked; the renewal then checks it against the certificates camfleetd recorded. Every other
// method refuses it with UNAUTHENTICATED, saying to renew (provisioning::kRecoveryRenewalHint).
//
// Without TLS (DevAuthenticator, loopback development only) every caller is an admin and names
// itself in the `camfleet-operator` metadata header, or gets the server's --dev-operator name.

#include <grpcpp/server_context.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/role.h"
#include "services/rpc/revocation_set.h"

namespace camfleet::rpc {

struct Identity {
  std::string name;  // operator name, dock id; recorded as the audit actor (see actor())
  // No role unless one was proven: a caller without a certificate (EnrollDock) has none, so no
  // code path can mistake it for an admin. Development mode sets kAdmin explicitly.
  std::optional<provisioning::Role> role;
  std::string certificate_serial;  // empty without TLS or without a certificate
  bool authenticated = false;      // false only for EnrollDock callers and development mode
  // Set only for a recovery renewal: the certificate presented (PEM), which chains to the root
  // through an issuing CA the root revoked. The authenticator lets such a certificate reach
  // the renewal methods and nothing else; the renewal accepts it only if it is exactly a
  // certificate camfleetd issued and recorded, not revoked (provisioning/README.md).
  std::string recovery_pem;

  bool recovering() const { return !recovery_pem.empty(); }

  // What audit events record: the operator's name, or "dock:<id>" for a dock.
  std::string actor() const { return role == provisioning::Role::kDock ? "dock:" + name : name; }
};

inline constexpr char kOperatorMetadata[] = "camfleet-operator";

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // `method` is the full name, "camfleet.v1.FleetService/IssueCamera".
  // Errors: UNAUTHENTICATED (no, untrusted, expired or revoked certificate), PERMISSION_DENIED
  // (role not allowed), INTERNAL (method without a rule).
  virtual absl::StatusOr<Identity> Authenticate(const grpc::ServerContextBase& context,
                                                absl::string_view method) const = 0;
};

class DevAuthenticator final : public Authenticator {
 public:
  explicit DevAuthenticator(std::string default_operator)
      : default_operator_(std::move(default_operator)) {}
  absl::StatusOr<Identity> Authenticate(const grpc::ServerContextBase& context,
                                        absl::string_view method) const override;

 private:
  std::string default_operator_;
};

class TlsAuthenticator final : public Authenticator {
 public:
  TlsAuthenticator(provisioning::CertificateVerifier verifier, const RevocationSet& revoked,
                   const common::Clock& clock)
      : verifier_(std::move(verifier)), revoked_(revoked), clock_(clock) {}
  absl::StatusOr<Identity> Authenticate(const grpc::ServerContextBase& context,
                                        absl::string_view method) const override;

 private:
  // Verifying the chain costs a signature check; the result is kept per certificate (keyed by
  // its PEM) and only the validity window and revocation are checked again on each call.
  absl::StatusOr<provisioning::CertificateInfo> Verify(const std::string& pem, bool renewal,
                                                       absl::Time now) const;

  provisioning::CertificateVerifier verifier_;
  const RevocationSet& revoked_;
  const common::Clock& clock_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, provisioning::CertificateInfo> verified_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::rpc
