// DockService.Sync against the real server over mutual TLS, with a dock certificate obtained
// through EnrollDock and a raw bidi stream (sync_client.h). Real SQLite, no mocks, no sleeps.

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/monitoring.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "services/monitoring/health_retention.h"
#include "tests/dock/sync_client.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

// A view pushed to an idle stream arrives long before the next batch would have carried it (at
// most every 60 s): the bound tells the two apart with room for a loaded machine.
constexpr absl::Duration kPushedNotPolled = absl::Seconds(20);

using google::protobuf::util::TimeUtil;
using provisioning::Role;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kSite[] = "POST-1";
constexpr char kOtherSite[] = "POST-2";
constexpr char kDock[] = "post-1-dock-1";
constexpr char kEpoch[] = "0123456789abcdef0123456789abcdef";
constexpr char kNewEpoch[] = "fedcba9876543210fedcba9876543210";

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

v1::SyncHello Hello(const std::string& epoch = kEpoch) {
  v1::SyncHello hello;
  hello.set_protocol_version(1);
  hello.set_epoch(epoch);
  hello.set_agent_version("0.2.0");
  hello.set_backlog_items(7);
  hello.set_backlog_bytes(4096);
  *hello.mutable_dock_time() = At(absl::Now());
  return hello;
}

v1::OutboxItem Item(v1::SyncLane lane, uint64_t sequence) {
  v1::OutboxItem item;
  item.set_lane(lane);
  item.set_sequence(sequence);
  *item.mutable_record_time() = At(absl::Now());
  *item.mutable_clock_offset() = TimeUtil::MicrosecondsToDuration(0);
  return item;
}

// A reading whose device time is `base + minutes` and whose camera sequence is `camera_seq`.
v1::OutboxItem Health(uint64_t sequence, const std::string& serial, uint32_t slot,
                      uint64_t camera_seq, absl::Time device_time, uint32_t battery,
                      uint32_t full_mah = 2900, uint32_t cycles = 100) {
  v1::OutboxItem item = Item(v1::SYNC_LANE_TELEMETRY, sequence);
  *item.mutable_record_time() = At(device_time);
  v1::HealthReading* h = item.mutable_health();
  h->set_serial(serial);
  h->set_slot(slot);
  *h->mutable_device_time() = At(device_time);
  h->set_camera_sequence(camera_seq);
  h->set_battery_percent(battery);
  h->set_full_charge_capacity_mah(full_mah);
  h->set_design_capacity_mah(3000);
  h->set_cycle_count(cycles);
  h->set_temperature_decicelsius(251);
  h->set_voltage_mv(3900);
  h->set_storage_used_bytes(10);
  h->set_storage_total_bytes(100);
  h->set_firmware_version("1.4.2");
  (*h->mutable_error_counters())["flash_write_errors"] = 0;
  return item;
}

v1::OutboxItem Inserted(uint64_t sequence, const std::string& serial, uint32_t slot) {
  v1::OutboxItem item = Item(v1::SYNC_LANE_CUSTODY, sequence);
  item.mutable_inserted()->set_serial(serial);
  item.mutable_inserted()->set_slot(slot);
  return item;
}

v1::OutboxItem Checkout(uint64_t sequence, const std::string& serial, uint32_t slot,
                        const std::string& badge) {
  v1::OutboxItem item = Item(v1::SYNC_LANE_CUSTODY, sequence);
  v1::DockCheckout* c = item.mutable_checkout();
  c->set_serial(serial);
  c->set_slot(slot);
  c->set_badge(badge);
  *c->mutable_due_back_time() = At(absl::Now() + absl::Hours(10));
  c->set_battery_percent(95);
  return item;
}

v1::OutboxItem Return(uint64_t sequence, const std::string& serial, uint32_t slot,
                      const std::string& badge) {
  v1::OutboxItem item = Item(v1::SYNC_LANE_CUSTODY, sequence);
  item.mutable_dock_return()->set_serial(serial);
  item.mutable_dock_return()->set_slot(slot);
  item.mutable_dock_return()->set_badge(badge);
  return item;
}

class DockSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(server_->CreateSite(kSite), IsOk());
    ASSERT_THAT(server_->CreateSite(kOtherSite), IsOk());
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    for (const char* serial :
         {"CAM-0001", "CAM-0002", "CAM-0003", "CAM-0004", "CAM-0005", "CAM-0006"}) {
      ASSERT_THAT(admin_->RegisterCamera(serial, kSite), IsOk());
      ASSERT_THAT(admin_->Commission(serial, ""), IsOk());
    }
    ASSERT_THAT(admin_->RegisterCamera("CAM-9001", kOtherSite), IsOk());
    ASSERT_THAT(admin_->CreateHolder("B100", kSite), IsOk());
    ASSERT_THAT(admin_->CreateHolder("B200", kSite), IsOk());
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock(kSite, kDock);
    ASSERT_THAT(dock, IsOk());
    dock_ = dock->credentials;
    absl::StatusOr<ClientCredentials> qm = server_->IssueOperator("qm-1", Role::kQuartermaster);
    ASSERT_THAT(qm, IsOk());
    qm_ = std::make_unique<TlsClient>(server_->Channel(qm->bundle));
    monitoring_qm_ = v1::MonitoringService::NewStub(qm_->channel());
    absl::StatusOr<ClientCredentials> auditor = server_->IssueOperator("aud-1", Role::kAuditor);
    ASSERT_THAT(auditor, IsOk());
    monitoring_auditor_ = v1::MonitoringService::NewStub(server_->Channel(auditor->bundle));
  }

  std::unique_ptr<SyncClient> Connect() {
    return std::make_unique<SyncClient>(server_->Channel(dock_.bundle));
  }

  absl::StatusOr<std::vector<v1::Alert>> Alerts(v1::AlertKind kind = v1::ALERT_KIND_UNSPECIFIED) {
    v1::ListAlertsRequest req;
    req.set_site_code(kSite);
    req.set_kind(kind);
    absl::StatusOr<v1::ListAlertsResponse> resp =
        TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::ListAlerts, req);
    if (!resp.ok()) return resp.status();
    return std::vector<v1::Alert>(resp->alerts().begin(), resp->alerts().end());
  }

  // The one open conflict (the test fails if there is not exactly one), checked to be the one
  // the single CONFLICT alert points at.
  v1::Conflict OnlyOpenConflict() {
    v1::ListConflictsRequest req;
    req.set_open_only(true);
    absl::StatusOr<v1::ListConflictsResponse> conflicts =
        TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::ListConflicts, req);
    EXPECT_THAT(conflicts, IsOk());
    if (!conflicts.ok() || conflicts->conflicts_size() != 1) {
      ADD_FAILURE() << "expected one open conflict";
      return {};
    }
    absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(v1::ALERT_KIND_CONFLICT);
    EXPECT_THAT(alerts, IsOk());
    if (alerts.ok()) {
      EXPECT_THAT(*alerts, SizeIs(1));
      if (alerts->size() == 1) {
        EXPECT_EQ((*alerts)[0].id(), conflicts->conflicts(0).alert_id());
      }
    }
    return conflicts->conflicts(0);
  }

  absl::StatusOr<std::vector<v1::HealthRecord>> Readings(const std::string& serial) {
    v1::ListHealthReadingsRequest req;
    req.set_serial(serial);
    req.set_page_size(1000);
    absl::StatusOr<v1::ListHealthReadingsResponse> resp =
        TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::ListHealthReadings, req);
    if (!resp.ok()) return resp.status();
    return std::vector<v1::HealthRecord>(resp->readings().begin(), resp->readings().end());
  }

  std::vector<v1::AuditEvent> AuditOf(const std::string& object_id) {
    v1::ListAuditEventsRequest req;
    req.set_object_id(object_id);
    absl::StatusOr<std::vector<v1::AuditEvent>> events = admin_->AuditEvents(req);
    EXPECT_THAT(events, IsOk());
    return events.ok() ? *events : std::vector<v1::AuditEvent>();
  }

  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::unique_ptr<TlsClient> qm_;
  std::unique_ptr<v1::MonitoringService::Stub> monitoring_qm_;
  std::unique_ptr<v1::MonitoringService::Stub> monitoring_auditor_;
  ClientCredentials dock_;
};

