#pragma once
// Camera states and return conditions as people type and read them: "issued" in, "ISSUED" out,
// the same names the server uses in its messages ("camera 'X' is LOST; ...").

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "camfleet/v1/fleet.pb.h"

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

}  // namespace camfleet::cli
