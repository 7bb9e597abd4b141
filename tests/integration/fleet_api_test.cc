// The fleet API over a real socket against the real server wiring and a real SQLite file:
// a quartermaster's day, refused lifecycle transitions, refused input, and a restart.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/fleet_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// 08:00 UTC on a working day; the server's clock starts here and moves only when told.
absl::Time DayStart() {
  return absl::FromCivil(absl::CivilSecond(2025, 3, 3, 8, 0, 0), absl::UTCTimeZone());
}

std::string Cam(int n) { return absl::StrFormat("CAM-%04d", n); }
std::string Badge(int n) { return absl::StrFormat("B-%03d", n); }

// Cameras 1-30 are delivered to POST-1, 31-50 to POST-2, 51-77 to POST-3; even-numbered ones
// are another model, with a hardware revision that holds a comma, so the manifest has to quote
// it.
constexpr int kManifestCameras = 77;
std::string SiteOfCam(int n) { return n <= 30 ? "POST-1" : n <= 50 ? "POST-2" : "POST-3"; }
std::string ModelOfCam(int n) { return n % 2 == 0 ? "VISTA-HD" : "AXON-4"; }
std::string RevisionOfCam(int n) { return n % 2 == 0 ? "R2, 1080p" : "R1"; }

std::vector<std::string> Serials(const std::vector<v1::Camera>& cameras) {
  std::vector<std::string> out;
  for (const v1::Camera& c : cameras) out.push_back(c.serial());
  return out;
}
std::vector<std::string> CamRange(int first, int last) {
  std::vector<std::string> out;
  for (int n = first; n <= last; ++n) out.push_back(Cam(n));
  return out;
}

struct ExpectedEvent {
  std::string actor;
  std::string action;
  std::string object_id;
  bool operator==(const ExpectedEvent&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const ExpectedEvent& e) {
    return os << "{" << e.actor << " " << e.action << " " << e.object_id << "}";
  }
};

// ------------------------------------------------------------------ a quartermaster's day
//
// Sites HQ > NORTH > POST-1, POST-2 and HQ > SOUTH > POST-3; twelve holders; a manifest of 77
// cameras; 25 commissioned; thirteen issues, three returns (one damaged), lost, found, faulty,
// repair and retire. Three operators, each naming itself in the metadata header.
class QuartermasterDayTest : public ::testing::Test {
 protected:
  QuartermasterDayTest() : clock_(DayStart()) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start({.clock = &clock_});
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    alice_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    bob_ = std::make_unique<FleetClient>(*server_, "qm.bob");
    carol_ = std::make_unique<FleetClient>(*server_, "sgt.carol");
    RunTheDay();
  }

  // Asserts a write succeeded and records the audit event it must have made.
  template <typename T>
  void Done(const FleetClient& who, const absl::StatusOr<T>& result, const std::string& action,
            const std::string& object) {
    ASSERT_THAT(result, IsOk()) << action << " " << object;
    expected_events_.push_back({who.operator_name(), action, object});
  }

  void RunTheDay() {
    FleetClient& alice = *alice_;
    FleetClient& bob = *bob_;
    FleetClient& carol = *carol_;
    for (auto [code, parent] :
         std::vector<std::pair<std::string, std::string>>{{"HQ", ""},
                                                          {"NORTH", "HQ"},
                                                          {"SOUTH", "HQ"},
                                                          {"POST-1", "NORTH"},
                                                          {"POST-2", "NORTH"},
                                                          {"POST-3", "SOUTH"}}) {
      ASSERT_NO_FATAL_FAILURE(Done(alice, alice.CreateSite(code, parent), "site.create", code));
    }
    for (int n = 1; n <= 12; ++n) {
      const std::string home = n <= 6 ? "POST-1" : n <= 10 ? "POST-2" : "POST-3";
      ASSERT_NO_FATAL_FAILURE(
          Done(alice, alice.CreateHolder(Badge(n), home), "holder.create", Badge(n)));
    }

    std::string csv = "serial,model,hardware_revision,site\n";
    for (int n = 1; n <= kManifestCameras; ++n) {
      absl::StrAppend(&csv, Cam(n), ",", ModelOfCam(n), ",\"", RevisionOfCam(n), "\",",
                      SiteOfCam(n), "\n");
    }
    absl::StatusOr<v1::ImportManifestResponse> imported = alice.Import(csv);
    ASSERT_THAT(imported, IsOk());
    ASSERT_THAT(imported->errors(), IsEmpty());
    ASSERT_EQ(imported->rows(), kManifestCameras);
    ASSERT_EQ(imported->imported(), kManifestCameras);
    for (int n = 1; n <= kManifestCameras; ++n) {
      expected_events_.push_back({"qm.alice", "camera.register", Cam(n)});
    }

    for (int n : {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                  14, 15, 16, 17, 18, 19, 20, 31, 32, 33, 34, 35}) {
      ASSERT_NO_FATAL_FAILURE(Done(alice, alice.Commission(Cam(n)), "camera.commission", Cam(n)));
    }

    const absl::Time t0 = clock_.Now();
    for (int n = 1; n <= 10; ++n) {
      const absl::Time due = t0 + (n == 10 ? absl::Hours(2) : absl::Hours(8));
      ASSERT_NO_FATAL_FAILURE(
          Done(alice, alice.Issue(Cam(n), Badge(n), due), "camera.issue", Cam(n)));
    }
    ASSERT_NO_FATAL_FAILURE(
        Done(alice, alice.Issue(Cam(11), Badge(1), t0 + absl::Hours(8)), "camera.issue", Cam(11)));
    ASSERT_NO_FATAL_FAILURE(
        Done(alice, alice.Issue(Cam(31), Badge(11), t0 + absl::Hours(1)), "camera.issue", Cam(31)));

    ASSERT_NO_FATAL_FAILURE(Done(bob, bob.Return(Cam(3)), "camera.return", Cam(3)));
    ASSERT_NO_FATAL_FAILURE(Done(bob, bob.Return(Cam(4)), "camera.return", Cam(4)));
    ASSERT_NO_FATAL_FAILURE(
        Done(bob, bob.Return(Cam(5), v1::RETURN_CONDITION_DAMAGED), "camera.return", Cam(5)));
    ASSERT_NO_FATAL_FAILURE(
        Done(alice, alice.Issue(Cam(3), Badge(12), t0 + absl::Hours(8)), "camera.issue", Cam(3)));

    ASSERT_NO_FATAL_FAILURE(Done(carol, carol.Lost(Cam(6)), "camera.lost", Cam(6)));
    ASSERT_NO_FATAL_FAILURE(Done(carol, carol.Lost(Cam(7)), "camera.lost", Cam(7)));
    ASSERT_NO_FATAL_FAILURE(Done(carol, carol.Found(Cam(6)), "camera.found", Cam(6)));
    ASSERT_NO_FATAL_FAILURE(Done(carol, carol.Faulty(Cam(8)), "camera.faulty", Cam(8)));
    ASSERT_NO_FATAL_FAILURE(Done(carol, carol.Faulty(Cam(12)), "camera.faulty", Cam(12)));
    ASSERT_NO_FATAL_FAILURE(Done(bob, bob.Repair(Cam(5)), "camera.repair", Cam(5)));
    ASSERT_NO_FATAL_FAILURE(Done(bob, bob.Retire(Cam(8)), "camera.retire", Cam(8)));
    ASSERT_NO_FATAL_FAILURE(Done(bob, bob.Retire(Cam(77)), "camera.retire", Cam(77)));
  }

  absl::StatusOr<std::vector<std::string>> SerialsWhere(v1::ListCamerasRequest filter) {
    absl::StatusOr<std::vector<v1::Camera>> cameras = alice_->AllCameras(std::move(filter));
    if (!cameras.ok()) return cameras.status();
    return Serials(*cameras);
  }

  absl::StatusOr<std::vector<std::string>> OverdueSerials(const std::string& site,
                                                          int page_size = 0, int* pages = nullptr) {
    v1::ListOverdueAssignmentsRequest req;
    req.set_site_code(site);
    req.set_page_size(page_size);
    std::vector<std::string> out;
    int read = 0;
    while (true) {
      absl::StatusOr<v1::ListOverdueAssignmentsResponse> page =
          alice_->Fleet(&v1::FleetService::Stub::ListOverdueAssignments, req);
      if (!page.ok()) return page.status();
      ++read;
      for (const v1::Assignment& a : page->assignments()) out.push_back(a.camera_serial());
      if (page->next_page_token().empty()) break;
      req.set_page_token(page->next_page_token());
    }
    if (pages != nullptr) *pages = read;
    return out;
  }

  common::FakeClock clock_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> alice_;
  std::unique_ptr<FleetClient> bob_;
  std::unique_ptr<FleetClient> carol_;
  std::vector<ExpectedEvent> expected_events_;
};