TEST_F(DockSyncTest, WelcomeAnnouncesPositionsGenerationAndBoundsThenSiteViewAndTime) {
  std::unique_ptr<SyncClient> sync = Connect();
  absl::StatusOr<v1::SyncWelcome> welcome = sync->Open(Hello());
  ASSERT_THAT(welcome, IsOk());
  EXPECT_EQ(welcome->protocol_version(), 1u);
  EXPECT_EQ(welcome->epoch(), kEpoch);
  EXPECT_EQ(welcome->custody_applied(), 0u);
  EXPECT_EQ(welcome->telemetry_applied(), 0u);
  EXPECT_EQ(welcome->generation().size(), 32u);
  EXPECT_GT(welcome->max_batch_items(), 0u);
  ASSERT_TRUE(sync->last_site_view().has_value());
  EXPECT_EQ(sync->last_site_view()->site_code(), kSite);
  EXPECT_THAT(sync->last_site_view()->cameras(), SizeIs(6));
  EXPECT_THAT(sync->last_site_view()->holders(), SizeIs(2));
  EXPECT_TRUE(sync->last_site_view()->rules().return_on_dock());
  EXPECT_EQ(sync->last_site_view()->rules().minimum_battery_percent(), 60u);
  EXPECT_EQ(sync->last_site_view()->rules().shift().seconds(), 8 * 3600);
  EXPECT_EQ(sync->last_site_view()->rules().reserve().seconds(), 3600);
  // The dock holds no CRL (number 0): the server's is newer.
  ASSERT_TRUE(sync->crl().has_value());
  EXPECT_THAT(sync->crl()->crl_pem(), HasSubstr("BEGIN X509 CRL"));
  const int64_t newest = sync->crl()->crl_number();
  EXPECT_THAT(sync->Close(), IsOk());

  // A second connection with the same generation gets the same id; a dock holding the newest
  // CRL gets none.
  std::unique_ptr<SyncClient> again = Connect();
  v1::SyncHello hello = Hello();
  hello.set_crl_number(newest);  // CRL numbers follow the clock (services/identity/revocation.cc)
  absl::StatusOr<v1::SyncWelcome> second = again->Open(hello);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->generation(), welcome->generation());
  EXPECT_FALSE(again->crl().has_value());
}

