// camfleetd killed with SIGKILL while a dock streams health readings: after the restart, the
// stored position of the telemetry lane equals the number of readings stored (the position
// and the items' effects commit together), it covers every acknowledged item, and resending
// from the welcome's position completes the lane with nothing applied twice.

#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/dock/sync_client.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kSite[] = "POST-1";
constexpr char kEpoch[] = "00112233445566778899aabbccddeeff";
constexpr int kCameras = 4;
constexpr int kBatchItems = 64;
constexpr int kBatches = 400;  // far more than are sent before the kill
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

std::string Serial(int i) { return absl::StrCat("CAM-", 1000 + i); }

v1::OutboxItem Reading(uint64_t sequence, absl::Time base) {
  v1::OutboxItem item;
  item.set_lane(v1::SYNC_LANE_TELEMETRY);
  item.set_sequence(sequence);
  const absl::Time t = base + absl::Seconds(static_cast<int64_t>(sequence));
  *item.mutable_record_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
  v1::HealthReading* h = item.mutable_health();
  const int camera = static_cast<int>(sequence % kCameras);
  h->set_serial(Serial(camera));
  h->set_slot(static_cast<uint32_t>(camera + 1));
  *h->mutable_device_time() = item.record_time();
  h->set_camera_sequence(sequence);
  h->set_battery_percent(static_cast<uint32_t>(sequence % 101));
  h->set_full_charge_capacity_mah(2950);
  h->set_design_capacity_mah(3000);
  h->set_storage_total_bytes(1000);
  return item;
}

std::vector<v1::OutboxItem> Batch(int index, absl::Time base) {
  std::vector<v1::OutboxItem> items;
  for (int i = 0; i < kBatchItems; ++i) {
    items.push_back(Reading(static_cast<uint64_t>(index * kBatchItems + i + 1), base));
  }
  return items;
}

std::shared_ptr<grpc::Channel> DockChannel(const std::string& target, const std::string& ca_pem,
                                           const provisioning::CredentialBundle& bundle) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem;
  tls.pem_private_key = bundle.key_pem;
  tls.pem_cert_chain = bundle.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(kServerName);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(tls), args);
}

struct Child {
  std::unique_ptr<ChildProcess> process;
  std::string target;
};

absl::StatusOr<Child> StartCamfleetd(const TempDir& dir, const std::string& home, int run) {
  const std::string port_file = dir.File(absl::StrCat("port-", run));
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn({CAMFLEETD_PATH, "serve", "--home", home, "--listen", "127.0.0.1:0",
                           "--port-file", port_file},
                          dir.File(absl::StrCat("camfleetd-", run, ".log")));
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> port = WaitForFileLine(port_file, kStartTimeout, child->get());
  int number = 0;
  if (!port.ok() || !absl::SimpleAtoi(*port, &number) || number <= 0) {
    return absl::UnavailableError(
        absl::StrCat("camfleetd did not report its port; log:\n", (*child)->LogTail()));
  }
  return Child{*std::move(child), absl::StrCat("127.0.0.1:", number)};
}

int64_t QueryInt(common::Database& db, const std::string& sql) {
  absl::StatusOr<common::Statement> s = db.Prepare(sql);
  if (!s.ok()) return -1;
  absl::StatusOr<bool> row = s->Step();
  return row.ok() && *row ? s->ColumnInt(0) : -1;
}

v1::SyncHello Hello() {
  v1::SyncHello hello;
  hello.set_protocol_version(1);
  hello.set_epoch(kEpoch);
  hello.set_agent_version("0.2.0");
  return hello;
}

