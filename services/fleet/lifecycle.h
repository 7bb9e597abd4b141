#pragma once
// The camera lifecycle of DESIGN.md as one table:
//
//   REGISTERED --commission/enroll--> AVAILABLE <--issue/return--> ISSUED
//   AVAILABLE, ISSUED --lost--> LOST --found--> AVAILABLE
//   AVAILABLE, ISSUED --faulty--> FAULTY --repair--> AVAILABLE
//   ISSUED --return damaged--> FAULTY
//   any but RETIRED --retire--> RETIRED (final)

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "camfleet/v1/fleet.pb.h"

namespace camfleet::fleet {

enum class CameraAction {
  kCommission,
  kEnroll,
  kIssue,
  kReturnGood,
  kReturnDamaged,
  kReportLost,
  kReportFound,
  kReportFaulty,
  kRepair,
  kRetire,
};

// Short verb used in messages and audit actions ("issue", "return", ...).
absl::string_view ActionName(CameraAction action);

// The state after `action` from `from`. Errors: FAILED_PRECONDITION naming the camera, its
// current state and the states the action needs.
absl::StatusOr<v1::CameraState> NextState(absl::string_view serial, v1::CameraState from,
                                          CameraAction action);

// "AVAILABLE" for CAMERA_STATE_AVAILABLE, etc.
absl::string_view StateLabel(v1::CameraState state);

}  // namespace camfleet::fleet
