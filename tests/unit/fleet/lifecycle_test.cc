// Every (state, action) pair of the camera lifecycle, checked against a table written here
// independently of services/fleet/lifecycle.cc.

#include "services/fleet/lifecycle.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::fleet {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kSerial[] = "CAM-0042";

const std::vector<v1::CameraState>& AllStates() {
  static const auto* const kStates = new std::vector<v1::CameraState>{
      v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED,
      v1::CAMERA_STATE_LOST,       v1::CAMERA_STATE_FAULTY,    v1::CAMERA_STATE_RETIRED,
  };
  return *kStates;
}

const std::vector<CameraAction>& AllActions() {
  static const auto* const kActions = new std::vector<CameraAction>{
      CameraAction::kCommission,  CameraAction::kEnroll,        CameraAction::kIssue,
      CameraAction::kReturnGood,  CameraAction::kReturnDamaged, CameraAction::kReportLost,
      CameraAction::kReportFound, CameraAction::kReportFaulty,  CameraAction::kRepair,
      CameraAction::kRetire,
  };
  return *kActions;
}

// The lifecycle of DESIGN.md, spelled out pair by pair. Anything not listed is illegal.
std::optional<v1::CameraState> Expected(v1::CameraState from, CameraAction action) {
  using A = CameraAction;
  static const auto* const kLegal = new std::map<std::pair<v1::CameraState, A>, v1::CameraState>{
      {{v1::CAMERA_STATE_REGISTERED, A::kCommission}, v1::CAMERA_STATE_AVAILABLE},
      {{v1::CAMERA_STATE_REGISTERED, A::kEnroll}, v1::CAMERA_STATE_AVAILABLE},
      {{v1::CAMERA_STATE_REGISTERED, A::kRetire}, v1::CAMERA_STATE_RETIRED},

      {{v1::CAMERA_STATE_AVAILABLE, A::kIssue}, v1::CAMERA_STATE_ISSUED},
      {{v1::CAMERA_STATE_AVAILABLE, A::kReportLost}, v1::CAMERA_STATE_LOST},
      {{v1::CAMERA_STATE_AVAILABLE, A::kReportFaulty}, v1::CAMERA_STATE_FAULTY},
      {{v1::CAMERA_STATE_AVAILABLE, A::kRetire}, v1::CAMERA_STATE_RETIRED},

      {{v1::CAMERA_STATE_ISSUED, A::kReturnGood}, v1::CAMERA_STATE_AVAILABLE},
      {{v1::CAMERA_STATE_ISSUED, A::kReturnDamaged}, v1::CAMERA_STATE_FAULTY},
      {{v1::CAMERA_STATE_ISSUED, A::kReportLost}, v1::CAMERA_STATE_LOST},
      {{v1::CAMERA_STATE_ISSUED, A::kReportFaulty}, v1::CAMERA_STATE_FAULTY},
      {{v1::CAMERA_STATE_ISSUED, A::kRetire}, v1::CAMERA_STATE_RETIRED},

      {{v1::CAMERA_STATE_LOST, A::kReportFound}, v1::CAMERA_STATE_AVAILABLE},
      {{v1::CAMERA_STATE_LOST, A::kRetire}, v1::CAMERA_STATE_RETIRED},

      {{v1::CAMERA_STATE_FAULTY, A::kRepair}, v1::CAMERA_STATE_AVAILABLE},
      {{v1::CAMERA_STATE_FAULTY, A::kRetire}, v1::CAMERA_STATE_RETIRED},
      // RETIRED is final: nothing leaves it.
  };
  auto it = kLegal->find({from, action});
  if (it == kLegal->end()) return std::nullopt;
  return it->second;
}

std::string Label(v1::CameraState state) {
  switch (state) {
    case v1::CAMERA_STATE_REGISTERED:
      return "REGISTERED";
    case v1::CAMERA_STATE_AVAILABLE:
      return "AVAILABLE";
    case v1::CAMERA_STATE_ISSUED:
      return "ISSUED";
    case v1::CAMERA_STATE_LOST:
      return "LOST";
    case v1::CAMERA_STATE_FAULTY:
      return "FAULTY";
    case v1::CAMERA_STATE_RETIRED:
      return "RETIRED";
    default:
      return "UNSPECIFIED";
  }
}

