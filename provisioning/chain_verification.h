#pragma once
// Verifying one certificate against a single trust anchor (and optionally its CRL) with
// X509_verify_cert, and turning OpenSSL's verdict into a message a person can act on.
// Internal to provisioning/.

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/openssl_ptr.h"

namespace camfleet::provisioning {

// A store that trusts only `anchor`, checks revocation against `crl` when it is not null, and
// still uses a CRL past its nextUpdate (see CertificateVerifier for why).
// INTERNAL if OpenSSL fails.
absl::StatusOr<X509StorePtr> NewTrustStore(X509* anchor, X509_CRL* crl);

struct ChainCheck {
  X509_STORE* store = nullptr;
  // The same CRL that is in `store`, to say when and why a revoked certificate was revoked.
  X509_CRL* crl = nullptr;
  // "this fleet CA", "the supplier CA": how messages name the anchor.
  absl::string_view anchor_name;
  // Lets the anchor be an intermediate rather than a self-signed root.
  bool partial_chain = false;
};

// OK if `cert` chains to the anchor and is valid (and not revoked) at `at`.
// UNAUTHENTICATED otherwise, with a message such as "certificate for 'CAM-1' expired at
// 2024-01-01T00:00:00Z (checked at ...)" or "certificate for 'x' is not issued by this fleet
// CA (its issuer is 'other CA')"; INTERNAL if OpenSSL fails.
absl::Status VerifyAgainstAnchor(const ChainCheck& check, X509* cert, absl::Time at);

}  // namespace camfleet::provisioning
