#pragma once
// Certificate signing requests. A client (CLI, dock, camera simulator) makes its own key and a
// CSR for it, and sends only the CSR; the CA checks it with CheckCsr before issuing.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/key.h"

struct X509_req_st;  // OpenSSL's X509_REQ; callers need not include OpenSSL.

namespace camfleet::provisioning {

class CertificateRequest {
 public:
  // A CSR with subject CN=`common_name` for `key`'s public key, signed by `key`.
  // INVALID_ARGUMENT if `common_name` is not a valid identity (see ValidateIdentity);
  // INTERNAL if OpenSSL fails.
  static absl::StatusOr<CertificateRequest> Make(const PrivateKey& key,
                                                 absl::string_view common_name);

  // Parses a PEM "CERTIFICATE REQUEST". Only the encoding is checked here; CheckCsr decides
  // whether it is acceptable. INVALID_ARGUMENT if `pem` is not a CSR.
  static absl::StatusOr<CertificateRequest> FromPem(absl::string_view pem);

  CertificateRequest(CertificateRequest&&) noexcept;
  CertificateRequest& operator=(CertificateRequest&&) noexcept;
  ~CertificateRequest();

  // INTERNAL if OpenSSL cannot encode it.
  absl::StatusOr<std::string> ToPem() const;

  // The subject's single CN. INVALID_ARGUMENT if it has none or more than one.
  absl::StatusOr<std::string> CommonName() const;

  // Fingerprint of the requested public key (see PrivateKey::PublicKeyFingerprint).
  // INVALID_ARGUMENT if the CSR's key cannot be decoded.
  absl::StatusOr<std::string> PublicKeyFingerprint() const;

  // The OpenSSL request, for provisioning/ internals. Owned by this object.
  X509_req_st* NativeHandle() const { return req_.get(); }

 private:
  struct Free {
    void operator()(X509_req_st* req) const;
  };
  explicit CertificateRequest(X509_req_st* req) : req_(req) {}

  std::unique_ptr<X509_req_st, Free> req_;
};

struct CsrExpectations {
  // When set, the subject CN must equal it exactly (the serial or dock id being enrolled).
  std::optional<std::string> common_name;
};

// Whether the CA may sign this CSR. Checks, in order:
//  - the self-signature verifies: INVALID_ARGUMENT "CSR signature does not verify";
//  - the key is EC P-256 or P-384, or RSA of at least 3072 bits: INVALID_ARGUMENT naming what it
//    is, e.g. "CSR key is RSA-1024; use EC P-256, EC P-384 or RSA of at least 3072 bits";
//  - there is exactly one subject CN: INVALID_ARGUMENT;
//  - it equals expectations.common_name when given: INVALID_ARGUMENT naming both.
// Extensions the CSR asks for are ignored: the CA decides every extension from the role.
absl::Status CheckCsr(const CertificateRequest& csr, const CsrExpectations& expectations);

}  // namespace camfleet::provisioning
