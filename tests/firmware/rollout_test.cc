// RolloutService and the firmware plan over the real wire: camfleetd from InitHome in a temp
// dir, mutual TLS on 127.0.0.1:0, a real SQLite file, docks enrolled through the API and driven
// with the raw sync stream (tests/dock/sync_client.h): plans come down the stream,
// FirmwareProgress goes up the custody lane. Time is a FakeClock so silence is testable.

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/report.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/dock/sync_client.h"
#include "tests/firmware/signed_release.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/db_query.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"
#include "tests/testing/wait.h"

namespace camfleet::testing {
namespace {

using google::protobuf::util::TimeUtil;
using provisioning::Role;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using RStub = v1::RolloutService::Stub;

constexpr char kModel[] = "AXON-4";  // what TlsClient::RegisterCamera registers
constexpr char kEpoch1[] = "0123456789abcdef0123456789abcdef";
constexpr char kEpoch2[] = "fedcba9876543210fedcba9876543210";

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

v1::SyncHello Hello(const std::string& epoch) {
  v1::SyncHello hello;
  hello.set_protocol_version(1);
  hello.set_epoch(epoch);
  hello.set_agent_version("0.2.0");
  *hello.mutable_dock_time() = At(absl::Now());
  return hello;
}

v1::OutboxItem Item(v1::SyncLane lane, uint64_t sequence) {
  v1::OutboxItem item;
  item.set_lane(lane);
  item.set_sequence(sequence);
  *item.mutable_record_time() = At(absl::Now());
  return item;
}

v1::OutboxItem Reading(uint64_t sequence, const std::string& serial, uint64_t camera_seq,
                       const std::string& version) {
  v1::OutboxItem item = Item(v1::SYNC_LANE_TELEMETRY, sequence);
  v1::HealthReading* h = item.mutable_health();
  h->set_serial(serial);
  h->set_slot(1);
  *h->mutable_device_time() = At(absl::Now());
  h->set_camera_sequence(camera_seq);
  h->set_battery_percent(90);
  h->set_full_charge_capacity_mah(2900);
  h->set_design_capacity_mah(3000);
  h->set_firmware_version(version);
  return item;
}

v1::OutboxItem Progress(uint64_t sequence, const v1::FirmwareJob& job,
                        v1::FirmwareInstallState state, const std::string& error = "") {
  v1::OutboxItem item = Item(v1::SYNC_LANE_CUSTODY, sequence);
  v1::FirmwareProgress* p = item.mutable_firmware();
  p->set_rollout_id(job.rollout_id());
  p->set_serial(job.serial());
  p->set_release_id(job.release_id());
  p->set_attempt(job.attempt());
  p->set_state(state);
  p->set_error(error);
  if (state == v1::FIRMWARE_INSTALL_STATE_SUCCEEDED) p->set_running_version("2.0.0");
  return item;
}

std::set<std::string> JobSerials(const v1::FirmwarePlan& plan) {
  std::set<std::string> out;
  for (const v1::FirmwareJob& j : plan.jobs()) out.insert(j.serial());
  return out;
}

const v1::RolloutUnit* UnitOf(const v1::Rollout& r, const std::string& serial) {
  for (const v1::RolloutUnit& u : r.units()) {
    if (u.serial() == serial) return &u;
  }
  return nullptr;
}

// One dock's sync stream with its own custody sequence.
struct Dock {
  ClientCredentials credentials;
  std::string epoch;
  std::unique_ptr<SyncClient> sync;
  uint64_t custody = 0;
  uint64_t telemetry = 0;
};

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TlsTestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    admin_ = std::make_unique<TlsClient>(server_->AdminChannel());
    // REGION > POST-1, POST-2; POST-3 stands alone.
    ASSERT_THAT(server_->CreateSite("REGION"), IsOk());
    for (const char* post : {"POST-1", "POST-2"}) {
      v1::CreateSiteRequest req;
      req.set_code(post);
      req.set_name(post);
      req.set_parent_code("REGION");
      ASSERT_THAT(admin_->Fleet(&v1::FleetService::Stub::CreateSite, req), IsOk());
    }
    ASSERT_THAT(server_->CreateSite("POST-3"), IsOk());
    for (int i = 1; i <= 10; ++i) Register(absl::StrFormat("CAM-%04d", i), "POST-1");
    for (int i = 101; i <= 104; ++i) Register(absl::StrFormat("CAM-%04d", i), "POST-2");
    Register("CAM-0201", "POST-3");
    v1::RegisterCameraRequest other;
    other.set_serial("CAM-0901");
    other.set_model("OTHER-1");
    other.set_site_code("POST-1");
    ASSERT_THAT(admin_->Fleet(&v1::FleetService::Stub::RegisterCamera, other), IsOk());

    rollouts_ = v1::RolloutService::NewStub(server_->AdminChannel());
    firmware_ = v1::FirmwareService::NewStub(server_->AdminChannel());
    absl::StatusOr<TestSigningKey> key = MakeSigningKey(keys_.File("release"));
    ASSERT_THAT(key, IsOk());
    v1::AddSigningKeyRequest add;
    add.set_name("release-2027");
    add.set_public_key_pem(key->public_pem);
    ASSERT_THAT(TlsCall(*firmware_, &v1::FirmwareService::Stub::AddSigningKey, add), IsOk());
    absl::StatusOr<ReleaseFiles> files =
        SignImage(keys_.path(), "fw2", RandomImage(4096, 7), *key, {kModel}, "2.0.0");
    ASSERT_THAT(files, IsOk());
    release_ = Upload(*files);
    ASSERT_FALSE(release_.empty());

