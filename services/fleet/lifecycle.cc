#include "services/fleet/lifecycle.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::fleet {
namespace {

using v1::CameraState;

struct Rule {
  std::vector<CameraState> from;
  CameraState to;
};

Rule RuleFor(CameraAction action) {
  switch (action) {
    case CameraAction::kCommission:
    case CameraAction::kEnroll:
      return {{v1::CAMERA_STATE_REGISTERED}, v1::CAMERA_STATE_AVAILABLE};
    case CameraAction::kIssue:
      return {{v1::CAMERA_STATE_AVAILABLE}, v1::CAMERA_STATE_ISSUED};
    case CameraAction::kReturnGood:
      return {{v1::CAMERA_STATE_ISSUED}, v1::CAMERA_STATE_AVAILABLE};
    case CameraAction::kReturnDamaged:
      return {{v1::CAMERA_STATE_ISSUED}, v1::CAMERA_STATE_FAULTY};
    case CameraAction::kReportLost:
      return {{v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED}, v1::CAMERA_STATE_LOST};
    case CameraAction::kReportFound:
      return {{v1::CAMERA_STATE_LOST}, v1::CAMERA_STATE_AVAILABLE};
    case CameraAction::kReportFaulty:
      return {{v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED}, v1::CAMERA_STATE_FAULTY};
    case CameraAction::kRepair:
      return {{v1::CAMERA_STATE_FAULTY}, v1::CAMERA_STATE_AVAILABLE};
    case CameraAction::kRetire:
      return {{v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED,
               v1::CAMERA_STATE_LOST, v1::CAMERA_STATE_FAULTY},
              v1::CAMERA_STATE_RETIRED};
  }
  return {{}, v1::CAMERA_STATE_UNSPECIFIED};
}

}  // namespace

absl::string_view ActionName(CameraAction action) {
  switch (action) {
    case CameraAction::kCommission: return "commission";
    case CameraAction::kEnroll: return "enroll";
    case CameraAction::kIssue: return "issue";
    case CameraAction::kReturnGood: return "return";
    case CameraAction::kReturnDamaged: return "return";
    case CameraAction::kReportLost: return "lost";
    case CameraAction::kReportFound: return "found";
    case CameraAction::kReportFaulty: return "faulty";
    case CameraAction::kRepair: return "repair";
    case CameraAction::kRetire: return "retire";
  }
  return "unknown";
}

absl::string_view StateLabel(v1::CameraState state) { return storage::StateName(state); }

absl::StatusOr<v1::CameraState> NextState(absl::string_view serial, v1::CameraState from,
                                          CameraAction action) {
  Rule rule = RuleFor(action);
  for (CameraState s : rule.from) {
    if (s == from) return rule.to;
  }
  if (from == v1::CAMERA_STATE_RETIRED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "camera '", serial, "' is RETIRED; a retired camera cannot ", ActionName(action)));
  }
  std::vector<std::string> needed;
  for (CameraState s : rule.from) needed.emplace_back(StateLabel(s));
  return absl::FailedPreconditionError(absl::StrCat(
      "camera '", serial, "' is ", StateLabel(from), "; ", ActionName(action), " needs ",
      absl::StrJoin(needed, " or ")));
}

}  // namespace camfleet::fleet
