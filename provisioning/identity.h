#pragma once
// Who a certificate speaks for: a role and a name within it, written into the certificate as the
// SAN URI camfleet://<role>/<identity> (camfleet://dock/post-7-dock-1,
// camfleet://camera/CAM-000123, camfleet://admin/alice). The subject CN repeats the identity.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "provisioning/role.h"

namespace camfleet::provisioning {

inline constexpr absl::string_view kIdentityUriScheme = "camfleet://";

// X.520 caps a common name at 64 characters, and the identity is the CN.
inline constexpr size_t kMaxIdentityLength = 64;

struct FleetIdentity {
  Role role = Role::kCamera;
  std::string identity;

  friend bool operator==(const FleetIdentity&, const FleetIdentity&) = default;
};

// An identity is 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit: a camera
// serial, a dock id, an operator's user name, the server's host name. The narrow alphabet keeps
// the SAN URI unambiguous (no '/', no '%', no "..") and makes identities safe in messages.
// INVALID_ARGUMENT naming the identity and the rule it breaks.
absl::Status ValidateIdentity(absl::string_view identity);

// camfleet://<role>/<identity>. The identity must be valid.
std::string IdentityUri(const FleetIdentity& identity);

// Parses a camfleet:// URI back into role and identity. INVALID_ARGUMENT if the scheme, the role
// or the identity is wrong, or there is anything after the identity.
absl::StatusOr<FleetIdentity> ParseIdentityUri(absl::string_view uri);

}  // namespace camfleet::provisioning
