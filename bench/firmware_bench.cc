// camfleet-bench-firmware: a firmware rollout at the scale of a region (issue 12). camfleetd
// (in this process, mutual TLS on loopback, its real content store) rolls a 64 MiB release out
// to 10 docks with 10 cameras each: every dock is the real agent (agent::DockRuntime, its
// downloader, cache and installer) in this process, every camera a real camsim unit on its
// slot's unix socket. Then a point release (a few % of the image's blocks changed) goes the
// same way as a delta. Figures: bytes the control plane served per dock against one copy (and
// one delta); a dock's download throughput beside a plain loopback TCP copy of the same file
// measured in the same run; the delta's size against the compressed full image; time from
// rollout start to the last camera's confirmation. See bench/README.md.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/firmware_cache.h"
#include "agent/firmware_downloader.h"
#include "agent/outbox_item.h"
#include "agent/server_connection.h"
#include "bench/closed_loop.h"
#include "bench/process_stats.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "bench/tls_server.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "camfleet/v1/rollout.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "tests/firmware/dock_post_fleet.h"
#include "tests/firmware/release_upload.h"
#include "tests/firmware/signed_release.h"

namespace camfleet::bench {
namespace {

using json = nlohmann::json;
using testing::DockPostFleet;

constexpr char kModel[] = "AXON-4";

struct Options {
  int docks = 10;
  int cameras_per_dock = 10;
  int image_mib = 64;
  double changed_percent = 3;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
  // Only the solo download against the copy (no fleet, no rollouts): for profiling.
  bool download_only = false;
  // Copy and solo download pairs, alternated; the figures are the medians.
  int download_rounds = 3;
};

#define CHECK_OK_OR_RETURN(expr)    \
  do {                              \
    const absl::Status _s = (expr); \
    if (!_s.ok()) {                 \
      std::cerr << _s << "\n";      \
      return 1;                     \
    }                               \
  } while (0)

absl::Status FromGrpc(const grpc::Status& s) { return common::FromGrpcStatus(s); }

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline = kSetupDeadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return ctx;
}

double Seconds(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e9;
}

double Mib(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// A point release: `percent` of the image's 4 KiB blocks rewritten, spread at random (what a
// rebuild with a few changed modules does to a firmware image).
std::string ChangedBlocks(std::string image, double percent, uint32_t seed) {
  constexpr size_t kBlock = 4096;
  const size_t blocks = image.size() / kBlock;
  std::mt19937 rng(seed);
  const size_t change =
      std::max<size_t>(1, static_cast<size_t>(static_cast<double>(blocks) * percent / 100));
  for (size_t i = 0; i < change; ++i) {
    const size_t at = (rng() % blocks) * kBlock;
    for (size_t j = 0; j < kBlock; ++j) image[at + j] = static_cast<char>(rng() & 0xff);
  }
  return image;
}

// The ceiling: the same file copied over a plain TCP connection on 127.0.0.1 (no TLS, no gRPC,
// no framing) into a new file, synced at the end. Returns bytes per second.
absl::StatusOr<double> LoopbackCopy(const std::string& source, const std::string& target) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0) {
    ::close(listener);
    return absl::InternalError(absl::StrCat("loopback listener: ", std::strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<bool> sent_ok{false};
  std::thread sender([&] {
    const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    const int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (conn < 0 || in < 0) {
      if (conn >= 0) ::close(conn);
      if (in >= 0) ::close(in);
      return;
    }
    std::string buf(1 << 20, '\0');
    bool ok = true;
    while (ok) {
      const ssize_t n = ::read(in, buf.data(), buf.size());
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = ::write(conn, buf.data() + done, static_cast<size_t>(n - done));
        if (w <= 0) {
          ok = false;
          break;
        }
        done += w;
      }
    }
    sent_ok = ok;
    ::close(in);
    ::close(conn);
  });
  const int64_t start = MonotonicNanos();
  const int conn = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int out = ::open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  uint64_t total = 0;
  bool ok = conn >= 0 && out >= 0 &&
            ::connect(conn, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  std::string buf(1 << 20, '\0');
  while (ok) {
    const ssize_t n = ::read(conn, buf.data(), buf.size());
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w <= 0) {
        ok = false;
        break;
      }
      done += w;
    }
    total += static_cast<uint64_t>(n);
  }
  if (ok) ok = ::fsync(out) == 0;
  const int64_t end = MonotonicNanos();
  if (conn >= 0) ::close(conn);
  if (out >= 0) ::close(out);
  sender.join();
  ::close(listener);
  ::unlink(target.c_str());
  if (!ok || !sent_ok || total != std::filesystem::file_size(source)) {
    return absl::InternalError("the loopback copy did not complete");
  }
  return static_cast<double>(total) / Seconds(start, end);
}

// Bytes handed to each dock over time (FirmwareManager::BytesServed, sampled every 5 ms): when
// each dock's download started and when it had the whole payload.
class ServedSampler {
 public:
  ServedSampler(firmware_service::FirmwareManager& firmware, std::map<std::string, uint64_t> base,
                uint64_t payload)
      : firmware_(firmware), base_(std::move(base)), payload_(payload) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~ServedSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Per dock: (first byte, whole payload) on the monotonic clock; 0 if never.
  std::map<std::string, std::pair<int64_t, int64_t>> spans() {
    absl::MutexLock lock(&mu_);
    return spans_;
  }