    const std::vector<std::pair<std::string, std::string>> docks = {
        {"POST-1", "post-1-dock"}, {"POST-2", "post-2-dock"}};
    for (const auto& [site, dock_id] : docks) {
      absl::StatusOr<EnrolledDock> dock = server_->EnrollDock(site, dock_id);
      ASSERT_THAT(dock, IsOk());
      docks_[site].credentials = dock->credentials;
      docks_[site].epoch = site == "POST-1" ? kEpoch1 : kEpoch2;
    }
  }

  void Register(const std::string& serial, const std::string& site) {
    ASSERT_THAT(admin_->RegisterCamera(serial, site), IsOk());
  }

  std::string Upload(const ReleaseFiles& r) {
    v1::UploadReleaseResponse resp;
    std::unique_ptr<grpc::ClientContext> ctx = TlsContext();
    auto writer = firmware_->UploadRelease(ctx.get(), &resp);
    v1::UploadReleaseRequest header;
    header.mutable_header()->set_manifest(r.release.manifest_bytes);
    header.mutable_header()->set_signature(r.release.signature);
    bool open = writer->Write(header);
    v1::UploadReleaseRequest chunk;
    chunk.set_chunk(r.image);
    if (open) open = writer->Write(chunk);
    if (open) writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.release().release_id();
  }

  v1::CreateRolloutRequest Request(std::vector<std::string> sites = {"POST-1"}) {
    v1::CreateRolloutRequest req;
    req.set_release_id(release_);
    for (const std::string& s : sites) req.mutable_target()->add_site_codes(s);
    return req;
  }

  absl::StatusOr<v1::Rollout> Create(const v1::CreateRolloutRequest& req, RStub* stub = nullptr) {
    absl::StatusOr<v1::CreateRolloutResponse> resp =
        TlsCall(stub ? *stub : *rollouts_, &RStub::CreateRollout, req);
    if (!resp.ok()) return resp.status();
    return resp->rollout();
  }

  v1::Rollout Get(const std::string& id) {
    v1::GetRolloutRequest req;
    req.set_rollout_id(id);
    req.set_include_units(true);
    absl::StatusOr<v1::GetRolloutResponse> resp = TlsCall(*rollouts_, &RStub::GetRollout, req);
    EXPECT_THAT(resp, IsOk());
    return resp.ok() ? resp->rollout() : v1::Rollout();
  }

  // Waits until the rollout satisfies `wanted` (state changes made by the server's own threads).
  v1::Rollout AwaitRollout(const std::string& id,
                           const std::function<bool(const v1::Rollout&)>& wanted) {
    v1::Rollout last;
    EXPECT_TRUE(WaitFor(
        [&] {
          last = Get(id);
          return wanted(last);
        },
        absl::Seconds(20)))
        << last.DebugString();
    return last;
  }

  Dock& Connect(const std::string& site) {
    Dock& dock = docks_[site];
    dock.sync = std::make_unique<SyncClient>(server_->Channel(dock.credentials.bundle),
                                             absl::Seconds(60));
    absl::StatusOr<v1::SyncWelcome> welcome = dock.sync->Open(Hello(dock.epoch));
    EXPECT_THAT(welcome, IsOk());
    return dock;
  }

  // Reads what the server pushes until a plan satisfies `wanted`.
  absl::StatusOr<v1::FirmwarePlan> AwaitPlan(Dock& dock,
                                             const std::function<bool(const v1::FirmwarePlan&)>& wanted) {
    if (dock.sync->last_plan().has_value() && wanted(*dock.sync->last_plan())) {
      return *dock.sync->last_plan();
    }
    while (true) {
      absl::StatusOr<v1::SyncResponse> next = dock.sync->Next();
      if (!next.ok()) return next.status();
      if (next->has_firmware_plan() && wanted(next->firmware_plan())) return next->firmware_plan();
    }
  }

  absl::StatusOr<v1::SyncAck> SendProgress(Dock& dock, const v1::FirmwareJob& job,
                                           v1::FirmwareInstallState state,
                                           const std::string& error = "") {
    return dock.sync->Send({Progress(++dock.custody, job, state, error)});
  }

  // Reports every job of the plan as `state`.
  void ReportAll(Dock& dock, const v1::FirmwarePlan& plan, v1::FirmwareInstallState state) {
    for (const v1::FirmwareJob& job : plan.jobs()) {
      ASSERT_THAT(SendProgress(dock, job, state, "flash write error"), IsOk());
    }
  }

  int64_t CountActions(const std::string& action) {
    absl::StatusOr<int64_t> n = QueryInt(
        server_->paths().Database(),
        absl::StrCat("SELECT COUNT(*) FROM audit_events WHERE action = '", action, "'"));
    EXPECT_THAT(n, IsOk());
    return n.ok() ? *n : -1;
  }
  int64_t Query(const std::string& sql) {
    absl::StatusOr<int64_t> n = QueryInt(server_->paths().Database(), sql);
    EXPECT_THAT(n, IsOk());
    return n.ok() ? *n : -1;
  }

  absl::Status Abort(const std::string& id) {
    v1::AbortRolloutRequest req;
    req.set_rollout_id(id);
    req.set_reason("test done");
    return TlsCall(*rollouts_, &RStub::AbortRollout, req).status();
  }

  common::FakeClock clock_{absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))};
  TempDir keys_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<TlsClient> admin_;
  std::unique_ptr<RStub> rollouts_;
  std::unique_ptr<v1::FirmwareService::Stub> firmware_;
  std::string release_;
  std::map<std::string, Dock> docks_;
};

