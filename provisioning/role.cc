#include "provisioning/role.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace camfleet::provisioning {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kQuartermaster:
      return "quartermaster";
    case Role::kAuditor:
      return "auditor";
    case Role::kDock:
      return "dock";
    case Role::kCamera:
      return "camera";
    case Role::kServer:
      return "server";
  }
  return "unknown";  // Unreachable for a valid enumerator.
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : kAllRoles) {
    if (RoleName(role) == name) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", absl::CHexEscape(name),
                   "'; expected admin, quartermaster, auditor, dock, camera or server"));
}

bool IsOperator(Role role) {
  return role == Role::kAdmin || role == Role::kQuartermaster || role == Role::kAuditor;
}

}  // namespace camfleet::provisioning
