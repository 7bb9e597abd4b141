#include "provisioning/certificate_authority.h"

#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
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
  State(PrivateKey k, X509Ptr c) : key(std::move(k)), cert(std::move(c)) {}
  PrivateKey key;  // The issuing CA's.
  X509Ptr cert;
  X509Ptr root;              // Null for a single-level CA (then `cert` is the root).
  std::string root_crl_pem;  // The root's CRL of revoked issuing CAs; may be empty.
  struct Retired {
    PrivateKey key;
    X509Ptr cert;
  };
  std::vector<Retired> retired;
  std::string trust_pem;    // CertificatePem().
  std::string revoked_pem;  // The issuing CAs the root revoked (revoked/*.crt), for MakeCrl.
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

// A CA certificate for `subject_key`: self-signed by `signer` when `issuer` is null (a root),
// else signed by `issuer`'s key `signer`. `name_by_serial` appends the first 12 hex digits of
// the serial to `common_name`, so every issuing CA generation has a name of its own (a CRL is
// found by its issuer's name).
absl::StatusOr<X509Ptr> MakeCaCertificate(EVP_PKEY* subject_key, absl::string_view common_name,
                                          bool name_by_serial, const char* basic_constraints,
                                          absl::Time not_before, absl::Time not_after, X509* issuer,
                                          const PrivateKey& signer) {
  absl::StatusOr<X509NamePtr> name =
      NewName({{NID_organizationName, kCaOrganization}, {NID_commonName, common_name}});
  if (!name.ok()) return name.status();
  absl::StatusOr<X509Ptr> cert =
      NewCertificate(issuer != nullptr ? X509_get_subject_name(issuer) : name->get(), name->get(),
                     not_before, not_after, subject_key);
  if (!cert.ok()) return cert.status();
  if (name_by_serial) {
    const std::string serial = SerialToHex(X509_get0_serialNumber(cert->get()));
    absl::StatusOr<X509NamePtr> named =
        NewName({{NID_organizationName, kCaOrganization},
                 {NID_commonName, absl::StrCat(common_name, serial.substr(0, 12))}});
    if (!named.ok()) return named.status();
    if (X509_set_subject_name(cert->get(), named->get()) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "naming a CA certificate");
    }
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert->get(), cert->get(), nullptr, nullptr, 0);
  // SKI before AKI: for a self-signed certificate the AKI is copied from its own SKI.
  for (const auto& [nid, value] : std::initializer_list<std::pair<int, const char*>>{
           {NID_basic_constraints, basic_constraints},
           {NID_key_usage, "critical,keyCertSign,cRLSign"},
           {NID_subject_key_identifier, "hash"},
           {NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(cert->get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = Sign(cert->get(), signer); !s.ok()) return s;
  return cert;
}

absl::StatusOr<X509Ptr> ReadCertificateFile(const std::string& path) {
  absl::StatusOr<FileContents> file = ReadSmallFile(path, kMaxCertificateFileBytes);
  if (!file.ok()) return file.status();
  return ReadPemCertificate(file->data, path);
}

absl::StatusOr<absl::Time> NotAfterOf(X509* cert, const std::string& path) {
  absl::StatusOr<absl::Time> t = TimeFromAsn1(X509_get0_notAfter(cert));
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(path, " has a malformed validity"));
  return t;
}

// The names in `dir` ending in `suffix`, without it, sorted; none if `dir` does not exist.
std::vector<std::string> ListStems(const std::string& dir, absl::string_view suffix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const absl::string_view name(e->d_name);
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      out.emplace_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create directory ", path));
  }
  return absl::OkStatus();
}