TEST_F(QuartermasterDayTest, ManifestImportRegistersEveryRowAsGiven) {
  absl::StatusOr<v1::GetCameraResponse> cam = alice_->GetCamera(Cam(42));
  ASSERT_THAT(cam, IsOk());
  EXPECT_EQ(cam->camera().model(), "VISTA-HD");
  EXPECT_EQ(cam->camera().hardware_revision(), "R2, 1080p");
  EXPECT_EQ(cam->camera().site_code(), "POST-2");
  EXPECT_EQ(cam->camera().state(), v1::CAMERA_STATE_REGISTERED);

  v1::ListCamerasRequest all;
  EXPECT_THAT(SerialsWhere(all), IsOkAndHolds(ElementsAreArray(CamRange(1, kManifestCameras))));
}

TEST_F(QuartermasterDayTest, ListCamerasFiltersByState) {
  v1::ListCamerasRequest req;
  req.set_state(v1::CAMERA_STATE_ISSUED);
  EXPECT_THAT(SerialsWhere(req),
              IsOkAndHolds(ElementsAre(Cam(1), Cam(2), Cam(3), Cam(9), Cam(10), Cam(11), Cam(31))));
  req.set_state(v1::CAMERA_STATE_AVAILABLE);
  std::vector<std::string> available = {Cam(4), Cam(5), Cam(6)};
  for (const std::string& s : CamRange(13, 20)) available.push_back(s);
  for (const std::string& s : CamRange(32, 35)) available.push_back(s);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAreArray(available)));
  req.set_state(v1::CAMERA_STATE_LOST);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(7))));
  req.set_state(v1::CAMERA_STATE_FAULTY);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(12))));
  req.set_state(v1::CAMERA_STATE_RETIRED);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(8), Cam(77))));
  req.set_state(v1::CAMERA_STATE_REGISTERED);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(SizeIs(51)));
}

TEST_F(QuartermasterDayTest, ListCamerasFiltersBySiteSubtree) {
  v1::ListCamerasRequest req;
  req.set_site_code("NORTH");
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAreArray(CamRange(1, 50))));
  req.set_site_code("SOUTH");
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAreArray(CamRange(51, 77))));
  req.set_site_code("POST-2");
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAreArray(CamRange(31, 50))));
  req.set_site_code("HQ");
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(SizeIs(kManifestCameras)));
  req.set_site_code("POST-2");
  req.set_state(v1::CAMERA_STATE_AVAILABLE);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAreArray(CamRange(32, 35))));
}

