#include "tests/identity/csr_with_extensions.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace camfleet::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::cerr << "test setup failed: " << what << "\n";
  std::abort();
}

}  // namespace

std::string CsrAskingForExtensions(const provisioning::PrivateKey& key,
                                   absl::string_view common_name, absl::string_view san_uri) {
  X509_REQ* req = X509_REQ_new();
  if (req == nullptr ||
      X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(req, key.NativeHandle()) != 1) {
    Die("starting a CSR");
  }
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  const std::string san = "URI:" + std::string(san_uri);
  X509_EXTENSION* san_ext =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  X509_EXTENSION* ca_ext =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE");
  if (exts == nullptr || san_ext == nullptr || ca_ext == nullptr ||
      sk_X509_EXTENSION_push(exts, san_ext) == 0 || sk_X509_EXTENSION_push(exts, ca_ext) == 0 ||
      X509_REQ_add_extensions(req, exts) != 1 ||
      X509_REQ_sign(req, key.NativeHandle(), EVP_sha256()) <= 0) {
    Die("adding extensions to a CSR");
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio_X509_REQ(bio, req) != 1) Die("encoding a CSR");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL's type.
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_REQ_free(req);
  return out;
}

}  // namespace camfleet::testing
