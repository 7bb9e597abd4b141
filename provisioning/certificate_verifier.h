#pragma once
// Deciding whether to trust a certificate a peer presents, knowing only the fleet's CA
// certificates (and, on a dock, the latest CRLs): no CA key needed. The server uses it through
// CertificateAuthority; docks and the CLI use it directly with their ca.pem.
//
// A fleet's CA certificates ("trust bundle") are its root and its issuing CAs: the self-signed
// certificates in it are the trust anchors, the others are issuing (intermediate) CAs a chain
// may pass through but that are trusted only by chaining to an anchor. A home made before the
// root went offline has one self-signed CA, which is both anchor and issuer.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/certificate.h"
#include "provisioning/revocation.h"

namespace camfleet::provisioning {

// What camfleetd's refusal of a certificate from a revoked issuing CA says (to people) when
// that certificate may still renew itself onto the current issuing CA (a recovery renewal,
// README.md "Recovery after a compromised issuing CA"). Programs act on the refusal's reason
// (common::kReasonIssuerRevoked), not on these words.
inline constexpr char kRecoveryRenewalHint[] = "renew it onto the current issuing CA";

// A certificate whose only fault is that an issuing CA of its chain is on the root's CRL.
struct RevokedIssuerCertificate {
  CertificateInfo info;
  // "certificate for 'x' is issued by 'camfleet issuing CA 1a2b', an issuing CA the fleet root
  // revoked since <time> (keyCompromise)".
  std::string revoked_issuer;
};

// Immutable and cheap to copy; safe to use from several threads at once.
class CertificateVerifier {
 public:
  // Trusts the self-signed CA certificates in `ca_pem` and may chain through the others.
  // INVALID_ARGUMENT if it is not PEM certificates, one is not a CA certificate, or none is
  // self-signed.
  static absl::StatusOr<CertificateVerifier> FromCaPem(absl::string_view ca_pem);

  // The same trust, also refusing every certificate the CRLs in `crl_pem` list. `crl_pem` holds
  // one or more CRLs, each signed by a CA of this fleet (an anchor, or an issuing CA that chains
  // to one), and may hold issuing CA certificates besides (what camfleetd's GetCrl sends: the
  // CRL of each issuing CA, the root's CRL of revoked issuing CAs, the issuing CAs). The first
  // CRL is the one CrlNumber and CrlNextUpdate describe. A leaf is checked against the CRL of
  // its issuer when one is held; an issuing CA on the root's CRL makes every certificate it
  // issued untrusted. A CRL past its nextUpdate is still used: a dock cut off for weeks keeps
  // the newest revocations it has rather than refusing every camera.
  // INVALID_ARGUMENT if `crl_pem` holds no CRL or a CRL not signed by this fleet's CAs.
  absl::StatusOr<CertificateVerifier> WithCrl(absl::string_view crl_pem) const;

  // Trusts `cert_pem` if it chains to an anchor (through the issuing CAs held, or ones that
  // follow the leaf in `cert_pem`), it is valid at `at`, and no CRL held lists it or an
  // issuing CA of its chain; returns what it says.
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

  // For a recovery renewal after the root revoked an issuing CA (a compromised rotation): OK
  // when `cert_pem` would pass VerifyForRenewal (signatures up to an anchor, validity within
  // the renewal grace, not on its issuer's CRL) but for an issuing CA of its chain that the
  // root revoked. Such a certificate proves only that its holder has the key of a certificate
  // that CA signed, which a thief with the CA's key could have made: camfleetd accepts it
  // only for a renewal, and only if it recorded that very certificate.
  // FAILED_PRECONDITION if no issuing CA of its chain is revoked (it is trusted or refused
  // as it is: use VerifyChain); otherwise as VerifyForRenewal.
  absl::StatusOr<RevokedIssuerCertificate> VerifyForRecovery(absl::string_view cert_pem,
                                                             absl::Time now) const;

  // The CRL number inside the signed CRL given to WithCrl (the number a dock must never see go
  // back); nullopt without a CRL or if the CRL carries none.
  std::optional<uint64_t> CrlNumber() const;

  // The nextUpdate of the CRL given to WithCrl; nullopt without a CRL or if it has none.
  std::optional<absl::Time> CrlNextUpdate() const;

  // The CRL's entry for `cert_pem`'s serial, whatever the certificate's validity; nullopt if the
  // CRL does not list it or there is no CRL. INVALID_ARGUMENT if `cert_pem` is not a PEM
  // certificate.
  absl::StatusOr<std::optional<RevokedCertificate>> FindRevocation(
      absl::string_view cert_pem) const;
  // As FindRevocation, but in the first CRL whatever its issuer: for a certificate from an
  // issuing CA the root revoked, which signs no CRL any more. camfleetd signs the same list of
  // every certificate the fleet revoked with each issuing CA, and its serials are unique across
  // the fleet, so the first CRL lists it if camfleetd revoked it.
  absl::StatusOr<std::optional<RevokedCertificate>> FindRevocationInFirstCrl(
      absl::string_view cert_pem) const;

  // The trust bundle given to FromCaPem, PEM.
  const std::string& CaPem() const;

  // The SHA-256 fingerprints (hex) of the anchors' public keys, sorted: what a camera pins.
  std::vector<std::string> AnchorKeyFingerprints() const;

  // A verifier for the CA certificates `offered_ca_pem` (FromCaPem) if they have exactly this
  // verifier's anchors: the fleet may have rotated its issuing CA, never its root. For a dock
  // or camera taking the fleet's current CA certificates from the server.
  // PERMISSION_DENIED if the anchors differ; INVALID_ARGUMENT as FromCaPem.
  absl::StatusOr<CertificateVerifier> SameRoot(absl::string_view offered_ca_pem) const;

 private:
  struct State;
  explicit CertificateVerifier(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  // VerifyChain and VerifyForRenewal, passing `revoked_issuer` to VerifyAgainstAnchor
  // (chain_verification.h): null to refuse a revoked issuing CA.
  absl::StatusOr<CertificateInfo> VerifyChainAt(absl::string_view cert_pem, absl::Time at,
                                                std::string* revoked_issuer) const;
  absl::StatusOr<CertificateInfo> VerifyWithGrace(absl::string_view cert_pem, absl::Time now,
                                                  std::string* revoked_issuer) const;

  std::shared_ptr<const State> state_;
};

}  // namespace camfleet::provisioning
