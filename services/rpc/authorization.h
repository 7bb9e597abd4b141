#pragma once
// Which roles may call which method: one table for the whole API (authorization.cc). A method
// missing from the table is refused, so a new RPC cannot go out unguarded; a test checks that
// every method of every camfleet service has a rule.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "provisioning/role.h"

namespace camfleet::rpc {

struct MethodRule {
  std::string method;  // "camfleet.v1.FleetService/IssueCamera"
  std::vector<provisioning::Role> roles;
  // The caller needs no client certificate (EnrollDock: the one-time token is the credential).
  bool without_certificate = false;
  // An expired certificate is still accepted within its role's renewal grace (renewals only).
  bool renewal = false;
};

// The rule for `method`, or nullptr when there is none.
const MethodRule* FindRule(absl::string_view method);
const std::vector<MethodRule>& AllRules();

// OK if `role` may call `rule.method`; otherwise PERMISSION_DENIED naming the roles needed and
// the caller's, e.g. "CreateSite needs role admin; 'alice' has role quartermaster".
absl::Status Authorize(const MethodRule& rule, provisioning::Role role, absl::string_view identity);

}  // namespace camfleet::rpc