TEST_F(QuartermasterDayTest, ListCamerasFiltersByModel) {
  v1::ListCamerasRequest req;
  req.set_model("VISTA-HD");
  std::vector<std::string> even;
  for (int n = 2; n <= kManifestCameras; n += 2) even.push_back(Cam(n));
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAreArray(even)));
  req.set_model("NO-SUCH-MODEL");
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(IsEmpty()));
}

TEST_F(QuartermasterDayTest, ListCamerasFiltersByHolderOfOpenAssignments) {
  v1::ListCamerasRequest req;
  req.set_holder_badge(Badge(1));
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(1), Cam(11))));
  req.set_holder_badge(Badge(7));  // lost: the holder stays accountable
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(7))));
  req.set_holder_badge(Badge(3));  // returned, then issued to B-012
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(IsEmpty()));
  req.set_holder_badge(Badge(12));
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(3))));
}

TEST_F(QuartermasterDayTest, ListCamerasFiltersByNotSeenSince) {
  // No dock has seen any camera, so every camera counts as not seen since any time.
  v1::ListCamerasRequest req;
  *req.mutable_not_seen_since() = ToProto(DayStart());
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(SizeIs(kManifestCameras)));
  req.set_state(v1::CAMERA_STATE_LOST);
  EXPECT_THAT(SerialsWhere(req), IsOkAndHolds(ElementsAre(Cam(7))));
}

TEST_F(QuartermasterDayTest, ListCamerasPagesInSerialOrderWithoutGapsOrRepeats) {
  v1::ListCamerasRequest req;
  req.set_state(v1::CAMERA_STATE_REGISTERED);
  req.set_page_size(20);
  int pages = 0;
  absl::StatusOr<std::vector<v1::Camera>> paged = alice_->AllCameras(req, &pages);
  ASSERT_THAT(paged, IsOk());
  EXPECT_EQ(pages, 3);  // 20 + 20 + 11
  req.set_page_size(1000);
  absl::StatusOr<std::vector<v1::Camera>> whole = alice_->AllCameras(req);
  ASSERT_THAT(whole, IsOk());
  ASSERT_THAT(*whole, SizeIs(51));
  EXPECT_EQ(Serials(*paged), Serials(*whole));
}

TEST_F(QuartermasterDayTest, OverdueListsOnlyAssignmentsPastDueMostOverdueFirst) {
  EXPECT_THAT(OverdueSerials(""), IsOkAndHolds(IsEmpty()));
  clock_.Advance(absl::Hours(3));
  EXPECT_THAT(OverdueSerials(""), IsOkAndHolds(ElementsAre(Cam(31), Cam(10))));
  EXPECT_THAT(OverdueSerials("POST-2"), IsOkAndHolds(ElementsAre(Cam(31))));
  EXPECT_THAT(OverdueSerials("SOUTH"), IsOkAndHolds(IsEmpty()));
}

TEST_F(QuartermasterDayTest, OverduePagesThroughEveryOpenAssignmentPastItsDueTime) {
  clock_.Advance(absl::Hours(9));
  // Due +1h, +2h, then the +8h ones in issue order; the lost camera's assignment is still open.
  const std::vector<std::string> expected = {Cam(31), Cam(10), Cam(1),  Cam(2),
                                             Cam(7),  Cam(9),  Cam(11), Cam(3)};
  int pages = 0;
  EXPECT_THAT(OverdueSerials("", 3, &pages), IsOkAndHolds(ElementsAreArray(expected)));
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(OverdueSerials("NORTH"), IsOkAndHolds(ElementsAreArray(expected)));
}

