#pragma once
// Certificates a camera's supplier issued at the factory. An admin commissioning a camera by
// hand may import one, checked against a supplier CA the admin configured (DESIGN.md, camera
// lifecycle), instead of enrolling the camera through a dock.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/certificate.h"

namespace camfleet::provisioning {

// Checks that `cert_pem` chains to `issuer_ca_pem` (a root, or an intermediate trusted as is),
// is valid at `at`, names `expected_cn` (the camera's serial) as its subject CN, and holds a key
// the fleet accepts (EC P-256/P-384, RSA >= 3072). Supplier certificates carry no camfleet://
// URI, so the result has role kCamera and identity = the subject CN.
// INVALID_ARGUMENT, since both inputs come from the admin, saying which check failed:
// "... is not issued by the supplier CA ...", "... expired at ...", "certificate subject CN is
// 'X' but the camera is 'Y'", "certificate key is RSA-1024; ...", "supplier CA certificate is
// not a CA", or that a PEM does not parse.
absl::StatusOr<CertificateInfo> VerifyIssuedBy(absl::string_view cert_pem,
                                               absl::string_view issuer_ca_pem,
                                               absl::string_view expected_cn, absl::Time at);

// Reads a supplier's CA certificate for an admin to trust: it must parse and be a CA.
// Returns its subject CN and validity (role and identity are left empty).
// INVALID_ARGUMENT "... is not a PEM certificate ..." or "... is not a CA".
absl::StatusOr<CertificateInfo> ParseCaCertificate(absl::string_view ca_pem);

}  // namespace camfleet::provisioning
