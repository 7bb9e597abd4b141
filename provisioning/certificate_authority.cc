#include "provisioning/certificate_authority.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/file_io.h"
#include "provisioning/identity.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/x509_certificate.h"
#include "provisioning/x509_time.h"

namespace camfleet::provisioning {

struct CertificateAuthority::State {
  PrivateKey key;
  X509Ptr cert;
};

namespace {

constexpr size_t kMaxCertificateFileBytes = size_t{1024} * 1024;
constexpr unsigned kCertificateFileMode = 0644;
constexpr size_t kSerialBytes = 16;
constexpr size_t kMaxSerialHexDigits = 40;  // RFC 5280: at most 20 octets.
constexpr size_t kMaxDnsNameLength = 253;

// 128 random bits with the top bit cleared, so the DER INTEGER is positive and at most 16
// octets; never zero.
absl::StatusOr<Asn1IntegerPtr> RandomSerial() {
  std::array<unsigned char, kSerialBytes> bytes;
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "drawing a certificate serial");
    }
    bytes[0] &= 0x7f;
  } while (std::all_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b == 0; }));
  BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  Asn1IntegerPtr serial(bn != nullptr ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (serial == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding a certificate serial");
  }
  return serial;
}

// Canonical form (lower case, no leading zeros) of a caller's serial, or INVALID_ARGUMENT.
absl::StatusOr<std::string> CanonicalSerialHex(absl::string_view hex) {
  const std::string shown = absl::CHexEscape(hex.substr(0, 60));
  if (hex.empty() || hex.size() > kMaxSerialHexDigits ||
      !std::all_of(hex.begin(), hex.end(),
                   [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError(
        absl::StrCat("serial '", shown, "' is not 1 to 40 hexadecimal digits"));
  }
  std::string out = absl::AsciiStrToLower(hex);
  const size_t first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

absl::StatusOr<Asn1IntegerPtr> SerialFromHex(const std::string& canonical_hex) {
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, canonical_hex.c_str()) == 0) {
    return OpenSslError(absl::StatusCode::kInternal, "decoding a serial");
  }
  BignumPtr bn(raw);
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) return OpenSslError(absl::StatusCode::kInternal, "encoding a serial");
  return serial;
}

// Adds an extension written in OpenSSL's configuration syntax. `value` is always one of our
// constants, never caller text, so nothing can be injected through it.
absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StatusCode::kInternal,
                        absl::StrCat("adding the ", OBJ_nid2sn(nid), " extension"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDnsName(absl::string_view name) {
  const std::string shown = absl::CHexEscape(name.substr(0, 80));
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("DNS name '", shown, "' ", why));
  };
  if (name.empty() || name.size() > kMaxDnsNameLength) return bad("is empty or too long");
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63) return bad("has an empty or over-long label");
      if (name[i - 1] == '-' || name[i - label] == '-') {
        return bad("has a label that starts or ends with '-'");
      }
      label = 0;
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(name[i])) || name[i] == '-') {
      ++label;
    } else {
      return bad("may hold only letters, digits, '-' and '.' (no wildcards)");
    }
  }
  return absl::OkStatus();
}

absl::Status PushName(GENERAL_NAMES* names, int type, void* value) {
  GeneralNamePtr name(GENERAL_NAME_new());
  if (name == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "building subjectAltName");
  }
  GENERAL_NAME_set0_value(name.get(), type, value);
  if (sk_GENERAL_NAME_push(names, name.get()) <= 0) {
    // `value` is now owned by `name`, which frees it.
    return OpenSslError(absl::StatusCode::kInternal, "building subjectAltName");
  }
  static_cast<void>(name.release());  // Now owned by the stack.
  return absl::OkStatus();
}

absl::Status PushIa5Name(GENERAL_NAMES* names, int type, absl::string_view text) {
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  if (value == nullptr || ASN1_STRING_set(value, text.data(), static_cast<int>(text.size())) != 1) {
    ASN1_IA5STRING_free(value);
    return OpenSslError(absl::StatusCode::kInternal, "building subjectAltName");
  }
  return PushName(names, type, value);
}

