#pragma once
// Proof that a camera holds the key of the certificate it renews (issue 11, item 2).
//
// A renewal CSR proves possession of the NEW key only (the CSR is self-signed). A dock could
// make such a CSR with a key of its own for any camera of its site. So a camera renewal also
// carries a signature by the camera's CURRENT key over the new CSR:
//
//   signature = Sign(current key, SHA-256, "camfleet camera renewal v1\n" || DER(new CSR))
//
// verified by the server against the public key of the certificate it holds as the camera's
// current one (ours, or an imported factory certificate: the factory key proves itself the same
// way). The context string keeps the signature from meaning anything else; binding it to the
// CSR's DER makes a captured proof worthless for any other key, so no server nonce is needed
// (a replayed proof can only renew for the camera's own new key). The camera signs only the CSR
// of its own pending key (camera_link.proto, ProveCurrentKey), never data chosen by the dock.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/key.h"

namespace camfleet::provisioning {

// What is signed: the context string, then the CSR's DER.
inline constexpr char kRenewalProofContext[] = "camfleet camera renewal v1\n";

// Signs `csr_pem` (a PEM CSR) with `current`. INVALID_ARGUMENT if `csr_pem` is not a CSR;
// INTERNAL if OpenSSL cannot sign.
absl::StatusOr<std::string> SignRenewalProof(const PrivateKey& current, absl::string_view csr_pem);

// Checks `signature` over `csr_pem` against the public key of `certificate_pem`.
// PERMISSION_DENIED if it does not verify (made with another key, or over another CSR);
// INVALID_ARGUMENT if the CSR or certificate does not parse.
absl::Status VerifyRenewalProof(absl::string_view certificate_pem, absl::string_view csr_pem,
                                absl::string_view signature);

}  // namespace camfleet::provisioning
