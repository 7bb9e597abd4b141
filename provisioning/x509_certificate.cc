#include "provisioning/x509_certificate.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "provisioning/identity.h"
#include "provisioning/public_key.h"
#include "provisioning/x509_name.h"
#include "provisioning/x509_time.h"

namespace camfleet::provisioning {
namespace {

// Every URI SAN that uses the camfleet:// scheme.
absl::StatusOr<std::vector<std::string>> FleetUris(X509* cert) {
  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  std::vector<std::string> uris;
  if (names == nullptr) {
    // -1: no SAN at all. Anything else: there is one and it does not decode.
    if (critical != -1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          "certificate subjectAltName is malformed");
    }
    return uris;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    const absl::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                 static_cast<size_t>(ASN1_STRING_length(uri)));
    if (absl::StartsWithIgnoreCase(text, kIdentityUriScheme)) uris.emplace_back(text);
  }
  return uris;
}

}  // namespace

absl::StatusOr<X509Ptr> ReadPemCertificate(absl::string_view pem, absl::string_view what) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(what, " is not a PEM certificate"));
  }
  return cert;
}

absl::StatusOr<PemObjects> ReadPemObjects(absl::string_view pem, absl::string_view what) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr);
  if (infos == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, absl::StrCat(what, " is not PEM"));
  }
  PemObjects out;
  for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
    X509_INFO* info = sk_X509_INFO_value(infos, i);
    if (info->x509 != nullptr) {
      out.certificates.emplace_back(info->x509);
      info->x509 = nullptr;
    }
    if (info->crl != nullptr) {
      out.crls.emplace_back(info->crl);
      info->crl = nullptr;
    }
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  ClearOpenSslErrors();
  return out;
}

bool IsSelfSigned(X509* cert) {
  const bool self =
      X509_check_issued(cert, cert) == X509_V_OK && X509_verify(cert, X509_get0_pubkey(cert)) == 1;
  ClearOpenSslErrors();
  return self;
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding a certificate");
  }
  return MemoryBioContents(bio.get());
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) {
    ClearOpenSslErrors();
    return "";
  }
  OpenSslMemoryPtr<char> hex(BN_bn2hex(bn.get()));
  if (hex == nullptr) {
    ClearOpenSslErrors();
    return "";
  }
  std::string out = absl::AsciiStrToLower(hex.get());
  // BN_bn2hex pads to whole bytes ("0A"); the canonical form has no leading zeros.
  const bool negative = !out.empty() && out[0] == '-';
  const size_t digits = negative ? 1 : 0;
  const size_t first = out.find_first_not_of('0', digits);
  if (first == std::string::npos) return "0";
  out.erase(digits, first - digits);
  return out;
}

absl::StatusOr<CertificateInfo> BasicCertificateInfo(X509* cert) {
  CertificateInfo info;
  info.serial_hex = SerialToHex(X509_get0_serialNumber(cert));
  if (info.serial_hex.empty()) {
    return absl::InvalidArgumentError("certificate serial number is malformed");
  }
  absl::StatusOr<std::string> cn =
      SingleCommonName(X509_get_subject_name(cert), "certificate subject");
  if (!cn.ok()) return cn.status();
  info.subject_cn = *std::move(cn);
  info.issuer_cn = FirstCommonName(X509_get_issuer_name(cert));
  absl::StatusOr<absl::Time> not_before = TimeFromAsn1(X509_get0_notBefore(cert));
  absl::StatusOr<absl::Time> not_after = TimeFromAsn1(X509_get0_notAfter(cert));
  if (!not_before.ok() || !not_after.ok()) {
    return absl::InvalidArgumentError("certificate validity period is malformed");
  }
  info.not_before = *not_before;
  info.not_after = *not_after;
  const EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "certificate public key does not decode");
  }
  absl::StatusOr<std::string> fingerprint = PublicKeyFingerprint(key);
  if (!fingerprint.ok()) return fingerprint.status();
  info.key_fingerprint = *std::move(fingerprint);
  // X509_get_extension_flags decodes the extensions (and flags a malformed one as invalid).
  const uint32_t flags = X509_get_extension_flags(cert);
  if ((flags & EXFLAG_INVALID) != 0) {
    return absl::InvalidArgumentError("certificate extensions are malformed");
  }
  info.client_auth =
      (flags & EXFLAG_XKUSAGE) != 0 && (X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) != 0;
  info.digital_signature =
      (flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) != 0;
  return info;
}

absl::StatusOr<CertificateInfo> FleetCertificateInfo(X509* cert) {
  absl::StatusOr<CertificateInfo> info = BasicCertificateInfo(cert);
  if (!info.ok()) return info.status();
  absl::StatusOr<std::vector<std::string>> uris = FleetUris(cert);
  if (!uris.ok()) return uris.status();
  if (uris->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate for '", absl::CHexEscape(info->subject_cn),
                     "' has no camfleet:// identity URI; it is not a fleet certificate"));
  }
  if (uris->size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate names ", uris->size(),
                     " camfleet:// identities; a fleet certificate has one"));
  }
  absl::StatusOr<FleetIdentity> identity = ParseIdentityUri(uris->front());
  if (!identity.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate identity URI: ", identity.status().message()));
  }
  if (identity->identity != info->subject_cn) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate subject CN '", absl::CHexEscape(info->subject_cn),
                     "' differs from its identity URI '", IdentityUri(*identity), "'"));
  }
  info->role = identity->role;
  info->identity = std::move(identity->identity);
  return info;
}

absl::StatusOr<ServerNames> ReadServerNames(absl::string_view pem) {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(pem, "certificate");
  if (!cert.ok()) return cert.status();
  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, &critical, nullptr)));
  ServerNames out;
  if (names == nullptr) {
    if (critical != -1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          "certificate subjectAltName is malformed");
    }
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {};
      const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : -1;
      if (family == -1 ||
          inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof(text)) == nullptr) {
        return absl::InvalidArgumentError("certificate has a malformed IP address SAN");
      }
      out.ip_addresses.emplace_back(text);
    }
  }
  return out;
}

}  // namespace camfleet::provisioning