// The SAN extension built from structures, not config text, so no caller string is parsed.
absl::Status AddSubjectAltNames(X509* cert, const FleetIdentity& identity,
                                const std::vector<std::string>& dns_names,
                                const std::vector<std::string>& ip_addresses) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslError(absl::StatusCode::kInternal, "building SAN");
  if (absl::Status s = PushIa5Name(names.get(), GEN_URI, IdentityUri(identity)); !s.ok()) {
    return s;
  }
  for (const std::string& dns : dns_names) {
    if (absl::Status s = PushIa5Name(names.get(), GEN_DNS, dns); !s.ok()) return s;
  }
  for (const std::string& ip : ip_addresses) {
    ASN1_OCTET_STRING* address = a2i_IPADDRESS(ip.c_str());
    if (address == nullptr) {
      ClearOpenSslErrors();
      return absl::InvalidArgumentError(
          absl::StrCat("IP address '", absl::CHexEscape(absl::string_view(ip).substr(0, 60)),
                       "' is not an IPv4 or IPv6 address"));
    }
    if (absl::Status s = PushName(names.get(), GEN_IPADD, address); !s.ok()) return s;
  }
  // Not critical: the subject has a CN, so the SAN is not the only name (RFC 5280 4.2.1.6).
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "adding subjectAltName");
  }
  return absl::OkStatus();
}

// Version, serial, names, validity and key: everything but the extensions and signature.
absl::StatusOr<X509Ptr> NewCertificate(const X509_NAME* issuer, const X509_NAME* subject,
                                       absl::Time not_before, absl::Time not_after,
                                       EVP_PKEY* public_key) {
  absl::StatusOr<Asn1IntegerPtr> serial = RandomSerial();
  if (!serial.ok()) return serial.status();
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer) != 1 ||
      X509_set_subject_name(cert.get(), subject) != 1 ||
      !SetAsn1Time(X509_getm_notBefore(cert.get()), not_before) ||
      !SetAsn1Time(X509_getm_notAfter(cert.get()), not_after) ||
      X509_set_pubkey(cert.get(), public_key) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "building a certificate");
  }
  return cert;
}

absl::StatusOr<X509NamePtr> NewName(
    std::initializer_list<std::pair<int, absl::string_view>> entries) {
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return OpenSslError(absl::StatusCode::kInternal, "building a name");
  for (const auto& [nid, value] : entries) {
    if (X509_NAME_add_entry_by_NID(name.get(), nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "building a name");
    }
  }
  return name;
}

absl::Status Sign(X509* cert, const PrivateKey& key) {
  if (X509_sign(cert, key.NativeHandle(), EVP_sha256()) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "signing a certificate");
  }
  return absl::OkStatus();
}

}  // namespace

CertificateAuthority::CertificateAuthority(std::unique_ptr<State> state,
                                           CertificateVerifier verifier, absl::Time not_before,
                                           absl::Time not_after)
    : state_(std::move(state)),
      verifier_(std::move(verifier)),
      not_before_(not_before),
      not_after_(not_after) {}

CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
CertificateAuthority::~CertificateAuthority() = default;

