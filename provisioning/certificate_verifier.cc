#include "provisioning/certificate_verifier.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/chain_verification.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/public_key.h"
#include "provisioning/x509_certificate.h"
#include "provisioning/x509_name.h"
#include "provisioning/x509_time.h"

namespace camfleet::provisioning {

struct CertificateVerifier::State {
  std::string ca_pem;
  std::vector<X509Ptr> anchors;
  std::vector<X509Ptr> intermediates;  // Issuing CAs: untrusted until they chain to an anchor.
  std::vector<X509CrlPtr> crls;        // The first is the primary one (CrlNumber).
  X509StorePtr store;
};

namespace {

constexpr absl::string_view kAnchorName = "this fleet CA";

struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
// Borrows its certificates.
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

absl::StatusOr<X509StackPtr> Untrusted(const std::vector<X509Ptr>& held,
                                       const std::vector<X509Ptr>& extra) {
  X509StackPtr stack(sk_X509_new_null());
  if (stack == nullptr) return OpenSslError(absl::StatusCode::kInternal, "building a chain");
  for (const auto* list : {&held, &extra}) {
    for (const X509Ptr& cert : *list) {
      if (sk_X509_push(stack.get(), cert.get()) <= 0) {
        return OpenSslError(absl::StatusCode::kInternal, "building a chain");
      }
    }
  }
  return stack;
}

absl::StatusOr<X509StorePtr> StoreFor(const std::vector<X509Ptr>& anchors,
                                      const std::vector<X509CrlPtr>& crls) {
  std::vector<X509*> anchor_list;
  for (const X509Ptr& a : anchors) anchor_list.push_back(a.get());
  std::vector<X509_CRL*> crl_list;
  for (const X509CrlPtr& c : crls) crl_list.push_back(c.get());
  return NewTrustStore(anchor_list, crl_list);
}

std::vector<X509_CRL*> CrlList(const std::vector<X509CrlPtr>& crls) {
  std::vector<X509_CRL*> out;
  for (const X509CrlPtr& c : crls) out.push_back(c.get());
  return out;
}

absl::StatusOr<X509Ptr> Dup(X509* cert) {
  X509Ptr copy(X509_dup(cert));
  if (copy == nullptr) return OpenSslError(absl::StatusCode::kInternal, "copying a certificate");
  return copy;
}

// Whether `ca` (an issuing CA) chains to one of `anchors`, whatever the time: a CRL it signed
// is then the fleet's.
bool ChainsToAnchor(X509_STORE* anchors_only, X509* ca, STACK_OF(X509) * untrusted) {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), anchors_only, ca, untrusted) != 1) {
    ClearOpenSslErrors();
    return false;
  }
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  ClearOpenSslErrors();
  return ok;
}

}  // namespace

absl::StatusOr<CertificateVerifier> CertificateVerifier::FromCaPem(absl::string_view ca_pem) {
  absl::StatusOr<PemObjects> objects = ReadPemObjects(ca_pem, "CA certificate");
  if (!objects.ok()) return objects.status();
  if (objects->certificates.empty()) {
    return absl::InvalidArgumentError("CA certificate is not a PEM certificate");
  }
  auto state = std::make_shared<State>();
  for (X509Ptr& cert : objects->certificates) {
    if (X509_check_ca(cert.get()) == 0) {
      return absl::InvalidArgumentError("CA certificate is not marked as a CA (basicConstraints)");
    }
    (IsSelfSigned(cert.get()) ? state->anchors : state->intermediates).push_back(std::move(cert));
  }
  if (state->anchors.empty()) {
    return absl::InvalidArgumentError(
        "CA certificates hold no self-signed root CA to trust (an issuing CA alone is not "
        "trusted)");
  }
  absl::StatusOr<X509StorePtr> store = StoreFor(state->anchors, {});
  if (!store.ok()) return store.status();
  state->ca_pem = std::string(ca_pem);
  state->store = *std::move(store);
  return CertificateVerifier(std::move(state));
}