// Replaces `path` with `contents` atomically (a new file, then rename over the old one).
absl::Status ReplaceFile(const std::string& dir, const std::string& path,
                         absl::string_view contents, unsigned mode) {
  const std::string temporary = path + ".new";
  ::unlink(temporary.c_str());
  if (absl::Status s = WriteNewFile(temporary, contents, mode); !s.ok()) return s;
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return SyncDirectory(dir);
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
  auto state = std::make_unique<State>(*std::move(key), *std::move(cert));
  state->trust_pem = *pem;
  return CertificateAuthority(std::move(state), *std::move(verifier), not_before, not_after);
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::CreateWithRoot(const std::string& dir,
                                                                          absl::Time now) {
  if (!IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("CA directory ", dir, " does not exist"));
  }
  const std::vector<std::string> paths = {JoinPath(dir, kRootKeyFile), JoinPath(dir, kRootCertFile),
                                          JoinPath(dir, kCaKeyFile), JoinPath(dir, kCaCertFile)};
  for (const std::string& path : paths) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " exists: a fleet CA is already set up in ", dir, "; refusing to replace it"));
    }
  }
  const absl::Time not_before = now - kClockSkewAllowance;
  absl::StatusOr<PrivateKey> root_key = PrivateKey::GenerateEcP256();
  if (!root_key.ok()) return root_key.status();
  absl::StatusOr<X509Ptr> root = MakeCaCertificate(root_key->NativeHandle(), kRootCommonName, false,
                                                   "critical,CA:TRUE,pathlen:1", not_before,
                                                   now + kRootValidity, nullptr, *root_key);
  if (!root.ok()) return root.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> issuing = MakeCaCertificate(
      key->NativeHandle(), kIssuingCommonNamePrefix, true, "critical,CA:TRUE,pathlen:0", not_before,
      now + kCaValidity, root->get(), *root_key);
  if (!issuing.ok()) return issuing.status();
  absl::StatusOr<std::string> root_pem = CertificateToPem(root->get());
  if (!root_pem.ok()) return root_pem.status();
  absl::StatusOr<std::string> issuing_pem = CertificateToPem(issuing->get());
  if (!issuing_pem.ok()) return issuing_pem.status();

  std::vector<std::string> written;
  auto undo = [&](absl::Status s) {
    for (const std::string& path : written) ::unlink(path.c_str());
    return s;
  };
  if (absl::Status s = root_key->WriteFile(paths[0]); !s.ok()) return s;
  written.push_back(paths[0]);
  if (absl::Status s = WriteNewFile(paths[1], *root_pem, kCertificateFileMode); !s.ok()) {
    return undo(s);
  }
  written.push_back(paths[1]);
  if (absl::Status s = key->WriteFile(paths[2]); !s.ok()) return undo(s);
  written.push_back(paths[2]);
  if (absl::Status s = WriteNewFile(paths[3], *issuing_pem, kCertificateFileMode); !s.ok()) {
    return undo(s);
  }
  return Load(dir);
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
  auto state = std::make_unique<State>(*std::move(key), *std::move(cert));
  X509* issuing = state->cert.get();

  const std::string root_path = JoinPath(dir, kRootCertFile);
  if (!PathExists(root_path)) {
    // A single-level CA (a home made before the offline root): root and issuer in one.
    state->trust_pem = file->data;
    absl::StatusOr<CertificateVerifier> verifier = CertificateVerifier::FromCaPem(file->data);
    if (!verifier.ok()) return verifier.status();
    return CertificateAuthority(std::move(state), *std::move(verifier), *not_before, *not_after);
  }
  absl::StatusOr<X509Ptr> root = ReadCertificateFile(root_path);
  if (!root.ok()) return root.status();
  if (X509_check_issued(root->get(), issuing) != X509_V_OK ||
      X509_verify(issuing, X509_get0_pubkey(root->get())) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat(cert_path, " is not signed by the root in ", root_path));
  }
  state->root = *std::move(root);
  absl::StatusOr<std::string> root_pem = CertificateToPem(state->root.get());
  if (!root_pem.ok()) return root_pem.status();
  absl::StatusOr<std::string> issuing_pem = CertificateToPem(issuing);
  if (!issuing_pem.ok()) return issuing_pem.status();
  state->trust_pem = *root_pem + *issuing_pem;

  const std::string retired_dir = JoinPath(dir, kRetiredDir);
  for (const std::string& serial : ListStems(retired_dir, ".crt")) {
    const std::string base = JoinPath(retired_dir, serial);
    absl::StatusOr<X509Ptr> old = ReadCertificateFile(base + ".crt");
    if (!old.ok()) return old.status();
    absl::StatusOr<PrivateKey> old_key = PrivateKey::ReadFile(base + ".key");
    if (!old_key.ok()) return old_key.status();
    absl::StatusOr<std::string> pem = CertificateToPem(old->get());
    if (!pem.ok()) return pem.status();
    absl::StrAppend(&state->trust_pem, *pem);
    state->retired.push_back({*std::move(old_key), *std::move(old)});
  }
  // The server's own verifier also knows the revoked issuing CAs and the root's CRL, so that a
  // certificate from one is refused saying so (docks and cameras are not given them).
  std::string verifier_pem = state->trust_pem;
  for (const std::string& serial : ListStems(JoinPath(dir, kRevokedDir), ".crt")) {
    const std::string path = JoinPath(JoinPath(dir, kRevokedDir), serial + ".crt");
    absl::StatusOr<FileContents> revoked = ReadSmallFile(path, kMaxCertificateFileBytes);
    if (!revoked.ok()) return revoked.status();
    absl::StrAppend(&verifier_pem, revoked->data);
    absl::StrAppend(&state->revoked_pem, revoked->data);
  }
  absl::StatusOr<CertificateVerifier> verifier = CertificateVerifier::FromCaPem(verifier_pem);
  if (!verifier.ok()) return verifier.status();
  const std::string root_crl_path = JoinPath(dir, kRootCrlFile);
  if (PathExists(root_crl_path)) {
    absl::StatusOr<FileContents> crl = ReadSmallFile(root_crl_path, kMaxCertificateFileBytes);
    if (!crl.ok()) return crl.status();
    state->root_crl_pem = crl->data;
    absl::StatusOr<CertificateVerifier> with = verifier->WithCrl(crl->data);
    if (!with.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(root_crl_path, ": ", with.status().message()));
    }
    verifier = *std::move(with);
  }
  return CertificateAuthority(std::move(state), *std::move(verifier), *not_before, *not_after);
}

