#include "agent/renewal_policy.h"

#include "provisioning/certificate_profile.h"

namespace camfleet::agent {

RenewalDecision DecideRenewal(const provisioning::CertificateInfo& cert, absl::Time now) {
  RenewalDecision d;
  d.due_at = provisioning::RenewalDueAt(cert.not_before, cert.not_after);
  d.grace_ends_at = cert.not_after + provisioning::ProfileFor(cert.role).renewal_grace;
  if (now < d.due_at) {
    d.state = RenewalState::kNotDue;
  } else if (now <= cert.not_after) {
    d.state = RenewalState::kDue;
  } else if (now <= d.grace_ends_at) {
    // The server's test is the same inclusive one (CertificateVerifier::VerifyForRenewal).
    d.state = RenewalState::kExpiredInGrace;
  } else {
    d.state = RenewalState::kExpiredPastGrace;
  }
  return d;
}

std::string RenewalStateName(RenewalState state) {
  switch (state) {
    case RenewalState::kNotDue:
      return "not due";
    case RenewalState::kDue:
      return "due";
    case RenewalState::kExpiredInGrace:
      return "expired, in grace";
    case RenewalState::kExpiredPastGrace:
      return "expired past grace";
  }
  return "unknown";
}

}  // namespace camfleet::agent
