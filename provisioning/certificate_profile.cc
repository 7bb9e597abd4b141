#include "provisioning/certificate_profile.h"

#include <cstdlib>

namespace camfleet::provisioning {
namespace {

constexpr absl::Duration Days(int64_t n) { return absl::Hours(24 * n); }

constexpr absl::Duration kRenewalGrace = Days(30);

// The table in certificate_profile.h and provisioning/README.md; change all three together.
constexpr CertificateProfile kAdmin{Role::kAdmin, Days(30), kRenewalGrace, true, false, false};
constexpr CertificateProfile kQuartermaster{
    Role::kQuartermaster, Days(30), kRenewalGrace, true, false, false};
constexpr CertificateProfile kAuditor{Role::kAuditor, Days(30), kRenewalGrace, true, false, false};
// A dock may also serve (a local status page, cameras reaching it over IP): serverAuth on
// request.
constexpr CertificateProfile kDock{Role::kDock, Days(90), kRenewalGrace, true, false, true};
constexpr CertificateProfile kCamera{Role::kCamera, Days(365), kRenewalGrace, true, false, false};
constexpr CertificateProfile kServer{Role::kServer, Days(365), absl::ZeroDuration(),
                                     false,         true,      false};

}  // namespace

const CertificateProfile& ProfileFor(Role role) {
  // A switch without default, so -Wswitch catches a role added without a profile.
  switch (role) {
    case Role::kAdmin:
      return kAdmin;
    case Role::kQuartermaster:
      return kQuartermaster;
    case Role::kAuditor:
      return kAuditor;
    case Role::kDock:
      return kDock;
    case Role::kCamera:
      return kCamera;
    case Role::kServer:
      return kServer;
  }
  // Only a value cast from outside the enumeration gets here; issuing anything for it could hand
  // out the wrong powers, so stop.
  std::abort();
}

absl::Time RenewalDueAt(absl::Time not_before, absl::Time not_after) {
  return not_before + (not_after - not_before) * 2 / 3;
}

}  // namespace camfleet::provisioning
