#pragma once
// When the agent renews a certificate (its own or a camera's). The numbers are not chosen here:
// they come from provisioning/certificate_profile.h, the table the CA issues by and the server
// checks renewals against, so agent and server cannot drift apart.
//
//   not_before ........ RenewalDueAt ........ not_after ........ not_after + grace
//        |   kNotDue        |      kDue           |   kExpiredInGrace  |   kExpiredPastGrace

#include <string>

#include "absl/time/time.h"
#include "provisioning/certificate.h"

namespace camfleet::agent {

enum class RenewalState {
  kNotDue,            // keep it
  kDue,               // 2/3 of its validity has passed: renew now
  kExpiredInGrace,    // expired, but the server still accepts it for a renewal: renew now
  kExpiredPastGrace,  // the server refuses to renew it; a camera must enroll afresh, a dock
                      // needs a new enrollment token
};

struct RenewalDecision {
  RenewalState state = RenewalState::kNotDue;
  // When renewal opens (kNotDue) or when the grace ends (the other states).
  absl::Time due_at;
  absl::Time grace_ends_at;
};

// Where `cert` stands at `now`, by its role's profile.
RenewalDecision DecideRenewal(const provisioning::CertificateInfo& cert, absl::Time now);

// True for kDue and kExpiredInGrace: the states in which a renewal is both needed and allowed.
inline bool ShouldRenew(const RenewalDecision& d) {
  return d.state == RenewalState::kDue || d.state == RenewalState::kExpiredInGrace;
}

// "not due", "due", "expired, in grace", "expired past grace".
std::string RenewalStateName(RenewalState state);

}  // namespace camfleet::agent