std::vector<std::string> Serials(const v1::Rollout& r) {
  std::vector<std::string> out;
  for (const v1::RolloutUnit& u : r.units()) out.push_back(u.serial());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(RolloutTest, TargetsByModelSiteSubtreeCurrentVersionAndSerials) {
  // Sites include the sites below them; the other model's camera is never targeted.
  absl::StatusOr<v1::Rollout> by_site = Create(Request({"REGION"}));
  ASSERT_THAT(by_site, IsOk());
  EXPECT_EQ(by_site->counts().total(), 14u);
  EXPECT_EQ(Get(by_site->rollout_id()).sites_size(), 2);
  ASSERT_THAT(Abort(by_site->rollout_id()), IsOk());

  v1::CreateRolloutRequest by_model = Request({});
  by_model.mutable_target()->add_models(kModel);
  absl::StatusOr<v1::Rollout> all = Create(by_model);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->counts().total(), 15u);  // every AXON-4, not CAM-0901
  ASSERT_THAT(Abort(all->rollout_id()), IsOk());

  v1::CreateRolloutRequest by_serial = Request({});
  by_serial.mutable_target()->add_serials("CAM-0003");
  by_serial.mutable_target()->add_serials("CAM-0102");
  absl::StatusOr<v1::Rollout> serials = Create(by_serial);
  ASSERT_THAT(serials, IsOk());
  EXPECT_THAT(Serials(Get(serials->rollout_id())), ElementsAre("CAM-0003", "CAM-0102"));
  ASSERT_THAT(Abort(serials->rollout_id()), IsOk());

  // Current versions come from the cameras' latest health readings.
  Dock& dock = Connect("POST-1");
  ASSERT_THAT(dock.sync->Send({Reading(++dock.telemetry, "CAM-0001", 1, "1.4.2"),
                               Reading(++dock.telemetry, "CAM-0002", 1, "1.4.2"),
                               Reading(++dock.telemetry, "CAM-0003", 1, "1.3.0")}),
              IsOk());
  v1::CreateRolloutRequest by_version = Request({"POST-1"});
  by_version.mutable_target()->add_current_versions("1.4.2");
  absl::StatusOr<v1::Rollout> versions = Create(by_version);
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(Serials(Get(versions->rollout_id())), ElementsAre("CAM-0001", "CAM-0002"));
}

TEST_F(RolloutTest, WavesOpenInOrderAndOnlyOpenWavesArePlanned) {
  v1::CreateRolloutRequest req = Request({"POST-1"});
  for (uint32_t p : {10, 50, 100}) req.add_wave_percents(p);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  v1::Rollout shown = Get(r->rollout_id());
  ASSERT_THAT(shown.waves(), SizeIs(3));
  EXPECT_EQ(shown.waves(0).counts().total(), 1u);
  EXPECT_EQ(shown.waves(1).counts().total(), 4u);
  EXPECT_EQ(shown.waves(2).counts().total(), 5u);
  EXPECT_TRUE(shown.waves(0).open());
  EXPECT_FALSE(shown.waves(1).open());

  Dock& dock = Connect("POST-1");
  ASSERT_TRUE(dock.sync->last_plan().has_value());
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  EXPECT_THAT(JobSerials(plan), ElementsAre("CAM-0001"));
  ASSERT_THAT(plan.releases(), SizeIs(1));
  EXPECT_EQ(plan.releases(0).release_id(), release_);
  EXPECT_FALSE(plan.releases(0).manifest().empty());
  EXPECT_EQ(plan.releases(0).signature().size(), 64u);
  EXPECT_EQ(plan.jobs(0).attempt(), 1u);

  // Steps before the outcome do not finish the wave; the outcome does, and the plan follows.
  ASSERT_THAT(SendProgress(dock, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_DOWNLOADING), IsOk());
  ASSERT_THAT(SendProgress(dock, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_INSTALLING), IsOk());
  EXPECT_EQ(UnitOf(Get(r->rollout_id()), "CAM-0001")->state(),
            v1::ROLLOUT_UNIT_STATE_INSTALLING);
  EXPECT_EQ(Get(r->rollout_id()).open_waves(), 1u);
  ASSERT_THAT(SendProgress(dock, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_SUCCEEDED), IsOk());
  absl::StatusOr<v1::FirmwarePlan> second =
      AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 4; });
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(JobSerials(*second), ElementsAre("CAM-0002", "CAM-0003", "CAM-0004", "CAM-0005"));
  EXPECT_EQ(Get(r->rollout_id()).open_waves(), 2u);

  ReportAll(dock, *second, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED);
  absl::StatusOr<v1::FirmwarePlan> third =
      AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 5; });
  ASSERT_THAT(third, IsOk());
  ReportAll(dock, *third, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED);
  v1::Rollout done = Get(r->rollout_id());
  EXPECT_EQ(done.state(), v1::ROLLOUT_STATE_COMPLETED);
  EXPECT_EQ(done.counts().succeeded(), 10u);
  EXPECT_EQ(UnitOf(done, "CAM-0007")->running_version(), "2.0.0");
  absl::StatusOr<v1::FirmwarePlan> empty =
      AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 0; });
  EXPECT_THAT(empty, IsOk());
  EXPECT_EQ(CountActions("rollout.wave_open"), 2);
  EXPECT_EQ(CountActions("rollout.complete"), 1);
}

