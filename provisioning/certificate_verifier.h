#pragma once
// Deciding whether to trust a certificate a peer presents, knowing only the fleet CA certificate
// (and, on a dock, the latest CRL): no CA key needed. The server uses it through
// CertificateAuthority; docks and the CLI use it directly with ca.crt.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/certificate.h"
#include "provisioning/revocation.h"

namespace camfleet::provisioning {

// Immutable and cheap to copy; safe to use from several threads at once.
class CertificateVerifier {
 public:
  // Trusts the CA certificate in `ca_pem`.
  // INVALID_ARGUMENT if it is not a PEM certificate or not a CA certificate.
  static absl::StatusOr<CertificateVerifier> FromCaPem(absl::string_view ca_pem);

  // The same trust, also refusing every certificate `crl_pem` lists. The CRL must be issued and
  // signed by this CA. A CRL past its nextUpdate is still used: a dock cut off for weeks keeps
  // the newest revocations it has rather than refusing every camera.
  // INVALID_ARGUMENT if `crl_pem` is not a PEM CRL or not signed by this CA.
  absl::StatusOr<CertificateVerifier> WithCrl(absl::string_view crl_pem) const;

  // Trusts `cert_pem` if this CA issued it, it is valid at `at`, and the CRL (if any) does not
  // list it; returns what it says.
  // INVALID_ARGUMENT if `cert_pem` is not a PEM fleet certificate (see ParseCertificate).
  // UNAUTHENTICATED, saying precisely why, if it is not to be trusted: "... is not issued by
  // this fleet CA ...", "... expired at <time> ...", "... is not valid until <time> ...",
  // "... is revoked since <time> (keyCompromise)".
  absl::StatusOr<CertificateInfo> VerifyChain(absl::string_view cert_pem, absl::Time at) const;

  // As VerifyChain, but a certificate that expired no more than its role's renewal grace ago
  // (certificate_profile.h) is still accepted, so that its holder can renew after an outage.
  // Use it only to authenticate a renewal request. UNAUTHENTICATED "... expired at <time>; the
  // renewal grace of 30 days ended at <time>" past the grace; otherwise as VerifyChain.
  absl::StatusOr<CertificateInfo> VerifyForRenewal(absl::string_view cert_pem,
                                                   absl::Time now) const;

  // The CRL number inside the signed CRL given to WithCrl (the number a dock must never see go
  // back); nullopt without a CRL or if the CRL carries none.
  std::optional<uint64_t> CrlNumber() const;

  // The CRL's entry for `cert_pem`'s serial, whatever the certificate's validity; nullopt if the
  // CRL does not list it or there is no CRL. INVALID_ARGUMENT if `cert_pem` is not a PEM
  // certificate.
  absl::StatusOr<std::optional<RevokedCertificate>> FindRevocation(
      absl::string_view cert_pem) const;

  // The trusted CA certificate, PEM.
  const std::string& CaPem() const;

 private:
  struct State;
  explicit CertificateVerifier(std::shared_ptr<const State> state) : state_(std::move(state)) {}

  std::shared_ptr<const State> state_;
};

}  // namespace camfleet::provisioning
