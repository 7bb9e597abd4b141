// agent::SiteViewStore against real SQLite files: a dock restarted with the link down still
// knows who may check out.

#include "agent/site_view_store.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::agent {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::camfleet::testing::TempDir;

const absl::Time kReceived = absl::FromUnixSeconds(1'790'000'000);

v1::SiteView PostView() {
  v1::SiteView view;
  view.set_site_code("POST-1");
  v1::SiteHolder* h = view.add_holders();
  h->set_badge("B-100");
  h->set_name("Officer One");
  h->set_holds_serial("CAM-0002");
  h = view.add_holders();
  h->set_badge("B-200");
  h->set_name("Officer Two");
  v1::SiteCamera* c = view.add_cameras();
  c->set_serial("CAM-0001");
  c->set_state(v1::CAMERA_STATE_AVAILABLE);
  c = view.add_cameras();
  c->set_serial("CAM-0002");
  c->set_state(v1::CAMERA_STATE_ISSUED);
  c->set_holder_badge("B-100");
  c = view.add_cameras();
  c->set_serial("CAM-0003");
  c->set_state(v1::CAMERA_STATE_LOST);
  c->set_revoked(true);
  view.mutable_rules()->set_minimum_battery_percent(60);
  view.mutable_rules()->mutable_checkout_duration()->set_seconds(12 * 3600);
  view.mutable_rules()->set_return_on_dock(true);
  return view;
}

class SiteViewStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SiteViewStore> Open() {
    absl::StatusOr<std::unique_ptr<SiteViewStore>> store = SiteViewStore::Open(path_);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? *std::move(store) : nullptr;
  }

  TempDir dir_;
  std::string path_ = dir_.File("site_view.db");
};

TEST_F(SiteViewStoreTest, NothingIsKnownBeforeTheFirstView) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->FindHolder("B-100"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->FindCamera("CAM-0001"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->Rules(), StatusIs(absl::StatusCode::kFailedPrecondition));
  auto view = store->View();
  ASSERT_THAT(view, IsOk());
  EXPECT_FALSE(view->has_value());
  auto generation = store->Generation();
  ASSERT_THAT(generation, IsOk());
  EXPECT_EQ(*generation, "");
  auto offset = store->Offset();
  ASSERT_THAT(offset, IsOk());
  EXPECT_FALSE(offset->has_value());
}

TEST_F(SiteViewStoreTest, ViewGenerationAndOffsetSurviveReopen) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_THAT(store->Replace(PostView(), kReceived), IsOk());
    ASSERT_THAT(store->SetGeneration("gen-7f3a"), IsOk());
    ASSERT_THAT(store->SetOffset({absl::Milliseconds(-1500), kReceived}), IsOk());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto holder = store->FindHolder("B-100");
  ASSERT_THAT(holder, IsOk());
  EXPECT_EQ(holder->name(), "Officer One");
  EXPECT_EQ(holder->holds_serial(), "CAM-0002");
  auto camera = store->FindCamera("CAM-0002");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(camera->holder_badge(), "B-100");
  EXPECT_FALSE(camera->revoked());
  camera = store->FindCamera("CAM-0003");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_LOST);
  EXPECT_TRUE(camera->revoked());
  auto rules = store->Rules();
  ASSERT_THAT(rules, IsOk());
  EXPECT_EQ(rules->minimum_battery_percent(), 60u);
  EXPECT_EQ(rules->checkout_duration().seconds(), 12 * 3600);
  EXPECT_TRUE(rules->return_on_dock());
  auto view = store->View();
  ASSERT_THAT(view, IsOk());
  ASSERT_TRUE(view->has_value());
  EXPECT_EQ((*view)->site_code(), "POST-1");
  EXPECT_EQ((*view)->holders_size(), 2);
  auto received = store->ReceivedAt();
  ASSERT_THAT(received, IsOk());
  EXPECT_EQ(*received, std::optional<absl::Time>(kReceived));
  auto generation = store->Generation();
  ASSERT_THAT(generation, IsOk());
  EXPECT_EQ(*generation, "gen-7f3a");
  auto offset = store->Offset();
  ASSERT_THAT(offset, IsOk());
  ASSERT_TRUE(offset->has_value());
  EXPECT_EQ((*offset)->offset, absl::Milliseconds(-1500));
  EXPECT_EQ((*offset)->measured_at, kReceived);
}

TEST_F(SiteViewStoreTest, ReplaceForgetsWhatTheNewViewNoLongerLists) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->Replace(PostView(), kReceived), IsOk());
  v1::SiteView next = PostView();
  next.mutable_holders()->RemoveLast();  // B-200 left the post
  next.mutable_cameras(0)->set_state(v1::CAMERA_STATE_FAULTY);
  ASSERT_THAT(store->Replace(next, kReceived + absl::Minutes(5)), IsOk());
  EXPECT_THAT(store->FindHolder("B-200"), StatusIs(absl::StatusCode::kNotFound));
  auto camera = store->FindCamera("CAM-0001");
  ASSERT_THAT(camera, IsOk());
  EXPECT_EQ(camera->state(), v1::CAMERA_STATE_FAULTY);
}

TEST_F(SiteViewStoreTest, ReplaceRefusesADuplicateBadgeAndKeepsTheOldView) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->Replace(PostView(), kReceived), IsOk());
  v1::SiteView bad = PostView();
  bad.mutable_holders(1)->set_badge("B-100");
  EXPECT_THAT(store->Replace(bad, kReceived),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("B-100")));
  v1::SiteView no_site = PostView();
  no_site.clear_site_code();
  EXPECT_THAT(store->Replace(no_site, kReceived), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->FindHolder("B-200"), IsOk());
  EXPECT_THAT(store->FindCamera("CAM-0003"), IsOk());
}

}  // namespace
}  // namespace camfleet::agent
