#pragma once
// Camera states and return conditions as people type and read them: "issued" in, "ISSUED" out,
// the same names the server uses in its messages ("camera 'X' is LOST; ...").
// Roles and revocation reasons the same way, in lower case as the server writes them
// ("needs role admin"): "quartermaster", "key-compromise".

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "camfleet/v1/fleet.pb.h"
#include "camfleet/v1/provisioning.pb.h"

namespace camfleet::cli {

// "registered, available, issued, lost, faulty, retired": for help texts and errors.
std::string CameraStateChoices();

// Parses a state name, ignoring case, with or without the "CAMERA_STATE_" prefix.
// Errors: INVALID_ARGUMENT naming the allowed states.
absl::StatusOr<v1::CameraState> ParseCameraState(absl::string_view text);

// "ISSUED"; "" for UNSPECIFIED (shown as an empty cell); "UNKNOWN(7)" for a value this build
// does not know.
std::string CameraStateName(v1::CameraState state);

// "GOOD", "DAMAGED", "NOT_RETURNED"; "" for UNSPECIFIED (an open assignment).
std::string ReturnConditionName(v1::ReturnCondition condition);

// "admin, quartermaster, auditor": the roles an operator can have.
std::string OperatorRoleChoices();
// "admin, quartermaster, auditor, dock, camera": every role a certificate can carry.
std::string RoleChoices();

// Parses an operator role, ignoring case, with or without the "ROLE_" prefix.
// Errors: INVALID_ARGUMENT naming the operator roles.
absl::StatusOr<v1::Role> ParseOperatorRole(absl::string_view text);
// Parses any certificate role (operator roles, dock, camera) the same way.
// Errors: INVALID_ARGUMENT naming them.
absl::StatusOr<v1::Role> ParseRole(absl::string_view text);

// "quartermaster"; "" for UNSPECIFIED; "UNKNOWN(9)" for a value this build does not know.
std::string RoleName(v1::Role role);

// "key-compromise, affiliation-changed, superseded, cessation-of-operation,
// privilege-withdrawn".
std::string RevocationReasonChoices();

// Parses a revocation reason ignoring case, '-' and '_': "key-compromise", "KEY_COMPROMISE",
// "keyCompromise" (the RFC 5280 spelling) and "REVOCATION_REASON_KEY_COMPROMISE" all work.
// Errors: INVALID_ARGUMENT naming the reasons.
absl::StatusOr<v1::RevocationReason> ParseRevocationReason(absl::string_view text);

// "key-compromise"; "" for UNSPECIFIED; "UNKNOWN(9)" for a value this build does not know.
std::string RevocationReasonName(v1::RevocationReason reason);

}  // namespace camfleet::cli
