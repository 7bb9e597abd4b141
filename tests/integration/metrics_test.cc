// camfleetd's /metrics as Prometheus sees it: the real binary over mutual TLS with
// --metrics-listen, real calls and a real dock Sync stream, then GET /metrics over real HTTP.
// Every figure an operator would alert on must move with what happened, and Prometheus's own
// parser (promtool) must accept the scrape.

#include <grpcpp/generic/generic_stub.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/dock/sync_client.h"
#include "tests/firmware/release_upload.h"
#include "tests/firmware/signed_release.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/metrics_scrape.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSite[] = "POST-1";
constexpr char kDock[] = "post-1-dock-1";
constexpr char kEpoch[] = "00112233445566778899aabbccddeeff";
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

// Series names as a scrape writes them.
std::string Calls(const std::string& service, const std::string& method, const std::string& type,
                  const std::string& code, const std::string& suffix = "") {
  const bool histogram = !suffix.empty();
  return absl::StrCat(
      histogram ? "camfleet_grpc_server_handling_seconds" : "camfleet_grpc_server_handled_total",
      suffix, "{grpc_service=\"", service, "\",grpc_method=\"", method, "\",grpc_type=\"", type,
      "\",grpc_code=\"", code, "\"}");
}
constexpr char kFleet[] = "camfleet.v1.FleetService";

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& target, const std::string& ca_pem,
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

struct Camfleetd {
  std::unique_ptr<ChildProcess> process;
  std::string target;
  int metrics_port = 0;
};

// `camfleetd serve --home HOME` with `extra` arguments; waits for its ports.
absl::StatusOr<Camfleetd> StartCamfleetd(const TempDir& dir, const std::string& home,
                                         const std::vector<std::string>& extra) {
  const std::string port_file = dir.File("port");
  const std::string metrics_port_file = dir.File("metrics-port");
  std::vector<std::string> argv = {CAMFLEETD_PATH,
                                   "serve",
                                   "--home",
                                   home,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--port-file",
                                   port_file,
                                   "--metrics-port-file",
                                   metrics_port_file};
  argv.insert(argv.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn(argv, dir.File("camfleetd.log"));
  if (!child.ok()) return child.status();
  absl::StatusOr<std::string> port = WaitForFileLine(port_file, kStartTimeout, child->get());
  absl::StatusOr<std::string> metrics_port =
      port.ok() ? WaitForFileLine(metrics_port_file, kStartTimeout, child->get()) : port.status();
  Camfleetd d;
  int number = 0;
  if (!port.ok() || !metrics_port.ok() || !absl::SimpleAtoi(*port, &number) ||
      !absl::SimpleAtoi(*metrics_port, &d.metrics_port)) {
    return absl::UnavailableError(
        absl::StrCat("camfleetd did not report its ports; log:\n", (*child)->LogTail()));
  }
  d.process = *std::move(child);
  d.target = absl::StrCat("127.0.0.1:", number);
  return d;
}

v1::SyncHello Hello(uint64_t backlog_items) {
  v1::SyncHello hello;
  hello.set_protocol_version(1);
  hello.set_epoch(kEpoch);
  hello.set_agent_version("0.2.0");
  hello.set_backlog_items(backlog_items);
  hello.set_backlog_bytes(backlog_items * 512);
  *hello.mutable_dock_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  return hello;
}

// A custody item the server refuses (slot 9 of an 8-slot dock): acknowledged, and an alert of
// kind REJECTED_ITEM raised.
v1::OutboxItem BadInsert(uint64_t sequence) {
  v1::OutboxItem item;
  item.set_lane(v1::SYNC_LANE_CUSTODY);
  item.set_sequence(sequence);
  *item.mutable_record_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  *item.mutable_clock_offset() = TimeUtil::MicrosecondsToDuration(0);
  item.mutable_inserted()->set_serial("CAM-0001");
  item.mutable_inserted()->set_slot(9);
  return item;
}

// The dock's report of one camera's install outcome, in the custody lane.
v1::OutboxItem Outcome(uint64_t sequence, const std::string& rollout_id,
                       const std::string& release_id, const std::string& serial,
                       v1::FirmwareInstallState state) {
  v1::OutboxItem item;
  item.set_lane(v1::SYNC_LANE_CUSTODY);
  item.set_sequence(sequence);
  *item.mutable_record_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  *item.mutable_clock_offset() = TimeUtil::MicrosecondsToDuration(0);
  v1::FirmwareProgress* p = item.mutable_firmware();
  p->set_rollout_id(rollout_id);
  p->set_serial(serial);
  p->set_release_id(release_id);
  p->set_attempt(1);
  p->set_state(state);
  if (state == v1::FIRMWARE_INSTALL_STATE_SUCCEEDED) p->set_running_version("2.0.0");
  if (state == v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK) p->set_error("2.0.0 did not boot");
  return item;
}

// camfleet_rollout_cameras{rollout, wave, state} as a scrape writes it.
std::string RolloutSeries(const std::string& rollout, int wave, const std::string& state) {
  return absl::StrCat("camfleet_rollout_cameras{rollout=\"", rollout, "\",wave=\"", wave,
                      "\",state=\"", state, "\"}");
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The home, the site, a camera and the dock's certificate, made through the API of an
    // in-process server that is then stopped; the real binary serves the same home.
    absl::StatusOr<std::unique_ptr<TlsTestServer>> setup = TlsTestServer::Start();
    ASSERT_THAT(setup, IsOk());
    ASSERT_THAT((*setup)->CreateSite(kSite), IsOk());
    {
      TlsClient admin((*setup)->AdminChannel());
      ASSERT_THAT(admin.RegisterCamera("CAM-0001", kSite), IsOk());
    }
    absl::StatusOr<EnrolledDock> dock = (*setup)->EnrollDock(kSite, kDock);
    ASSERT_THAT(dock, IsOk());
    dock_ = dock->credentials.bundle;
    admin_ = (*setup)->admin().bundle;
    ca_pem_ = (*setup)->ca_pem();
    home_ = (*setup)->home();
    (*setup)->Shutdown();
    setup_ = *std::move(setup);  // keeps the home (its temp dir) until the test ends
  }

  std::unique_ptr<TlsTestServer> setup_;
  provisioning::CredentialBundle dock_;
  provisioning::CredentialBundle admin_;
  std::string ca_pem_;
  std::string home_;
  TempDir dir_;
};

