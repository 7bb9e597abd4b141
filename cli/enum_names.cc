#include "cli/enum_names.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace camfleet::cli {
namespace {

constexpr char kStatePrefix[] = "CAMERA_STATE_";
constexpr char kConditionPrefix[] = "RETURN_CONDITION_";

// Every state a filter may name, in lifecycle order.
constexpr std::array<v1::CameraState, 6> kStates = {
    v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED,
    v1::CAMERA_STATE_LOST,       v1::CAMERA_STATE_FAULTY,    v1::CAMERA_STATE_RETIRED};

constexpr char kRolePrefix[] = "ROLE_";
constexpr char kReasonPrefix[] = "REVOCATION_REASON_";

constexpr std::array<v1::Role, 3> kOperatorRoles = {v1::ROLE_ADMIN, v1::ROLE_QUARTERMASTER,
                                                    v1::ROLE_AUDITOR};
constexpr std::array<v1::Role, 5> kRoles = {v1::ROLE_ADMIN, v1::ROLE_QUARTERMASTER,
                                            v1::ROLE_AUDITOR, v1::ROLE_DOCK, v1::ROLE_CAMERA};
constexpr std::array<v1::RevocationReason, 5> kReasons = {
    v1::REVOCATION_REASON_KEY_COMPROMISE, v1::REVOCATION_REASON_AFFILIATION_CHANGED,
    v1::REVOCATION_REASON_SUPERSEDED, v1::REVOCATION_REASON_CESSATION_OF_OPERATION,
    v1::REVOCATION_REASON_PRIVILEGE_WITHDRAWN};

std::string WithoutPrefix(const std::string& name, absl::string_view prefix) {
  return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
}

// Lower case without '-', '_' and a leading `prefix`, so every spelling of a name compares
// equal: "key-compromise", "KEY_COMPROMISE", "keyCompromise".
std::string Folded(absl::string_view text, absl::string_view prefix) {
  std::string upper = absl::AsciiStrToUpper(text);
  std::string folded;
  for (char c : WithoutPrefix(upper, prefix)) {
    if (c != '-' && c != '_') folded.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return folded;
}

template <size_t N>
absl::StatusOr<v1::Role> ParseRoleAmong(absl::string_view text,
                                        const std::array<v1::Role, N>& roles,
                                        const std::string& choices) {
  std::string folded = Folded(text, kRolePrefix);
  for (v1::Role r : roles) {
    if (!folded.empty() && folded == Folded(RoleName(r), "")) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", text, "'; use one of: ", choices));
}

}  // namespace

std::string CameraStateChoices() {
  std::vector<std::string> names;
  names.reserve(kStates.size());
  for (v1::CameraState s : kStates) names.push_back(absl::AsciiStrToLower(CameraStateName(s)));
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<v1::CameraState> ParseCameraState(absl::string_view text) {
  std::string upper = absl::AsciiStrToUpper(text);
  for (v1::CameraState s : kStates) {
    if (upper == CameraStateName(s) || upper == v1::CameraState_Name(s)) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown camera state '", text, "'; use one of: ", CameraStateChoices()));
}

std::string CameraStateName(v1::CameraState state) {
  if (state == v1::CAMERA_STATE_UNSPECIFIED) return "";
  // A newer server may send a state this build does not know; show it rather than hide it.
  if (!v1::CameraState_IsValid(state)) return absl::StrCat("UNKNOWN(", state, ")");
  return WithoutPrefix(v1::CameraState_Name(state), kStatePrefix);
}

std::string OperatorRoleChoices() {
  std::vector<std::string> names;
  for (v1::Role r : kOperatorRoles) names.push_back(RoleName(r));
  return absl::StrJoin(names, ", ");
}

std::string RoleChoices() {
  std::vector<std::string> names;
  for (v1::Role r : kRoles) names.push_back(RoleName(r));
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<v1::Role> ParseOperatorRole(absl::string_view text) {
  return ParseRoleAmong(text, kOperatorRoles, OperatorRoleChoices());
}

absl::StatusOr<v1::Role> ParseRole(absl::string_view text) {
  return ParseRoleAmong(text, kRoles, RoleChoices());
}

std::string RoleName(v1::Role role) {
  if (role == v1::ROLE_UNSPECIFIED) return "";
  if (!v1::Role_IsValid(role)) return absl::StrCat("UNKNOWN(", role, ")");
  return absl::AsciiStrToLower(WithoutPrefix(v1::Role_Name(role), kRolePrefix));
}

std::string RevocationReasonChoices() {
  std::vector<std::string> names;
  for (v1::RevocationReason r : kReasons) names.push_back(RevocationReasonName(r));
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<v1::RevocationReason> ParseRevocationReason(absl::string_view text) {
  std::string folded = Folded(text, kReasonPrefix);
  for (v1::RevocationReason r : kReasons) {
    if (!folded.empty() && folded == Folded(RevocationReasonName(r), "")) return r;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown revocation reason '", text,
                                                 "'; use one of: ", RevocationReasonChoices()));
}

std::string RevocationReasonName(v1::RevocationReason reason) {
  if (reason == v1::REVOCATION_REASON_UNSPECIFIED) return "";
  if (!v1::RevocationReason_IsValid(reason)) return absl::StrCat("UNKNOWN(", reason, ")");
  std::string name =
      absl::AsciiStrToLower(WithoutPrefix(v1::RevocationReason_Name(reason), kReasonPrefix));
  for (char& c : name) {
    if (c == '_') c = '-';
  }
  return name;
}

std::string ReturnConditionName(v1::ReturnCondition condition) {
  if (condition == v1::RETURN_CONDITION_UNSPECIFIED) return "";
  if (!v1::ReturnCondition_IsValid(condition)) return absl::StrCat("UNKNOWN(", condition, ")");
  return WithoutPrefix(v1::ReturnCondition_Name(condition), kConditionPrefix);
}

}  // namespace camfleet::cli
