#pragma once
// Owning pointers for the OpenSSL objects provisioning/ uses, and the conversion of OpenSSL's
// error queue into an absl::Status. Internal to provisioning/: only our .cc files include it,
// so no other folder sees an OpenSSL header.

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace camfleet::provisioning {

template <auto kFree>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};

using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpenSslFree<ASN1_INTEGER_free>>;
using Asn1EnumeratedPtr = std::unique_ptr<ASN1_ENUMERATED, OpenSslFree<ASN1_ENUMERATED_free>>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, OpenSslFree<ASN1_OCTET_STRING_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OpenSslFree<ASN1_TIME_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslFree<BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree<BIO_free_all>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslFree<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslFree<GENERAL_NAMES_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslFree<X509_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, OpenSslFree<X509_CRL_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslFree<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslFree<X509_EXTENSION_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, OpenSslFree<X509_REQ_free>>;
using X509RevokedPtr = std::unique_ptr<X509_REVOKED, OpenSslFree<X509_REVOKED_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslFree<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslFree<X509_STORE_CTX_free>>;

inline void FreeOpenSslMemory(void* p) { OPENSSL_free(p); }
// Memory handed back by OpenSSL (i2d_* output, BN_bn2hex, ASN1_STRING_to_UTF8).
template <typename T>
using OpenSslMemoryPtr = std::unique_ptr<T, OpenSslFree<FreeOpenSslMemory>>;

// Empties this thread's OpenSSL error queue and returns `code` with "context: <first reason>".
// OpenSSL reasons name the failing operation ("bad decrypt", "no start line"), never key bytes.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view context);

// Discards whatever an expected failure left in this thread's OpenSSL error queue.
void ClearOpenSslErrors();

// A read-only memory BIO over `data`. nullptr if `data` is larger than OpenSSL can take.
BioPtr MemoryBio(absl::string_view data);

// Everything written to a memory BIO so far.
std::string MemoryBioContents(BIO* bio);

}  // namespace camfleet::provisioning