absl::StatusOr<CertificateAuthority> CertificateAuthority::Create(const std::string& dir,
                                                                  absl::Time now) {
  const std::string key_path = JoinPath(dir, kCaKeyFile);
  const std::string cert_path = JoinPath(dir, kCaCertFile);
  if (!IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("CA directory ", dir, " does not exist"));
  }
  for (const std::string& path : {key_path, cert_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " exists: a fleet CA is already set up in ", dir, "; refusing to replace it"));
    }
  }

  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509NamePtr> name =
      NewName({{NID_organizationName, kCaOrganization}, {NID_commonName, kCaCommonName}});
  if (!name.ok()) return name.status();
  const absl::Time not_before = now - kClockSkewAllowance;
  const absl::Time not_after = now + kCaValidity;
  absl::StatusOr<X509Ptr> cert =
      NewCertificate(name->get(), name->get(), not_before, not_after, key->NativeHandle());
  if (!cert.ok()) return cert.status();

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert->get(), cert->get(), nullptr, nullptr, 0);
  // SKI before AKI: for a self-signed certificate the AKI is copied from its own SKI.
  for (const auto& [nid, value] : std::initializer_list<std::pair<int, const char*>>{
           {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
           {NID_key_usage, "critical,keyCertSign,cRLSign"},
           {NID_subject_key_identifier, "hash"},
           {NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(cert->get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = Sign(cert->get(), *key); !s.ok()) return s;
  absl::StatusOr<std::string> pem = CertificateToPem(cert->get());
  if (!pem.ok()) return pem.status();
  absl::StatusOr<CertificateVerifier> verifier = CertificateVerifier::FromCaPem(*pem);
  if (!verifier.ok()) return verifier.status();

  if (absl::Status s = key->WriteFile(key_path); !s.ok()) return s;
  if (absl::Status s = WriteNewFile(cert_path, *pem, kCertificateFileMode); !s.ok()) {
    // Half a CA is worse than none: without its certificate the key is useless, and its
    // presence would make the next Create refuse.
    ::unlink(key_path.c_str());
    return s;
  }
  return CertificateAuthority(std::make_unique<State>(State{*std::move(key), *std::move(cert)}),
                              *std::move(verifier), not_before, not_after);
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::Load(const std::string& dir) {
  const std::string key_path = JoinPath(dir, kCaKeyFile);
  const std::string cert_path = JoinPath(dir, kCaCertFile);
  absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(key_path);
  if (!key.ok()) return key.status();
  absl::StatusOr<FileContents> file = ReadSmallFile(cert_path, kMaxCertificateFileBytes);
  if (!file.ok()) return file.status();
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(file->data, cert_path);
  if (!cert.ok()) return cert.status();
  if (X509_check_ca(cert->get()) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_path, " is not a CA certificate (no basicConstraints CA:TRUE)"));
  }
  if (X509_check_private_key(cert->get(), key->NativeHandle()) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, " is not the key of the certificate in ", cert_path));
  }
  absl::StatusOr<absl::Time> not_before = TimeFromAsn1(X509_get0_notBefore(cert->get()));
  absl::StatusOr<absl::Time> not_after = TimeFromAsn1(X509_get0_notAfter(cert->get()));
  if (!not_before.ok() || !not_after.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(cert_path, " has a malformed validity"));
  }
  absl::StatusOr<CertificateVerifier> verifier = CertificateVerifier::FromCaPem(file->data);
  if (!verifier.ok()) return verifier.status();
  return CertificateAuthority(std::make_unique<State>(State{*std::move(key), *std::move(cert)}),
                              *std::move(verifier), *not_before, *not_after);
}

