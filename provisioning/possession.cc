#include "provisioning/possession.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/x509_certificate.h"

namespace camfleet::provisioning {
namespace {

using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslFree<EVP_MD_CTX_free>>;

// Ed25519 and Ed448 sign the message itself and take no separate digest.
const EVP_MD* ProofDigest(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) return nullptr;
  return EVP_sha256();
}

// The context string followed by the CSR's DER.
absl::StatusOr<std::string> SignedBytes(absl::string_view csr_pem) {
  BioPtr bio = MemoryBio(csr_pem);
  X509ReqPtr req(bio == nullptr ? nullptr
                                : PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "csr_pem is not a PEM CSR");
  }
  unsigned char* der = nullptr;
  const int length = i2d_X509_REQ(req.get(), &der);
  if (length <= 0) return OpenSslError(absl::StatusCode::kInternal, "encoding the CSR");
  std::string out = kRenewalProofContext;
  out.append(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

}  // namespace

absl::StatusOr<std::string> SignRenewalProof(const PrivateKey& current, absl::string_view csr_pem) {
  absl::StatusOr<std::string> message = SignedBytes(csr_pem);
  if (!message.ok()) return message.status();
  EVP_PKEY* key = current.NativeHandle();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, ProofDigest(key), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(message->data()),
                     message->size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "signing the renewal proof");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message->data()),
                     message->size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "signing the renewal proof");
  }
  signature.resize(length);
  return signature;
}

absl::Status VerifyRenewalProof(absl::string_view certificate_pem, absl::string_view csr_pem,
                                absl::string_view signature) {
  absl::StatusOr<std::string> message = SignedBytes(csr_pem);
  if (!message.ok()) return message.status();
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(certificate_pem, "the current certificate");
  if (!cert.ok()) return cert.status();
  EVP_PKEY* key = X509_get0_pubkey(cert->get());
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "the current certificate's public key");
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, ProofDigest(key), nullptr, key) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "starting a signature check");
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(message->data()), message->size());
  if (rc != 1) {
    ClearOpenSslErrors();
    return absl::PermissionDeniedError(
        "the renewal proof does not verify with the key of the camera's current certificate");
  }
  return absl::OkStatus();
}

}  // namespace camfleet::provisioning