TEST_F(MetricsTest, ScrapeShowsCallsStoreDocksAndAlertsMovingAndPromtoolAcceptsIt) {
  absl::StatusOr<Camfleetd> server =
      StartCamfleetd(dir_, home_, {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<std::string> before_text = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(before_text, IsOk());
  const std::map<std::string, double> before = ParseSamples(*before_text);
  ASSERT_FALSE(before.empty()) << *before_text;
  EXPECT_EQ(Sample(before, "camfleet_docks_connected"), 0);
  EXPECT_EQ(Sample(before, "camfleet_alerts_open{kind=\"REJECTED_ITEM\"}"), 0);
  EXPECT_EQ(Sample(before, Calls(kFleet, "GetCamera", "unary", "NOT_FOUND")), -1);

  // Calls: three refused NOT_FOUND, two writes.
  TlsClient admin(ChannelTo(server->target, ca_pem_, admin_));
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(admin.GetCamera(absl::StrCat("NOPE-", i)), StatusIs(absl::StatusCode::kNotFound));
  }
  ASSERT_THAT(admin.CreateHolder("B-001", kSite), IsOk());
  ASSERT_THAT(admin.CreateHolder("B-002", kSite), IsOk());

  // A dock connects reporting a backlog, and sends an item the server refuses with an alert.
  auto sync = std::make_unique<SyncClient>(ChannelTo(server->target, ca_pem_, dock_));
  ASSERT_THAT(sync->Open(Hello(42)), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync->Send({BadInsert(1)});
  ASSERT_THAT(ack, IsOk());
  ASSERT_EQ(ack->rejected_size(), 1);

  absl::StatusOr<std::string> after_text = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(after_text, IsOk());
  const std::map<std::string, double> after = ParseSamples(*after_text);
  ASSERT_FALSE(after.empty()) << *after_text;

  EXPECT_EQ(Sample(after, Calls(kFleet, "GetCamera", "unary", "NOT_FOUND")), 3);
  EXPECT_EQ(Sample(after, Calls(kFleet, "GetCamera", "unary", "NOT_FOUND", "_count")), 3);
  EXPECT_EQ(Sample(after, Calls(kFleet, "CreateHolder", "unary", "OK")), 2);
  EXPECT_GT(Sample(after, Calls(kFleet, "CreateHolder", "unary", "OK", "_sum")), 0);
  // Buckets are cumulative and end with +Inf == _count.
  const std::string bucket =
      absl::StrCat("camfleet_grpc_server_handling_seconds_bucket{grpc_service=\"", kFleet,
                   "\",grpc_method=\"CreateHolder\",grpc_type=\"unary\",grpc_code=\"OK\",le=\"");
  EXPECT_EQ(Sample(after, bucket + "+Inf\"}"), 2);
  EXPECT_LE(Sample(after, bucket + "0.001\"}"), Sample(after, bucket + "10\"}"));

  // The store: the two holders (and the dock's hello and batch) were written, grouped,
  // committed and fsynced.
  EXPECT_GE(
      Sample(after, "camfleet_store_writes_total") - Sample(before, "camfleet_store_writes_total"),
      4);
  EXPECT_GT(Sample(after, "camfleet_store_group_writes_count"),
            Sample(before, "camfleet_store_group_writes_count"));
  EXPECT_GT(Sample(after, "camfleet_store_commit_seconds_count"),
            Sample(before, "camfleet_store_commit_seconds_count"));
  EXPECT_GT(Sample(after, "camfleet_store_fsync_seconds_count"),
            Sample(before, "camfleet_store_fsync_seconds_count"));
  EXPECT_GT(Sample(after, "camfleet_store_fsync_seconds_sum"), 0);
  EXPECT_EQ(Sample(after, "camfleet_store_queued_writes"), 0);
  // Each stage is exported (Sample is -1 for a missing series); what the gauges count is
  // storage_store_test's StatsSayWhereEachWriteIs.
  for (const char* stage : {"running", "awaiting_sync", "answering"}) {
    EXPECT_GE(Sample(after, absl::StrCat("camfleet_store_writes_in_stage{stage=\"", stage, "\"}")),
              0)
        << stage;
  }
  EXPECT_EQ(Sample(after, "camfleet_store_checkpoint_failures_total"), 0);
  EXPECT_EQ(Sample(after, "camfleet_store_healthy"), 1);

  // Docks and alerts.
  EXPECT_EQ(Sample(after, "camfleet_docks_connected"), 1);
  // 42 reported at the hello, less the one item delivered since (refused, but acknowledged).
  EXPECT_EQ(Sample(after, absl::StrCat("camfleet_dock_backlog_items{dock=\"", kDock, "\"}")), 41);
  EXPECT_EQ(Sample(after, "camfleet_alerts_open{kind=\"REJECTED_ITEM\"}"), 1);
  EXPECT_EQ(Sample(after, "camfleet_alerts_open{kind=\"WORN_BATTERY\"}"), 0);
  EXPECT_EQ(Sample(after, "camfleet_alerts_open{kind=\"DOCK:LOST_CAMERA\"}"), 0);
  // Rollouts: announced, no value made up until the rollout code reports.
  EXPECT_THAT(*after_text, HasSubstr("# TYPE camfleet_rollout_cameras gauge\n"));
  EXPECT_THAT(*after_text, Not(HasSubstr("camfleet_rollout_cameras{")));

  // The stream ends: the dock is gone, and the stream is counted by its status.
  ASSERT_THAT(sync->Close(), IsOk());
  sync.reset();
  std::map<std::string, double> ended;
  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> text = ScrapeMetrics(server->metrics_port);
    if (!text.ok()) return false;
    ended = ParseSamples(*text);
    return Sample(ended, "camfleet_docks_connected") == 0 &&
           Sample(ended, Calls("camfleet.v1.DockService", "Sync", "bidi_stream", "OK")) == 1;
  })) << "docks_connected "
      << Sample(ended, "camfleet_docks_connected");

  CAMFLEET_REQUIRE_PROMTOOL();
  EXPECT_THAT(PromtoolCheckMetrics(*after_text), IsOk()) << *after_text;
}

