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
};

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

  // Keeps `pem` as CRL `number` if the fleet CA signed it and it is not older than the one held.
  // Returns the CRL now in force (the new one, or the one held when `number` equals it).
  // INVALID_ARGUMENT if `pem` is not a CRL signed by the fleet CA; FAILED_PRECONDITION if
  // `number` is lower than that of the CRL held (which stays); errors from writing.
  absl::StatusOr<HeldCrl> Accept(uint64_t number, absl::string_view pem);

  const std::string& dir() const { return dir_; }

 private:
  std::string PathFor(uint64_t number) const;

  std::string dir_;
  provisioning::CertificateVerifier ca_;
};

// Whether `cert_pem` (a certificate issued by the fleet CA) is on `crl`: nullopt if it is not,
// or if it is not a fleet certificate at all (then the CRL says nothing about it).
std::optional<Revocation> FindRevocation(const HeldCrl& crl,
                                         const provisioning::CertificateVerifier& ca,
                                         absl::string_view cert_pem);

}  // namespace camfleet::agent