TEST(DockSyncCrashTest, PositionAndReadingsCommitTogetherAcrossSigkill) {
  // The home, the site, the cameras and the dock's certificate, made through the API of an
  // in-process server that is then stopped; the real binary serves the same home.
  absl::StatusOr<std::unique_ptr<TlsTestServer>> setup = TlsTestServer::Start();
  ASSERT_THAT(setup, IsOk());
  TlsTestServer& server = **setup;
  ASSERT_THAT(server.CreateSite(kSite), IsOk());
  {
    TlsClient admin(server.AdminChannel());
    for (int i = 0; i < kCameras; ++i) {
      ASSERT_THAT(admin.RegisterCamera(Serial(i), kSite), IsOk());
      ASSERT_THAT(admin.Commission(Serial(i), ""), IsOk());
    }
  }
  absl::StatusOr<EnrolledDock> dock = server.EnrollDock(kSite, "post-1-dock-1");
  ASSERT_THAT(dock, IsOk());
  const std::string home = server.home();
  const std::string ca_pem = server.ca_pem();
  server.Shutdown();
  TempDir dir;

  absl::StatusOr<Child> first = StartCamfleetd(dir, home, 1);
  ASSERT_THAT(first, IsOk());
  const absl::Time base = absl::Now() - absl::Hours(24);
  std::atomic<uint64_t> last_acked{0};
  absl::Notification enough_acked;
  std::thread streamer([&] {
    SyncClient sync(DockChannel(first->target, ca_pem, dock->credentials.bundle),
                    absl::Seconds(120));
    if (!sync.Open(Hello()).ok()) return;
    for (int b = 0; b < kBatches; ++b) {
      absl::StatusOr<v1::SyncAck> ack = sync.Send(Batch(b, base));
      if (!ack.ok()) break;  // the server died
      last_acked = ack->telemetry_applied();
      if (b == 5) enough_acked.Notify();
    }
    if (!enough_acked.HasBeenNotified()) enough_acked.Notify();
  });
  ASSERT_TRUE(enough_acked.WaitForNotificationWithTimeout(absl::Seconds(120)));
  ASSERT_THAT(first->process->Kill(), IsOk());
  streamer.join();
  const uint64_t acked = last_acked.load();
  ASSERT_GE(acked, uint64_t{6 * kBatchItems});

  // Straight from the file, as the crash left it (opening it recovers the WAL).
  {
    absl::StatusOr<std::unique_ptr<common::Database>> db =
        common::Database::Open(server::HomePaths{home}.Database());
    ASSERT_THAT(db, IsOk());
    const int64_t position = QueryInt(**db, "SELECT applied FROM sync_positions WHERE lane = 2");
    const int64_t readings = QueryInt(**db, "SELECT COUNT(*) FROM health_readings");
    EXPECT_EQ(position, readings) << "the position and the readings it covers must commit together";
    EXPECT_GE(position, static_cast<int64_t>(acked)) << "an acknowledged batch was lost";
    EXPECT_EQ(position % kBatchItems, 0) << "a batch was applied in part";
    EXPECT_LT(position, int64_t{kBatches} * kBatchItems) << "the kill came after the stream";
  }

  absl::StatusOr<Child> second = StartCamfleetd(dir, home, 2);
  ASSERT_THAT(second, IsOk());
  SyncClient sync(DockChannel(second->target, ca_pem, dock->credentials.bundle));
  absl::StatusOr<v1::SyncWelcome> welcome = sync.Open(Hello());
  ASSERT_THAT(welcome, IsOk());
  EXPECT_GE(welcome->telemetry_applied(), acked);
  // Resend from the position of an earlier batch (a replay) up to the batch after the
  // position: the replay changes nothing, the rest is applied once.
  const int resume = static_cast<int>(welcome->telemetry_applied() / kBatchItems);
  ASSERT_THAT(sync.Send(Batch(resume - 1, base)), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync.Send(Batch(resume, base));
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->telemetry_applied(), static_cast<uint64_t>((resume + 1) * kBatchItems));
  ASSERT_THAT(sync.Close(), IsOk());
  ASSERT_THAT(second->process->Kill(), IsOk());
  absl::StatusOr<std::unique_ptr<common::Database>> db =
      common::Database::Open(server::HomePaths{home}.Database());
  ASSERT_THAT(db, IsOk());
  EXPECT_EQ(QueryInt(**db, "SELECT COUNT(*) FROM health_readings"), (resume + 1) * kBatchItems);
}

}  // namespace
}  // namespace camfleet::testing