const std::string& CertificateAuthority::CertificatePem() const { return state_->trust_pem; }

bool CertificateAuthority::HasRoot() const { return state_->root != nullptr; }

std::string CertificateAuthority::ChainPem() const {
  if (state_->root == nullptr) return "";
  absl::StatusOr<std::string> pem = CertificateToPem(state_->cert.get());
  return pem.ok() ? *pem : "";
}

absl::StatusOr<CertificateInfo> CertificateAuthority::IssuingCaInfo() const {
  return BasicCertificateInfo(state_->cert.get());
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

namespace {

absl::StatusOr<std::string> SignCrl(X509* ca, const PrivateKey& key,
                                    const std::vector<RevokedCertificate>& revoked,
                                    absl::Time this_update, absl::Time next_update,
                                    uint64_t crl_number) {
  if (next_update <= this_update) {
    return absl::InvalidArgumentError(absl::StrCat("CRL nextUpdate ", FormatTimeUtc(next_update),
                                                   " is not after thisUpdate ",
                                                   FormatTimeUtc(this_update)));
  }
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
      X509_CRL_sign(crl.get(), key.NativeHandle(), EVP_sha256()) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "signing a CRL");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "encoding a CRL");
  }
  return MemoryBioContents(bio.get());
}

}  // namespace