TEST_F(QuartermasterDayTest, CustodyTrailShowsEveryAssignmentOldestFirst) {
  absl::StatusOr<v1::GetCustodyTrailResponse> trail = alice_->Trail(Cam(3));
  ASSERT_THAT(trail, IsOk());
  EXPECT_EQ(trail->camera().state(), v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(trail->camera().holder_badge(), Badge(12));
  ASSERT_THAT(trail->assignments(), SizeIs(2));
  const v1::Assignment& first = trail->assignments(0);
  EXPECT_EQ(first.holder_badge(), Badge(3));
  EXPECT_EQ(first.issued_by(), "qm.alice");
  EXPECT_EQ(first.returned_by(), "qm.bob");
  EXPECT_EQ(first.return_condition(), v1::RETURN_CONDITION_GOOD);
  EXPECT_TRUE(first.has_return_time());
  const v1::Assignment& second = trail->assignments(1);
  EXPECT_EQ(second.holder_badge(), Badge(12));
  EXPECT_EQ(second.issued_by(), "qm.alice");
  EXPECT_FALSE(second.has_return_time());
  EXPECT_EQ(second.return_condition(), v1::RETURN_CONDITION_UNSPECIFIED);
  EXPECT_LT(first.id(), second.id());

  struct Closed {
    int cam;
    v1::ReturnCondition condition;
    std::string returned_by;
  };
  for (const Closed& c : {Closed{5, v1::RETURN_CONDITION_DAMAGED, "qm.bob"},
                          Closed{6, v1::RETURN_CONDITION_NOT_RETURNED, "sgt.carol"},
                          Closed{8, v1::RETURN_CONDITION_NOT_RETURNED, "sgt.carol"}}) {
    absl::StatusOr<v1::GetCustodyTrailResponse> t = alice_->Trail(Cam(c.cam));
    ASSERT_THAT(t, IsOk());
    ASSERT_THAT(t->assignments(), SizeIs(1)) << Cam(c.cam);
    EXPECT_EQ(t->assignments(0).return_condition(), c.condition) << Cam(c.cam);
    EXPECT_EQ(t->assignments(0).returned_by(), c.returned_by) << Cam(c.cam);
  }
  absl::StatusOr<v1::GetCustodyTrailResponse> lost = alice_->Trail(Cam(7));
  ASSERT_THAT(lost, IsOk());
  EXPECT_EQ(lost->camera().state(), v1::CAMERA_STATE_LOST);
  ASSERT_THAT(lost->assignments(), SizeIs(1));
  EXPECT_FALSE(lost->assignments(0).has_return_time());
  absl::StatusOr<v1::GetCustodyTrailResponse> never = alice_->Trail(Cam(77));
  ASSERT_THAT(never, IsOk());
  EXPECT_THAT(never->assignments(), IsEmpty());
}

TEST_F(QuartermasterDayTest, GetHolderShowsOpenAssignments) {
  auto open_serials = [&](int badge) -> std::vector<std::string> {
    absl::StatusOr<v1::GetHolderResponse> h = alice_->GetHolder(Badge(badge));
    EXPECT_THAT(h, IsOk());
    std::vector<std::string> out;
    if (!h.ok()) return out;
    EXPECT_EQ(h->holder().badge(), Badge(badge));
    for (const v1::Assignment& a : h->open_assignments()) out.push_back(a.camera_serial());
    return out;
  };
  EXPECT_THAT(open_serials(1), ElementsAre(Cam(1), Cam(11)));
  EXPECT_THAT(open_serials(7), ElementsAre(Cam(7)));  // lost, still accountable
  EXPECT_THAT(open_serials(6), IsEmpty());            // lost, then found
  EXPECT_THAT(open_serials(8), IsEmpty());            // faulty closes the assignment
  EXPECT_THAT(open_serials(12), ElementsAre(Cam(3)));
}

TEST_F(QuartermasterDayTest, AuditTrailHasOneEventPerChangeWithTheCallerAsActor) {
  absl::StatusOr<std::vector<v1::AuditEvent>> events =
      alice_->AllAuditEvents(v1::ListAuditEventsRequest());
  ASSERT_THAT(events, IsOk());
  std::vector<ExpectedEvent> got;
  for (const v1::AuditEvent& e : *events) got.push_back({e.actor(), e.action(), e.object_id()});
  EXPECT_THAT(got, ElementsAreArray(expected_events_));
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].sequence(), static_cast<int64_t>(i + 1));
  }
  // Filtering by actor finds exactly that operator's changes.
  v1::ListAuditEventsRequest by_carol;
  by_carol.set_actor("sgt.carol");
  absl::StatusOr<std::vector<v1::AuditEvent>> carols = alice_->AllAuditEvents(by_carol);
  ASSERT_THAT(carols, IsOk());
  EXPECT_THAT(*carols, SizeIs(5));
}

TEST_F(QuartermasterDayTest, AuditChainVerifiesIntact) {
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = alice_->VerifyChain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact()) << chain->problem();
  EXPECT_EQ(chain->events_checked(), static_cast<int64_t>(expected_events_.size()));
  EXPECT_EQ(chain->head_sequence(), static_cast<int64_t>(expected_events_.size()));
  EXPECT_EQ(chain->first_broken_sequence(), 0);
}

TEST_F(QuartermasterDayTest, ListSitesShowsTheWholeSubtreeOfAParent) {
  v1::ListSitesRequest req;
  req.set_parent_code("NORTH");
  absl::StatusOr<v1::ListSitesResponse> north =
      alice_->Fleet(&v1::FleetService::Stub::ListSites, req);
  ASSERT_THAT(north, IsOk());
  std::vector<std::string> codes;
  for (const v1::Site& s : north->sites()) codes.push_back(s.code());
  EXPECT_THAT(codes, ElementsAre("POST-1", "POST-2"));
  req.set_parent_code("HQ");
  absl::StatusOr<v1::ListSitesResponse> hq = alice_->Fleet(&v1::FleetService::Stub::ListSites, req);
  ASSERT_THAT(hq, IsOk());
  EXPECT_THAT(hq->sites(), SizeIs(5));
}

// ------------------------------------------------------------- refused lifecycle transitions

// One camera in each state; every refused transition must leave the whole fleet as it was.
TEST_F(QuartermasterDayTest, RegisterStoresALowerCaseSerialAndSiteInUpperCase) {
  absl::StatusOr<v1::RegisterCameraResponse> registered = alice_->Register("cam-0099", "post-3");
  ASSERT_THAT(registered, IsOk());
  EXPECT_EQ(registered->camera().serial(), "CAM-0099");
  EXPECT_EQ(registered->camera().site_code(), "POST-3");
  // Found again in any case, and not registered twice under another spelling.
  v1::GetCameraRequest get;
  get.set_serial("Cam-0099");
  absl::StatusOr<v1::GetCameraResponse> got =
      alice_->Fleet(&v1::FleetService::Stub::GetCamera, get);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->camera().serial(), "CAM-0099");
  EXPECT_THAT(alice_->Register("CAM-0099", "POST-3"), StatusIs(absl::StatusCode::kAlreadyExists));
}