TEST_F(RolloutTest, CanarySiteIsTheFirstWave) {
  v1::CreateRolloutRequest req = Request({"REGION"});
  req.set_canary_site_code("POST-2");
  req.add_wave_percents(50);
  req.add_wave_percents(100);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  v1::Rollout shown = Get(r->rollout_id());
  ASSERT_THAT(shown.waves(), SizeIs(3));
  EXPECT_EQ(shown.waves(0).canary_site_code(), "POST-2");
  EXPECT_EQ(shown.waves(0).counts().total(), 4u);
  EXPECT_EQ(shown.waves(1).counts().total(), 5u);
  Dock& post1 = Connect("POST-1");
  EXPECT_THAT(post1.sync->last_plan()->jobs(), IsEmpty());
  Dock& post2 = Connect("POST-2");
  EXPECT_THAT(post2.sync->last_plan()->jobs(), SizeIs(4));
}

TEST_F(RolloutTest, FailuresOverTheThresholdPauseTheRolloutWithTheReason) {
  v1::CreateRolloutRequest req = Request({"POST-1"});
  req.mutable_failure_threshold()->set_fraction(0.2);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  ASSERT_THAT(plan.jobs(), SizeIs(10));
  // 2 of 10 is at the threshold, not over it.
  ASSERT_THAT(SendProgress(dock, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_FAILED, "flash"), IsOk());
  ASSERT_THAT(SendProgress(dock, plan.jobs(1), v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK, "no boot"),
              IsOk());
  EXPECT_EQ(Get(r->rollout_id()).state(), v1::ROLLOUT_STATE_RUNNING);
  ASSERT_THAT(SendProgress(dock, plan.jobs(2), v1::FIRMWARE_INSTALL_STATE_FAILED, "flash"), IsOk());
  v1::Rollout paused = Get(r->rollout_id());
  EXPECT_EQ(paused.state(), v1::ROLLOUT_STATE_PAUSED);
  EXPECT_EQ(paused.reason(), "wave 1: 3 of 10 failed (threshold 20%)");
  EXPECT_EQ(UnitOf(paused, plan.jobs(1).serial())->state(), v1::ROLLOUT_UNIT_STATE_ROLLED_BACK);
  EXPECT_EQ(UnitOf(paused, plan.jobs(1).serial())->last_error(), "no boot");
  // The failed-updates report names the three, with what the dock said, in camera order.
  std::unique_ptr<v1::ReportService::Stub> reports =
      v1::ReportService::NewStub(server_->AdminChannel());
  v1::RunReportRequest report;
  report.set_report(v1::REPORT_KIND_FAILED_UPDATES);
  report.set_site_code("POST-1");
  absl::StatusOr<v1::RunReportResponse> failed =
      TlsCall(*reports, &v1::ReportService::Stub::RunReport, report);
  ASSERT_THAT(failed, IsOk());
  ASSERT_THAT(failed->rows(), SizeIs(3));
  std::map<std::string, std::pair<std::string, std::string>> by_serial;  // state, last_error
  for (const v1::ReportRow& row : failed->rows()) {
    ASSERT_EQ(row.cells_size(), failed->columns_size());
    EXPECT_EQ(row.cells(3), r->rollout_id());
    by_serial[row.cells(0)] = {row.cells(5), row.cells(7)};
  }
  EXPECT_EQ(by_serial[plan.jobs(0).serial()],
            std::make_pair(std::string("FAILED"), std::string("flash")));
  EXPECT_EQ(by_serial[plan.jobs(1).serial()],
            std::make_pair(std::string("ROLLED_BACK"), std::string("no boot")));
  EXPECT_EQ(by_serial[plan.jobs(2).serial()],
            std::make_pair(std::string("FAILED"), std::string("flash")));
  // Another post's cameras are not in it.
  report.set_site_code("POST-2");
  failed = TlsCall(*reports, &v1::ReportService::Stub::RunReport, report);
  ASSERT_THAT(failed, IsOk());
  EXPECT_THAT(failed->rows(), SizeIs(0));
  // A paused rollout's jobs leave the plan.
  EXPECT_THAT(AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 0; }),
              IsOk());
  // Resuming waives that wave's threshold: the admin chose to go on.
  v1::ResumeRolloutRequest resume;
  resume.set_rollout_id(r->rollout_id());
  absl::StatusOr<v1::ResumeRolloutResponse> resumed =
      TlsCall(*rollouts_, &RStub::ResumeRollout, resume);
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(resumed->rollout().state(), v1::ROLLOUT_STATE_RUNNING);
  EXPECT_THAT(AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 7; }),
              IsOk());
}

TEST_F(RolloutTest, StopAfterEachWaveWaitsForNextWave) {
  v1::CreateRolloutRequest req = Request({"POST-1"});
  req.add_wave_percents(50);
  req.add_wave_percents(100);
  req.set_stop_after_each_wave(true);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  ASSERT_THAT(plan.jobs(), SizeIs(5));
  // next-wave before the wave finished is refused.
  v1::NextWaveRequest next;
  next.set_rollout_id(r->rollout_id());
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::NextWave, next).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("RUNNING")));
  ReportAll(dock, plan, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED);
  v1::Rollout waiting = Get(r->rollout_id());
  EXPECT_EQ(waiting.state(), v1::ROLLOUT_STATE_AWAITING_NEXT_WAVE);
  EXPECT_EQ(waiting.open_waves(), 1u);
  absl::StatusOr<v1::NextWaveResponse> started = TlsCall(*rollouts_, &RStub::NextWave, next);
  ASSERT_THAT(started, IsOk());
  EXPECT_EQ(started->rollout().state(), v1::ROLLOUT_STATE_RUNNING);
  EXPECT_EQ(started->rollout().open_waves(), 2u);
  absl::StatusOr<v1::FirmwarePlan> second = AwaitPlan(dock, [](const v1::FirmwarePlan& p) {
    return p.jobs_size() == 5 && p.jobs(0).serial() == "CAM-0006";
  });
  ASSERT_THAT(second, IsOk());
  ReportAll(dock, *second, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED);
  EXPECT_EQ(Get(r->rollout_id()).state(), v1::ROLLOUT_STATE_COMPLETED);
}

