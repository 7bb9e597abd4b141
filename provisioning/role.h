#pragma once
// The roles a fleet certificate can carry. A client's role is read from its certificate (the
// camfleet:// SAN URI, see identity.h), never from anything the client says about itself.

#include <array>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::provisioning {

enum class Role { kAdmin, kQuartermaster, kAuditor, kDock, kCamera, kServer };

inline constexpr std::array<Role, 6> kAllRoles = {
    Role::kAdmin, Role::kQuartermaster, Role::kAuditor, Role::kDock, Role::kCamera, Role::kServer};

// "admin", "quartermaster", "auditor", "dock", "camera", "server".
absl::string_view RoleName(Role role);

// The inverse of RoleName; exact, lower-case. INVALID_ARGUMENT naming the text if unknown.
absl::StatusOr<Role> ParseRole(absl::string_view name);

// A person (admin, quartermaster, auditor) rather than a machine.
bool IsOperator(Role role);

}  // namespace camfleet::provisioning
