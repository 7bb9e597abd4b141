#pragma once
// The fleet CA in a directory that only camfleetd reads. It issues every fleet certificate from
// a CSR (the subject's key never comes here), publishes revocations as CRLs, and verifies what
// it issued.
//
// Two shapes (README.md, "The offline root"):
// - two-level (`camfleetd init` since issue 11): an offline root (root.crt; its key root.key
//   only until it is exported, encrypted, off the server) and an issuing CA signed by it
//   (ca.crt, ca.key) that issues everything day to day. Docks and cameras trust the root. A
//   rotated issuing CA is kept in retired/ (still trusted for what it issued, and still
//   signing a CRL for it) until the root revokes it (revoked/, root.crl).
// - single-level (homes made before): one self-signed CA (ca.crt, ca.key), root and issuer.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_verifier.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "provisioning/revocation.h"
#include "provisioning/role.h"

namespace camfleet::provisioning {

// File names inside the CA directory.
inline constexpr char kCaKeyFile[] = "ca.key";  // Mode 0600.
inline constexpr char kCaCertFile[] = "ca.crt";
inline constexpr char kRootKeyFile[] = "root.key";  // Mode 0600; exported and removed.
inline constexpr char kRootCertFile[] = "root.crt";
inline constexpr char kRootCrlFile[] = "root.crl";  // The root's CRL of revoked issuing CAs.
inline constexpr char kRetiredDir[] = "retired";    // <serial>.crt/.key: rotated issuing CAs.
inline constexpr char kRevokedDir[] = "revoked";    // <serial>.crt: issuing CAs the root revoked.

inline constexpr char kRootCommonName[] = "camfleet fleet root CA";
inline constexpr char kIssuingCommonNamePrefix[] = "camfleet issuing CA ";
// The root outlives its issuing CAs, which live ten years (cut short to the root's expiry).
inline constexpr absl::Duration kRootValidity = absl::Hours(24 * 7305);

inline constexpr char kCaCommonName[] = "camfleet fleet CA";
inline constexpr char kCaOrganization[] = "camfleet";
// Ten years (3652 days). Leaf certificates never outlive the CA: see Issue.
inline constexpr absl::Duration kCaValidity = absl::Hours(24 * 3652);

struct IssueRequest {
  Role role = Role::kCamera;
  // The CSR's subject CN must equal it: the camera serial, dock id, user name or server name.
  std::string identity;
  // Extra SANs, allowed only where serverAuth is: DNS host names and IPv4/IPv6 addresses.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  // Adds serverAuth for a role whose profile allows it (a dock). The server always has it.
  bool add_server_auth = false;
};

// Move-only. The const methods are safe to call from several threads at once.
class CertificateAuthority {
 public:
  // Makes a new fleet CA in `dir` (which must exist): an EC P-256 key in `ca.key` (mode 0600)
  // and a self-signed certificate in `ca.crt`: subject "O=camfleet, CN=camfleet fleet CA",
  // basicConstraints critical CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign, SKI/AKI,
  // valid from `now` - 5 minutes for ten years.
  // ALREADY_EXISTS if either file exists already (nothing is written then); NOT_FOUND if `dir`
  // does not exist; PERMISSION_DENIED; INTERNAL on OpenSSL or I/O failure, after removing
  // anything this call wrote.
  static absl::StatusOr<CertificateAuthority> Create(const std::string& dir, absl::Time now);

  // Makes a new two-level fleet CA in `dir` (which must exist): a root (root.key mode 0600,
  // root.crt: "O=camfleet, CN=camfleet fleet root CA", CA:TRUE pathlen:1, keyCertSign+cRLSign,
  // twenty years) and an issuing CA signed by it (ca.key, ca.crt: "CN=camfleet issuing CA
  // <first 12 hex digits of its serial>", so each generation has its own name, CA:TRUE
  // pathlen:0, ten years). The returned CA issues with the issuing CA.
  // Errors as Create (ALREADY_EXISTS if any of the four files exists).
  static absl::StatusOr<CertificateAuthority> CreateWithRoot(const std::string& dir,
                                                             absl::Time now);

  // Loads the CA from `dir`.
  // NOT_FOUND naming the path if a file is missing; FAILED_PRECONDITION if ca.key is readable by
  // group or others; INVALID_ARGUMENT naming the path if a file does not parse, ca.crt is not a
  // CA certificate, or the key does not belong to the certificate.
  static absl::StatusOr<CertificateAuthority> Load(const std::string& dir);

  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  ~CertificateAuthority();

  // Signs a certificate for `csr` as `request` says, with the profile of request.role
  // (certificate_profile.h): a random 127-bit serial; subject CN = identity; SAN URI
  // camfleet://<role>/<identity> plus any DNS/IP names; basicConstraints CA:FALSE; keyUsage
  // digitalSignature (+keyAgreement for EC keys); extendedKeyUsage clientAuth and/or serverAuth;
  // SKI/AKI; valid from `now` - 5 minutes to `now` + the role's validity, cut short to the CA's
  // own expiry. Nothing the CSR asks for besides its key and CN is copied.
  // INVALID_ARGUMENT if the identity is invalid, the CSR fails CheckCsr against it, DNS/IP
  // names are given without serverAuth or are malformed, or add_server_auth is set for a role
  // that does not allow it; FAILED_PRECONDITION if the CA is expired or not yet valid at `now`;
  // INTERNAL if OpenSSL fails.
  absl::StatusOr<IssuedCertificate> Issue(const CertificateRequest& csr,
                                          const IssueRequest& request, absl::Time now) const;