class LifecycleRefusalTest : public ::testing::Test {
 protected:
  LifecycleRefusalTest() : clock_(DayStart()) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start({.clock = &clock_});
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    client_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    FleetClient& c = *client_;
    ASSERT_THAT(c.CreateSite("POST-1"), IsOk());
    ASSERT_THAT(c.CreateHolder("B-001", "POST-1"), IsOk());
    for (const auto& [state, serial] : kCameras) ASSERT_THAT(c.Register(serial, "POST-1"), IsOk());
    for (const char* s : {"AVL-0001", "ISS-0001", "LST-0001", "FLT-0001", "RET-0001"}) {
      ASSERT_THAT(c.Commission(s), IsOk());
    }
    ASSERT_THAT(c.Issue("ISS-0001", "B-001", Due()), IsOk());
    ASSERT_THAT(c.Lost("LST-0001"), IsOk());
    ASSERT_THAT(c.Faulty("FLT-0001"), IsOk());
    ASSERT_THAT(c.Retire("RET-0001"), IsOk());
    for (const auto& [state, serial] : kCameras) {
      absl::StatusOr<v1::GetCameraResponse> cam = c.GetCamera(serial);
      ASSERT_THAT(cam, IsOk());
      ASSERT_EQ(cam->camera().state(), state) << serial;
    }
  }

  absl::Time Due() const { return clock_.Now() + absl::Hours(8); }

  // Calls `call` on the camera in each state of `refused` and expects FAILED_PRECONDITION naming
  // that state, with nothing changed anywhere.
  template <typename Call>
  void ExpectRefusedIn(const std::vector<v1::CameraState>& refused, Call call) {
    absl::StatusOr<std::string> before = client_->Snapshot();
    ASSERT_THAT(before, IsOk());
    for (v1::CameraState state : refused) {
      const std::string serial = SerialIn(state);
      const std::string label = v1::CameraState_Name(state).substr(strlen("CAMERA_STATE_"));
      EXPECT_THAT(call(serial), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         AllOf(HasSubstr(serial), HasSubstr("is " + label))))
          << "camera in state " << label;
      absl::StatusOr<std::string> after = client_->Snapshot();
      ASSERT_THAT(after, IsOk());
      EXPECT_EQ(*before, *after) << "a refused call on the " << label << " camera changed things";
    }
  }

  static std::string SerialIn(v1::CameraState state) {
    for (const auto& [s, serial] : kCameras) {
      if (s == state) return serial;
    }
    return "";
  }

  static inline const std::vector<std::pair<v1::CameraState, std::string>> kCameras = {
      {v1::CAMERA_STATE_REGISTERED, "REG-0001"}, {v1::CAMERA_STATE_AVAILABLE, "AVL-0001"},
      {v1::CAMERA_STATE_ISSUED, "ISS-0001"},     {v1::CAMERA_STATE_LOST, "LST-0001"},
      {v1::CAMERA_STATE_FAULTY, "FLT-0001"},     {v1::CAMERA_STATE_RETIRED, "RET-0001"}};

  common::FakeClock clock_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(LifecycleRefusalTest, CommissionNeedsRegistered) {
  ExpectRefusedIn({v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED, v1::CAMERA_STATE_LOST,
                   v1::CAMERA_STATE_FAULTY, v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Commission(s).status(); });
}

TEST_F(LifecycleRefusalTest, IssueNeedsAvailable) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_ISSUED, v1::CAMERA_STATE_LOST,
                   v1::CAMERA_STATE_FAULTY, v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Issue(s, "B-001", Due()).status(); });
}

TEST_F(LifecycleRefusalTest, ReturnGoodNeedsIssued) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_LOST,
                   v1::CAMERA_STATE_FAULTY, v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Return(s).status(); });
}

TEST_F(LifecycleRefusalTest, ReturnDamagedNeedsIssued) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_LOST,
                   v1::CAMERA_STATE_FAULTY, v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) {
                    return client_->Return(s, v1::RETURN_CONDITION_DAMAGED).status();
                  });
}

TEST_F(LifecycleRefusalTest, LostNeedsAvailableOrIssued) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_LOST, v1::CAMERA_STATE_FAULTY,
                   v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Lost(s).status(); });
}

TEST_F(LifecycleRefusalTest, FoundNeedsLost) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED,
                   v1::CAMERA_STATE_FAULTY, v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Found(s).status(); });
}

TEST_F(LifecycleRefusalTest, FaultyNeedsAvailableOrIssued) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_LOST, v1::CAMERA_STATE_FAULTY,
                   v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Faulty(s).status(); });
}

TEST_F(LifecycleRefusalTest, RepairNeedsFaulty) {
  ExpectRefusedIn({v1::CAMERA_STATE_REGISTERED, v1::CAMERA_STATE_AVAILABLE, v1::CAMERA_STATE_ISSUED,
                   v1::CAMERA_STATE_LOST, v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Repair(s).status(); });
}

TEST_F(LifecycleRefusalTest, RetireRefusesRetired) {
  ExpectRefusedIn({v1::CAMERA_STATE_RETIRED},
                  [&](const std::string& s) { return client_->Retire(s).status(); });
}

// ----------------------------------------------------------------------------- bad input

