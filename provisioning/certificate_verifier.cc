#include "provisioning/certificate_verifier.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/chain_verification.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/x509_certificate.h"
#include "provisioning/x509_time.h"

namespace camfleet::provisioning {

struct CertificateVerifier::State {
  std::string ca_pem;
  X509Ptr ca;
  X509CrlPtr crl;  // May be null.
  X509StorePtr store;
};

namespace {

constexpr absl::string_view kAnchorName = "this fleet CA";

absl::StatusOr<X509CrlPtr> ReadPemCrl(absl::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError("CRL is too large");
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (crl == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not a PEM CRL");
  }
  return crl;
}

}  // namespace

absl::StatusOr<CertificateVerifier> CertificateVerifier::FromCaPem(absl::string_view ca_pem) {
  absl::StatusOr<X509Ptr> ca = ReadPemCertificate(ca_pem, "CA certificate");
  if (!ca.ok()) return ca.status();
  if (X509_check_ca(ca->get()) == 0) {
    return absl::InvalidArgumentError("CA certificate is not marked as a CA (basicConstraints)");
  }
  absl::StatusOr<X509StorePtr> store = NewTrustStore(ca->get(), nullptr);
  if (!store.ok()) return store.status();
  auto state = std::make_shared<State>();
  state->ca_pem = std::string(ca_pem);
  state->ca = *std::move(ca);
  state->store = *std::move(store);
  return CertificateVerifier(std::move(state));
}

absl::StatusOr<CertificateVerifier> CertificateVerifier::WithCrl(absl::string_view crl_pem) const {
  absl::StatusOr<X509CrlPtr> crl = ReadPemCrl(crl_pem);
  if (!crl.ok()) return crl.status();
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl->get()), X509_get_subject_name(state_->ca.get())) !=
          0 ||
      X509_CRL_verify(crl->get(), X509_get0_pubkey(state_->ca.get())) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError("CRL is not signed by this fleet CA");
  }
  X509Ptr ca(X509_dup(state_->ca.get()));
  if (ca == nullptr) return OpenSslError(absl::StatusCode::kInternal, "copying the CA");
  absl::StatusOr<X509StorePtr> store = NewTrustStore(ca.get(), crl->get());
  if (!store.ok()) return store.status();
  auto state = std::make_shared<State>();
  state->ca_pem = state_->ca_pem;
  state->ca = std::move(ca);
  state->crl = *std::move(crl);
  state->store = *std::move(store);
  return CertificateVerifier(std::move(state));
}

absl::StatusOr<CertificateInfo> CertificateVerifier::VerifyChain(absl::string_view cert_pem,
                                                                 absl::Time at) const {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  const ChainCheck check{state_->store.get(), state_->crl.get(), kAnchorName, false};
  if (absl::Status trusted = VerifyAgainstAnchor(check, cert->get(), at); !trusted.ok()) {
    return trusted;
  }
  return FleetCertificateInfo(cert->get());
}

absl::StatusOr<CertificateInfo> CertificateVerifier::VerifyForRenewal(absl::string_view cert_pem,
                                                                      absl::Time now) const {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<CertificateInfo> info = FleetCertificateInfo(cert->get());
  if (!info.ok()) return info.status();
  absl::Time check_at = now;
  if (now >= info->not_after) {
    const absl::Duration grace = ProfileFor(info->role).renewal_grace;
    const absl::Time grace_ends = info->not_after + grace;
    if (now > grace_ends) {
      return absl::UnauthenticatedError(absl::StrCat(
          "certificate for '", info->identity, "' expired at ", FormatTimeUtc(info->not_after),
          "; the renewal grace for ", RoleName(info->role), " certificates (",
          grace / absl::Hours(24), " days) ended at ", FormatTimeUtc(grace_ends), " (checked at ",
          FormatTimeUtc(now), ")"));
    }
    // Within the grace: everything else (issuer, signature, revocation) is checked as of the
    // last second the certificate was valid.
    check_at = info->not_after - absl::Seconds(1);
  }
  const ChainCheck check{state_->store.get(), state_->crl.get(), kAnchorName, false};
  if (absl::Status trusted = VerifyAgainstAnchor(check, cert->get(), check_at); !trusted.ok()) {
    return trusted;
  }
  return info;
}

const std::string& CertificateVerifier::CaPem() const { return state_->ca_pem; }

}  // namespace camfleet::provisioning

namespace camfleet::provisioning {

std::optional<uint64_t> CertificateVerifier::CrlNumber() const {
  if (state_->crl == nullptr) return std::nullopt;
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(state_->crl.get(), NID_crl_number, nullptr, nullptr)));
  uint64_t value = 0;
  if (number == nullptr || ASN1_INTEGER_get_uint64(&value, number.get()) != 1) {
    ClearOpenSslErrors();
    return std::nullopt;
  }
  return value;
}

absl::StatusOr<std::optional<RevokedCertificate>> CertificateVerifier::FindRevocation(
    absl::string_view cert_pem) const {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  if (state_->crl == nullptr) return std::nullopt;
  X509_REVOKED* entry = nullptr;
  if (X509_CRL_get0_by_serial(state_->crl.get(), &entry, X509_get0_serialNumber(cert->get())) !=
          1 ||
      entry == nullptr) {
    ClearOpenSslErrors();
    return std::nullopt;
  }
  RevokedCertificate revoked;
  revoked.serial_hex = SerialToHex(X509_get0_serialNumber(cert->get()));
  absl::StatusOr<absl::Time> when = TimeFromAsn1(X509_REVOKED_get0_revocationDate(entry));
  revoked.revoked_at = when.ok() ? *when : absl::InfinitePast();
  Asn1EnumeratedPtr code(static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
  if (code != nullptr) {
    absl::StatusOr<RevocationReason> reason =
        RevocationReasonFromCode(static_cast<int>(ASN1_ENUMERATED_get(code.get())));
    if (reason.ok()) revoked.reason = *reason;
  }
  ClearOpenSslErrors();
  return revoked;
}

}  // namespace camfleet::provisioning
