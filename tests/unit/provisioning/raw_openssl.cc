#include "tests/unit/provisioning/raw_openssl.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace camfleet::provisioning_test {
namespace {

using provisioning::PrivateKey;

[[noreturn]] void Die(const char* what) {
  std::cerr << "test setup failed: " << what << "\n";
  std::abort();
}

PrivateKey Adopt(EVP_PKEY* key, const char* what) {
  if (key == nullptr) Die(what);
  BIO* bio = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) Die(what);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  absl::StatusOr<PrivateKey> parsed =
      PrivateKey::FromPem(std::string(data, static_cast<size_t>(len)));
  BIO_free(bio);
  EVP_PKEY_free(key);
  if (!parsed.ok()) Die(what);
  return *std::move(parsed);
}

std::string ReqToPem(X509_REQ* req) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (PEM_write_bio_X509_REQ(bio, req) != 1) Die("encoding a CSR");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace

PrivateKey MakeRsaKey(size_t bits) {
  return Adopt(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits), "making an RSA key");
}

PrivateKey MakeEcKey(const char* curve) {
  return Adopt(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve), "making an EC key");
}

PrivateKey MakeEd25519Key() {
  return Adopt(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), "making an Ed25519 key");
}

std::string EncryptedPem(const PrivateKey& key, const std::string& passphrase) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PrivateKey(bio, key.NativeHandle(), EVP_aes_256_cbc(),
                               reinterpret_cast<const unsigned char*>(passphrase.data()),
                               static_cast<int>(passphrase.size()), nullptr, nullptr) != 1) {
    Die("encrypting a key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string FlipSignatureBit(absl::string_view csr_pem) {
  BIO* in = BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (req == nullptr) Die("reading a CSR");
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req, &der);
  X509_REQ_free(req);
  if (len <= 0) Die("encoding a CSR");
  // The DER ends with the signature BIT STRING; its last byte is inside the ECDSA value s.
  der[len - 1] ^= 0x01;
  const unsigned char* p = der;
  X509_REQ* tampered = d2i_X509_REQ(nullptr, &p, len);
  OPENSSL_free(der);
  if (tampered == nullptr) Die("decoding a tampered CSR");
  std::string out = ReqToPem(tampered);
  X509_REQ_free(tampered);
  return out;
}

std::string CsrSignedByOtherKey(const PrivateKey& public_key, const PrivateKey& signer,
                                absl::string_view common_name) {
  X509_REQ* req = X509_REQ_new();
  if (X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(req, public_key.NativeHandle()) != 1 ||
      X509_REQ_sign(req, signer.NativeHandle(), EVP_sha256()) <= 0) {
    Die("making a mismatched CSR");
  }
  std::string out = ReqToPem(req);
  X509_REQ_free(req);
  return out;
}

std::string FactoryCertificate(const PrivateKey& issuer_key, absl::string_view issuer_cert_pem,
                               const PrivateKey& subject_key, absl::string_view common_name,
                               absl::Time not_before, absl::Time not_after) {
  BIO* in = BIO_new_mem_buf(issuer_cert_pem.data(), static_cast<int>(issuer_cert_pem.size()));
  X509* issuer = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (issuer == nullptr) Die("reading the issuer certificate");
  X509* cert = X509_new();
  X509_NAME* subject = X509_NAME_new();
  if (X509_set_version(cert, X509_VERSION_3) != 1 ||
      ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242) != 1 ||
      X509_set_issuer_name(cert, X509_get_subject_name(issuer)) != 1 ||
      X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_set_subject_name(cert, subject) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(not_after)) == nullptr ||
      X509_set_pubkey(cert, subject_key.NativeHandle()) != 1) {
    Die("building a factory certificate");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* aki =
      X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always");
  if (aki == nullptr || X509_add_ext(cert, aki, -1) != 1 ||
      X509_sign(cert, issuer_key.NativeHandle(), EVP_sha256()) <= 0) {
    Die("signing a factory certificate");
  }
  X509_EXTENSION_free(aki);
  BIO* out = BIO_new(BIO_s_mem());
  if (PEM_write_bio_X509(out, cert) != 1) Die("encoding a factory certificate");
  char* data = nullptr;
  const long len = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(out);
  X509_NAME_free(subject);
  X509_free(cert);
  X509_free(issuer);
  return pem;
}

}  // namespace camfleet::provisioning_test