absl::StatusOr<std::string> CertificateAuthority::MakeCrl(
    const std::vector<RevokedCertificate>& revoked, absl::Time this_update, absl::Time next_update,
    uint64_t crl_number) const {
  absl::StatusOr<std::string> pem =
      SignCrl(state_->cert.get(), state_->key, revoked, this_update, next_update, crl_number);
  if (!pem.ok() || state_->root == nullptr) return pem;
  // Two-level: a CRL from each retired issuing CA too (a leaf is checked against its own
  // issuer's CRL), the root's CRL, and the issuing CAs a dock may not hold yet.
  for (const State::Retired& old : state_->retired) {
    absl::StatusOr<std::string> more =
        SignCrl(old.cert.get(), old.key, revoked, this_update, next_update, crl_number);
    if (!more.ok()) return more.status();
    absl::StrAppend(&*pem, *more);
  }
  absl::StrAppend(&*pem, state_->root_crl_pem);
  absl::StatusOr<std::string> issuing = CertificateToPem(state_->cert.get());
  if (!issuing.ok()) return issuing.status();
  absl::StrAppend(&*pem, *issuing);
  for (const State::Retired& old : state_->retired) {
    absl::StatusOr<std::string> cert = CertificateToPem(old.cert.get());
    if (!cert.ok()) return cert.status();
    absl::StrAppend(&*pem, *cert);
  }
  // The revoked ones last: the root's CRL refuses what they issued, but a dock that holds them
  // can tell a camera certificate they issued (which it renews onto the current issuing CA:
  // a recovery renewal) from a foreign one.
  absl::StrAppend(&*pem, state_->revoked_pem);
  return pem;
}

// ---- Ceremonies of the offline root ----

absl::StatusOr<PrivateKey> ReadRootKey(const std::string& path, absl::string_view passphrase) {
  return PrivateKey::ReadFileWithPassphrase(path, passphrase);
}

absl::Status ExportRootKey(const std::string& dir, const std::string& dest,
                           absl::string_view passphrase) {
  const std::string key_path = JoinPath(dir, kRootKeyFile);
  if (!PathExists(key_path)) {
    return absl::NotFoundError(
        absl::StrCat(key_path,
                     " does not exist: the root key was exported already, or this CA has no "
                     "separate root (a home made before the offline root)"));
  }
  absl::StatusOr<PrivateKey> key = PrivateKey::ReadFile(key_path);
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> root = ReadCertificateFile(JoinPath(dir, kRootCertFile));
  if (!root.ok()) return root.status();
  if (X509_check_private_key(root->get(), key->NativeHandle()) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, " is not the key of ", JoinPath(dir, kRootCertFile)));
  }
  if (absl::Status s = key->WriteEncryptedFile(dest, passphrase); !s.ok()) return s;
  // Only once the copy is known to open with the passphrase is the server's copy deleted.
  absl::StatusOr<PrivateKey> back = PrivateKey::ReadFileWithPassphrase(dest, passphrase);
  if (!back.ok() || X509_check_private_key(root->get(), back->NativeHandle()) != 1) {
    ClearOpenSslErrors();
    return absl::InternalError(
        absl::StrCat(dest, " does not read back as the root key; ", key_path, " is left in place"));
  }
  if (::unlink(key_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot delete ", key_path));
  }
  return SyncDirectory(dir);
}

