#include "tests/unit/provisioning/raw_openssl.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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
  absl::StatusOr<PrivateKey> parsed = PrivateKey::FromPem(std::string(data, static_cast<size_t>(len)));
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
  if (PEM_write_bio_PrivateKey(bio, key.native(), EVP_aes_256_cbc(),
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
      X509_REQ_set_pubkey(req, public_key.native()) != 1 ||
      X509_REQ_sign(req, signer.native(), EVP_sha256()) <= 0) {
    Die("making a mismatched CSR");
  }
  std::string out = ReqToPem(req);
  X509_REQ_free(req);
  return out;
}

}  // namespace camfleet::provisioning_test