TEST_F(RolloutTest, InstallWindowOfTheSiteOrItsParentGoesIntoThePlan) {
  v1::CreateRolloutRequest req = Request({"REGION"});
  v1::SiteInstallWindow* region = req.add_install_windows();
  region->set_site_code("REGION");
  region->set_start_minute(22 * 60);
  region->set_end_minute(5 * 60);
  region->set_time_zone("Asia/Bishkek");
  v1::SiteInstallWindow* post1 = req.add_install_windows();
  post1->set_site_code("POST-1");
  post1->set_start_minute(60);
  post1->set_end_minute(120);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  Dock& dock1 = Connect("POST-1");
  ASSERT_THAT(dock1.sync->last_plan()->jobs(), SizeIs(10));
  const v1::InstallWindow& w1 = dock1.sync->last_plan()->jobs(0).window();
  EXPECT_EQ(w1.start_minute(), 60u);
  EXPECT_EQ(w1.end_minute(), 120u);
  EXPECT_EQ(w1.time_zone(), "");
  Dock& dock2 = Connect("POST-2");
  const v1::InstallWindow& w2 = dock2.sync->last_plan()->jobs(0).window();
  EXPECT_EQ(w2.start_minute(), 22u * 60);
  EXPECT_EQ(w2.end_minute(), 5u * 60);
  EXPECT_EQ(w2.time_zone(), "Asia/Bishkek");
}

TEST_F(RolloutTest, SilentCameraFailsOnlyAfterItsDockWasInContactForTheTimeout) {
  v1::CreateRolloutRequest req = Request({});
  req.mutable_target()->add_serials("CAM-0001");
  req.mutable_target()->add_serials("CAM-0002");
  *req.mutable_silence_timeout() = TimeUtil::MicrosecondsToDuration(10LL * 60 * 1'000'000);
  req.mutable_failure_threshold()->set_count(5);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  // No dock has had the job yet: time alone fails nobody.
  clock_.Advance(absl::Hours(1));
  EXPECT_TRUE(server_->server().rollouts().Tick().ok());
  EXPECT_EQ(Get(r->rollout_id()).counts().pending(), 2u);

  Dock& dock = Connect("POST-1");
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  ASSERT_THAT(plan.jobs(), SizeIs(2));
  AwaitRollout(r->rollout_id(), [](const v1::Rollout& ro) {
    return ro.units_size() == 2 && ro.units(0).has_sent_time() && ro.units(1).has_sent_time();
  });
  // CAM-0002 reports a step; CAM-0001 says nothing.
  clock_.Advance(absl::Minutes(6));
  ASSERT_THAT(SendProgress(dock, plan.jobs(1), v1::FIRMWARE_INSTALL_STATE_DOWNLOADING), IsOk());
  clock_.Advance(absl::Minutes(5));
  // The dock stays in contact: a reading moves its last contact to now.
  ASSERT_THAT(dock.sync->Send({Reading(++dock.telemetry, "CAM-0003", 1, "1.4.2")}), IsOk());
  v1::Rollout after = AwaitRollout(r->rollout_id(), [](const v1::Rollout& ro) {
    return ro.counts().failed() == 1;
  });
  EXPECT_EQ(UnitOf(after, "CAM-0001")->state(), v1::ROLLOUT_UNIT_STATE_FAILED);
  EXPECT_EQ(UnitOf(after, "CAM-0001")->last_error(), "silent");
  EXPECT_EQ(UnitOf(after, "CAM-0002")->state(), v1::ROLLOUT_UNIT_STATE_DOWNLOADING);
  EXPECT_EQ(CountActions("rollout.unit.silent"), 1);
  EXPECT_THAT(AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 1; }),
              IsOk());
}

TEST_F(RolloutTest, RetryPicksUpOnlyFailedCamerasWithTheNextAttempt) {
  v1::CreateRolloutRequest req = Request({"POST-1"});
  req.mutable_failure_threshold()->set_count(10);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  ASSERT_THAT(plan.jobs(), SizeIs(10));
  for (int i = 0; i < 10; ++i) {
    const v1::FirmwareInstallState state = i == 0   ? v1::FIRMWARE_INSTALL_STATE_FAILED
                                           : i == 1 ? v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK
                                                    : v1::FIRMWARE_INSTALL_STATE_SUCCEEDED;
    ASSERT_THAT(SendProgress(dock, plan.jobs(i), state, "bad"), IsOk());
  }
  EXPECT_EQ(Get(r->rollout_id()).state(), v1::ROLLOUT_STATE_COMPLETED);
  v1::RetryFailedRequest retry;
  retry.set_rollout_id(r->rollout_id());
  absl::StatusOr<v1::RetryFailedResponse> retried =
      TlsCall(*rollouts_, &RStub::RetryFailed, retry);
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(retried->retried(), 2u);
  EXPECT_EQ(retried->rollout().state(), v1::ROLLOUT_STATE_RUNNING);
  absl::StatusOr<v1::FirmwarePlan> again =
      AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 2; });
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(JobSerials(*again), ElementsAre(plan.jobs(0).serial(), plan.jobs(1).serial()));
  for (const v1::FirmwareJob& job : again->jobs()) EXPECT_EQ(job.attempt(), 2u);
  v1::Rollout shown = Get(r->rollout_id());
  EXPECT_EQ(UnitOf(shown, plan.jobs(2).serial())->attempt(), 1u);
  EXPECT_EQ(UnitOf(shown, plan.jobs(2).serial())->state(), v1::ROLLOUT_UNIT_STATE_SUCCEEDED);
  // Progress for the old attempt is audited and changes nothing.
  ASSERT_THAT(SendProgress(dock, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_SUCCEEDED), IsOk());
  EXPECT_EQ(UnitOf(Get(r->rollout_id()), plan.jobs(0).serial())->state(),
            v1::ROLLOUT_UNIT_STATE_PENDING);
  EXPECT_EQ(CountActions("rollout.progress.ignore"), 1);
  ReportAll(dock, *again, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED);
  EXPECT_EQ(Get(r->rollout_id()).state(), v1::ROLLOUT_STATE_COMPLETED);
  // Nothing left to retry.
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::RetryFailed, retry).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no FAILED")));
}