 private:
  void Loop() {
    while (!stop_) {
      const int64_t now = MonotonicNanos();
      for (const auto& [dock, bytes] : firmware_.BytesServed()) {
        const uint64_t before = base_.count(dock) ? base_.at(dock) : 0;
        if (bytes <= before) continue;
        absl::MutexLock lock(&mu_);
        auto& span = spans_[dock];
        if (span.first == 0) span.first = now;
        if (span.second == 0 && bytes - before >= payload_) span.second = now;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  firmware_service::FirmwareManager& firmware_;
  const std::map<std::string, uint64_t> base_;
  const uint64_t payload_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::map<std::string, std::pair<int64_t, int64_t>> spans_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

struct RolloutRun {
  std::string name;
  bool completed = false;
  uint32_t succeeded = 0;
  std::string state;
  double wall_s = 0;     // CreateRollout to COMPLETED seen
  double server_s = 0;   // the rollout's finish_time - create_time
  uint64_t payload = 0;  // what one dock should fetch: the compressed image or delta
  std::map<std::string, uint64_t> served;  // per dock, this rollout only
  std::vector<double> dock_mib_s;          // per dock download throughput
};

Figure PlainFigure(std::string name, double value, std::string unit, int precision) {
  Figure f;
  f.name = std::move(name);
  f.value = value;
  f.unit = std::move(unit);
  f.precision = precision;
  return f;
}

int Run(const Options& options) {
  const int cameras = options.docks * options.cameras_per_dock;
  std::cout << absl::StrFormat(
                   "camfleet-bench-firmware: a %d MiB release to %d docks with %d cameras each, "
                   "then a point release (%.1f%% of blocks changed) as a delta\n",
                   options.image_mib, options.docks, options.cameras_per_dock,
                   options.changed_percent)
            << "load average at start: " << LoadAverages() << " ("
            << std::thread::hardware_concurrency() << " CPUs)\n";
  if (LoadAverage() > 0.5 * std::thread::hardware_concurrency()) {
    std::cout << "WARNING: the machine is busy; every figure below is lower than on a quiet one\n";
  }
  absl::StatusOr<std::unique_ptr<ScratchDir>> scratch =
      ScratchDir::Create(options.db_dir, options.keep_db);
  CHECK_OK_OR_RETURN(scratch.status());
  std::cout << "\n== setup (not timed)\n";
  absl::StatusOr<std::unique_ptr<TlsServer>> server =
      TlsServer::Start((*scratch)->File("home"), "bench-admin");
  CHECK_OK_OR_RETURN(server.status());
  std::cout << "  camfleetd (in this process) over mTLS at " << (*server)->target() << "\n";
  auto fleet_stub = v1::FleetService::NewStub((*server)->AdminChannel());
  auto firmware_stub = v1::FirmwareService::NewStub((*server)->AdminChannel());
  auto rollout_stub = v1::RolloutService::NewStub((*server)->AdminChannel());
  auto provisioning_stub = v1::ProvisioningService::NewStub((*server)->AdminChannel());

  std::filesystem::create_directories((*scratch)->File("keys"));
  absl::StatusOr<testing::TestSigningKey> key = testing::MakeSigningKey((*scratch)->File("keys"));
  CHECK_OK_OR_RETURN(key.status());
  {
    v1::AddSigningKeyRequest req;
    req.set_name("release-2027");
    req.set_public_key_pem(key->public_pem);
    v1::AddSigningKeyResponse resp;
    CHECK_OK_OR_RETURN(FromGrpc(firmware_stub->AddSigningKey(Context().get(), req, &resp)));
  }
  // Sites and cameras; POST-00 has a dock of its own and no cameras: the solo download.
  // --download-only: one post's cameras registered (a release needs a camera of its model),
  // no fleet started.
  const int sites = options.download_only ? 1 : options.docks;
  for (int d = 0; d <= sites; ++d) {
    v1::CreateSiteRequest req;
    req.set_code(DockPostFleet::SiteOf(d));
    req.set_name(DockPostFleet::SiteOf(d));
    v1::CreateSiteResponse resp;
    CHECK_OK_OR_RETURN(FromGrpc(fleet_stub->CreateSite(Context().get(), req, &resp)));
    for (int s = 1; d > 0 && s <= options.cameras_per_dock; ++s) {
      v1::RegisterCameraRequest cam;
      cam.set_serial(DockPostFleet::SerialOf(d, s));
      cam.set_model(kModel);
      cam.set_site_code(DockPostFleet::SiteOf(d));
      v1::RegisterCameraResponse cam_resp;
      CHECK_OK_OR_RETURN(FromGrpc(fleet_stub->RegisterCamera(Context().get(), cam, &cam_resp)));
    }
  }
  testing::DockPostFleetOptions fo;
  fo.dir = (*scratch)->File("posts");
  std::filesystem::create_directories(fo.dir);
  fo.server_target = (*server)->target();
  fo.server_name = kTlsServerName;
  fo.ca_pem = (*server)->admin().ca_pem;
  fo.docks = options.docks;
  fo.cameras_per_dock = options.cameras_per_dock;
  fo.model = kModel;
  fo.firmware_keys_pem = {key->public_pem};
  fo.token_for = [&](const std::string& site) -> absl::StatusOr<std::string> {
    v1::CreateEnrollmentTokenRequest req;
    req.set_site_code(site);
    v1::CreateEnrollmentTokenResponse resp;
    RETURN_IF_ERROR(
        FromGrpc(provisioning_stub->CreateEnrollmentToken(Context().get(), req, &resp)));
    return resp.token();
  };
  absl::StatusOr<std::unique_ptr<DockPostFleet>> fleet = std::unique_ptr<DockPostFleet>();
  if (!options.download_only) {
    const int64_t t_fleet = MonotonicNanos();
    fleet = DockPostFleet::Start(fo);
    CHECK_OK_OR_RETURN(fleet.status());
    if (!(*fleet)->WaitReady(absl::Minutes(5))) {
      std::cerr << "the docks did not see every camera within 5 minutes\n"
                << (*fleet)->FailuresText();
      return 1;
    }
    std::cout << absl::StrFormat(
        "  %d docks enrolled and running, %d cameras in their slots (%.1f s)\n", options.docks,
        cameras, Seconds(t_fleet, MonotonicNanos()));
  }

  // The releases: 1.1.0 (random bytes: firmware compresses poorly) and 1.2.0 from it.
  const size_t image_bytes = static_cast<size_t>(options.image_mib) << 20;
  const std::string image_v11 = testing::RandomImage(image_bytes, 11);
  const std::string image_v12 = ChangedBlocks(image_v11, options.changed_percent, 12);
  firmware_service::FirmwareManager& manager = (*server)->server().firmware();
  auto upload = [&](const std::string& name, const std::string& image, const std::string& version,
                    double* seconds) -> absl::StatusOr<v1::FirmwareRelease> {
    absl::StatusOr<testing::ReleaseFiles> r =
        testing::SignImage((*scratch)->File("keys"), name, image, *key, {kModel}, version);
    if (!r.ok()) return r.status();
    v1::UploadReleaseResponse resp;
    const int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(FromGrpc(
        testing::UploadSignedRelease(*firmware_stub, Context(absl::Minutes(10)).get(), *r, &resp)));
    *seconds = Seconds(t, MonotonicNanos());
    return resp.release();
  };
  double upload_v11_s = 0, upload_v12_s = 0;
  absl::StatusOr<v1::FirmwareRelease> v11 = upload("v11", image_v11, "1.1.0", &upload_v11_s);
  CHECK_OK_OR_RETURN(v11.status());
  absl::StatusOr<v1::FirmwareRelease> v12 =
      options.download_only ? *v11 : upload("v12", image_v12, "1.2.0", &upload_v12_s);
  CHECK_OK_OR_RETURN(v12.status());
  if (!options.download_only && v12->deltas_size() != 1) {
    std::cerr << "1.2.0 has no delta from 1.1.0\n";
    return 1;
  }
  const uint64_t delta_bytes = options.download_only ? 0 : v12->deltas(0).size_bytes();
  std::cout << absl::StrFormat(
      "  uploaded 1.1.0 (%.1f MiB, compressed %.1f MiB) in %.1f s and 1.2.0 (delta from 1.1.0: "
      "%.2f MiB) in %.1f s (signature, hash, compression and delta made by the server)\n",
      Mib(v11->image_size_bytes()), Mib(v11->compressed_size_bytes()), upload_v11_s,
      Mib(delta_bytes), upload_v12_s);

  // The ceiling and the solo download, before the rollout, on a quiet fleet.
  std::cout << "\n== one dock's download beside a plain loopback copy of the same file\n";
  std::string object_path;
  {
    v1::DownloadReleaseRequest req;
    req.set_release_id(v11->release_id());
    absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> src =
        manager.PrepareDownload(req);
    CHECK_OK_OR_RETURN(src.status());
    object_path = src->object_path;
  }
  absl::StatusOr<provisioning::CredentialBundle> probe_bundle =
      (*server)->EnrollDock(DockPostFleet::SiteOf(0), DockPostFleet::DockIdOf(0));
  CHECK_OK_OR_RETURN(probe_bundle.status());
  // One download into a fresh cache: bytes per second over the whole Fetch (the payload's
  // transfer, its checks, decompression and the image kept).
  auto solo_download = [&](int round) -> absl::StatusOr<double> {
    absl::StatusOr<std::unique_ptr<agent::FirmwareCache>> cache =
        agent::FirmwareCache::Open((*scratch)->File(absl::StrCat("probe-cache-", round)));
    RETURN_IF_ERROR(cache.status());
    RETURN_IF_ERROR((*cache)->TrustKey(key->public_pem).status());
    agent::FirmwareDownloader downloader(
        agent::MutualTlsChannel(agent::ServerEndpoint{(*server)->target(), kTlsServerName},
                                *probe_bundle),
        **cache);
    v1::PlannedRelease planned;
    planned.set_release_id(v11->release_id());
    planned.set_manifest(v11->manifest());
    planned.set_signature(v11->signature());
    const int64_t t = MonotonicNanos();
    absl::StatusOr<agent::FetchResult> got = downloader.Fetch(planned);
    const int64_t end = MonotonicNanos();
    RETURN_IF_ERROR(got.status());
    const double bps = static_cast<double>(got->bytes_received) / Seconds(t, end);
    std::filesystem::remove_all((*scratch)->File(absl::StrCat("probe-cache-", round)));
    return bps;
  };
  // The second, fuller ceiling (a diagnostic; the goal stays against the plain copy): the same
  // DownloadRelease stream over the dock's mutual TLS channel, its chunks counted and dropped.
  // What the transport alone allows; the downloader's own work is what lies between.
  auto stream_only = [&]() -> absl::StatusOr<double> {
    auto stub = v1::DockService::NewStub(agent::MutualTlsChannel(
        agent::ServerEndpoint{(*server)->target(), kTlsServerName}, *probe_bundle));
    v1::DownloadReleaseRequest req;
    req.set_release_id(v11->release_id());
    std::unique_ptr<grpc::ClientContext> ctx = Context(absl::Minutes(10));
    const int64_t t = MonotonicNanos();
    std::unique_ptr<grpc::ClientReader<v1::DownloadReleaseResponse>> reader =
        stub->DownloadRelease(ctx.get(), req);
    v1::DownloadReleaseResponse msg;
    uint64_t bytes = 0;
    while (reader->Read(&msg)) bytes += msg.chunk().size();
    RETURN_IF_ERROR(FromGrpc(reader->Finish()));
    const int64_t end = MonotonicNanos();
    if (bytes != v11->compressed_size_bytes()) {
      return absl::InternalError("the stream did not carry the whole payload");
    }
    return static_cast<double>(bytes) / Seconds(t, end);
  };
  // Copy, stream and download alternate, so load that comes and goes hits them alike; medians
  // count.
  std::vector<double> copies, streams, downloads;
  for (int round = 0; round < options.download_rounds; ++round) {
    absl::StatusOr<double> copy_bps = LoopbackCopy(object_path, (*scratch)->File("copy.bin"));
    CHECK_OK_OR_RETURN(copy_bps.status());
    absl::StatusOr<double> stream_bps = stream_only();
    CHECK_OK_OR_RETURN(stream_bps.status());
    absl::StatusOr<double> dl_bps = solo_download(round);
    CHECK_OK_OR_RETURN(dl_bps.status());
    copies.push_back(*copy_bps);
    streams.push_back(*stream_bps);
    downloads.push_back(*dl_bps);
    std::cout << absl::StrFormat(
        "  round %d: plain loopback TCP copy %.0f MiB/s; DownloadRelease stream alone (mutual "
        "TLS, gRPC, bytes dropped) %.0f MiB/s; the dock's FirmwareDownloader (that stream, the "
        "partial file, payload SHA-256, decompression, image hash and signature, image kept) "
        "%.0f MiB/s\n",
        round + 1, *copy_bps / (1 << 20), *stream_bps / (1 << 20), *dl_bps / (1 << 20));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  const double copy_median = median(copies);
  const double stream_median = median(streams);
  const double solo_bps = median(downloads);
  std::cout << absl::StrFormat(
      "  medians of %d rounds: copy %.0f MiB/s, stream alone %.0f MiB/s, download %.0f MiB/s\n",
      options.download_rounds, copy_median / (1 << 20), stream_median / (1 << 20),
      solo_bps / (1 << 20));
  Figure solo_figure{
      .name = "one dock's download throughput",
      .value = solo_bps / (1 << 20),
      .unit = "MiB/s",
      .precision = 0,
      .ceiling = copy_median / (1 << 20),
      .ceiling_name = "plain loopback TCP copy",
      .goal = Goal{.on = Goal::On::kRatio, .bound = Goal::Bound::kAtLeast, .limit = 0.8},
  };
  // The same download against the fuller ceiling: no goal, it shows the downloader's own share.
  Figure solo_vs_stream{
      .name = "one dock's download throughput",
      .value = solo_bps / (1 << 20),
      .unit = "MiB/s",
      .precision = 0,
      .ceiling = stream_median / (1 << 20),
      .ceiling_name = "DownloadRelease stream alone",
      .goal = std::nullopt,
  };
  if (options.download_only) {
    std::cout << "\n== summary (machine load average at end: " << LoadAverages() << ")\n";
    PrintFigures(std::cout, {solo_figure, solo_vs_stream});
    (*server)->Shutdown();
    return 0;
  }

  // The rollouts.
  auto roll_out = [&](const std::string& name, const v1::FirmwareRelease& release,
                      uint64_t payload) -> absl::StatusOr<RolloutRun> {
    RolloutRun run;
    run.name = name;
    run.payload = payload;
    const std::map<std::string, uint64_t> before = manager.BytesServed();
    ServedSampler sampler(manager, before, payload);
    v1::CreateRolloutRequest req;
    req.set_release_id(release.release_id());
    req.mutable_target()->add_models(kModel);
    v1::CreateRolloutResponse created;
    const int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(FromGrpc(rollout_stub->CreateRollout(Context().get(), req, &created)));
    v1::GetRolloutRequest get;
    get.set_rollout_id(created.rollout().rollout_id());
    v1::Rollout last;
    const int64_t give_up = t + int64_t{3600} * 1'000'000'000;
    while (MonotonicNanos() < give_up) {
      v1::GetRolloutResponse resp;
      if (rollout_stub->GetRollout(Context().get(), get, &resp).ok()) {
        last = resp.rollout();
        if (last.state() != v1::ROLLOUT_STATE_RUNNING) break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    run.wall_s = Seconds(t, MonotonicNanos());
    sampler.Stop();
    run.completed = last.state() == v1::ROLLOUT_STATE_COMPLETED;
    run.state = v1::RolloutState_Name(last.state());
    run.succeeded = last.counts().succeeded();
    using google::protobuf::util::TimeUtil;
    if (last.has_finish_time()) {
      run.server_s = static_cast<double>(TimeUtil::DurationToMicroseconds(last.finish_time() -
                                                                          last.create_time())) /
                     1e6;
    }
    for (const auto& [dock, bytes] : manager.BytesServed()) {
      const uint64_t b = before.count(dock) ? before.at(dock) : 0;
      if (bytes > b) run.served[dock] = bytes - b;
    }
    for (const auto& [dock, span] : sampler.spans()) {
      if (span.first != 0 && span.second > span.first) {
        run.dock_mib_s.push_back(Mib(payload) / Seconds(span.first, span.second));
      }
    }
    std::cout << absl::StrFormat(
        "  %s: %s, %u of %d cameras confirmed, %.1f s from start to the last confirmation "
        "(server clock %.1f s)\n",
        name, run.state, run.succeeded, cameras, run.wall_s, run.server_s);
    if (!run.completed) std::cout << (*fleet)->FailuresText();
    return run;
  };
  std::cout << "\n== rollouts (each dock fetches once, then installs its cameras one by one)\n";
  absl::StatusOr<RolloutRun> full =
      roll_out("1.1.0, full image", *v11, v11->compressed_size_bytes());
  CHECK_OK_OR_RETURN(full.status());
  absl::StatusOr<RolloutRun> delta = roll_out("1.2.0, delta", *v12, delta_bytes);
  CHECK_OK_OR_RETURN(delta.status());

  std::vector<std::vector<std::string>> rows = {
      {"dock", "1.1.0 served", "copies", "1.2.0 served", "deltas"}};
  uint64_t worst_full = 0, worst_delta = 0, total_served = 0;
  for (int d = 1; d <= options.docks; ++d) {
    const std::string id = DockPostFleet::DockIdOf(d);
    const uint64_t f = full->served.count(id) ? full->served.at(id) : 0;
    const uint64_t e = delta->served.count(id) ? delta->served.at(id) : 0;
    worst_full = std::max(worst_full, f);
    worst_delta = std::max(worst_delta, e);
    total_served += f + e;
    rows.push_back(
        {id, absl::StrFormat("%.2f MiB", Mib(f)),
         absl::StrFormat("%.3f", static_cast<double>(f) / static_cast<double>(full->payload)),
         absl::StrFormat("%.3f MiB", Mib(e)),
         absl::StrFormat("%.3f", static_cast<double>(e) / static_cast<double>(delta->payload))});
  }
  std::cout << "\n";
  PrintTable(std::cout, rows);
  double mean_dock_mib_s = 0;
  for (double v : full->dock_mib_s) mean_dock_mib_s += v;
  if (!full->dock_mib_s.empty()) mean_dock_mib_s /= static_cast<double>(full->dock_mib_s.size());

  std::vector<Figure> figures;
  figures.push_back(Figure{
      .name = "bytes served to the busiest dock, full image",
      .value = Mib(worst_full),
      .unit = "MiB",
      .precision = 2,
      .ceiling = Mib(full->payload),
      .ceiling_name = "one compressed image",
      .goal = Goal{.on = Goal::On::kRatio, .bound = Goal::Bound::kAtMost, .limit = 1.0},
  });
  figures.push_back(Figure{
      .name = "bytes served to the busiest dock, delta",
      .value = Mib(worst_delta),
      .unit = "MiB",
      .precision = 3,
      .ceiling = Mib(delta->payload),
      .ceiling_name = "one delta",
      .goal = Goal{.on = Goal::On::kRatio, .bound = Goal::Bound::kAtMost, .limit = 1.0},
  });
  figures.push_back(Figure{
      .name = "bytes served in all, both rollouts",
      .value = Mib(total_served),
      .unit = "MiB",
      .precision = 1,
      .ceiling = Mib(static_cast<uint64_t>(options.docks) * (full->payload + delta->payload)),
      .ceiling_name = "one image + one delta per dock",
      .goal = Goal{.on = Goal::On::kRatio, .bound = Goal::Bound::kAtMost, .limit = 1.0},
  });
  figures.push_back(solo_figure);
  figures.push_back(solo_vs_stream);
  figures.push_back(Figure{
      .name = absl::StrFormat("per-dock throughput, %d docks at once", options.docks),
      .value = mean_dock_mib_s,
      .unit = "MiB/s",
      .precision = 0,
      .ceiling = copy_median / (1 << 20),
      .ceiling_name = "plain loopback TCP copy",
      .goal = std::nullopt,
  });
  figures.push_back(Figure{
      .name = absl::StrFormat("delta size, %.1f%% of blocks changed", options.changed_percent),
      .value = Mib(delta_bytes),
      .unit = "MiB",
      .precision = 2,
      .ceiling = Mib(v12->compressed_size_bytes()),
      .ceiling_name = "compressed full image",
      .goal = std::nullopt,
  });
  figures.push_back(
      PlainFigure("rollout start to last confirmation, full image", full->wall_s, "s", 1));
  figures.push_back(
      PlainFigure("rollout start to last confirmation, delta", delta->wall_s, "s", 1));
  std::cout << "\n== summary (machine load average at end: " << LoadAverages() << ")\n";
  PrintFigures(std::cout, figures);
  const bool failed = !full->completed || !delta->completed;
  if (!options.json_out.empty()) {
    json out{{"benchmark", "camfleet-bench-firmware"},
             {"docks", options.docks},
             {"cameras_per_dock", options.cameras_per_dock},
             {"image_bytes", v11->image_size_bytes()},
             {"compressed_bytes", v11->compressed_size_bytes()},
             {"delta_bytes", delta_bytes},
             {"rollouts", json::array()},
             {"load_average_end", LoadAverages()},
             {"figures", FiguresJson(figures)}};
    for (const RolloutRun* r : {&*full, &*delta}) {
      out["rollouts"].push_back(json{{"name", r->name},
                                     {"state", r->state},
                                     {"succeeded", r->succeeded},
                                     {"wall_s", r->wall_s},
                                     {"server_s", r->server_s},
                                     {"served", r->served}});
    }
    std::ofstream(options.json_out) << out.dump(2) << "\n";
  }
  (*fleet)->Stop();
  (*server)->Shutdown();
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::Options options;
  CLI::App app{
      "camfleet-bench-firmware: a release rolled out to docks of simulated cameras, then a "
      "point release as a delta; bytes served per dock, download throughput, delta size, time "
      "to the last confirmation (bench/README.md)"};
  app.add_option("--docks", options.docks, "Docks, one post each")->capture_default_str();
  app.add_option("--cameras-per-dock", options.cameras_per_dock, "Cameras in each dock")
      ->capture_default_str();
  app.add_option("--image-mib", options.image_mib, "Size of the release image")
      ->capture_default_str();
  app.add_option("--changed-percent", options.changed_percent,
                 "Share of the image's 4 KiB blocks the point release changes")
      ->capture_default_str();
  app.add_option("--db-dir", options.db_dir,
                 "Where the scratch directory goes (default $TMPDIR or /tmp); it needs about "
                 "2 x image x cameras of space (the cameras' two slots)");
  app.add_flag("--keep-db", options.keep_db, "Keep the scratch directory");
  app.add_option("--json-out", options.json_out, "Also write the figures as JSON to this file");
  app.add_option("--download-rounds", options.download_rounds,
                 "Plain copies and solo downloads, alternated (the figures are their medians)")
      ->capture_default_str();
  app.add_flag("--download-only", options.download_only,
               "Measure only the solo download against the copy (no fleet, no rollouts)");
  CLI11_PARSE(app, argc, argv);
  if (options.docks < 1 || options.docks > 99 || options.cameras_per_dock < 1 ||
      options.cameras_per_dock > 99 || options.image_mib < 1 || options.image_mib > 1024 ||
      options.changed_percent <= 0 || options.changed_percent > 100 ||
      options.download_rounds < 1 || options.download_rounds > 20) {
    std::cerr << "--docks and --cameras-per-dock 1-99, --image-mib 1-1024, --changed-percent "
                 "above 0 and at most 100, --download-rounds 1-20\n";
    return 2;
  }
  return camfleet::bench::Run(options);
}