TEST_F(MetricsTest, RolloutProgressIsCountedPerRolloutWaveAndStateWhileUnfinished) {
  absl::StatusOr<Camfleetd> server =
      StartCamfleetd(dir_, home_, {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_THAT(server, IsOk());
  auto admin_channel = ChannelTo(server->target, ca_pem_, admin_);
  TlsClient admin(admin_channel);
  for (const char* serial : {"CAM-0002", "CAM-0003", "CAM-0004"}) {
    ASSERT_THAT(admin.RegisterCamera(serial, kSite), IsOk());
  }
  // A signed release for the cameras' model, from a key the server trusts.
  TempDir keys;
  absl::StatusOr<TestSigningKey> key = MakeSigningKey(keys.File("release"));
  ASSERT_THAT(key, IsOk());
  std::unique_ptr<v1::FirmwareService::Stub> firmware = v1::FirmwareService::NewStub(admin_channel);
  v1::AddSigningKeyRequest add;
  add.set_name("release-2027");
  add.set_public_key_pem(key->public_pem);
  ASSERT_THAT(TlsCall(*firmware, &v1::FirmwareService::Stub::AddSigningKey, add), IsOk());
  absl::StatusOr<ReleaseFiles> files =
      SignImage(keys.path(), "fw2", RandomImage(4096, 7), *key, {"AXON-4"}, "2.0.0");
  ASSERT_THAT(files, IsOk());
  absl::StatusOr<v1::FirmwareRelease> release = UploadSignedRelease(*firmware, *files);
  ASSERT_THAT(release, IsOk());

  absl::StatusOr<std::string> none = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(none, IsOk());
  EXPECT_THAT(*none, Not(HasSubstr("camfleet_rollout_cameras{"))) << "no rollout yet";

  // Four cameras in two waves (50%, 100%: two each, in serial order); one failure allowed.
  std::unique_ptr<v1::RolloutService::Stub> rollouts = v1::RolloutService::NewStub(admin_channel);
  v1::CreateRolloutRequest create;
  create.set_release_id(release->release_id());
  create.mutable_target()->add_site_codes(kSite);
  create.add_wave_percents(50);
  create.add_wave_percents(100);
  create.mutable_failure_threshold()->set_count(1);
  absl::StatusOr<v1::CreateRolloutResponse> created =
      TlsCall(*rollouts, &v1::RolloutService::Stub::CreateRollout, create);
  ASSERT_THAT(created, IsOk());
  const std::string id = created->rollout().rollout_id();

  absl::StatusOr<std::string> started_text = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(started_text, IsOk());
  const std::map<std::string, double> started = ParseSamples(*started_text);
  ASSERT_FALSE(started.empty()) << *started_text;
  for (int wave : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("wave ", wave));
    EXPECT_EQ(Sample(started, RolloutSeries(id, wave, "PENDING")), 2);
    // Every state has its series from the start, at 0.
    for (const char* state : {"DOWNLOADING", "INSTALLING", "SUCCEEDED", "FAILED", "ROLLED_BACK"}) {
      EXPECT_EQ(Sample(started, RolloutSeries(id, wave, state)), 0) << state;
    }
  }
  EXPECT_EQ(Sample(started, RolloutSeries(id, 3, "PENDING")), -1) << "there is no wave 3";

  // The dock reports wave 1: one camera updated, one rolled back (within the threshold), so
  // wave 2 opens.
  auto sync = std::make_unique<SyncClient>(ChannelTo(server->target, ca_pem_, dock_));
  ASSERT_THAT(sync->Open(Hello(0)), IsOk());
  absl::StatusOr<v1::SyncAck> ack = sync->Send(
      {Outcome(1, id, release->release_id(), "CAM-0001", v1::FIRMWARE_INSTALL_STATE_SUCCEEDED),
       Outcome(2, id, release->release_id(), "CAM-0002", v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK)});
  ASSERT_THAT(ack, IsOk());
  ASSERT_EQ(ack->rejected_size(), 0) << ack->DebugString();

  absl::StatusOr<std::string> moved_text = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(moved_text, IsOk());
  const std::map<std::string, double> moved = ParseSamples(*moved_text);
  EXPECT_EQ(Sample(moved, RolloutSeries(id, 1, "SUCCEEDED")), 1);
  EXPECT_EQ(Sample(moved, RolloutSeries(id, 1, "ROLLED_BACK")), 1);
  EXPECT_EQ(Sample(moved, RolloutSeries(id, 1, "PENDING")), 0);
  EXPECT_EQ(Sample(moved, RolloutSeries(id, 2, "PENDING")), 2);
  EXPECT_EQ(Sample(moved, RolloutSeries(id, 2, "SUCCEEDED")), 0);
  ASSERT_THAT(sync->Close(), IsOk());

  // A finished rollout leaves the metric (its final counts stay in GetRollout).
  v1::AbortRolloutRequest abort;
  abort.set_rollout_id(id);
  abort.set_reason("test done");
  ASSERT_THAT(TlsCall(*rollouts, &v1::RolloutService::Stub::AbortRollout, abort), IsOk());
  absl::StatusOr<std::string> ended_text = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(ended_text, IsOk());
  EXPECT_THAT(*ended_text, HasSubstr("# TYPE camfleet_rollout_cameras gauge\n"));
  EXPECT_THAT(*ended_text, Not(HasSubstr("camfleet_rollout_cameras{")));

  CAMFLEET_REQUIRE_PROMTOOL();
  EXPECT_THAT(PromtoolCheckMetrics(*moved_text), IsOk()) << *moved_text;
}

TEST_F(MetricsTest, UnknownPathIsNotFoundAndCallersCannotAddMethodLabels) {
  absl::StatusOr<Camfleetd> server =
      StartCamfleetd(dir_, home_, {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT(ScrapeMetrics(server->metrics_port, "/nope"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("404")));
  // A method no service has: UNIMPLEMENTED, counted under "unknown", not under its name.
  auto channel = ChannelTo(server->target, ca_pem_, admin_);
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::Slice empty("");  // an empty message (a ByteBuffer without a slice is no message)
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  generic.UnaryCall(&ctx, "/camfleet.v1.FleetService/MadeUp", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  absl::StatusOr<std::string> text = ScrapeMetrics(server->metrics_port);
  ASSERT_THAT(text, IsOk());
  EXPECT_THAT(*text, Not(HasSubstr("MadeUp")));
}

// Binds a loopback port and keeps it, so camfleetd cannot have it.
class HeldPort {
 public:
  HeldPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 1) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      port_ = 0;
    } else {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~HeldPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(MetricsTest, BadOrBusyMetricsAddressStopsTheServerWithAReason) {
  HeldPort held;
  ASSERT_GT(held.port(), 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"9464", "needs a host and a port"},
      {"127.0.0.1:99999", "needs a host and a port"},
      {absl::StrCat("127.0.0.1:", held.port()), "could not listen for metrics"},
  };
  for (const auto& [address, why] : cases) {
    SCOPED_TRACE(address);
    TempDir dir;
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Spawn({CAMFLEETD_PATH, "serve", "--home", home_, "--listen", "127.0.0.1:0",
                             "--metrics-listen", address},
                            dir.File("log"));
    ASSERT_THAT(child, IsOk());
    absl::StatusOr<int> status = (*child)->Wait(absl::Seconds(60));
    ASSERT_THAT(status, IsOk());
    ASSERT_TRUE(WIFEXITED(*status));
    EXPECT_NE(WEXITSTATUS(*status), 0);
    EXPECT_THAT((*child)->LogTail(), HasSubstr(why));
  }
}

}  // namespace
}  // namespace camfleet::testing