TEST_F(DockSyncTest, StreamThatDoesNotStartWithAHelloIsInvalidArgument) {
  std::unique_ptr<SyncClient> sync = Connect();
  absl::StatusOr<v1::SyncAck> ack = sync->Send({Inserted(1, "CAM-0001", 1)});
  EXPECT_THAT(ack, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SyncHello")));
}

TEST_F(DockSyncTest, AppliesItemsOnceAndAcksTheHighestSequencePerLane) {
  const absl::Time t0 = absl::Now() - absl::Minutes(30);
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync->Send({
      Inserted(1, "CAM-0001", 2),
      Health(1, "CAM-0001", 2, 10, t0, 50),
      Health(2, "CAM-0001", 2, 11, t0 + absl::Minutes(1), 60),
      Inserted(2, "CAM-0002", 3),
  });
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 2u);
  EXPECT_EQ(ack->telemetry_applied(), 2u);
  EXPECT_THAT(ack->rejected(), SizeIs(0));
  // The same batch again: acknowledged, nothing new.
  ack = sync->Send({Inserted(1, "CAM-0001", 2), Health(1, "CAM-0001", 2, 10, t0, 50),
                    Health(2, "CAM-0001", 2, 11, t0 + absl::Minutes(1), 60)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 2u);
  EXPECT_EQ(ack->telemetry_applied(), 2u);
  EXPECT_THAT(sync->Close(), IsOk());

  absl::StatusOr<std::vector<v1::HealthRecord>> readings = Readings("CAM-0001");
  ASSERT_THAT(readings, IsOk());
  ASSERT_THAT(*readings, SizeIs(2));
  EXPECT_EQ((*readings)[0].reading().camera_sequence(), 11u);  // newest first
  EXPECT_EQ((*readings)[0].dock_id(), kDock);
  absl::StatusOr<v1::Camera> cam = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(cam, IsOk());
  EXPECT_TRUE(cam->has_last_seen_time());
  EXPECT_EQ(cam->last_dock_id(), kDock);
  EXPECT_EQ(cam->last_slot(), 2u);
  EXPECT_EQ(cam->latest_health().battery_percent(), 60u);
  EXPECT_EQ(cam->latest_health().battery_health_percent(), 96u);  // 2900 of 3000 mAh
  EXPECT_EQ(cam->latest_health().cycle_count(), 100u);

  std::unique_ptr<SyncClient> again = Connect();
  absl::StatusOr<v1::SyncWelcome> welcome = again->Open(Hello());
  ASSERT_THAT(welcome, IsOk());
  EXPECT_EQ(welcome->custody_applied(), 2u);
  EXPECT_EQ(welcome->telemetry_applied(), 2u);

  v1::ListDocksRequest docks_req;
  absl::StatusOr<v1::ListDocksResponse> docks =
      admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, docks_req);
  ASSERT_THAT(docks, IsOk());
  ASSERT_THAT(docks->docks(), SizeIs(1));
  EXPECT_TRUE(docks->docks(0).has_last_contact_time());
  EXPECT_EQ(docks->docks(0).agent_version(), "0.2.0");
  EXPECT_EQ(docks->docks(0).backlog_items(), 7u);  // as the new hello reports it

  // Between hellos the backlog shown shrinks by what the dock delivers (here 3 of 7 left
  // after delivering 4), and never below zero however much more comes.
  ASSERT_THAT(again->Send({Health(3, "CAM-0001", 2, 12, t0 + absl::Minutes(2), 61),
                           Health(4, "CAM-0001", 2, 13, t0 + absl::Minutes(3), 62),
                           Health(5, "CAM-0001", 2, 14, t0 + absl::Minutes(4), 63),
                           Health(6, "CAM-0001", 2, 15, t0 + absl::Minutes(5), 64)}),
              IsOk());
  docks = admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, docks_req);
  ASSERT_THAT(docks, IsOk());
  EXPECT_EQ(docks->docks(0).backlog_items(), 3u);
  EXPECT_LT(docks->docks(0).backlog_bytes(), 4096u);
  ASSERT_THAT(again->Send({Health(7, "CAM-0001", 2, 16, t0 + absl::Minutes(6), 65),
                           Health(8, "CAM-0001", 2, 17, t0 + absl::Minutes(7), 66),
                           Health(9, "CAM-0001", 2, 18, t0 + absl::Minutes(8), 67),
                           Health(10, "CAM-0001", 2, 19, t0 + absl::Minutes(9), 68)}),
              IsOk());
  docks = admin_->Prov(&v1::ProvisioningService::Stub::ListDocks, docks_req);
  ASSERT_THAT(docks, IsOk());
  EXPECT_EQ(docks->docks(0).backlog_items(), 0u);
  EXPECT_EQ(docks->docks(0).backlog_bytes(), 0u);
}

// Each item delivered three times, batches in shuffled order, reconnecting after every gap:
// the final state is the state of in-order delivery, and a reading with an older device time
// never replaces a newer snapshot.
TEST_F(DockSyncTest, ReplayedAndShuffledBatchesEndInTheSameStateAsInOrderDelivery) {
  const absl::Time t0 = absl::Now() - absl::Hours(2);
  // Device times deliberately not in sequence order: telemetry 4 is the newest reading of
  // CAM-0003, telemetry 6 (sent later) is older.
  auto items_for = [&](const std::string& cam, const std::string& badge) {
    return std::vector<v1::OutboxItem>{
        Inserted(1, cam, 1),
        Health(1, cam, 1, 1, t0 + absl::Minutes(1), 10),
        Health(2, cam, 1, 2, t0 + absl::Minutes(2), 20),
        Checkout(2, cam, 1, badge),
        Health(3, cam, 1, 3, t0 + absl::Minutes(3), 30),
        Health(4, cam, 1, 5, t0 + absl::Minutes(9), 90),
        Return(3, cam, 4, badge),
        Health(5, cam, 4, 4, t0 + absl::Minutes(4), 40),
        Health(6, cam, 4, 6, t0 + absl::Minutes(5), 50),
    };
  };
  // In order, on a second dock, for CAM-0004.
  absl::StatusOr<EnrolledDock> other = server_->EnrollDock(kSite, "post-1-dock-2");
  ASSERT_THAT(other, IsOk());
  {
    SyncClient in_order(server_->Channel(other->credentials.bundle));
    ASSERT_THAT(in_order.Open(Hello()), IsOk());
    ASSERT_THAT(in_order.Send(items_for("CAM-0004", "B200")), IsOk());
    EXPECT_THAT(in_order.Close(), IsOk());
  }
  // Replayed and shuffled, on the first dock, for CAM-0003.
  const std::vector<v1::OutboxItem> all = items_for("CAM-0003", "B100");
  std::vector<std::vector<v1::OutboxItem>> batches;
  for (int copy = 0; copy < 3; ++copy) {
    for (size_t start = 0; start < all.size(); start += 2) {
      batches.emplace_back(all.begin() + static_cast<long>(start),
                           all.begin() + static_cast<long>(std::min(start + 2, all.size())));
    }
  }
  std::mt19937 rng(20261205);
  std::shuffle(batches.begin(), batches.end(), rng);
  int gaps = 0;
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  for (const std::vector<v1::OutboxItem>& batch : batches) {
    absl::StatusOr<v1::SyncAck> ack = sync->Send(batch);
    if (!ack.ok()) {
      ASSERT_THAT(ack, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expected")));
      ++gaps;
      sync = Connect();
      ASSERT_THAT(sync->Open(Hello()), IsOk());
    }
  }
  // What the welcome says is missing, resent in order (what a dock does after a gap).
  sync = Connect();
  absl::StatusOr<v1::SyncWelcome> welcome = sync->Open(Hello());
  ASSERT_THAT(welcome, IsOk());
  std::vector<v1::OutboxItem> rest;
  for (const v1::OutboxItem& item : all) {
    const uint64_t applied = item.lane() == v1::SYNC_LANE_CUSTODY ? welcome->custody_applied()
                                                                  : welcome->telemetry_applied();
    if (item.sequence() > applied) rest.push_back(item);
  }
  absl::StatusOr<v1::SyncAck> ack = sync->Send(rest);
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 3u);
  EXPECT_EQ(ack->telemetry_applied(), 6u);
  EXPECT_GT(gaps, 0) << "the shuffle should have produced at least one gap";

  absl::StatusOr<v1::Camera> shuffled = admin_->GetCamera("CAM-0003");
  absl::StatusOr<v1::Camera> ordered = admin_->GetCamera("CAM-0004");
  ASSERT_THAT(shuffled, IsOk());
  ASSERT_THAT(ordered, IsOk());
  EXPECT_EQ(shuffled->state(), ordered->state());
  EXPECT_EQ(shuffled->state(), v1::CAMERA_STATE_AVAILABLE);
  EXPECT_EQ(shuffled->latest_health().battery_percent(),
            90u);  // the newest device time, not the last sent
  EXPECT_EQ(shuffled->latest_health().battery_percent(),
            ordered->latest_health().battery_percent());
  EXPECT_EQ(shuffled->last_slot(), ordered->last_slot());
  absl::StatusOr<std::vector<v1::HealthRecord>> a = Readings("CAM-0003");
  absl::StatusOr<std::vector<v1::HealthRecord>> b = Readings("CAM-0004");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT(*a, SizeIs(6));
  EXPECT_EQ(a->size(), b->size());
  // One issue and one return each, nothing more.
  absl::StatusOr<v1::GetCustodyTrailResponse> trail_a =
      admin_->Fleet(&v1::FleetService::Stub::GetCustodyTrail, [] {
        v1::GetCustodyTrailRequest r;
        r.set_serial("CAM-0003");
        return r;
      }());
  ASSERT_THAT(trail_a, IsOk());
  EXPECT_THAT(trail_a->assignments(), SizeIs(1));
}

