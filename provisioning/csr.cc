#include "provisioning/csr.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "provisioning/identity.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/public_key.h"
#include "provisioning/x509_name.h"

namespace camfleet::provisioning {
namespace {

// Ed25519 and Ed448 sign the message itself and take no separate digest.
const EVP_MD* SignatureDigest(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) return nullptr;
  return EVP_sha256();
}

}  // namespace

void CertificateRequest::Free::operator()(X509_req_st* req) const { X509_REQ_free(req); }

CertificateRequest::CertificateRequest(CertificateRequest&&) noexcept = default;
CertificateRequest& CertificateRequest::operator=(CertificateRequest&&) noexcept = default;
CertificateRequest::~CertificateRequest() = default;

absl::StatusOr<CertificateRequest> CertificateRequest::Make(const PrivateKey& key,
                                                            absl::string_view common_name) {
  if (absl::Status valid = ValidateIdentity(common_name); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("making a CSR: ", valid.message()));
  }
  X509ReqPtr req(X509_REQ_new());
  if (req == nullptr || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req.get()), NID_commonName,
                                 MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.NativeHandle()) != 1 ||
      X509_REQ_sign(req.get(), key.NativeHandle(), SignatureDigest(key.NativeHandle())) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "making a CSR");
  }
  return CertificateRequest(req.release());
}

absl::StatusOr<CertificateRequest> CertificateRequest::FromPem(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("CSR PEM is too large");
  X509_REQ* req = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (req == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not a PEM certificate request");
  }
  return CertificateRequest(req);
}

absl::StatusOr<std::string> CertificateRequest::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), req_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding a CSR");
  }
  return MemoryBioContents(bio.get());
}

absl::StatusOr<std::string> CertificateRequest::CommonName() const {
  return SingleCommonName(X509_REQ_get_subject_name(req_.get()), "CSR subject");
}

absl::StatusOr<std::string> CertificateRequest::PublicKeyFingerprint() const {
  const EVP_PKEY* key = X509_REQ_get0_pubkey(req_.get());
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "CSR public key does not decode");
  }
  return provisioning::PublicKeyFingerprint(key);
}

absl::Status CheckCsr(const CertificateRequest& csr, const CsrExpectations& expectations) {
  X509_REQ* req = csr.NativeHandle();
  EVP_PKEY* key = X509_REQ_get0_pubkey(req);
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "CSR public key does not decode");
  }
  if (X509_REQ_verify(req, key) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError("CSR signature does not verify");
  }
  if (!KeyMeetsPolicy(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CSR key is ", DescribeKey(key), "; ", kKeyPolicy));
  }
  absl::StatusOr<std::string> cn = csr.CommonName();
  if (!cn.ok()) return cn.status();
  if (expectations.common_name.has_value() && *cn != *expectations.common_name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CSR subject CN is '", absl::CHexEscape(absl::string_view(*cn).substr(0, 100)),
        "' but the enrollment is for '",
        absl::CHexEscape(absl::string_view(*expectations.common_name).substr(0, 100)), "'"));
  }
  return absl::OkStatus();
}

}  // namespace camfleet::provisioning
