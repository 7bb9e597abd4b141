#include "tests/identity/forged_certificate.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace camfleet::testing {
namespace {

struct Free {
  void operator()(BIO* b) const { BIO_free(b); }
  void operator()(X509* x) const { X509_free(x); }
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(ASN1_TIME* t) const { ASN1_TIME_free(t); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

Owned<BIO> ReadBio(const std::string& pem) {
  return Owned<BIO>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

absl::StatusOr<std::string> ResignWithNotAfter(const std::string& cert_pem,
                                               const std::string& issuer_key_pem,
                                               absl::Time not_after) {
  Owned<BIO> cert_bio = ReadBio(cert_pem);
  Owned<X509> cert(
      cert_bio == nullptr ? nullptr : PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  Owned<BIO> key_bio = ReadBio(issuer_key_pem);
  Owned<EVP_PKEY> key(key_bio == nullptr
                          ? nullptr
                          : PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr || key == nullptr) {
    return absl::InvalidArgumentError("the certificate or the issuer key does not parse");
  }
  Owned<ASN1_TIME> until(ASN1_TIME_set(nullptr, absl::ToTimeT(not_after)));
  if (until == nullptr || X509_set1_notAfter(cert.get(), until.get()) != 1 ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return absl::InternalError("re-signing the certificate failed");
  }
  Owned<BIO> out(BIO_new(BIO_s_mem()));
  if (out == nullptr || PEM_write_bio_X509(out.get(), cert.get()) != 1) {
    return absl::InternalError("encoding the certificate failed");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(out.get(), &data);  // NOLINT(google-runtime-int)
  return std::string(data, static_cast<size_t>(length));
}

}  // namespace camfleet::testing
