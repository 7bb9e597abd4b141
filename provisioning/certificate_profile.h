#pragma once
// What the CA puts in a certificate for each role: how long it lives, when its holder renews it,
// how long after expiry it may still be renewed, and what it may be used for.
//
//   role                            validity  renew after  grace after expiry
//   camera                          365 days  ~243 days    30 days
//   dock                             90 days    60 days    30 days
//   admin, quartermaster, auditor    30 days    20 days    30 days
//   server                          365 days  ~243 days    none (re-issued locally)
//
// Why: a post can be cut off for 30 days (DESIGN.md) and must come back without anyone touching
// it. A holder starts renewing at 2/3 of its validity, so every machine certificate still has
// at least 30 days left when renewal opens: an outage that begins just as renewal opens ends
// before expiry. The 30-day grace after expiry covers the worst case on top of that (an outage
// that began just before renewal opened, or a second outage soon after the first), without
// making certificates long-lived: a dock key is exposed for at most 90 + 30 days. Cameras live
// in lockers and on officers for months and renew only through a dock, so they get a year.
// Operators renew from their CLI every few weeks; a short life limits a leaked laptop key. The
// server's own certificate is re-issued by camfleetd from the CA it holds, so it needs no grace.
// Certificates start 5 minutes in the past to tolerate clock skew between fleet machines.
// Revocation (lost, retired, compromised) is by CRL, not by short lives.

#include "absl/time/time.h"
#include "provisioning/role.h"

namespace camfleet::provisioning {

// Subtracted from notBefore so a certificate is valid at once on a machine whose clock is late.
inline constexpr absl::Duration kClockSkewAllowance = absl::Minutes(5);

struct CertificateProfile {
  Role role = Role::kCamera;
  absl::Duration validity;
  // After notAfter, how long the expired certificate may still authenticate a renewal.
  absl::Duration renewal_grace;
  bool client_auth = false;
  bool server_auth = false;
  // Whether an issue request may add serverAuth (and DNS/IP names) to this role's certificate.
  bool server_auth_optional = false;
};

// The profile for `role`.
const CertificateProfile& ProfileFor(Role role);

// When a certificate's holder should start renewing it: after 2/3 of its validity.
absl::Time RenewalDueAt(absl::Time not_before, absl::Time not_after);

}  // namespace camfleet::provisioning