TEST_F(DockSyncTest, GapEndsTheStreamNamingTheExpectedSequenceAndResendFromWelcomeWorks) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  ASSERT_THAT(sync->Send({Inserted(1, "CAM-0001", 1)}), IsOk());
  // The items before the gap are applied and acknowledged, then the stream ends.
  absl::StatusOr<v1::SyncAck> before_gap =
      sync->Send({Inserted(2, "CAM-0002", 2), Inserted(4, "CAM-0003", 3)});
  ASSERT_THAT(before_gap, IsOk());
  EXPECT_EQ(before_gap->custody_applied(), 2u);
  EXPECT_THAT(sync->End(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                    AllOf(HasSubstr("custody"), HasSubstr("expected sequence 3"))));

  sync = Connect();
  absl::StatusOr<v1::SyncWelcome> welcome = sync->Open(Hello());
  ASSERT_THAT(welcome, IsOk());
  EXPECT_EQ(welcome->custody_applied(), 2u);
  absl::StatusOr<v1::SyncAck> ack =
      sync->Send({Inserted(3, "CAM-0004", 4), Inserted(4, "CAM-0003", 3)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 4u);
}

TEST_F(DockSyncTest, NewEpochStartsFromZeroAndTheOldEpochKeepsItsPositions) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  ASSERT_THAT(sync->Send({Inserted(1, "CAM-0001", 1), Inserted(2, "CAM-0002", 2)}), IsOk());
  ASSERT_THAT(sync->Close(), IsOk());

  sync = Connect();
  absl::StatusOr<v1::SyncWelcome> fresh = sync->Open(Hello(kNewEpoch));
  ASSERT_THAT(fresh, IsOk());
  EXPECT_EQ(fresh->custody_applied(), 0u);
  absl::StatusOr<v1::SyncAck> ack = sync->Send({Inserted(1, "CAM-0003", 3)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 1u);
  ASSERT_THAT(sync->Close(), IsOk());

  sync = Connect();
  absl::StatusOr<v1::SyncWelcome> old = sync->Open(Hello(kEpoch));
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->custody_applied(), 2u);
}

TEST_F(DockSyncTest, ThinnedRangeAdvancesThePosition) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  v1::OutboxItem thinned = Item(v1::SYNC_LANE_TELEMETRY, 1);
  thinned.mutable_thinned()->set_thinned_through(40);
  thinned.mutable_thinned()->set_readings_dropped(40);
  absl::StatusOr<v1::SyncAck> ack =
      sync->Send({thinned, Health(41, "CAM-0001", 1, 1, absl::Now(), 80)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->telemetry_applied(), 41u);
}

TEST_F(DockSyncTest, ThinnedRangeStraddlingThePositionMovesItToTheRangesEnd) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  ASSERT_THAT(sync->Send({Health(1, "CAM-0001", 1, 1, absl::Now(), 80),
                          Health(2, "CAM-0001", 1, 2, absl::Now(), 79)}),
              IsOk());
  // The dock thinned 1..30 after the server had applied 1 and 2 (the ack was lost to it).
  v1::OutboxItem thinned = Item(v1::SYNC_LANE_TELEMETRY, 1);
  thinned.mutable_thinned()->set_thinned_through(30);
  thinned.mutable_thinned()->set_readings_dropped(28);
  absl::StatusOr<v1::SyncAck> ack =
      sync->Send({thinned, Health(31, "CAM-0001", 1, 31, absl::Now(), 70)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->telemetry_applied(), 31u);
  EXPECT_THAT(ack->rejected(), SizeIs(0));
}

TEST_F(DockSyncTest, CustodyItemsLostToARestoreAreCoveredByARange) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  v1::OutboxItem lost = Item(v1::SYNC_LANE_CUSTODY, 1);
  lost.mutable_thinned()->set_thinned_through(5);
  lost.mutable_thinned()->set_readings_dropped(5);
  absl::StatusOr<v1::SyncAck> ack = sync->Send({lost, Inserted(6, "CAM-0001", 1)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 6u);
  EXPECT_THAT(ack->rejected(), SizeIs(0));
  // The server raises its own alert naming dock, lane and range (the dock's ITEMS_LOST alert
  // may itself be among what was lost).
  absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(v1::ALERT_KIND_ITEMS_LOST);
  ASSERT_THAT(alerts, IsOk());
  ASSERT_THAT(*alerts, SizeIs(1));
  EXPECT_EQ((*alerts)[0].dock_id(), kDock);
  EXPECT_THAT((*alerts)[0].message(),
              AllOf(HasSubstr(kDock), HasSubstr("custody items 1-5"), HasSubstr(kEpoch)));
  // A range that straddles the position: only the part above it is lost.
  v1::OutboxItem straddle = Item(v1::SYNC_LANE_CUSTODY, 5);
  straddle.mutable_thinned()->set_thinned_through(9);
  ack = sync->Send({straddle});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 9u);
  alerts = Alerts(v1::ALERT_KIND_ITEMS_LOST);
  ASSERT_THAT(alerts, IsOk());
  ASSERT_THAT(*alerts, SizeIs(2));
  EXPECT_THAT((*alerts)[0].message(), HasSubstr("custody items 7-9"));
  // A telemetry range is thinned readings, not a loss: no alert.
  v1::OutboxItem thinned = Item(v1::SYNC_LANE_TELEMETRY, 1);
  thinned.mutable_thinned()->set_thinned_through(4);
  thinned.mutable_thinned()->set_readings_dropped(4);
  ASSERT_THAT(sync->Send({thinned}), IsOk());
  alerts = Alerts(v1::ALERT_KIND_ITEMS_LOST);
  ASSERT_THAT(alerts, IsOk());
  EXPECT_THAT(*alerts, SizeIs(2));
}