  // See CertificateVerifier::VerifyChain: INVALID_ARGUMENT for a malformed certificate,
  // UNAUTHENTICATED for one not to be trusted (not issued here, expired, not yet valid).
  absl::StatusOr<CertificateInfo> VerifyChain(absl::string_view cert_pem, absl::Time at) const;

  // A CRL (v2) signed by the CA listing `revoked`. Two-level: the issuing CA's CRL first, then
  // the same list signed by each retired issuing CA still trusted (their leaves are checked
  // against their issuer's CRL), then the root's CRL of revoked issuing CAs if there is one,
  // then the issuing CA certificates (current, retired, and those the root revoked), so a dock
  // that holds only the root and an older issuing CA can check it (CertificateVerifier::WithCrl)
  // and recognise a camera certificate from a revoked issuing CA as one of the fleet's. Each CRL
  // has a CRL number extension, AKI, and a reasonCode on every entry whose reason is not
  // kUnspecified. `crl_number` must grow with every CRL published (RFC 5280 5.2.3); the caller
  // keeps the counter. INVALID_ARGUMENT if next_update is not after this_update, a serial is not
  // 1-40 hex digits, or a serial is listed twice; INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> MakeCrl(const std::vector<RevokedCertificate>& revoked,
                                      absl::Time this_update, absl::Time next_update,
                                      uint64_t crl_number) const;

  // The fleet's CA certificates, PEM: what docks, cameras and clients trust (ca.pem). The
  // root first (a camera pins it), then the issuing CA and any retired one still trusted; for
  // a single-level CA its one certificate.
  const std::string& CertificatePem() const;
  // The issuing CA's certificate, PEM, to follow a leaf in a TLS chain (camfleetd's serving
  // certificate); empty for a single-level CA, whose leaves chain directly to it.
  std::string ChainPem() const;
  // Whether there is a separate root (two-level).
  bool HasRoot() const;
  // The issuing CA's certificate (the subject and serial of the CA that issues).
  absl::StatusOr<CertificateInfo> IssuingCaInfo() const;
  absl::Time NotAfter() const { return not_after_; }
  // A verifier trusting this CA, to hand to code that needs no CA key.
  const CertificateVerifier& Verifier() const { return verifier_; }

 private:
  struct State;
  CertificateAuthority(std::unique_ptr<State> state, CertificateVerifier verifier,
                       absl::Time not_before, absl::Time not_after);

  std::unique_ptr<State> state_;
  CertificateVerifier verifier_;
  absl::Time not_before_;
  absl::Time not_after_;
};

// --- The offline root's ceremonies (camfleetd ca ...). camfleetd should be stopped: it reads
// the CA directory once at start. ---

// Writes the root key (DIR/root.key) to `dest` encrypted with `passphrase` (PKCS#8,
// AES-256-CBC, scrypt: PrivateKey::ToEncryptedPem), reads it back to check that the
// passphrase opens it and that it is the root's, then deletes DIR/root.key. From then on the
// server has no root key; keep `dest` (and the passphrase) off the server.
// NOT_FOUND if DIR/root.key is absent (already exported, or a single-level CA); ALREADY_EXISTS
// if `dest` exists; INVALID_ARGUMENT for a passphrase under 12 characters.
absl::Status ExportRootKey(const std::string& dir, const std::string& dest,
                           absl::string_view passphrase);

// Reads a root key: an encrypted one (ExportRootKey) with `passphrase`, or an unencrypted one.
// Errors as PrivateKey::ReadFileWithPassphrase.
absl::StatusOr<PrivateKey> ReadRootKey(const std::string& path, absl::string_view passphrase);

struct IssuingCaRotation {
  CertificateInfo new_ca;
  CertificateInfo old_ca;
  bool old_revoked = false;
};

// Replaces the issuing CA in `dir` with a new one signed by `root_key` (which must be the key of
// DIR/root.crt). The old issuing CA is retired (retired/<serial>.crt and .key: its
// certificates stay trusted until they are renewed from the new one or expire, and CRLs keep
// listing their revocations) or, with `revoke_old` (keyCompromise for a leaked key), revoked
// at once on a new root CRL (revoked/<serial>.crt, its key deleted: everything it issued is
// refused wherever the root CRL reaches, except that camfleetd lets a certificate it recorded
// renew itself once onto the new issuing CA: README.md, "Recovery after a compromised issuing
// CA").
// FAILED_PRECONDITION for a single-level CA (no root.crt); INVALID_ARGUMENT if `root_key` is not
// the root's; errors from writing.
absl::StatusOr<IssuingCaRotation> RotateIssuingCa(const std::string& dir,
                                                  const PrivateKey& root_key, absl::Time now,
                                                  std::optional<RevocationReason> revoke_old);

// Revokes the retired issuing CA `serial_hex` on the root's CRL (remade, signed by `root_key`)
// and deletes its key: once every device has renewed onto the new issuing CA.
// NOT_FOUND if no retired issuing CA has that serial (the current one cannot be revoked:
// rotate first); errors as RotateIssuingCa.
absl::Status RevokeIssuingCa(const std::string& dir, const PrivateKey& root_key,
                             absl::string_view serial_hex, RevocationReason reason, absl::Time now);

}  // namespace camfleet::provisioning