std::string ActionLabel(CameraAction action) {
  switch (action) {
    case CameraAction::kCommission:
      return "Commission";
    case CameraAction::kEnroll:
      return "Enroll";
    case CameraAction::kIssue:
      return "Issue";
    case CameraAction::kReturnGood:
      return "ReturnGood";
    case CameraAction::kReturnDamaged:
      return "ReturnDamaged";
    case CameraAction::kReportLost:
      return "ReportLost";
    case CameraAction::kReportFound:
      return "ReportFound";
    case CameraAction::kReportFaulty:
      return "ReportFaulty";
    case CameraAction::kRepair:
      return "Repair";
    case CameraAction::kRetire:
      return "Retire";
  }
  return "Unknown";
}

using Pair = std::tuple<v1::CameraState, CameraAction>;

class LifecyclePairTest : public ::testing::TestWithParam<Pair> {};

TEST_P(LifecyclePairTest, NextStateMatchesTheLifecycleTable) {
  const auto [from, action] = GetParam();
  const absl::StatusOr<v1::CameraState> next = NextState(kSerial, from, action);
  if (const std::optional<v1::CameraState> want = Expected(from, action); want.has_value()) {
    ASSERT_THAT(next, IsOk());
    EXPECT_EQ(Label(*next), Label(*want));
  } else {
    // The message names the camera and its current state ("is LOST"), so the caller knows
    // which unit and why without another lookup.
    EXPECT_THAT(next, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr(absl::StrCat("'", kSerial, "'")),
                                     HasSubstr(absl::StrCat("is ", Label(from))))));
  }
}

INSTANTIATE_TEST_SUITE_P(AllStatesTimesAllActions, LifecyclePairTest,
                         ::testing::Combine(::testing::ValuesIn(AllStates()),
                                            ::testing::ValuesIn(AllActions())),
                         [](const ::testing::TestParamInfo<Pair>& param_info) {
                           return absl::StrCat(Label(std::get<0>(param_info.param)), "_",
                                               ActionLabel(std::get<1>(param_info.param)));
                         });

TEST(LifecycleTest, CrossProductCoversSixStatesAndTenActions) {
  // Guards the parameter lists above: a new state or action must be added to the table.
  EXPECT_EQ(AllStates().size(), 6u);
  EXPECT_EQ(AllActions().size(), 10u);
  EXPECT_EQ(static_cast<int>(AllStates().size()), v1::CameraState_MAX);
}

TEST(LifecycleTest, IllegalTransitionNamesTheStatesTheActionNeeds) {
  EXPECT_THAT(NextState(kSerial, v1::CAMERA_STATE_REGISTERED, CameraAction::kReportLost),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("AVAILABLE"), HasSubstr("ISSUED"))));
}

TEST(LifecycleTest, UnspecifiedStateIsRefusedForEveryAction) {
  for (CameraAction action : AllActions()) {
    EXPECT_THAT(NextState(kSerial, v1::CAMERA_STATE_UNSPECIFIED, action),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(kSerial)))
        << ActionLabel(action);
  }
}

TEST(LifecycleTest, StateLabelDropsTheEnumPrefix) {
  for (v1::CameraState state : AllStates()) {
    EXPECT_EQ(std::string(StateLabel(state)), Label(state));
  }
}

TEST(LifecycleTest, ActionNamesAreTheAuditVerbs) {
  EXPECT_EQ(ActionName(CameraAction::kCommission), "commission");
  EXPECT_EQ(ActionName(CameraAction::kEnroll), "enroll");
  EXPECT_EQ(ActionName(CameraAction::kIssue), "issue");
  EXPECT_EQ(ActionName(CameraAction::kReturnGood), "return");
  EXPECT_EQ(ActionName(CameraAction::kReturnDamaged), "return");
  EXPECT_EQ(ActionName(CameraAction::kReportLost), "lost");
  EXPECT_EQ(ActionName(CameraAction::kReportFound), "found");
  EXPECT_EQ(ActionName(CameraAction::kReportFaulty), "faulty");
  EXPECT_EQ(ActionName(CameraAction::kRepair), "repair");
  EXPECT_EQ(ActionName(CameraAction::kRetire), "retire");
}

}  // namespace
}  // namespace camfleet::fleet
