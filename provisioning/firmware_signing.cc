#include "provisioning/firmware_signing.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "provisioning/file_io.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/public_key.h"

namespace camfleet::provisioning {
namespace {

constexpr size_t kMaxKeyFileBytes = 64 * 1024;

using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslFree<EVP_MD_CTX_free>>;

int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

void Wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
}

bool IsEd25519(const EVP_PKEY* key) { return EVP_PKEY_is_a(key, "ED25519") == 1; }

absl::StatusOr<EvpPkeyPtr> ParsePublicKey(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("public key PEM is too large");
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not a PEM public key");
  }
  if (!IsEd25519(key.get())) {
    return absl::InvalidArgumentError(
        absl::StrCat("firmware keys are Ed25519; this is ", DescribeKey(key.get())));
  }
  return key;
}

}  // namespace

void FirmwareSigningKey::Free::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }
FirmwareSigningKey::FirmwareSigningKey(FirmwareSigningKey&&) noexcept = default;
FirmwareSigningKey& FirmwareSigningKey::operator=(FirmwareSigningKey&&) noexcept = default;
FirmwareSigningKey::~FirmwareSigningKey() = default;

absl::StatusOr<FirmwareSigningKey> FirmwareSigningKey::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return OpenSslError(absl::StatusCode::kInternal, "generating an Ed25519 key");
  return FirmwareSigningKey(key);
}

absl::StatusOr<FirmwareSigningKey> FirmwareSigningKey::ReadFile(const std::string& path) {
  absl::StatusOr<FileContents> file = ReadSmallFile(path, kMaxKeyFileBytes);
  if (!file.ok()) return file.status();
  if ((file->mode & 077) != 0) {
    Wipe(file->data);
    return absl::FailedPreconditionError(absl::StrFormat(
        "signing key %s has mode %04o; group and others must have no access (chmod 600 it)", path,
        file->mode));
  }
  BioPtr bio = MemoryBio(file->data);
  EVP_PKEY* key =
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  Wipe(file->data);
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(path, ": not an unencrypted PEM private key"));
  }
  FirmwareSigningKey result(key);
  if (!IsEd25519(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": firmware signing keys are Ed25519; this is ", DescribeKey(key)));
  }
  return result;
}

absl::Status FirmwareSigningKey::WriteFile(const std::string& path) const {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding the signing key");
  }
  std::string pem = MemoryBioContents(bio.get());
  absl::Status written = WriteNewFile(path, pem, 0600);
  Wipe(pem);
  return written;
}

absl::StatusOr<std::string> FirmwareSigningKey::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding the public key");
  }
  return MemoryBioContents(bio.get());
}

absl::StatusOr<std::string> FirmwareSigningKey::KeyId() const {
  return PublicKeyFingerprint(key_.get());
}

absl::StatusOr<std::string> FirmwareSigningKey::Sign(absl::string_view message) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::string signature(kFirmwareSignatureBytes, '\0');
  size_t length = signature.size();
  // Ed25519 hashes internally: no digest is named, and the message is signed in one call.
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "signing");
  }
  signature.resize(length);
  return signature;
}

absl::StatusOr<std::string> FirmwarePublicKeyId(absl::string_view public_key_pem) {
  absl::StatusOr<EvpPkeyPtr> key = ParsePublicKey(public_key_pem);
  if (!key.ok()) return key.status();
  return PublicKeyFingerprint(key->get());
}

absl::Status VerifyFirmwareSignature(absl::string_view public_key_pem, absl::string_view message,
                                     absl::string_view signature) {
  absl::StatusOr<EvpPkeyPtr> key = ParsePublicKey(public_key_pem);
  if (!key.ok()) return key.status();
  if (signature.size() != kFirmwareSignatureBytes) {
    return absl::UnauthenticatedError(
        absl::StrCat("the signature is ", signature.size(), " bytes; an Ed25519 signature is 64"));
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "starting a signature check");
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (rc != 1) {
    ClearOpenSslErrors();
    return absl::UnauthenticatedError("the signature does not verify with the signing key");
  }
  return absl::OkStatus();
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  // As Sha256(): only a broken installation (no default provider) fails here.
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(ctx_); }

void Sha256Stream::Update(absl::string_view data) {
  if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) std::abort();
}

Sha256Digest Sha256Stream::Finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 ||
      EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

}  // namespace camfleet::provisioning