TEST_F(DockSyncTest, MalformedAndOversizedItemsAreRejectedAlertedAndAcknowledged) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  v1::OutboxItem too_full = Health(1, "CAM-0001", 1, 1, absl::Now(), 130);
  v1::OutboxItem bad_slot = Inserted(1, "CAM-0001", 9);  // the dock has 8 slots
  v1::OutboxItem bad_serial = Inserted(2, "cam 1", 1);
  v1::OutboxItem huge = Health(2, "CAM-0001", 1, 2, absl::Now(), 50);
  huge.mutable_health()->set_firmware_version(std::string(20000, 'x'));
  absl::StatusOr<v1::SyncAck> ack = sync->Send({too_full, bad_slot, bad_serial, huge});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 2u);
  EXPECT_EQ(ack->telemetry_applied(), 2u);
  ASSERT_THAT(ack->rejected(), SizeIs(4));
  std::map<std::string, std::string> reasons;
  for (const v1::RejectedItem& r : ack->rejected()) {
    EXPECT_EQ(r.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
    reasons[absl::StrCat(r.lane(), "/", r.sequence())] = r.reason();
  }
  EXPECT_THAT(reasons["2/1"], HasSubstr("health.battery_percent is 130"));
  EXPECT_THAT(reasons["1/1"], HasSubstr("inserted.slot is 9"));
  EXPECT_THAT(reasons["1/2"], HasSubstr("inserted.serial"));
  EXPECT_THAT(reasons["2/2"], HasSubstr("bytes"));
  // The stream goes on.
  ack = sync->Send({Inserted(3, "CAM-0001", 1)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 3u);

  absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(v1::ALERT_KIND_REJECTED_ITEM);
  ASSERT_THAT(alerts, IsOk());
  ASSERT_THAT(*alerts, SizeIs(4));
  bool found = false;
  for (const v1::Alert& a : *alerts) {
    EXPECT_EQ(a.dock_id(), kDock);
    if (absl::StrContains(a.message(), "telemetry item 1 ")) {
      found = true;
      EXPECT_THAT(a.message(), AllOf(HasSubstr(kDock), HasSubstr("battery_percent")));
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(DockSyncTest, ItemAboutAnotherSitesCameraIsRejectedWithPermissionDenied) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync->Send({Inserted(1, "CAM-9001", 1)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 1u);
  ASSERT_THAT(ack->rejected(), SizeIs(1));
  EXPECT_EQ(ack->rejected(0).code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  // The dock is not told which site the camera belongs to (the quartermaster's alert is).
  EXPECT_THAT(ack->rejected(0).reason(), Not(HasSubstr(kOtherSite)));
  absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(v1::ALERT_KIND_FOREIGN_CAMERA);
  ASSERT_THAT(alerts, IsOk());
  ASSERT_THAT(*alerts, SizeIs(1));
  EXPECT_EQ((*alerts)[0].serial(), "CAM-9001");
  absl::StatusOr<v1::Camera> cam = admin_->GetCamera("CAM-9001");
  ASSERT_THAT(cam, IsOk());
  EXPECT_FALSE(cam->has_last_seen_time());
}

// Readings are applied without a savepoint each (services/dock/README.md): a refused one
// between good ones changes nothing, and the good ones around it are all stored.
TEST_F(DockSyncTest, ReadingsAboutAnotherSitesOrAnUnknownCameraAreRejectedBetweenGoodOnes) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  const absl::Time t0 = absl::Now() - absl::Minutes(10);
  absl::StatusOr<v1::SyncAck> ack = sync->Send(
      {Health(1, "CAM-0001", 1, 1, t0, 50), Health(2, "CAM-9001", 2, 1, t0, 50),
       Health(3, "CAM-0001", 1, 2, t0 + absl::Minutes(1), 51), Health(4, "CAM-7777", 3, 1, t0, 50),
       Health(5, "CAM-0001", 1, 3, t0 + absl::Minutes(2), 52)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->telemetry_applied(), 5u);
  ASSERT_THAT(ack->rejected(), SizeIs(2));
  EXPECT_EQ(ack->rejected(0).sequence(), 2u);
  EXPECT_EQ(ack->rejected(0).code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(ack->rejected(1).sequence(), 4u);
  // Unknown and foreign serials are answered alike: the dock cannot map the fleet.
  EXPECT_EQ(ack->rejected(1).code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(absl::StrReplaceAll(ack->rejected(1).reason(), {{"CAM-7777", "X"}}),
            absl::StrReplaceAll(ack->rejected(0).reason(), {{"CAM-9001", "X"}}));
  absl::StatusOr<std::vector<v1::HealthRecord>> readings = Readings("CAM-0001");
  ASSERT_THAT(readings, IsOk());
  EXPECT_THAT(*readings, SizeIs(3));
  absl::StatusOr<v1::Camera> other = admin_->GetCamera("CAM-9001");
  ASSERT_THAT(other, IsOk());
  EXPECT_FALSE(other->has_last_seen_time());
  EXPECT_FALSE(other->has_latest_health());
  absl::StatusOr<v1::Camera> own = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(own, IsOk());
  EXPECT_EQ(own->latest_health().battery_percent(), 52u);
}

TEST_F(DockSyncTest, DockCheckoutIsAnAssignmentWithTheDockAsActorOnBehalfOfTheBadge) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  absl::StatusOr<v1::SyncAck> ack =
      sync->Send({Inserted(1, "CAM-0001", 1), Checkout(2, "CAM-0001", 1, "B100")});
  ASSERT_THAT(ack, IsOk());
  EXPECT_THAT(ack->rejected(), SizeIs(0));
  absl::StatusOr<v1::Camera> cam = admin_->GetCamera("CAM-0001");
  ASSERT_THAT(cam, IsOk());
  EXPECT_EQ(cam->state(), v1::CAMERA_STATE_ISSUED);
  EXPECT_EQ(cam->holder_badge(), "B100");
  bool issued = false;
  for (const v1::AuditEvent& e : AuditOf("CAM-0001")) {
    if (e.action() != "camera.issue") continue;
    issued = true;
    EXPECT_EQ(e.actor(), absl::StrCat("dock:", kDock));
    EXPECT_THAT(e.details_json(), HasSubstr("\"on_behalf_of\":\"B100\""));
  }
  EXPECT_TRUE(issued);
  // The site view sent after the batch's ack shows the check-out.
  ASSERT_THAT(sync->Close(), IsOk());
  ASSERT_TRUE(sync->last_site_view().has_value());
  bool shown = false;
  for (const v1::SiteCamera& c : sync->last_site_view()->cameras()) {
    if (c.serial() == "CAM-0001") shown = c.holder_badge() == "B100";
  }
  EXPECT_TRUE(shown);
}

// Reads what the server pushes until a site view satisfies `wanted`; the time it took.
absl::StatusOr<absl::Duration> AwaitView(SyncClient& sync,
                                         const std::function<bool(const v1::SiteView&)>& wanted) {
  const absl::Time start = absl::Now();
  while (true) {
    absl::StatusOr<v1::SyncResponse> next = sync.Next();
    if (!next.ok()) return next.status();
    if (next->has_ack()) return absl::InternalError("an ack on a stream that sent nothing");
    if (next->has_site_view() && wanted(next->site_view())) return absl::Now() - start;
  }
}

bool CameraIn(const v1::SiteView& view, const std::string& serial, v1::CameraState state) {
  for (const v1::SiteCamera& c : view.cameras()) {
    if (c.serial() == serial) return c.state() == state;
  }
  return false;
}

TEST_F(DockSyncTest, IdleStreamIsPushedTheViewWhenACameraIsMarkedLostCentrally) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  ASSERT_TRUE(CameraIn(*sync->last_site_view(), "CAM-0002", v1::CAMERA_STATE_AVAILABLE));
  // The dock sends nothing; the change is made centrally.
  ASSERT_THAT(admin_->ReportLost("CAM-0002"), IsOk());
  absl::StatusOr<absl::Duration> took = AwaitView(
      *sync, [](const v1::SiteView& v) { return CameraIn(v, "CAM-0002", v1::CAMERA_STATE_LOST); });
  ASSERT_THAT(took, IsOk());
  EXPECT_LT(*took, kPushedNotPolled);
  // A new holder is pushed the same way; nothing is sent when nothing the dock sees changed.
  ASSERT_THAT(admin_->CreateHolder("B300", kSite), IsOk());
  took = AwaitView(*sync, [](const v1::SiteView& v) { return v.holders_size() == 3; });
  ASSERT_THAT(took, IsOk());
  EXPECT_LT(*took, kPushedNotPolled);
  ASSERT_THAT(admin_->CreateHolder("B900", kOtherSite), IsOk());
  ASSERT_THAT(admin_->Commission("CAM-9001", ""), IsOk());
  ASSERT_THAT(admin_->ReportLost("CAM-9001"), IsOk());
  ASSERT_THAT(admin_->ReportLost("CAM-0003"), IsOk());
  // The next view is the one with CAM-0003 lost: the other site's changes sent nothing.
  absl::StatusOr<v1::SyncResponse> next = sync->Next();
  ASSERT_THAT(next, IsOk());
  ASSERT_TRUE(next->has_site_view());
  EXPECT_TRUE(CameraIn(next->site_view(), "CAM-0003", v1::CAMERA_STATE_LOST));
  EXPECT_THAT(sync->Close(), IsOk());
}

TEST_F(DockSyncTest, HealthReadingsOlderThanThirtyDaysAreThinnedToFirstAndLastPerHourInBatches) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  const absl::Time now = absl::Now();
  // Two hours of readings every 5 minutes, 40 days ago, and one from today.
  const absl::Time base =
      absl::UnixEpoch() +
      absl::Floor(now - absl::Hours(24 * 40) - absl::UnixEpoch(), absl::Hours(1)) +
      absl::Minutes(1);
  std::vector<v1::OutboxItem> items;
  for (int i = 0; i < 24; ++i) {
    items.push_back(Health(static_cast<uint64_t>(i + 1), "CAM-0001", 1,
                           static_cast<uint64_t>(i + 1), base + absl::Minutes(5) * i, 90));
  }
  items.push_back(Health(25, "CAM-0001", 1, 25, now - absl::Minutes(1), 80));
  ASSERT_THAT(sync->Send(items), IsOk());
  ASSERT_THAT(sync->Close(), IsOk());

  monitoring::HealthRetention retention(
      server_->server().store(), {.raw_for = absl::Hours(24 * 30), .batch = 5, .interval = {}});
  // As of 11 days ago (a fake time), the readings were 29 days old: not yet.
  absl::StatusOr<int64_t> thinned = retention.RunOnce(now - absl::Hours(24 * 11));
  ASSERT_THAT(thinned, IsOk());
  EXPECT_EQ(*thinned, 0);
  // As of now they are 40 days old: 10 of each hour's 12 go, 5 per transaction.
  thinned = retention.RunOnce(now);
  ASSERT_THAT(thinned, IsOk());
  EXPECT_EQ(*thinned, 20);
  absl::StatusOr<std::vector<v1::HealthRecord>> left = Readings("CAM-0001");
  ASSERT_THAT(left, IsOk());
  std::vector<uint64_t> sequences;
  for (const v1::HealthRecord& r : *left) sequences.push_back(r.reading().camera_sequence());
  std::sort(sequences.begin(), sequences.end());
  EXPECT_EQ(sequences, (std::vector<uint64_t>{1, 12, 13, 24, 25}));
  // Running again changes nothing.
  thinned = retention.RunOnce(now);
  ASSERT_THAT(thinned, IsOk());
  EXPECT_EQ(*thinned, 0);
}

TEST_F(DockSyncTest, SiteRulesAreSetByAQuartermasterValidatedAuditedAndPushedToTheDock) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  v1::GetSiteRulesRequest get;
  get.set_site_code(kSite);
  absl::StatusOr<v1::GetSiteRulesResponse> got =
      TlsCall(*monitoring_auditor_, &v1::MonitoringService::Stub::GetSiteRules, get);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->site_rules().defaults());
  EXPECT_EQ(got->site_rules().rules().minimum_battery_percent(), 60u);

  v1::SetSiteRulesRequest set;
  set.set_site_code(kSite);
  set.mutable_rules()->set_minimum_battery_percent(85);
  set.mutable_rules()->mutable_shift()->set_seconds(10 * 3600);
  set.mutable_update_mask()->add_paths("minimum_battery_percent");
  set.mutable_update_mask()->add_paths("shift");
  // An auditor may read the rules, not set them.
  EXPECT_THAT(TlsCall(*monitoring_auditor_, &v1::MonitoringService::Stub::SetSiteRules, set),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Bad values name the field and change nothing.
  v1::SetSiteRulesRequest bad = set;
  bad.mutable_rules()->set_minimum_battery_percent(130);
  EXPECT_THAT(TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::SetSiteRules, bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("rules.minimum_battery_percent"), HasSubstr("0-100"))));
  bad = set;
  bad.mutable_rules()->mutable_shift()->set_seconds(0);
  EXPECT_THAT(TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::SetSiteRules, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rules.shift")));
  bad = set;
  bad.mutable_update_mask()->add_paths("max_speed");
  EXPECT_THAT(TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::SetSiteRules, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'max_speed'")));
  bad = set;
  bad.clear_update_mask();
  EXPECT_THAT(TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::SetSiteRules, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("update_mask")));
  bad = set;
  bad.set_site_code("NOPE-9");
  EXPECT_THAT(TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::SetSiteRules, bad),
              StatusIs(absl::StatusCode::kNotFound));
  got = TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::GetSiteRules, get);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->site_rules().defaults());

  absl::StatusOr<v1::SetSiteRulesResponse> done =
      TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::SetSiteRules, set);
  ASSERT_THAT(done, IsOk());
  EXPECT_FALSE(done->site_rules().defaults());
  EXPECT_EQ(done->site_rules().updated_by(), "qm-1");
  EXPECT_EQ(done->site_rules().rules().minimum_battery_percent(), 85u);
  EXPECT_EQ(done->site_rules().rules().shift().seconds(), 10 * 3600);
  // Fields outside the mask keep their value.
  EXPECT_EQ(done->site_rules().rules().reserve().seconds(), 3600);
  EXPECT_EQ(done->site_rules().rules().checkout_duration().seconds(), 12 * 3600);
  EXPECT_TRUE(done->site_rules().rules().return_on_dock());
  // The idle dock gets them without asking.
  absl::StatusOr<absl::Duration> took = AwaitView(*sync, [](const v1::SiteView& v) {
    return v.rules().minimum_battery_percent() == 85 && v.rules().shift().seconds() == 10 * 3600;
  });
  ASSERT_THAT(took, IsOk());
  EXPECT_LT(*took, kPushedNotPolled);
  std::vector<v1::AuditEvent> events = AuditOf(kSite);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().action(), "site.rules");
  EXPECT_THAT(events.back().details_json(), AllOf(HasSubstr("minimum_battery_percent=60"),
                                                  HasSubstr("minimum_battery_percent=85")));
  EXPECT_THAT(sync->Close(), IsOk());
}

