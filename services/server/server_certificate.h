#pragma once
// camfleetd's own serving certificate (HOME/server, a credential bundle) and how it stays valid
// while the server runs.
//
// The certificate lives 365 days (certificate_profile.h) and gets no renewal grace, because
// nobody else renews it: camfleetd re-issues it from the CA it holds. The renewer looks at the
// certificate every `check_interval` (real time) and, once the server's clock is past 2/3 of
// its validity (RenewalDueAt), makes a new key, has the CA sign it for the same DNS and IP
// names, records it (certificates table + audit event `server.renew_certificate`) and swaps the
// bundle's `current` version. gRPC re-reads the bundle's files every `reload_interval`
// (FileWatcherCertificateProvider) and serves the new certificate on new handshakes; the web
// page's port serves it from the next handshake on (provisioning/serving_certificate.h); open
// connections keep the session they made and are not dropped. The old certificate is not
// revoked: it simply expires, so a client that connected just before the swap is unaffected.
// `camfleetd renew-server-cert` does the same by hand, from another process, against a running
// server or a stopped one.
//
// Warnings, long before expiry: if the certificate is past its renewal time and still not
// renewed (the renewal failed: disk full, unwritable home, the CA expired), the renewer logs a
// warning on every check with the reason and the days left, and sets the gRPC health status of
// the service named kServerCertificateHealthService to NOT_SERVING (the server itself, service
// "", stays SERVING: it still serves). That is at least 121 days before the certificate
// expires. In its last 30 days the log line is an error.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_authority.h"
#include "services/storage/identity_repository.h"
#include "services/storage/store.h"

namespace camfleet::server {

// grpc.health.v1 service name: SERVING while camfleetd's certificate is fresh or renewed on
// time, NOT_SERVING once a renewal is overdue (`grpc_health_probe -service=...`).
inline constexpr char kServerCertificateHealthService[] = "camfleet.ServerCertificate";
// The log turns from warnings to errors this long before the certificate expires.
inline constexpr absl::Duration kServerCertificateUrgent = absl::Hours(24 * 30);

// The certificate in the bundle at `credentials_dir`, parsed.
// Errors: LoadCredentialBundle's; INVALID_ARGUMENT if cert.pem is not a fleet certificate.
absl::StatusOr<provisioning::CertificateInfo> ReadServerCertificate(
    const std::string& credentials_dir);

// Issues camfleetd a new key and certificate, for the DNS and IP names of its current one, as
// of `now`; records it with an audit event by `actor` (one transaction) and then makes it the
// bundle's current version. The record comes first: a certificate served is always one the
// store knows. Errors: the CA's (FAILED_PRECONDITION when the CA is expired), the store's, and
// the bundle's I/O errors naming the path; on error the served certificate is unchanged.
absl::StatusOr<provisioning::IssuedCertificate> RenewServerCertificate(
    const provisioning::CertificateAuthority& ca, storage::Store& store,
    const std::string& credentials_dir, absl::Time now, absl::string_view actor);

// RenewServerCertificate for a home (home.h) from another process, as `camfleetd
// renew-server-cert` does: loads HOME's CA, opens its store (which must exist), renews as of
// `now`, closes the store. A camfleetd running on the home serves the new certificate to new
// connections within its reload interval.
absl::StatusOr<provisioning::IssuedCertificate> RenewServerCertificateInHome(
    const std::string& home, absl::Time now);

struct ServerCertificateOptions {
  // How often (real time) the renewer compares the certificate with the server's clock.
  absl::Duration check_interval = absl::Minutes(10);
  // How often gRPC re-reads the bundle's files, so how soon a renewed certificate is served.
  // Whole seconds, at least one.
  absl::Duration reload_interval = absl::Minutes(1);
};

class ServerCertificateRenewer {
 public:
  // `on_health(true)` when the certificate is fine, `on_health(false)` while a renewal is
  // overdue; called on every check, from the renewer's thread (or CheckOnce's caller).
  ServerCertificateRenewer(const provisioning::CertificateAuthority& ca, storage::Store& store,
                           std::string credentials_dir, const common::Clock& clock,
                           ServerCertificateOptions options,
                           std::function<void(bool healthy)> on_health);
  ~ServerCertificateRenewer();
  ServerCertificateRenewer(const ServerCertificateRenewer&) = delete;
  ServerCertificateRenewer& operator=(const ServerCertificateRenewer&) = delete;

  // One check as of the clock's now: reads the certificate in the bundle (a renewal made by
  // hand is seen here), renews it if due, warns if that fails. Returns the certificate now in
  // the bundle, or why the check failed.
  absl::StatusOr<provisioning::CertificateInfo> CheckOnce();

  // Runs CheckOnce every check_interval on a thread of its own until Stop.
  void Start();
  void Stop();

 private:
  const provisioning::CertificateAuthority& ca_;
  storage::Store& store_;
  const std::string credentials_dir_;
  const common::Clock& clock_;
  const ServerCertificateOptions options_;
  const std::function<void(bool)> on_health_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace camfleet::server