TEST_F(RolloutTest, CameraRegisteredAfterTheStartJoinsTheLastWave) {
  v1::CreateRolloutRequest req = Request({"POST-1"});
  req.add_wave_percents(50);
  req.add_wave_percents(100);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  Register("CAM-0011", "POST-1");
  Register("CAM-0301", "POST-3");  // does not match
  v1::Rollout joined = AwaitRollout(r->rollout_id(), [](const v1::Rollout& ro) {
    return UnitOf(ro, "CAM-0011") != nullptr;
  });
  EXPECT_EQ(UnitOf(joined, "CAM-0011")->wave(), 2u);
  EXPECT_EQ(UnitOf(joined, "CAM-0011")->state(), v1::ROLLOUT_UNIT_STATE_PENDING);
  EXPECT_EQ(joined.counts().total(), 11u);
  EXPECT_EQ(UnitOf(joined, "CAM-0301"), nullptr);
  EXPECT_EQ(CountActions("rollout.join"), 1);
}

TEST_F(RolloutTest, WithdrawnReleaseStopsItsRolloutsAndIsListedInThePlan) {
  absl::StatusOr<v1::Rollout> r = Create(Request({"POST-1"}));
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  ASSERT_THAT(dock.sync->last_plan()->jobs(), SizeIs(10));
  v1::WithdrawReleaseRequest withdraw;
  withdraw.set_release_id(release_);
  withdraw.set_reason("bricks the sensor");
  ASSERT_THAT(TlsCall(*firmware_, &v1::FirmwareService::Stub::WithdrawRelease, withdraw), IsOk());
  absl::StatusOr<v1::FirmwarePlan> plan = AwaitPlan(dock, [](const v1::FirmwarePlan& p) {
    return p.jobs_size() == 0 && p.withdrawn_release_ids_size() == 1;
  });
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->withdrawn_release_ids(0), release_);
  v1::Rollout stopped = Get(r->rollout_id());
  EXPECT_EQ(stopped.state(), v1::ROLLOUT_STATE_ABORTED);
  EXPECT_THAT(stopped.reason(), HasSubstr("withdrawn"));
  // A withdrawn release starts no new rollout.
  EXPECT_THAT(Create(Request({"POST-2"})).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("withdrawn")));
  // A dock that connects later gets the withdrawal too.
  ASSERT_THAT(dock.sync->Close(), IsOk());
  Dock& again = Connect("POST-1");
  ASSERT_TRUE(again.sync->last_plan().has_value());
  EXPECT_THAT(again.sync->last_plan()->withdrawn_release_ids(), ElementsAre(release_));
}

TEST_F(RolloutTest, AbortEmptiesThePlanAndLaterProgressIsOnlyAudited) {
  absl::StatusOr<v1::Rollout> r = Create(Request({"POST-1"}));
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  ASSERT_THAT(Abort(r->rollout_id()), IsOk());
  EXPECT_THAT(AwaitPlan(dock, [](const v1::FirmwarePlan& p) { return p.jobs_size() == 0; }),
              IsOk());
  ASSERT_THAT(SendProgress(dock, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_SUCCEEDED), IsOk());
  v1::Rollout aborted = Get(r->rollout_id());
  EXPECT_EQ(aborted.state(), v1::ROLLOUT_STATE_ABORTED);
  EXPECT_EQ(aborted.counts().succeeded(), 0u);
  EXPECT_EQ(CountActions("rollout.progress.ignore"), 1);
  // Aborting again is refused and changes nothing.
  EXPECT_THAT(Abort(r->rollout_id()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("ABORTED")));
  EXPECT_EQ(CountActions("rollout.abort"), 1);
}

TEST_F(RolloutTest, ReplayedProgressIsAppliedOnce) {
  v1::CreateRolloutRequest req = Request({"POST-1"});
  req.mutable_failure_threshold()->set_count(10);
  absl::StatusOr<v1::Rollout> r = Create(req);
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  v1::FirmwarePlan plan = *dock.sync->last_plan();
  v1::OutboxItem failed = Progress(1, plan.jobs(0), v1::FIRMWARE_INSTALL_STATE_FAILED, "flash");
  ASSERT_THAT(dock.sync->Send({failed}), IsOk());
  // The dock did not hear the ack, reconnects and resends the same item.
  ASSERT_THAT(dock.sync->Close(), IsOk());
  Dock& again = Connect("POST-1");
  absl::StatusOr<v1::SyncAck> ack = again.sync->Send({failed});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 1u);
  EXPECT_EQ(CountActions("rollout.progress"), 1);
  v1::Rollout shown = Get(r->rollout_id());
  EXPECT_EQ(shown.counts().failed(), 1u);
  EXPECT_EQ(UnitOf(shown, plan.jobs(0).serial())->attempt(), 1u);
}

