#include "provisioning/x509_time.h"

#include <ctime>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"

namespace camfleet::provisioning {

absl::StatusOr<absl::Time> TimeFromAsn1(const ASN1_TIME* t) {
  struct tm parts {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &parts) != 1) {
    return absl::InvalidArgumentError("malformed time");
  }
  return absl::FromCivil(absl::CivilSecond(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                                           parts.tm_hour, parts.tm_min, parts.tm_sec),
                         absl::UTCTimeZone());
}

bool SetAsn1Time(ASN1_TIME* out, absl::Time t) {
  return ASN1_TIME_set(out, absl::ToTimeT(t)) != nullptr;
}

ASN1_TIME* NewAsn1Time(absl::Time t) { return ASN1_TIME_set(nullptr, absl::ToTimeT(t)); }

std::string FormatTimeUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace camfleet::provisioning