// A small fleet; every refused request must name the field and leave everything as it was.
class BadInputTest : public ::testing::Test {
 protected:
  BadInputTest() : clock_(DayStart()) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start({.clock = &clock_});
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    client_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    FleetClient& c = *client_;
    ASSERT_THAT(c.CreateSite("HQ"), IsOk());
    ASSERT_THAT(c.CreateSite("POST-1", "HQ"), IsOk());
    ASSERT_THAT(c.CreateHolder("B-001", "POST-1"), IsOk());
    for (int n = 1; n <= 5; ++n) ASSERT_THAT(c.Register(Cam(n), "POST-1"), IsOk());
    ASSERT_THAT(c.Commission(Cam(1)), IsOk());
    ASSERT_THAT(c.Commission(Cam(2)), IsOk());
    ASSERT_THAT(c.Issue(Cam(2), "B-001", clock_.Now() + absl::Hours(8)), IsOk());
    absl::StatusOr<std::string> snapshot = c.Snapshot();
    ASSERT_THAT(snapshot, IsOk());
    before_ = *std::move(snapshot);
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    absl::StatusOr<std::string> after = client_->Snapshot();
    ASSERT_THAT(after, IsOk());
    EXPECT_EQ(before_, *after) << "a refused call changed the fleet";
  }

  // A manifest call that must come back OK with these errors and nothing imported.
  void ExpectManifestRefused(const std::string& csv,
                             const ::testing::Matcher<std::vector<v1::ManifestRowError>>& errors) {
    absl::StatusOr<v1::ImportManifestResponse> resp = client_->Import(csv);
    ASSERT_THAT(resp, IsOk());
    EXPECT_EQ(resp->imported(), 0);
    std::vector<v1::ManifestRowError> got(resp->errors().begin(), resp->errors().end());
    EXPECT_THAT(got, errors);
  }

  common::FakeClock clock_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> client_;
  std::string before_;
};

MATCHER_P3(RowError, line, column, message_matcher,
           absl::StrCat("an error on line ", line, " column '", column, "'")) {
  return arg.line() == line && arg.column() == column &&
         ::testing::ExplainMatchResult(message_matcher, arg.message(), result_listener);
}

TEST_F(BadInputTest, RegisterRefusesEmptySerial) {
  EXPECT_THAT(client_->Register("", "POST-1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial is required")));
}

TEST_F(BadInputTest, RegisterRefusesSerialOfThirtyThreeCharacters) {
  EXPECT_THAT(client_->Register(std::string(33, 'A'), "POST-1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("serial"), HasSubstr("33 characters"))));
}

TEST_F(BadInputTest, RegisterRefusesSerialWithASpace) {
  EXPECT_THAT(client_->Register("CAM 0009", "POST-1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("serial 'CAM 0009'"), HasSubstr("a space"))));
}

TEST_F(BadInputTest, RegisterRefusesSerialWithSymbols) {
  EXPECT_THAT(client_->Register("CAM#0009", "POST-1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("serial 'CAM#0009'"), HasSubstr("'#'"))));
  EXPECT_THAT(client_->Register("-CAM0009", "POST-1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial '-CAM0009'")));
}

// Firmware releases name the models they fit (1-64 of A-Z a-z 0-9 . _ -, separated by spaces
// in the signed manifest): a camera registered under any other name could never be updated.
TEST_F(BadInputTest, RegisterRefusesAModelNoFirmwareReleaseCouldName) {
  auto register_model = [&](const std::string& model) {
    v1::RegisterCameraRequest req;
    req.set_serial("CAM-0901");
    req.set_model(model);
    req.set_site_code("POST-1");
    return client_->Fleet(&v1::FleetService::Stub::RegisterCamera, req);
  };
  EXPECT_THAT(register_model("Axon Body 4"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model 'Axon Body 4'"), HasSubstr("a space at position 5"),
                             HasSubstr("'-' or '_' instead"))));
  EXPECT_THAT(register_model("BWC/4"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model 'BWC/4'"), HasSubstr("'/'"))));
  EXPECT_THAT(register_model(std::string(65, 'M')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model"), HasSubstr("65 bytes"))));
  EXPECT_THAT(register_model(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model is required")));
  // Nothing was registered (TearDown checks the whole fleet is as it was).
}

TEST_F(BadInputTest, ImportReportsAModelNoFirmwareReleaseCouldNameByLine) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "CAM-0101,AXON-4,R1,POST-1\n"
      "CAM-0102,Axon Body 4,R1,POST-1\n"
      "CAM-0103,\"VISTA, HD\",R1,POST-1\n",
      ElementsAre(RowError(3, "model", HasSubstr("a space at position 5")),
                  RowError(4, "model", HasSubstr("',' at position 6"))));
}

// A row error quotes the bad value; a long value is cut, and never inside a character: the
// errors travel in protobuf string fields, which a client cannot read with one bad byte in them.
TEST_F(BadInputTest, ImportQuotesAnOverlongValueOfManyByteCharactersReadably) {
  std::string euros;
  for (int i = 0; i < 40; ++i) euros += "\xe2\x82\xac";  // 120 bytes: 64 would cut the 22nd
  std::string long_model;
  for (int i = 0; i < 40; ++i) long_model += "\xc3\xa9";
  long_model += "\xe2\x82\xac";  // 83 bytes
  ExpectManifestRefused(
      absl::StrCat("serial,model,hardware_revision,site\n", euros, ",AXON-4,R1,POST-1\n",
                   "CAM-0102,", long_model, ",R1,POST-1\n"),
      ElementsAre(RowError(2, "serial",
                           AllOf(HasSubstr(absl::StrCat("serial '", euros.substr(0, 63), "...'")),
                                 HasSubstr("40 characters"))),
                  RowError(3, "model", HasSubstr("83 bytes"))));
}

TEST_F(BadInputTest, IssueRefusesUnknownHolder) {
  EXPECT_THAT(
      client_->Issue(Cam(1), "B-999", clock_.Now() + absl::Hours(8)),
      StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("holder"), HasSubstr("'B-999'"))));
}

TEST_F(BadInputTest, IssueRefusesUnknownCamera) {
  EXPECT_THAT(
      client_->Issue("CAM-9999", "B-001", clock_.Now() + absl::Hours(8)),
      StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("camera"), HasSubstr("'CAM-9999'"))));
}

TEST_F(BadInputTest, RegisterRefusesUnknownSite) {
  EXPECT_THAT(
      client_->Register(Cam(9), "NOWHERE"),
      StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("site"), HasSubstr("'NOWHERE'"))));
}

TEST_F(BadInputTest, CreateHolderRefusesUnknownHomeSite) {
  EXPECT_THAT(
      client_->CreateHolder("B-002", "NOWHERE"),
      StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("site"), HasSubstr("'NOWHERE'"))));
}

