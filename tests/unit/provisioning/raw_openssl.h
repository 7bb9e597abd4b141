#pragma once
// Things the tests make with OpenSSL directly because our API rightly refuses to: keys of types
// the fleet does not use, encrypted keys, CSRs with a broken or mismatched signature.

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/key.h"

namespace camfleet::provisioning_test {

// A key made by EVP_PKEY_Q_keygen: ("RSA", bits), ("EC", curve) or ("ED25519"). Aborts the test
// binary on failure, which only a broken OpenSSL install causes.
provisioning::PrivateKey MakeRsaKey(size_t bits);
provisioning::PrivateKey MakeEcKey(const char* curve);
provisioning::PrivateKey MakeEd25519Key();

// `key` as PEM encrypted with AES-256-CBC under `passphrase`.
std::string EncryptedPem(const provisioning::PrivateKey& key, const std::string& passphrase);

// `csr_pem` with one bit of its signature flipped, re-encoded as PEM.
std::string FlipSignatureBit(absl::string_view csr_pem);

// A CSR for `common_name` that carries `public_key`'s key but is signed by `signer`.
std::string CsrSignedByOtherKey(const provisioning::PrivateKey& public_key,
                                const provisioning::PrivateKey& signer,
                                absl::string_view common_name);

// A certificate as a camera supplier's factory might make it: v3, subject CN=`common_name`, no
// camfleet:// URI, for `subject_key`, signed by `issuer_key` under the certificate
// `issuer_cert_pem`, valid from `not_before` to `not_after`.
std::string FactoryCertificate(const provisioning::PrivateKey& issuer_key,
                               absl::string_view issuer_cert_pem,
                               const provisioning::PrivateKey& subject_key,
                               absl::string_view common_name, absl::Time not_before,
                               absl::Time not_after);

}  // namespace camfleet::provisioning_test