absl::StatusOr<CertificateVerifier> CertificateVerifier::WithCrl(absl::string_view crl_pem) const {
  absl::StatusOr<PemObjects> objects = ReadPemObjects(crl_pem, "CRL");
  if (!objects.ok()) return objects.status();
  if (objects->crls.empty()) return absl::InvalidArgumentError("CRL is not a PEM CRL");
  auto state = std::make_shared<State>();
  state->ca_pem = state_->ca_pem;
  for (const X509Ptr& a : state_->anchors) {
    absl::StatusOr<X509Ptr> copy = Dup(a.get());
    if (!copy.ok()) return copy.status();
    state->anchors.push_back(*std::move(copy));
  }
  for (const X509Ptr& i : state_->intermediates) {
    absl::StatusOr<X509Ptr> copy = Dup(i.get());
    if (!copy.ok()) return copy.status();
    state->intermediates.push_back(*std::move(copy));
  }
  // Issuing CAs sent beside the CRLs: kept only if they chain to an anchor (never trusted
  // themselves; a self-signed certificate here is not an anchor).
  absl::StatusOr<X509StorePtr> anchors_only = StoreFor(state->anchors, {});
  if (!anchors_only.ok()) return anchors_only.status();
  std::vector<X509Ptr> offered;
  for (X509Ptr& cert : objects->certificates) {
    if (X509_check_ca(cert.get()) != 0 && !IsSelfSigned(cert.get())) {
      offered.push_back(std::move(cert));
    }
  }
  {
    absl::StatusOr<X509StackPtr> untrusted = Untrusted(state->intermediates, offered);
    if (!untrusted.ok()) return untrusted.status();
    for (X509Ptr& cert : offered) {
      if (ChainsToAnchor(anchors_only->get(), cert.get(), untrusted->get())) {
        state->intermediates.push_back(std::move(cert));
      }
    }
  }
  absl::StatusOr<X509StackPtr> untrusted = Untrusted(state->intermediates, {});
  if (!untrusted.ok()) return untrusted.status();
  for (X509CrlPtr& crl : objects->crls) {
    bool signed_here = false;
    for (const auto* list : {&state->anchors, &state->intermediates}) {
      for (const X509Ptr& ca : *list) {
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) != 0 ||
            X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())) != 1) {
          continue;
        }
        signed_here = list == &state->anchors ||
                      ChainsToAnchor(anchors_only->get(), ca.get(), untrusted->get());
        if (signed_here) break;
      }
      if (signed_here) break;
    }
    ClearOpenSslErrors();
    if (!signed_here) return absl::InvalidArgumentError("CRL is not signed by this fleet CA");
    state->crls.push_back(std::move(crl));
  }
  absl::StatusOr<X509StorePtr> store = StoreFor(state->anchors, state->crls);
  if (!store.ok()) return store.status();
  state->store = *std::move(store);
  return CertificateVerifier(std::move(state));
}

absl::StatusOr<CertificateInfo> CertificateVerifier::VerifyChain(absl::string_view cert_pem,
                                                                 absl::Time at) const {
  return VerifyChainAt(cert_pem, at, nullptr);
}

absl::StatusOr<CertificateInfo> CertificateVerifier::VerifyChainAt(
    absl::string_view cert_pem, absl::Time at, std::string* revoked_issuer) const {
  absl::StatusOr<PemObjects> objects = ReadPemObjects(cert_pem, "certificate");
  if (!objects.ok() || objects->certificates.empty()) {
    absl::Status why = ReadPemCertificate(cert_pem, "certificate").status();
    return why.ok() ? absl::InvalidArgumentError("certificate is not a PEM certificate") : why;
  }
  X509* cert = objects->certificates.front().get();
  std::vector<X509Ptr> extra;
  for (size_t i = 1; i < objects->certificates.size(); ++i) {
    extra.push_back(std::move(objects->certificates[i]));
  }
  absl::StatusOr<X509StackPtr> untrusted = Untrusted(state_->intermediates, extra);
  if (!untrusted.ok()) return untrusted.status();
  const std::vector<X509_CRL*> crls = CrlList(state_->crls);
  const ChainCheck check{state_->store.get(), &crls,         kAnchorName, false,
                         untrusted->get(),    revoked_issuer};
  if (absl::Status trusted = VerifyAgainstAnchor(check, cert, at); !trusted.ok()) {
    return trusted;
  }
  return FleetCertificateInfo(cert);
}

absl::StatusOr<CertificateInfo> CertificateVerifier::VerifyForRenewal(absl::string_view cert_pem,
                                                                      absl::Time now) const {
  return VerifyWithGrace(cert_pem, now, nullptr);
}