absl::StatusOr<IssuedCertificate> CertificateAuthority::Issue(const CertificateRequest& csr,
                                                              const IssueRequest& request,
                                                              absl::Time now) const {
  const absl::string_view role_name = RoleName(request.role);
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("issuing a ", role_name, " certificate: ", why));
  };
  if (absl::Status s = ValidateIdentity(request.identity); !s.ok()) return invalid(s.message());
  if (absl::Status s = CheckCsr(csr, CsrExpectations{request.identity}); !s.ok()) {
    return invalid(s.message());
  }
  const CertificateProfile& profile = ProfileFor(request.role);
  if (request.add_server_auth && !profile.server_auth && !profile.server_auth_optional) {
    return invalid(absl::StrCat(role_name, " certificates cannot have serverAuth"));
  }
  const bool server_auth = profile.server_auth || request.add_server_auth;
  if (!server_auth && (!request.dns_names.empty() || !request.ip_addresses.empty())) {
    return invalid("DNS and IP names are only for certificates with serverAuth");
  }
  for (const std::string& dns : request.dns_names) {
    if (absl::Status s = ValidateDnsName(dns); !s.ok()) return invalid(s.message());
  }
  if (now < not_before_ || now >= not_after_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the fleet CA is valid from ", FormatTimeUtc(not_before_), " to ",
                     FormatTimeUtc(not_after_), ", not at ", FormatTimeUtc(now),
                     now >= not_after_ ? "; a new CA must be set up" : "; check the clock"));
  }

  X509* ca = state_->cert.get();
  EVP_PKEY* public_key = X509_REQ_get0_pubkey(csr.NativeHandle());
  absl::StatusOr<X509NamePtr> subject = NewName({{NID_commonName, request.identity}});
  if (!subject.ok()) return subject.status();
  absl::StatusOr<X509Ptr> cert =
      NewCertificate(X509_get_subject_name(ca), subject->get(), now - kClockSkewAllowance,
                     std::min(now + profile.validity, not_after_), public_key);
  if (!cert.ok()) return cert.status();

  std::vector<absl::string_view> purposes;
  if (profile.client_auth) purposes.emplace_back("clientAuth");
  if (server_auth) purposes.emplace_back("serverAuth");
  const std::string extended_key_usage = absl::StrJoin(purposes, ",");
  // keyAgreement lets an EC key do static ECDH; RSA keys only sign in the TLS we use.
  const char* key_usage = EVP_PKEY_is_a(public_key, "EC") ? "critical,digitalSignature,keyAgreement"
                                                          : "critical,digitalSignature";
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, cert->get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : std::initializer_list<std::pair<int, const char*>>{
           {NID_basic_constraints, "critical,CA:FALSE"},
           {NID_key_usage, key_usage},
           {NID_ext_key_usage, extended_key_usage.c_str()},
           {NID_subject_key_identifier, "hash"},
           {NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(cert->get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = AddSubjectAltNames(cert->get(), {request.role, request.identity},
                                          request.dns_names, request.ip_addresses);
      !s.ok()) {
    return s.code() == absl::StatusCode::kInvalidArgument ? invalid(s.message()) : s;
  }
  if (absl::Status s = Sign(cert->get(), state_->key); !s.ok()) return s;

  absl::StatusOr<std::string> pem = CertificateToPem(cert->get());
  if (!pem.ok()) return pem.status();
  absl::StatusOr<CertificateInfo> info = FleetCertificateInfo(cert->get());
  if (!info.ok()) {
    return absl::InternalError(
        absl::StrCat("a certificate just issued does not read back: ", info.status().message()));
  }
  return IssuedCertificate{*std::move(pem), *std::move(info)};
}

absl::StatusOr<CertificateInfo> CertificateAuthority::VerifyChain(absl::string_view cert_pem,
                                                                  absl::Time at) const {
  return verifier_.VerifyChain(cert_pem, at);
}

absl::StatusOr<std::string> CertificateAuthority::MakeCrl(
    const std::vector<RevokedCertificate>& revoked, absl::Time this_update, absl::Time next_update,
    uint64_t crl_number) const {
  if (next_update <= this_update) {
    return absl::InvalidArgumentError(absl::StrCat("CRL nextUpdate ", FormatTimeUtc(next_update),
                                                   " is not after thisUpdate ",
                                                   FormatTimeUtc(this_update)));
  }
  X509* ca = state_->cert.get();
  X509CrlPtr crl(X509_CRL_new());
  const Asn1TimePtr last(NewAsn1Time(this_update));
  const Asn1TimePtr next(NewAsn1Time(next_update));
  if (crl == nullptr || last == nullptr || next == nullptr ||
      X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "building a CRL");
  }

  std::set<std::string> listed;
  for (const RevokedCertificate& entry : revoked) {
    absl::StatusOr<std::string> hex = CanonicalSerialHex(entry.serial_hex);
    if (!hex.ok()) return hex.status();
    if (!listed.insert(*hex).second) {
      return absl::InvalidArgumentError(absl::StrCat("serial ", *hex, " is listed twice"));
    }
    absl::StatusOr<Asn1IntegerPtr> serial = SerialFromHex(*hex);
    if (!serial.ok()) return serial.status();
    X509RevokedPtr item(X509_REVOKED_new());
    const Asn1TimePtr when(NewAsn1Time(entry.revoked_at));
    if (item == nullptr || when == nullptr ||
        X509_REVOKED_set_serialNumber(item.get(), serial->get()) != 1 ||
        X509_REVOKED_set_revocationDate(item.get(), when.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "building a CRL entry");
    }
    // RFC 5280 5.3.1: unspecified is expressed by leaving the reasonCode out.
    if (entry.reason != RevocationReason::kUnspecified) {
      Asn1EnumeratedPtr code(ASN1_ENUMERATED_new());
      // NOLINTNEXTLINE(google-runtime-int): ASN1_ENUMERATED_set takes a long.
      const auto reason_code = static_cast<long>(entry.reason);
      if (code == nullptr || ASN1_ENUMERATED_set(code.get(), reason_code) != 1 ||
          X509_REVOKED_add1_ext_i2d(item.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
        return OpenSslError(absl::StatusCode::kInternal, "adding a CRL reason code");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), item.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "adding a CRL entry");
    }
    static_cast<void>(item.release());  // Now owned by the CRL.
  }

  Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (number == nullptr || ASN1_INTEGER_set_uint64(number.get(), crl_number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "adding the CRL number");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, nullptr, nullptr, crl.get(), 0);
  X509ExtensionPtr aki(
      X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (aki == nullptr || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "adding the CRL authority key id");
  }
  if (X509_CRL_sort(crl.get()) != 1 ||
      X509_CRL_sign(crl.get(), state_->key.NativeHandle(), EVP_sha256()) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "signing a CRL");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding a CRL");
  }
  return MemoryBioContents(bio.get());
}

}  // namespace camfleet::provisioning
