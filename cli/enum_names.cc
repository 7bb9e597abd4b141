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

std::string WithoutPrefix(const std::string& name, absl::string_view prefix) {
  return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
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

std::string ReturnConditionName(v1::ReturnCondition condition) {
  if (condition == v1::RETURN_CONDITION_UNSPECIFIED) return "";
  if (!v1::ReturnCondition_IsValid(condition)) return absl::StrCat("UNKNOWN(", condition, ")");
  return WithoutPrefix(v1::ReturnCondition_Name(condition), kConditionPrefix);
}

}  // namespace camfleet::cli