namespace {

struct RootContext {
  X509Ptr root;
  std::vector<RevokedCertificate> revoked;  // On the root CRL now.
  uint64_t last_number = 0;
};

absl::StatusOr<RootContext> LoadRootContext(const std::string& dir, const PrivateKey& root_key) {
  const std::string root_path = JoinPath(dir, kRootCertFile);
  if (!PathExists(root_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " holds a single-level fleet CA (made before the offline root, no ",
                     kRootCertFile, "): its one CA is root and issuer, and cannot be rotated"));
  }
  RootContext out;
  absl::StatusOr<X509Ptr> root = ReadCertificateFile(root_path);
  if (!root.ok()) return root.status();
  out.root = *std::move(root);
  if (X509_check_private_key(out.root.get(), root_key.NativeHandle()) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat("the root key given is not the key of ", root_path));
  }
  const std::string crl_path = JoinPath(dir, kRootCrlFile);
  if (PathExists(crl_path)) {
    absl::StatusOr<FileContents> file = ReadSmallFile(crl_path, kMaxCertificateFileBytes);
    if (!file.ok()) return file.status();
    absl::StatusOr<PemObjects> objects = ReadPemObjects(file->data, crl_path);
    if (!objects.ok()) return objects.status();
    if (objects->crls.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(crl_path, " does not hold one CRL"));
    }
    X509_CRL* crl = objects->crls.front().get();
    Asn1IntegerPtr number(
        static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
    if (number != nullptr) ASN1_INTEGER_get_uint64(&out.last_number, number.get());
    STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl);
    for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
      X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
      RevokedCertificate r;
      r.serial_hex = SerialToHex(X509_REVOKED_get0_serialNumber(entry));
      absl::StatusOr<absl::Time> when = TimeFromAsn1(X509_REVOKED_get0_revocationDate(entry));
      r.revoked_at = when.ok() ? *when : absl::UnixEpoch();
      Asn1EnumeratedPtr code(static_cast<ASN1_ENUMERATED*>(
          X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
      if (code != nullptr) {
        absl::StatusOr<RevocationReason> reason =
            RevocationReasonFromCode(static_cast<int>(ASN1_ENUMERATED_get(code.get())));
        if (reason.ok()) r.reason = *reason;
      }
      out.revoked.push_back(std::move(r));
    }
    ClearOpenSslErrors();
  }
  return out;
}

// Signs and writes the root CRL listing `context.revoked`, valid until the root expires: it is
// remade only at a ceremony, when the root key is at hand.
absl::Status WriteRootCrl(const std::string& dir, const RootContext& context,
                          const PrivateKey& root_key, absl::Time now) {
  absl::StatusOr<absl::Time> root_expiry = NotAfterOf(context.root.get(), kRootCertFile);
  if (!root_expiry.ok()) return root_expiry.status();
  const uint64_t number =
      std::max<uint64_t>(context.last_number + 1,
                         static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMicros(now), 0)));
  absl::StatusOr<std::string> crl = SignCrl(context.root.get(), root_key, context.revoked, now,
                                            std::max(*root_expiry, now + absl::Hours(24)), number);
  if (!crl.ok()) return crl.status();
  return ReplaceFile(dir, JoinPath(dir, kRootCrlFile), *crl, kCertificateFileMode);
}

}  // namespace