TEST_F(DockSyncTest, CheckoutOfACameraMarkedLostCentrallyIsAConflictAndTheCameraStaysLost) {
  ASSERT_THAT(admin_->ReportLost("CAM-0002"), IsOk());
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync->Send({Checkout(1, "CAM-0002", 2, "B100")});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 1u);
  EXPECT_THAT(ack->rejected(), SizeIs(0));
  absl::StatusOr<v1::Camera> cam = admin_->GetCamera("CAM-0002");
  ASSERT_THAT(cam, IsOk());
  EXPECT_EQ(cam->state(), v1::CAMERA_STATE_LOST);

  const v1::Conflict c = OnlyOpenConflict();
  EXPECT_EQ(c.serial(), "CAM-0002");
  EXPECT_EQ(c.dock_id(), kDock);
  EXPECT_THAT(c.physical_fact(), HasSubstr("B100"));
  EXPECT_THAT(c.central_decision(), HasSubstr("LOST"));

  v1::ResolveConflictRequest resolve;
  resolve.set_id(c.id());
  resolve.set_resolution("officer B100 has it; found and reissued at the desk");
  absl::StatusOr<v1::ResolveConflictResponse> resolved =
      TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::ResolveConflict, resolve);
  ASSERT_THAT(resolved, IsOk());
  EXPECT_EQ(resolved->conflict().resolved_by(), "qm-1");
}