absl::StatusOr<RevokedIssuerCertificate> CertificateVerifier::VerifyForRecovery(
    absl::string_view cert_pem, absl::Time now) const {
  std::string revoked_issuer;
  absl::StatusOr<CertificateInfo> info = VerifyWithGrace(cert_pem, now, &revoked_issuer);
  if (!info.ok()) return info.status();
  if (revoked_issuer.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate for '", absl::CHexEscape(info->identity),
                     "' is not from an issuing CA the fleet root revoked; it needs no recovery"));
  }
  return RevokedIssuerCertificate{*std::move(info), std::move(revoked_issuer)};
}

absl::StatusOr<CertificateInfo> CertificateVerifier::VerifyWithGrace(
    absl::string_view cert_pem, absl::Time now, std::string* revoked_issuer) const {
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
  absl::StatusOr<CertificateInfo> trusted = VerifyChainAt(cert_pem, check_at, revoked_issuer);
  if (!trusted.ok()) return trusted.status();
  return info;
}

absl::StatusOr<CertificateVerifier> CertificateVerifier::SameRoot(
    absl::string_view offered_ca_pem) const {
  absl::StatusOr<CertificateVerifier> offered = FromCaPem(offered_ca_pem);
  if (!offered.ok()) return offered.status();
  if (offered->AnchorKeyFingerprints() != AnchorKeyFingerprints()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the CA certificates offered have another root than '",
        absl::CHexEscape(FirstCommonName(X509_get_subject_name(state_->anchors.front().get()))),
        "', the one trusted here; the fleet root never changes"));
  }
  return offered;
}

std::vector<std::string> CertificateVerifier::AnchorKeyFingerprints() const {
  std::vector<std::string> out;
  for (const X509Ptr& anchor : state_->anchors) {
    absl::StatusOr<std::string> fingerprint = PublicKeyFingerprint(X509_get0_pubkey(anchor.get()));
    if (fingerprint.ok()) out.push_back(*std::move(fingerprint));
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::string& CertificateVerifier::CaPem() const { return state_->ca_pem; }

}  // namespace camfleet::provisioning

namespace camfleet::provisioning {

std::optional<uint64_t> CertificateVerifier::CrlNumber() const {
  if (state_->crls.empty()) return std::nullopt;
  Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(state_->crls.front().get(), NID_crl_number, nullptr, nullptr)));
  uint64_t value = 0;
  if (number == nullptr || ASN1_INTEGER_get_uint64(&value, number.get()) != 1) {
    ClearOpenSslErrors();
    return std::nullopt;
  }
  return value;
}

std::optional<absl::Time> CertificateVerifier::CrlNextUpdate() const {
  if (state_->crls.empty()) return std::nullopt;
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(state_->crls.front().get());
  if (next == nullptr) return std::nullopt;
  absl::StatusOr<absl::Time> t = TimeFromAsn1(next);
  if (!t.ok()) return std::nullopt;
  return *t;
}

namespace {

// `crl`'s entry for `cert`, or nullopt (also for a null `crl`).
std::optional<RevokedCertificate> EntryFor(X509_CRL* crl, X509* cert) {
  X509_REVOKED* entry = nullptr;
  if (crl == nullptr || X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(cert)) != 1 ||
      entry == nullptr) {
    ClearOpenSslErrors();
    return std::nullopt;
  }
  RevokedCertificate revoked;
  revoked.serial_hex = SerialToHex(X509_get0_serialNumber(cert));
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

}  // namespace

absl::StatusOr<std::optional<RevokedCertificate>> CertificateVerifier::FindRevocation(
    absl::string_view cert_pem) const {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  X509_CRL* crl = nullptr;
  for (const X509CrlPtr& candidate : state_->crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(candidate.get()), X509_get_issuer_name(cert->get())) ==
        0) {
      crl = candidate.get();
      break;
    }
  }
  return EntryFor(crl, cert->get());
}

absl::StatusOr<std::optional<RevokedCertificate>> CertificateVerifier::FindRevocationInFirstCrl(
    absl::string_view cert_pem) const {
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(cert_pem, "certificate");
  if (!cert.ok()) return cert.status();
  return EntryFor(state_->crls.empty() ? nullptr : state_->crls.front().get(), cert->get());
}

}  // namespace camfleet::provisioning