TEST_F(RolloutTest, ProgressForAnotherSitesCameraOrAnUnknownRolloutIsRejected) {
  absl::StatusOr<v1::Rollout> r = Create(Request({"REGION"}));
  ASSERT_THAT(r, IsOk());
  Dock& dock = Connect("POST-1");
  v1::FirmwareJob foreign = dock.sync->last_plan()->jobs(0);
  foreign.set_serial("CAM-0101");  // a POST-2 camera
  v1::FirmwareJob unknown = dock.sync->last_plan()->jobs(0);
  unknown.set_rollout_id("999");
  v1::FirmwareJob malformed = dock.sync->last_plan()->jobs(0);
  malformed.set_attempt(0);
  absl::StatusOr<v1::SyncAck> ack =
      dock.sync->Send({Progress(1, foreign, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED),
                       Progress(2, unknown, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED),
                       Progress(3, malformed, v1::FIRMWARE_INSTALL_STATE_SUCCEEDED)});
  ASSERT_THAT(ack, IsOk());
  EXPECT_EQ(ack->custody_applied(), 3u);
  ASSERT_THAT(ack->rejected(), SizeIs(3));
  EXPECT_EQ(ack->rejected(0).code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(ack->rejected(1).code(), static_cast<int>(absl::StatusCode::kNotFound));
  // Said as it is: the camera is the dock's own, the rollout is what is unknown.
  EXPECT_THAT(ack->rejected(1).reason(), HasSubstr("no rollout 999"));
  EXPECT_EQ(ack->rejected(2).code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ack->rejected(2).reason(), HasSubstr("firmware.attempt"));
  EXPECT_EQ(Get(r->rollout_id()).counts().succeeded(), 0u);
  EXPECT_EQ(CountActions("rollout.progress"), 0);
}

TEST_F(RolloutTest, BadInputToEveryCallIsRefusedAndChangesNothing) {
  absl::StatusOr<v1::Rollout> r = Create(Request({"POST-3"}));
  ASSERT_THAT(r, IsOk());
  const int64_t audit_before = Query("SELECT MAX(seq) FROM audit_events");
  const int64_t rollouts_before = Query("SELECT COUNT(*) FROM rollouts");
  auto create = [&](const std::function<void(v1::CreateRolloutRequest&)>& edit) {
    v1::CreateRolloutRequest req = Request({"POST-1"});
    edit(req);
    return Create(req).status();
  };
  using absl::StatusCode;
  EXPECT_THAT(create([](auto& q) { q.set_release_id("zz"); }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("release_id")));
  EXPECT_THAT(create([](auto& q) { q.set_release_id("0123456789abcdef"); }),
              StatusIs(StatusCode::kNotFound, HasSubstr("release_id")));
  EXPECT_THAT(create([](auto& q) { q.clear_target(); }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("target")));
  EXPECT_THAT(create([](auto& q) { q.mutable_target()->set_site_codes(0, "NOWHERE"); }),
              StatusIs(StatusCode::kNotFound, HasSubstr("target.site_codes[0]")));
  EXPECT_THAT(create([](auto& q) { q.mutable_target()->add_serials("CAM-0901"); }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("target.serials[0]")));
  EXPECT_THAT(create([](auto& q) { q.mutable_target()->add_serials("CAM-7777"); }),
              StatusIs(StatusCode::kNotFound, HasSubstr("target.serials[0]")));
  EXPECT_THAT(create([](auto& q) { q.mutable_target()->add_models("OTHER-1"); }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("target.models[0]")));
  EXPECT_THAT(create([](auto& q) { q.mutable_target()->add_current_versions("9.9.9"); }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("matches no camera")));
  EXPECT_THAT(create([](auto& q) {
                q.add_wave_percents(25);
                q.add_wave_percents(50);
              }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("100")));
  EXPECT_THAT(create([](auto& q) {
                q.add_wave_percents(50);
                q.add_wave_percents(50);
                q.add_wave_percents(100);
              }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("wave_percents[1]")));
  EXPECT_THAT(create([](auto& q) { q.add_wave_percents(0); }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("wave_percents[0]")));
  EXPECT_THAT(create([](auto& q) { q.mutable_failure_threshold()->set_fraction(1.5); }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failure_threshold.fraction")));
  EXPECT_THAT(create([](auto& q) {
                auto* w = q.add_install_windows();
                w->set_site_code("POST-1");
                w->set_start_minute(60);
                w->set_end_minute(120);
                w->set_time_zone("Mars/Olympus");
              }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("install_windows[0].time_zone")));
  EXPECT_THAT(create([](auto& q) {
                auto* w = q.add_install_windows();
                w->set_site_code("POST-1");
                w->set_start_minute(1440);
                w->set_end_minute(120);
              }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("install_windows[0].start_minute")));
  EXPECT_THAT(create([](auto& q) {
                *q.mutable_silence_timeout() = TimeUtil::MicrosecondsToDuration(1'000'000);
              }),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("silence_timeout")));
  EXPECT_THAT(create([](auto& q) { q.set_canary_site_code("POST-3"); }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("canary_site_code")));
  // POST-3's camera is in the first rollout already.
  EXPECT_THAT(create([](auto& q) { q.mutable_target()->set_site_codes(0, "POST-3"); }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("rollout")));

  v1::GetRolloutRequest get;
  get.set_rollout_id("abc");
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::GetRollout, get).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("rollout_id")));
  get.set_rollout_id("424242");
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::GetRollout, get).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr("424242")));
  v1::ListRolloutsRequest list;
  list.set_page_token("garbage");
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::ListRollouts, list).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("page_token")));
  v1::PauseRolloutRequest pause;
  pause.set_rollout_id(r->rollout_id());
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::PauseRollout, pause).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("reason")));
  pause.set_rollout_id("424242");
  pause.set_reason("x");
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::PauseRollout, pause).status(),
              StatusIs(StatusCode::kNotFound));
  v1::ResumeRolloutRequest resume;
  resume.set_rollout_id(r->rollout_id());
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::ResumeRollout, resume).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("RUNNING")));
  v1::NextWaveRequest next;
  next.set_rollout_id("");
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::NextWave, next).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("rollout_id")));
  v1::AbortRolloutRequest abort;
  abort.set_rollout_id(r->rollout_id());
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::AbortRollout, abort).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("reason")));
  v1::RetryFailedRequest retry;
  retry.set_rollout_id(r->rollout_id());
  EXPECT_THAT(TlsCall(*rollouts_, &RStub::RetryFailed, retry).status(),
              StatusIs(StatusCode::kFailedPrecondition));

  EXPECT_EQ(Query("SELECT MAX(seq) FROM audit_events"), audit_before);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM rollouts"), rollouts_before);
  EXPECT_EQ(Get(r->rollout_id()).state(), v1::ROLLOUT_STATE_RUNNING);
}