// A badge return at the dock of a camera the control plane does not hold as issued (marked
// lost meanwhile): the officer's return is a fact at the post, so it is acknowledged, not
// rejected, the camera keeps its central state, and a conflict carries both sides.
TEST_F(DockSyncTest, ReturnAtTheDockOfACameraMarkedLostCentrallyIsAConflict) {
  ASSERT_THAT(admin_->ReportLost("CAM-0004"), IsOk());
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync->Send({Return(1, "CAM-0004", 4, "B200")});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 1u);
  EXPECT_THAT(ack->rejected(), SizeIs(0));
  absl::StatusOr<v1::Camera> cam = admin_->GetCamera("CAM-0004");
  ASSERT_THAT(cam, IsOk());
  EXPECT_EQ(cam->state(), v1::CAMERA_STATE_LOST);

  const v1::Conflict c = OnlyOpenConflict();
  EXPECT_EQ(c.serial(), "CAM-0004");
  EXPECT_EQ(c.kind(), "dock_return_refused");
  EXPECT_EQ(c.dock_id(), kDock);
  EXPECT_THAT(c.physical_fact(), AllOf(HasSubstr("B200"), HasSubstr("\"slot\":\"4\"")));
  EXPECT_THAT(c.central_decision(), HasSubstr("LOST"));
  EXPECT_THAT(sync->Close(), IsOk());
}

