#pragma once
// Verifying one certificate against a single trust anchor (and optionally its CRL) with
// X509_verify_cert, and turning OpenSSL's verdict into a message a person can act on.
// Internal to provisioning/.

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <string>
#include <vector>

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

// A store that trusts every one of `anchors` and holds every one of `crls` (as above).
absl::StatusOr<X509StorePtr> NewTrustStore(const std::vector<X509*>& anchors,
                                           const std::vector<X509_CRL*>& crls);

struct ChainCheck {
  X509_STORE* store = nullptr;
  // The CRLs that are in `store`, to say when and why a revoked certificate was revoked. The
  // leaf is checked against the CRL of its issuer when one is held (X509_V_FLAG_CRL_CHECK);
  // every intermediate CA in the chain against the CRL of its issuer (the root's, which
  // revokes issuing CAs) when one is held.
  const std::vector<X509_CRL*>* crls = nullptr;
  // "this fleet CA", "the supplier CA": how messages name the anchor.
  absl::string_view anchor_name;
  // Lets the anchor be an intermediate rather than a self-signed root.
  bool partial_chain = false;
  // Untrusted certificates the chain may pass through (issuing CAs); not owned. May be null.
  STACK_OF(X509) * untrusted = nullptr;
  // When set, an issuing CA of the chain that the root revoked is not a refusal: what the
  // refusal would have said goes here instead (left empty when no issuing CA is revoked), and
  // the caller decides (a recovery renewal, CertificateVerifier::VerifyForRecovery). Not owned.
  std::string* revoked_issuer = nullptr;
};

// OK if `cert` chains to the anchor and is valid (and not revoked) at `at`; with
// check.revoked_issuer set, also when the only fault is an issuing CA the root revoked.
// UNAUTHENTICATED otherwise, with a message such as "certificate for 'CAM-1' expired at
// 2024-01-01T00:00:00Z (checked at ...)" or "certificate for 'x' is not issued by this fleet
// CA (its issuer is 'other CA')"; INTERNAL if OpenSSL fails.
absl::Status VerifyAgainstAnchor(const ChainCheck& check, X509* cert, absl::Time at);

}  // namespace camfleet::provisioning