TEST_F(RolloutTest, AuditorAndQuartermasterReadButCannotCreateOrPause) {
  absl::StatusOr<v1::Rollout> r = Create(Request({"POST-1"}));
  ASSERT_THAT(r, IsOk());
  for (Role role : {Role::kAuditor, Role::kQuartermaster}) {
    absl::StatusOr<ClientCredentials> who =
        server_->IssueOperator(role == Role::kAuditor ? "aud-1" : "qm-1", role);
    ASSERT_THAT(who, IsOk());
    std::unique_ptr<RStub> stub = v1::RolloutService::NewStub(server_->Channel(who->bundle));
    EXPECT_THAT(Create(Request({"POST-2"}), stub.get()).status(),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admin")));
    v1::PauseRolloutRequest pause;
    pause.set_rollout_id(r->rollout_id());
    pause.set_reason("curious");
    EXPECT_THAT(TlsCall(*stub, &RStub::PauseRollout, pause).status(),
                StatusIs(absl::StatusCode::kPermissionDenied));
    v1::GetRolloutRequest get;
    get.set_rollout_id(r->rollout_id());
    EXPECT_THAT(TlsCall(*stub, &RStub::GetRollout, get), IsOk());
    EXPECT_THAT(TlsCall(*stub, &RStub::ListRollouts, v1::ListRolloutsRequest()), IsOk());
  }
  EXPECT_EQ(Get(r->rollout_id()).state(), v1::ROLLOUT_STATE_RUNNING);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM rollouts"), 1);
}

TEST_F(RolloutTest, ListPagesNewestFirstAndFiltersByState) {
  std::vector<std::string> ids;
  for (const char* site : {"POST-1", "POST-2", "POST-3"}) {
    absl::StatusOr<v1::Rollout> r = Create(Request({site}));
    ASSERT_THAT(r, IsOk());
    ids.push_back(r->rollout_id());
  }
  ASSERT_THAT(Abort(ids[1]), IsOk());
  v1::ListRolloutsRequest req;
  req.set_page_size(2);
  absl::StatusOr<v1::ListRolloutsResponse> first = TlsCall(*rollouts_, &RStub::ListRollouts, req);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(first->rollouts(), SizeIs(2));
  EXPECT_EQ(first->rollouts(0).rollout_id(), ids[2]);
  EXPECT_EQ(first->rollouts(0).counts().total(), 1u);
  ASSERT_FALSE(first->next_page_token().empty());
  req.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListRolloutsResponse> second = TlsCall(*rollouts_, &RStub::ListRollouts, req);
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(second->rollouts(), SizeIs(1));
  EXPECT_EQ(second->rollouts(0).rollout_id(), ids[0]);
  EXPECT_TRUE(second->next_page_token().empty());
  v1::ListRolloutsRequest aborted;
  aborted.set_state(v1::ROLLOUT_STATE_ABORTED);
  absl::StatusOr<v1::ListRolloutsResponse> only = TlsCall(*rollouts_, &RStub::ListRollouts, aborted);
  ASSERT_THAT(only, IsOk());
  ASSERT_THAT(only->rollouts(), SizeIs(1));
  EXPECT_EQ(only->rollouts(0).rollout_id(), ids[1]);
}

TEST_F(RolloutTest, EveryChangeIsInTheAuditChain) {
  absl::StatusOr<v1::Rollout> r = Create(Request({"POST-1"}));
  ASSERT_THAT(r, IsOk());
  v1::PauseRolloutRequest pause;
  pause.set_rollout_id(r->rollout_id());
  pause.set_reason("holiday");
  ASSERT_THAT(TlsCall(*rollouts_, &RStub::PauseRollout, pause), IsOk());
  v1::ResumeRolloutRequest resume;
  resume.set_rollout_id(r->rollout_id());
  ASSERT_THAT(TlsCall(*rollouts_, &RStub::ResumeRollout, resume), IsOk());
  v1::ListAuditEventsRequest filter;
  filter.set_object_id(r->rollout_id());
  absl::StatusOr<std::vector<v1::AuditEvent>> events = admin_->AuditEvents(filter);
  ASSERT_THAT(events, IsOk());
  std::vector<std::string> actions;
  for (const v1::AuditEvent& e : *events) {
    if (e.object_type() == "rollout") actions.push_back(e.action());
  }
  EXPECT_THAT(actions, ElementsAre("rollout.create", "rollout.pause", "rollout.resume"));
  absl::StatusOr<v1::VerifyAuditChainResponse> chain = admin_->VerifyAuditChain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_TRUE(chain->intact());
}

}  // namespace
}  // namespace camfleet::testing