TEST_F(DockSyncTest, LostCameraInsertedRaisesAnAlertAndIsNotPutBackInStock) {
  ASSERT_THAT(admin_->ReportLost("CAM-0005"), IsOk());
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  ASSERT_THAT(sync->Send({Inserted(1, "CAM-0005", 6)}), IsOk());
  absl::StatusOr<v1::Camera> cam = admin_->GetCamera("CAM-0005");
  ASSERT_THAT(cam, IsOk());
  EXPECT_EQ(cam->state(), v1::CAMERA_STATE_LOST);
  EXPECT_EQ(cam->last_slot(), 6u);
  absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(v1::ALERT_KIND_LOST_CAMERA_DOCKED);
  ASSERT_THAT(alerts, IsOk());
  ASSERT_THAT(*alerts, SizeIs(1));
  EXPECT_EQ((*alerts)[0].slot(), 6u);
  EXPECT_EQ((*alerts)[0].dock_id(), kDock);
  EXPECT_TRUE((*alerts)[0].has_event_time());
}

TEST_F(DockSyncTest, WornBatteryAlertsOnceAndClockSkewIsFlagged) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  const absl::Time now = absl::Now();
  v1::OutboxItem skewed = Health(3, "CAM-0006", 1, 3, now + absl::Hours(1), 80, 2000);
  *skewed.mutable_record_time() = At(now);  // the camera says an hour later than the dock
  ASSERT_THAT(sync->Send({Health(1, "CAM-0006", 1, 1, now - absl::Minutes(2), 80, 2300),
                          Health(2, "CAM-0006", 1, 2, now - absl::Minutes(1), 80, 2200), skewed}),
              IsOk());
  absl::StatusOr<std::vector<v1::Alert>> worn = Alerts(v1::ALERT_KIND_WORN_BATTERY);
  ASSERT_THAT(worn, IsOk());
  ASSERT_THAT(*worn, SizeIs(1));
  EXPECT_THAT((*worn)[0].message(), HasSubstr("below 80%"));
  absl::StatusOr<std::vector<v1::Alert>> skew = Alerts(v1::ALERT_KIND_CLOCK_SKEW);
  ASSERT_THAT(skew, IsOk());
  ASSERT_THAT(*skew, SizeIs(1));
  EXPECT_EQ((*skew)[0].serial(), "CAM-0006");
}

TEST_F(DockSyncTest, AlertsAreAcknowledgedOnceWithAnAuditEventAndNotByAnAuditor) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  v1::OutboxItem alert = Item(v1::SYNC_LANE_CUSTODY, 1);
  alert.mutable_alert()->set_kind(v1::DOCK_ALERT_KIND_REVOKED_CAMERA);
  alert.mutable_alert()->set_serial("CAM-0001");
  alert.mutable_alert()->set_slot(3);
  alert.mutable_alert()->set_message("revoked camera refused in slot 3");
  ASSERT_THAT(sync->Send({alert}), IsOk());
  absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(v1::ALERT_KIND_DOCK);
  ASSERT_THAT(alerts, IsOk());
  ASSERT_THAT(*alerts, SizeIs(1));
  const v1::Alert& a = (*alerts)[0];
  EXPECT_EQ(a.dock_alert_kind(), v1::DOCK_ALERT_KIND_REVOKED_CAMERA);

  v1::AcknowledgeAlertRequest ack_req;
  ack_req.set_id(a.id());
  EXPECT_THAT(
      TlsCall(*monitoring_auditor_, &v1::MonitoringService::Stub::AcknowledgeAlert, ack_req),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("quartermaster")));
  absl::StatusOr<v1::AcknowledgeAlertResponse> acked =
      TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::AcknowledgeAlert, ack_req);
  ASSERT_THAT(acked, IsOk());
  EXPECT_EQ(acked->alert().acknowledged_by(), "qm-1");
  EXPECT_TRUE(acked->alert().has_acknowledge_time());
  EXPECT_THAT(TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::AcknowledgeAlert, ack_req),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("qm-1")));

  bool audited = false;
  for (const v1::AuditEvent& e : AuditOf(absl::StrCat(a.id()))) {
    if (e.action() == "alert.acknowledge") audited = e.actor() == "qm-1";
  }
  EXPECT_TRUE(audited);

  v1::ListAlertsRequest open;
  open.set_acknowledged(v1::ALERT_ACKNOWLEDGED_FILTER_OPEN);
  absl::StatusOr<v1::ListAlertsResponse> still_open =
      TlsCall(*monitoring_qm_, &v1::MonitoringService::Stub::ListAlerts, open);
  ASSERT_THAT(still_open, IsOk());
  EXPECT_THAT(still_open->alerts(), SizeIs(0));
}

TEST_F(DockSyncTest, ListCamerasFiltersOnBatteryBelowAndNotSeenSince) {
  const absl::Time now = absl::Now();
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  ASSERT_THAT(sync->Send({Health(1, "CAM-0001", 1, 1, now - absl::Minutes(3), 15),
                          Health(2, "CAM-0002", 2, 1, now - absl::Minutes(2), 85)}),
              IsOk());
  v1::ListCamerasRequest low;
  low.set_site_code(kSite);
  low.set_battery_below(20);
  absl::StatusOr<v1::ListCamerasResponse> cams =
      admin_->Fleet(&v1::FleetService::Stub::ListCameras, low);
  ASSERT_THAT(cams, IsOk());
  ASSERT_THAT(cams->cameras(), SizeIs(1));
  EXPECT_EQ(cams->cameras(0).serial(), "CAM-0001");
  EXPECT_EQ(cams->cameras(0).latest_health().battery_percent(), 15u);

  v1::ListCamerasRequest unseen;
  unseen.set_site_code(kSite);
  *unseen.mutable_not_seen_since() = At(now - absl::Hours(1));
  cams = admin_->Fleet(&v1::FleetService::Stub::ListCameras, unseen);
  ASSERT_THAT(cams, IsOk());
  EXPECT_THAT(cams->cameras(), SizeIs(4));  // six at the site, two seen by the dock

  v1::ListCamerasRequest bad;
  bad.set_battery_below(130);
  EXPECT_THAT(admin_->Fleet(&v1::FleetService::Stub::ListCameras, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("battery_below is 130")));
}

TEST_F(DockSyncTest, ServerShutdownEndsAnOpenStreamWithUnavailable) {
  std::unique_ptr<SyncClient> sync = Connect();
  ASSERT_THAT(sync->Open(Hello()), IsOk());
  server_->Shutdown();
  EXPECT_THAT(sync->End(), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace camfleet::testing
