#pragma once
// Converting between ASN.1 times in certificates and CRLs and absl::Time. Internal to
// provisioning/.

#include <openssl/asn1.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace camfleet::provisioning {

// INVALID_ARGUMENT if `t` is missing or malformed.
absl::StatusOr<absl::Time> TimeFromAsn1(const ASN1_TIME* t);

// Sets `out` to `t`, truncated to the second; UTCTime before 2050 and GeneralizedTime from then
// on, as RFC 5280 requires. False if OpenSSL fails.
bool SetAsn1Time(ASN1_TIME* out, absl::Time t);

// A new ASN1_TIME for `t`, or nullptr.
ASN1_TIME* NewAsn1Time(absl::Time t);

// "2025-03-01T12:00:00Z", for messages.
std::string FormatTimeUtc(absl::Time t);

}  // namespace camfleet::provisioning
