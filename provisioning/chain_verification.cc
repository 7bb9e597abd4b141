#include "provisioning/chain_verification.h"

#include <openssl/x509v3.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "provisioning/revocation.h"
#include "provisioning/x509_certificate.h"
#include "provisioning/x509_name.h"
#include "provisioning/x509_time.h"

namespace camfleet::provisioning {
namespace {

// A dock cut off for weeks cannot fetch a fresh CRL. Refusing every camera then would stop the
// post working, so the newest CRL it has still applies after its nextUpdate; a CRL from a clock
// that runs ahead is accepted for the same reason. Both are still signature-checked.
int AcceptStaleCrl(int ok, X509_STORE_CTX* ctx) {
  if (ok == 0) {
    const int err = X509_STORE_CTX_get_error(ctx);
    if (err == X509_V_ERR_CRL_HAS_EXPIRED || err == X509_V_ERR_CRL_NOT_YET_VALID) {
      X509_STORE_CTX_set_error(ctx, X509_V_OK);
      return 1;
    }
  }
  return ok;
}

std::string TimeText(const ASN1_TIME* t) {
  absl::StatusOr<absl::Time> parsed = TimeFromAsn1(t);
  return parsed.ok() ? FormatTimeUtc(*parsed) : "an unreadable time";
}

std::string Subject(X509* cert) {
  return absl::StrCat("certificate for '",
                      absl::CHexEscape(FirstCommonName(X509_get_subject_name(cert))), "'");
}

// The CRL among `crls` that `cert`'s issuer published, or null.
X509_CRL* CrlOfIssuer(const std::vector<X509_CRL*>* crls, X509* cert) {
  if (crls == nullptr) return nullptr;
  for (X509_CRL* crl : *crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) == 0) return crl;
  }
  return nullptr;
}

// " since <time> (<reason>)" from `crl`'s entry for `cert`; nullopt if it does not list it.
std::optional<std::string> RevocationDetails(X509_CRL* crl, X509* cert) {
  X509_REVOKED* entry = nullptr;
  if (crl == nullptr || X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(cert)) != 1 ||
      entry == nullptr) {
    ClearOpenSslErrors();
    return std::nullopt;
  }
  std::string message;
  absl::StrAppend(&message, " since ", TimeText(X509_REVOKED_get0_revocationDate(entry)));
  Asn1EnumeratedPtr code(static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
  if (code != nullptr) {
    absl::StatusOr<RevocationReason> reason =
        RevocationReasonFromCode(static_cast<int>(ASN1_ENUMERATED_get(code.get())));
    if (reason.ok()) absl::StrAppend(&message, " (", RevocationReasonName(*reason), ")");
  }
  ClearOpenSslErrors();
  return message;
}

std::string RevokedMessage(X509_CRL* crl, X509* cert) {
  std::string message = absl::StrCat(Subject(cert), " (serial ",
                                     SerialToHex(X509_get0_serialNumber(cert)), ") is revoked");
  if (std::optional<std::string> details = RevocationDetails(crl, cert); details.has_value()) {
    absl::StrAppend(&message, *details);
  }
  return message;
}

}  // namespace

absl::StatusOr<X509StorePtr> NewTrustStore(X509* anchor, X509_CRL* crl) {
  std::vector<X509_CRL*> crls;
  if (crl != nullptr) crls.push_back(crl);
  return NewTrustStore(std::vector<X509*>{anchor}, crls);
}

absl::StatusOr<X509StorePtr> NewTrustStore(const std::vector<X509*>& anchors,
                                           const std::vector<X509_CRL*>& crls) {
  X509StorePtr store(X509_STORE_new());
  if (store == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "setting up certificate verification");
  }
  for (X509* anchor : anchors) {
    if (X509_STORE_add_cert(store.get(), anchor) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "setting up certificate verification");
    }
  }
  for (X509_CRL* crl : crls) {
    if (X509_STORE_add_crl(store.get(), crl) != 1) {
      return OpenSslError(absl::StatusCode::kInternal, "setting up certificate verification");
    }
  }
  if (!crls.empty()) X509_STORE_set_verify_cb(store.get(), AcceptStaleCrl);
  return store;
}

absl::Status VerifyAgainstAnchor(const ChainCheck& check, X509* cert, absl::Time at) {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), check.store, cert, check.untrusted) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "setting up certificate verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(at));
  X509_CRL* leaf_crl = CrlOfIssuer(check.crls, cert);
  unsigned long flags = 0;  // NOLINT(google-runtime-int): OpenSSL's flag type.
  if (leaf_crl != nullptr) flags |= X509_V_FLAG_CRL_CHECK;
  if (check.partial_chain) flags |= X509_V_FLAG_PARTIAL_CHAIN;
  X509_STORE_CTX_set_flags(ctx.get(), flags);

  if (X509_verify_cert(ctx.get()) == 1) {
    // The issuing CAs between the leaf and the root: one the root revoked (on its CRL) makes
    // everything it issued untrustworthy.
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    const int length = chain == nullptr ? 0 : sk_X509_num(chain);
    for (int i = 1; i + 1 < length; ++i) {
      X509* issuing = sk_X509_value(chain, i);
      if (std::optional<std::string> details =
              RevocationDetails(CrlOfIssuer(check.crls, issuing), issuing);
          details.has_value()) {
        std::string message =
            absl::StrCat(Subject(cert), " is issued by '",
                         absl::CHexEscape(FirstCommonName(X509_get_subject_name(issuing))),
                         "', an issuing CA the fleet root revoked", *details);
        if (check.revoked_issuer != nullptr) {
          *check.revoked_issuer = std::move(message);
          return absl::OkStatus();
        }
        return absl::UnauthenticatedError(
            absl::StrCat(message, "; only certificates from a current issuing CA are trusted"));
      }
    }
    return absl::OkStatus();
  }
  ClearOpenSslErrors();

  const int err = X509_STORE_CTX_get_error(ctx.get());
  const bool at_anchor = X509_STORE_CTX_get_error_depth(ctx.get()) > 0;
  X509* failed = X509_STORE_CTX_get_current_cert(ctx.get());
  if (failed == nullptr) failed = cert;
  const std::string checked = absl::StrCat(" (checked at ", FormatTimeUtc(at), ")");
  const std::string who =
      at_anchor ? absl::StrCat("the certificate of ", check.anchor_name) : Subject(cert);
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::UnauthenticatedError(
          absl::StrCat(who, " expired at ", TimeText(X509_get0_notAfter(failed)), checked));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::UnauthenticatedError(absl::StrCat(
          who, " is not valid until ", TimeText(X509_get0_notBefore(failed)), checked));
    case X509_V_ERR_CERT_REVOKED:
      return absl::UnauthenticatedError(RevokedMessage(leaf_crl, cert));
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_AKID_SKID_MISMATCH:
    case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
      return absl::UnauthenticatedError(
          absl::StrCat(Subject(cert), " is not issued by ", check.anchor_name, " (its issuer is '",
                       absl::CHexEscape(FirstCommonName(X509_get_issuer_name(cert))), "')"));
    default:
      return absl::UnauthenticatedError(absl::StrCat(Subject(cert), " does not verify against ",
                                                     check.anchor_name, ": ",
                                                     X509_verify_cert_error_string(err)));
  }
}

}  // namespace camfleet::provisioning