absl::StatusOr<IssuingCaRotation> RotateIssuingCa(const std::string& dir,
                                                  const PrivateKey& root_key, absl::Time now,
                                                  std::optional<RevocationReason> revoke_old) {
  absl::StatusOr<RootContext> context = LoadRootContext(dir, root_key);
  if (!context.ok()) return context.status();
  absl::StatusOr<CertificateAuthority> current = CertificateAuthority::Load(dir);
  if (!current.ok()) return current.status();
  absl::StatusOr<CertificateInfo> old_info = current->IssuingCaInfo();
  if (!old_info.ok()) return old_info.status();
  const std::string key_path = JoinPath(dir, kCaKeyFile);
  const std::string cert_path = JoinPath(dir, kCaCertFile);
  absl::StatusOr<FileContents> old_cert = ReadSmallFile(cert_path, kMaxCertificateFileBytes);
  if (!old_cert.ok()) return old_cert.status();

  absl::StatusOr<absl::Time> root_expiry = NotAfterOf(context->root.get(), kRootCertFile);
  if (!root_expiry.ok()) return root_expiry.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<X509Ptr> issuing =
      MakeCaCertificate(key->NativeHandle(), kIssuingCommonNamePrefix, true,
                        "critical,CA:TRUE,pathlen:0", now - kClockSkewAllowance,
                        std::min(now + kCaValidity, *root_expiry), context->root.get(), root_key);
  if (!issuing.ok()) return issuing.status();
  absl::StatusOr<std::string> issuing_pem = CertificateToPem(issuing->get());
  if (!issuing_pem.ok()) return issuing_pem.status();

  // The old issuing CA goes aside first (retired with its key, or revoked without), then the
  // new one replaces it: a crash in between leaves the old one current and a copy aside.
  const std::string aside_dir = JoinPath(dir, revoke_old.has_value() ? kRevokedDir : kRetiredDir);
  if (absl::Status s = MakeDirectory(aside_dir); !s.ok()) return s;
  const std::string aside = JoinPath(aside_dir, old_info->serial_hex);
  if (!PathExists(aside + ".crt")) {
    if (!revoke_old.has_value()) {
      absl::StatusOr<PrivateKey> old_key = PrivateKey::ReadFile(key_path);
      if (!old_key.ok()) return old_key.status();
      if (absl::Status s = old_key->WriteFile(aside + ".key");
          !s.ok() && !absl::IsAlreadyExists(s)) {
        return s;
      }
    }
    if (absl::Status s = WriteNewFile(aside + ".crt", old_cert->data, kCertificateFileMode);
        !s.ok()) {
      return s;
    }
  }
  if (revoke_old.has_value()) {
    context->revoked.push_back({old_info->serial_hex, now, *revoke_old});
    if (absl::Status s = WriteRootCrl(dir, *context, root_key, now); !s.ok()) return s;
  }
  absl::StatusOr<std::string> key_pem = key->ToPem();
  if (!key_pem.ok()) return key_pem.status();
  absl::Status replaced = ReplaceFile(dir, key_path, *key_pem, kPrivateKeyFileMode);
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (!replaced.ok()) return replaced;
  if (absl::Status s = ReplaceFile(dir, cert_path, *issuing_pem, kCertificateFileMode); !s.ok()) {
    return s;
  }
  absl::StatusOr<CertificateInfo> new_info = BasicCertificateInfo(issuing->get());
  if (!new_info.ok()) return new_info.status();
  return IssuingCaRotation{*std::move(new_info), *std::move(old_info), revoke_old.has_value()};
}

absl::Status RevokeIssuingCa(const std::string& dir, const PrivateKey& root_key,
                             absl::string_view serial_hex, RevocationReason reason,
                             absl::Time now) {
  absl::StatusOr<RootContext> context = LoadRootContext(dir, root_key);
  if (!context.ok()) return context.status();
  const std::string serial = absl::AsciiStrToLower(serial_hex);
  const std::string retired = JoinPath(JoinPath(dir, kRetiredDir), serial);
  if (serial.empty() || serial.find('/') != std::string::npos || !PathExists(retired + ".crt")) {
    return absl::NotFoundError(absl::StrCat(
        "no retired issuing CA has serial '", absl::CHexEscape(serial_hex), "' in ",
        JoinPath(dir, kRetiredDir), " (the current issuing CA cannot be revoked: rotate first)"));
  }
  absl::StatusOr<FileContents> cert = ReadSmallFile(retired + ".crt", kMaxCertificateFileBytes);
  if (!cert.ok()) return cert.status();
  context->revoked.push_back({serial, now, reason});
  if (absl::Status s = WriteRootCrl(dir, *context, root_key, now); !s.ok()) return s;
  const std::string revoked_dir = JoinPath(dir, kRevokedDir);
  if (absl::Status s = MakeDirectory(revoked_dir); !s.ok()) return s;
  if (absl::Status s =
          WriteNewFile(JoinPath(revoked_dir, serial + ".crt"), cert->data, kCertificateFileMode);
      !s.ok() && !absl::IsAlreadyExists(s)) {
    return s;
  }
  ::unlink((retired + ".key").c_str());
  ::unlink((retired + ".crt").c_str());
  return SyncDirectory(JoinPath(dir, kRetiredDir));
}

}  // namespace camfleet::provisioning
