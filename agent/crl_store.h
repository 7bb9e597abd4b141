#pragma once
// The fleet CRL as the dock keeps it: the newest CRL it has seen that the fleet CA signed, on
// disk, so that a dock cut off from camfleetd (or restarted while cut off) still refuses every
// camera it knew to be revoked.
//
// DIR/crl/crl-<number, 20 digits>.pem, one file per CRL number, each written once with
// provisioning::WriteNewFile (temporary file, fsync, link): a crash leaves either the whole new
// file or none, never a torn one, and no file is ever rewritten in place. The newest file that
// verifies against the fleet CA is the one in force; a damaged or foreign file is passed over.
// The two newest are kept, older ones removed.
//
// The CRL number is the one inside the signed CRL (CertificateVerifier::CrlNumber): a CRL the
// server offers under another number, or a file whose name disagrees with its content, is
// refused, so an old but genuinely signed CRL can never pin the dock to stale revocations.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/certificate_verifier.h"

namespace camfleet::agent {

struct HeldCrl {
  uint64_t number = 0;
  std::string pem;
  // The fleet CA's verifier with this CRL applied.
  provisioning::CertificateVerifier verifier;
  // Revoked supplier (factory) certificates, by the SHA-256 of their public key, as the server
  // sent them with this CRL (GetCrlResponse.revoked_factory_key_fingerprints).
  std::vector<std::string> revoked_factory_keys;
};

// How long past its nextUpdate a held CRL is still good enough to renew cameras with
// (issue 11, item 7). The server's CRLs run 7 days; a post cut off for 30 days (a closed
// mountain pass) must come back untouched, so the grace covers the whole 30 days and a week
// more: 37 days past nextUpdate, 44 days after the CRL was made. Past it the dock fails
// closed: it renews no camera and raises DOCK_ALERT_KIND_CRL_STALE, at the dock and up the
// sync stream, until a newer CRL arrives. A dock that never had a CRL renews no camera either.
inline constexpr absl::Duration kCrlStaleGrace = absl::Hours(24 * 37);

// Whether `crl` is past its nextUpdate by more than kCrlStaleGrace at `now` (server time); a
// CRL without nextUpdate is never stale by this test.
bool CrlIsStale(const HeldCrl& crl, absl::Time now);

// "CRL 42 is stale: its nextUpdate was 2026-01-01T00:00:00Z, 40d ago (grace 37d)".
std::string DescribeStaleCrl(const HeldCrl& crl, absl::Time now);

// Why a camera's certificate is refused.
struct Revocation {
  std::string serial_hex;
  std::string reason;  // RFC 5280 name, e.g. "keyCompromise"; "unspecified" when the CRL has none
  std::string since;   // revocation time, RFC 3339 UTC; empty if not known
};

class CrlStore {
 public:
  // `dir` is created (0700) on the first Accept; `ca` is the fleet CA the dock was enrolled with.
  CrlStore(std::string dir, provisioning::CertificateVerifier ca);

  // The newest CRL on disk that the fleet CA signed; nullopt if there is none.
  // Errors only if the directory exists but cannot be read.
  absl::StatusOr<std::optional<HeldCrl>> LoadNewest() const;

  // Keeps `pem` as CRL `number` if the fleet CA signed it and it is not older than the one held,
  // with `factory_keys` beside it (DIR/crl/factory-<number>.txt, written before the CRL file,
  // so a CRL on disk always has its list).
  // Returns the CRL now in force (the new one, or the one held when `number` equals it).
  // INVALID_ARGUMENT if `pem` is not a CRL signed by the fleet CA; FAILED_PRECONDITION if
  // `number` is lower than that of the CRL held (which stays); errors from writing.
  absl::StatusOr<HeldCrl> Accept(uint64_t number, absl::string_view pem,
                                 const std::vector<std::string>& factory_keys = {});

  const std::string& dir() const { return dir_; }

 private:
  std::string PathFor(uint64_t number) const;
  std::string FactoryPathFor(uint64_t number) const;

  std::string dir_;
  provisioning::CertificateVerifier ca_;
};

// Whether `cert_pem` is revoked: a fleet certificate on `crl` (one from an issuing CA the fleet
// root revoked is looked up in the first CRL, which lists every certificate the fleet revoked),
// or any certificate whose key is among crl.revoked_factory_keys (a supplier's factory
// certificate of a lost or retired camera). nullopt otherwise.
std::optional<Revocation> FindRevocation(const HeldCrl& crl,
                                         const provisioning::CertificateVerifier& ca,
                                         absl::string_view cert_pem);

}  // namespace camfleet::agent
