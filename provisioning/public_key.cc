#include "provisioning/public_key.h"

#include <openssl/x509.h>

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "provisioning/digest.h"
#include "provisioning/openssl_ptr.h"

namespace camfleet::provisioning {
namespace {

constexpr int kMinRsaBits = 3072;

// OpenSSL names the NIST curves by their X9.62/SEC names; people know them as P-256 and P-384.
std::string CurveName(const EVP_PKEY* key) {
  std::array<char, 80> name{};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name.data(), name.size(), &len) != 1) {
    ClearOpenSslErrors();
    return "with unknown curve";
  }
  const absl::string_view group(name.data(), len);
  if (group == "prime256v1" || group == "P-256") return "P-256";
  if (group == "secp384r1" || group == "P-384") return "P-384";
  if (group == "secp521r1" || group == "P-521") return "P-521";
  return std::string(group);
}

}  // namespace

absl::StatusOr<std::string> PublicKeyFingerprint(const EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return OpenSslError(absl::StatusCode::kInternal, "encoding a public key");
  const OpenSslMemoryPtr<unsigned char> owned(der);
  return ToHex(
      Sha256(absl::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len))));
}

std::string DescribeKey(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC")) return absl::StrCat("EC ", CurveName(key));
  if (EVP_PKEY_is_a(key, "RSA")) return absl::StrCat("RSA-", EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "RSA-PSS")) return absl::StrCat("RSA-PSS-", EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "DSA")) return absl::StrCat("DSA-", EVP_PKEY_get_bits(key));
  const char* type = EVP_PKEY_get0_type_name(key);
  return type != nullptr ? std::string(type) : "an unknown key type";
}

bool KeyMeetsPolicy(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC")) {
    const std::string curve = CurveName(key);
    return curve == "P-256" || curve == "P-384";
  }
  if (EVP_PKEY_is_a(key, "RSA")) return EVP_PKEY_get_bits(key) >= kMinRsaBits;
  return false;
}

}  // namespace camfleet::provisioning
