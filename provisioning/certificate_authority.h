#pragma once
// The fleet CA: one EC P-256 key and a self-signed certificate in a directory that only
// camfleetd reads. It issues every fleet certificate from a CSR (the subject's key never comes
// here), publishes revocations as CRLs, and verifies what it issued.

#include <cstdint>
#include <memory>
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

  // A CRL (v2) signed by the CA listing `revoked`, with a CRL number extension, AKI, and a
  // reasonCode on every entry whose reason is not kUnspecified. `crl_number` must grow with
  // every CRL published (RFC 5280 5.2.3); the caller keeps the counter.
  // INVALID_ARGUMENT if next_update is not after this_update, a serial is not 1-40 hex digits,
  // or a serial is listed twice; INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> MakeCrl(const std::vector<RevokedCertificate>& revoked,
                                      absl::Time this_update, absl::Time next_update,
                                      uint64_t crl_number) const;

  // The CA certificate, PEM: what docks, cameras and clients trust.
  const std::string& CertificatePem() const { return verifier_.CaPem(); }
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

}  // namespace camfleet::provisioning