TEST_F(BadInputTest, CreateSiteRefusesDuplicateCode) {
  EXPECT_THAT(
      client_->CreateSite("POST-1", "HQ"),
      StatusIs(absl::StatusCode::kAlreadyExists, AllOf(HasSubstr("site"), HasSubstr("'POST-1'"))));
}

TEST_F(BadInputTest, CreateHolderRefusesDuplicateBadge) {
  EXPECT_THAT(client_->CreateHolder("B-001", "HQ"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("B-001")));
}

TEST_F(BadInputTest, RegisterRefusesDuplicateSerial) {
  EXPECT_THAT(client_->Register(Cam(1), "POST-1"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(Cam(1))));
}

TEST_F(BadInputTest, ImportOfAByteOrderMarkAloneIsRefusedAndTheServerGoesOn) {
  EXPECT_THAT(client_->Import("\xEF\xBB\xBF"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("csv is empty")));
  EXPECT_THAT(client_->Import("\xEF\xBB\xBF\n\r\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("csv is empty")));
  // Still serving: TearDown's snapshot is another call.
}

TEST_F(BadInputTest, ImportCountsBadRowsNotProblemsAndCapsTheList) {
  std::string csv = "serial,model,hardware_revision,site\n";
  for (int i = 0; i < 1200; ++i) absl::StrAppend(&csv, "bad serial,AXON-4,R1,bad site\n");
  absl::StatusOr<v1::ImportManifestResponse> resp = client_->Import(csv);
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->imported(), 0);
  EXPECT_EQ(resp->rows(), 1200);
  EXPECT_EQ(resp->bad_rows(), 1200);
  EXPECT_EQ(resp->errors_size(), 1000);
  EXPECT_EQ(resp->unlisted_errors(), 2 * 1200 - 1000);
}

TEST_F(BadInputTest, ImportReportsWrongColumnCountByLine) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "CAM-0101,AXON-4,R1,POST-1\n"
      "CAM-0102,AXON-4,POST-1\n"
      "CAM-0103,AXON-4,R1,POST-1,EXTRA\n",
      ElementsAre(RowError(3, "", HasSubstr("found 3")), RowError(4, "", HasSubstr("found 5"))));
}

TEST_F(BadInputTest, ImportReportsBadQuotingByLine) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "CAM-0101,AXON-4,R1,POST-1\n"
      "CAM-0102,\"AXON\"4,R1,POST-1\n"
      "CAM-0103,AX\"ON,R1,POST-1\n",
      ElementsAre(RowError(3, "", HasSubstr("closing quote")),
                  RowError(4, "", HasSubstr("inside unquoted column 2"))));
}

TEST_F(BadInputTest, ImportReportsUnterminatedQuoteByLine) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "CAM-0101,AXON-4,R1,POST-1\n"
      "CAM-0102,\"AXON-4,R1,POST-1\n",
      ElementsAre(RowError(3, "", HasSubstr("never closed"))));
}

TEST_F(BadInputTest, ImportReportsSerialRepeatedWithinTheFile) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "CAM-0101,AXON-4,R1,POST-1\n"
      "CAM-0102,AXON-4,R1,POST-1\n"
      "CAM-0101,AXON-4,R2,POST-1\n",
      ElementsAre(RowError(4, "serial", AllOf(HasSubstr("CAM-0101"), HasSubstr("line 2")))));
}

TEST_F(BadInputTest, ImportReportsSerialAlreadyInTheStore) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "CAM-0101,AXON-4,R1,POST-1\n"
      "CAM-0003,AXON-4,R1,POST-1\n",
      ElementsAre(
          RowError(3, "serial", AllOf(HasSubstr("CAM-0003"), HasSubstr("already registered")))));
}

TEST_F(BadInputTest, ImportReportsEveryBadRowAtOnce) {
  ExpectManifestRefused(
      "serial,model,hardware_revision,site\n"
      "cam_0101,AXON-4,R1,POST-1\n"
      "CAM-0102,AXON-4,R1,NOWHERE\n"
      "CAM-0103,AXON-4,R1,POST-1\n",
      ElementsAre(RowError(2, "serial", HasSubstr("'_'")),
                  RowError(3, "site", HasSubstr("'NOWHERE'"))));
}

TEST_F(BadInputTest, ImportRefusesBadHeader) {
  EXPECT_THAT(client_->Import("serial,model,site\nCAM-0101,AXON-4,POST-1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header")));
  EXPECT_THAT(client_->Import(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("csv is empty")));
}

TEST_F(BadInputTest, ListCamerasRefusesUnknownState) {
  v1::ListCamerasRequest req;
  req.set_state(static_cast<v1::CameraState>(42));
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::ListCameras, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("state 42")));
}

TEST_F(BadInputTest, ReturnRefusesUnknownCondition) {
  EXPECT_THAT(client_->Return(Cam(2), static_cast<v1::ReturnCondition>(17)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("condition 17")));
  EXPECT_THAT(client_->Return(Cam(2), v1::RETURN_CONDITION_NOT_RETURNED),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("condition")));
}

