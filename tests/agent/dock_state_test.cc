// The custody ledger: the dock's own check-outs and returns count at once, on top of the site
// view, until a view sent after their acknowledgement shows them.

#include "agent/dock_state.h"

#include "gtest/gtest.h"

namespace camfleet::agent {
namespace {

v1::SiteView ViewWhere(const std::string& badge, const std::string& holds) {
  v1::SiteView view;
  view.set_site_code("POST-1");
  v1::SiteHolder* h = view.add_holders();
  h->set_badge(badge);
  h->set_holds_serial(holds);
  v1::SiteCamera* c = view.add_cameras();
  c->set_serial("CAM-0001");
  c->set_state(holds.empty() ? v1::CAMERA_STATE_AVAILABLE : v1::CAMERA_STATE_ISSUED);
  c->set_holder_badge(holds.empty() ? "" : badge);
  return view;
}

TEST(CustodyLedgerTest, ACheckoutHereCountsBeforeTheViewShowsIt) {
  CustodyLedger ledger;
  const v1::SiteView view = ViewWhere("B100", "");
  EXPECT_EQ(ledger.HeldBy("B100", &view), "");
  ledger.RecordCheckout("B100", "CAM-0001", 7);
  EXPECT_EQ(ledger.HeldBy("B100", &view), "CAM-0001");
  EXPECT_EQ(ledger.HolderOf("CAM-0001", &view), "B100");
  EXPECT_EQ(ledger.LocallyOut("CAM-0001"), true);
}

TEST(CustodyLedgerTest, AReturnHereFreesTheOfficerTheViewStillNames) {
  CustodyLedger ledger;
  const v1::SiteView view = ViewWhere("B100", "CAM-0001");
  EXPECT_EQ(ledger.HeldBy("B100", &view), "CAM-0001");
  ledger.RecordReturn("CAM-0001", 9);
  EXPECT_EQ(ledger.HeldBy("B100", &view), "");
  EXPECT_EQ(ledger.LocallyOut("CAM-0001"), false);
}

TEST(CustodyLedgerTest, EntriesGoOnceAViewAfterTheirAckArrives) {
  CustodyLedger ledger;
  ledger.RecordCheckout("B100", "CAM-0001", 7);
  ledger.PruneAcknowledged(6);
  EXPECT_TRUE(ledger.LocallyOut("CAM-0001").has_value());
  ledger.PruneAcknowledged(7);
  EXPECT_FALSE(ledger.LocallyOut("CAM-0001").has_value());
}

TEST(CustodyLedgerTest, ReplayRebuildsFromUnacknowledgedItemsInOrder) {
  std::vector<v1::OutboxItem> items(2);
  items[0].set_lane(v1::SYNC_LANE_CUSTODY);
  items[0].set_sequence(3);
  items[0].mutable_checkout()->set_serial("CAM-0001");
  items[0].mutable_checkout()->set_badge("B100");
  items[1].set_lane(v1::SYNC_LANE_CUSTODY);
  items[1].set_sequence(4);
  items[1].mutable_dock_return()->set_serial("CAM-0001");
  CustodyLedger ledger;
  ledger.Replay(items);
  EXPECT_EQ(ledger.LocallyOut("CAM-0001"), false);
  EXPECT_EQ(ledger.HeldBy("B100", nullptr), "");
}

TEST(SlotBoardTest, ReleaseOnlyTheCameraStillThereAndOnlyOnce) {
  SlotBoard board({1, 2});
  board.SetOccupant(1, "CAM-0001");
  EXPECT_FALSE(board.Release(1, "CAM-0002"));
  EXPECT_TRUE(board.Release(1, "CAM-0001"));
  EXPECT_FALSE(board.Release(1, "CAM-0001"));
  EXPECT_FALSE(board.Release(2, "CAM-0001"));
  board.SetEmpty(1);
  EXPECT_FALSE(board.Get(1)->released);
  ASSERT_EQ(board.Occupants().size(), 0u);
}

}  // namespace
}  // namespace camfleet::agent