TEST_F(BadInputTest, ListCamerasRefusesTamperedPageToken) {
  v1::ListCamerasRequest req;
  req.set_page_size(2);
  absl::StatusOr<v1::ListCamerasResponse> first =
      client_->Fleet(&v1::FleetService::Stub::ListCameras, req);
  ASSERT_THAT(first, IsOk());
  std::string token = first->next_page_token();
  ASSERT_FALSE(token.empty());
  // Flip one character of the cursor part; keep it in the web-safe base64 alphabet.
  char& c = token[token.size() - 2];
  c = c == 'A' ? 'B' : 'A';
  req.set_page_token(token);
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::ListCameras, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  // A genuine token used with a different filter is refused too.
  req.set_page_token(first->next_page_token());
  req.set_model("AXON-4");
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::ListCameras, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  req.set_page_token("not base64 at all!");
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::ListCameras, req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
}

TEST_F(BadInputTest, IssueRefusesDueBackTimeInThePast) {
  EXPECT_THAT(client_->Issue(Cam(1), "B-001", clock_.Now() - absl::Minutes(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("due_back_time")));
  v1::IssueCameraRequest no_due;
  no_due.set_serial(Cam(1));
  no_due.set_holder_badge("B-001");
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::IssueCamera, no_due),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("due_back_time")));
}

TEST_F(BadInputTest, ListCallsRefuseNegativePageSize) {
  v1::ListCamerasRequest cameras;
  cameras.set_page_size(-1);
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::ListCameras, cameras),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  v1::ListOverdueAssignmentsRequest overdue;
  overdue.set_page_size(-5);
  EXPECT_THAT(client_->Fleet(&v1::FleetService::Stub::ListOverdueAssignments, overdue),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  v1::ListAuditEventsRequest audit;
  audit.set_page_size(-1);
  EXPECT_THAT(client_->Audit(&v1::AuditService::Stub::ListAuditEvents, audit),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
}

TEST_F(BadInputTest, LifecycleCallsRefuseUnknownCamera) {
  EXPECT_THAT(client_->Commission("CAM-9999"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'CAM-9999'")));
  EXPECT_THAT(client_->Return("CAM-9999"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'CAM-9999'")));
  EXPECT_THAT(client_->Retire("CAM-9999"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'CAM-9999'")));
}

// ----------------------------------------------------------------------------- restart

class RestartTest : public ::testing::Test {
 protected:
  RestartTest() : clock_(DayStart()) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start({.clock = &clock_});
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    client_ = std::make_unique<FleetClient>(*server_, "qm.alice");
    FleetClient& c = *client_;
    ASSERT_THAT(c.CreateSite("HQ"), IsOk());
    ASSERT_THAT(c.CreateSite("POST-1", "HQ"), IsOk());
    ASSERT_THAT(c.CreateHolder("B-001", "POST-1"), IsOk());
    for (int n = 1; n <= 6; ++n) ASSERT_THAT(c.Register(Cam(n), "POST-1"), IsOk());
    for (int n = 1; n <= 4; ++n) ASSERT_THAT(c.Commission(Cam(n)), IsOk());
    ASSERT_THAT(c.Issue(Cam(1), "B-001", clock_.Now() + absl::Hours(8)), IsOk());
    ASSERT_THAT(c.Issue(Cam(2), "B-001", clock_.Now() + absl::Hours(8)), IsOk());
    ASSERT_THAT(c.Return(Cam(2), v1::RETURN_CONDITION_DAMAGED), IsOk());
    ASSERT_THAT(c.Lost(Cam(3)), IsOk());
  }

  common::FakeClock clock_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(RestartTest, DataSurvivesARestartOnTheSameFile) {
  absl::StatusOr<std::string> before = client_->Snapshot();
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(server_->Restart(), IsOk());
  absl::StatusOr<std::string> after = client_->Snapshot();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(*before, *after);
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = client_->VerifyChain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact()) << chain->problem();
}

TEST_F(RestartTest, WritesAfterARestartExtendTheSameChain) {
  absl::StatusOr<v1::VerifyAuditChainResponse> head = client_->VerifyChain();
  ASSERT_THAT(head, IsOk());
  ASSERT_THAT(server_->Restart(), IsOk());
  ASSERT_THAT(client_->Return(Cam(1)), IsOk());
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = client_->VerifyChain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact()) << chain->problem();
  EXPECT_EQ(chain->head_sequence(), head->head_sequence() + 1);
  v1::ListAuditEventsRequest req;
  req.set_object_id(Cam(1));
  absl::StatusOr<std::vector<v1::AuditEvent>> events = client_->AllAuditEvents(req);
  ASSERT_THAT(events, IsOk());
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->back().action(), "camera.return");
  EXPECT_EQ(events->back().previous_hash(), head->head_hash());
}

TEST_F(RestartTest, PageTokenFromBeforeARestartStillWorks) {
  v1::ListCamerasRequest req;
  req.set_page_size(4);
  absl::StatusOr<v1::ListCamerasResponse> first =
      client_->Fleet(&v1::FleetService::Stub::ListCameras, req);
  ASSERT_THAT(first, IsOk());
  ASSERT_FALSE(first->next_page_token().empty());
  ASSERT_THAT(server_->Restart(), IsOk());
  req.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListCamerasResponse> second =
      client_->Fleet(&v1::FleetService::Stub::ListCameras, req);
  ASSERT_THAT(second, IsOk());
  std::vector<std::string> serials;
  for (const v1::Camera& c : second->cameras()) serials.push_back(c.serial());
  EXPECT_THAT(serials, ElementsAre(Cam(5), Cam(6)));
}

}  // namespace
}  // namespace camfleet::testing
