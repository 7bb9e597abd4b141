// The dock's side of firmware against the real camfleetd over mutual TLS: DockService.
// DownloadRelease as the dock's downloader uses it (full images, deltas, a corrupted delta, a
// link cut mid-download by a TCP proxy, a server that sends too much), the dock's own refusals,
// the signed release bundle, and the installer driving a simulated camera over its unix socket.
// The plan is given to the dock's installer through its own API (the rollout side that sends it
// is built elsewhere); downloads come from the real server.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/dock_cli.h"
#include "agent/dock_paths.h"
#include "agent/firmware_cache.h"
#include "agent/firmware_downloader.h"
#include "agent/firmware_installer.h"
#include "agent/grpc_camera_link.h"
#include "agent/outbox_item.h"
#include "agent/outbox_store.h"
#include "agent/server_connection.h"
#include "agent/sim/camera_unit.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "firmware/bundle.h"
#include "firmware/delta.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/dock_run.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kModel[] = "BWC-4";
constexpr char kDockId[] = "post-1-dock-1";
constexpr char kSerial[] = "CAM-0001";

// A TCP proxy in front of the server that cuts every connection once, after `cut_after` bytes
// went from the server to the dock: a link drop mid-download. Later connections pass whole.
class CuttingProxy {
 public:
  CuttingProxy(int server_port, int64_t cut_after) : server_port_(server_port), budget_(cut_after) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listen_fd_, 16);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~CuttingProxy() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    // Connections a channel still holds end here too, so the pumps return.
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  int port() const { return port_; }
  bool cut() const { return cut_; }

 private:
  void Accept() {
    while (!stopping_) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(server_port_));
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      fds_.push_back(client);
      fds_.push_back(server);
      pumps_.emplace_back([this, client, server] { Pump(client, server, false); });
      pumps_.emplace_back([this, client, server] { Pump(server, client, true); });
    }
  }
  void Pump(int from, int to, bool downstream) {
    char buf[16384];
    while (true) {
      const ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0) break;
      if (downstream && !cut_) {
        if (budget_.fetch_sub(n) - n < 0) {
          cut_ = true;
          break;
        }
      }
      // send with MSG_NOSIGNAL: the other pump may have shut this socket down (a cut), and a
      // plain write to it would raise SIGPIPE and kill the whole test binary.
      if (::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    // Closed by the destructor, once both pumps are done with them.
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
  }

  int server_port_;
  std::atomic<int64_t> budget_;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> pumps_;
  std::vector<int> fds_;
};

// A DockService that answers every download with a header and then `extra` bytes more than the
// header announces (or a payload of its own choosing): a broken or hostile server.
class BadDockService final : public v1::DockService::Service {
 public:
  std::string payload;
  uint64_t announced_size = 0;
  grpc::Status DownloadRelease(grpc::ServerContext*, const v1::DownloadReleaseRequest* req,
                               grpc::ServerWriter<v1::DownloadReleaseResponse>* writer) override {
    v1::DownloadReleaseResponse header;
    header.mutable_header()->set_encoding(v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL);
    header.mutable_header()->set_payload_size(announced_size);
    header.mutable_header()->set_payload_sha256(
        provisioning::ToHex(provisioning::Sha256(payload.substr(0, announced_size))));
    header.mutable_header()->set_offset(req->offset());
    if (!writer->Write(header)) return grpc::Status::OK;
    for (size_t at = req->offset(); at < payload.size(); at += 4096) {
      v1::DownloadReleaseResponse chunk;
      chunk.set_chunk(payload.substr(at, 4096));
      if (!writer->Write(chunk)) break;
    }
    return grpc::Status::OK;
  }
};

// `service` served in plaintext on 127.0.0.1: a server that misbehaves on purpose, and a channel
// to it.
struct ServedOnLoopback {
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};
ServedOnLoopback ServeOnLoopback(grpc::Service* service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  ServedOnLoopback served;
  served.server = builder.BuildAndStart();
  served.channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  return served;
}

class DockFirmwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server.status(), IsOk());
    server_ = *std::move(server);
    admin_ = v1::FirmwareService::NewStub(server_->AdminChannel());
    ASSERT_THAT(server_->CreateSite("POST-1"), IsOk());
    v1::RegisterCameraRequest cam;
    cam.set_serial(kSerial);
    cam.set_model(kModel);
    cam.set_site_code("POST-1");
    v1::RegisterCameraResponse cam_resp;
    ASSERT_THAT(v1::FleetService::NewStub(server_->AdminChannel())
                    ->RegisterCamera(TlsContext().get(), cam, &cam_resp),
                IsOk());
    absl::StatusOr<TestSigningKey> key = MakeSigningKey(keys_.File("release"));
    ASSERT_THAT(key.status(), IsOk());
    key_ = *key;
    ASSERT_TRUE(AddServerKey("release-2027", key_.public_pem).ok());
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", kDockId);
    ASSERT_THAT(dock.status(), IsOk());
    dock_ = *std::move(dock);
    OpenDock();
  }

  // The dock's cache (trusting the fleet's key) and downloader, on the dock's own certificate.
  // A first attempt at `r` whose link drops after ~1.5 MiB and that is not retried (as when the
  // agent is stopped); what arrived stays in the partial download.
  // Fetches `r` from a server that sends `payload` for it, announcing `announced` bytes.
  absl::Status FetchFromServerSending(const ReleaseFiles& r, const std::string& payload,
                                      uint64_t announced) {
    BadDockService bad;
    bad.payload = payload;
    bad.announced_size = announced;
    ServedOnLoopback served = ServeOnLoopback(&bad);
    if (served.server == nullptr) return absl::InternalError("could not serve on loopback");
    agent::FirmwareDownloader downloader(served.channel, *cache_);
    absl::Status status = downloader.Fetch(Planned(r)).status();
    served.server->Shutdown();
    return status;
  }
  void FetchCutByTheLink(const ReleaseFiles& r) {
    CuttingProxy proxy(server_->port(), int64_t{3} << 19);
    downloader_ =
        std::make_unique<agent::FirmwareDownloader>(DockChannel(proxy.port()), *cache_, Options(1));
    EXPECT_FALSE(downloader_->Fetch(Planned(r)).ok());
  }
  void OpenDock(std::optional<int> port = std::nullopt) {
    downloader_.reset();
    cache_.reset();
    absl::StatusOr<std::unique_ptr<agent::FirmwareCache>> cache =
        agent::FirmwareCache::Open(agent::DockPaths{dock_dir_.path()}.Firmware());
    ASSERT_THAT(cache.status(), IsOk());
    cache_ = *std::move(cache);
    ASSERT_THAT(cache_->TrustKey(key_.public_pem).status(), IsOk());
    downloader_ = std::make_unique<agent::FirmwareDownloader>(
        DockChannel(port.value_or(server_->port())), *cache_, Options(4));
  }

  static agent::FirmwareDownloaderOptions Options(int attempts) {
    agent::FirmwareDownloaderOptions o;
    o.call_deadline = absl::Seconds(60);
    o.max_attempts = attempts;
    o.retry_delay = absl::Milliseconds(50);
    return o;
  }

  std::shared_ptr<grpc::Channel> DockChannel(int port) {
    return agent::MutualTlsChannel(
        agent::ServerEndpoint{absl::StrCat("127.0.0.1:", port), kServerName},
        dock_.credentials.bundle);
  }

  grpc::Status AddServerKey(const std::string& name, const std::string& pem) {
    v1::AddSigningKeyRequest req;
    req.set_name(name);
    req.set_public_key_pem(pem);
    v1::AddSigningKeyResponse resp;
    return admin_->AddSigningKey(TlsContext().get(), req, &resp);
  }

  ReleaseFiles Sign(const std::string& name, const std::string& image, const std::string& version,
                    const TestSigningKey* key = nullptr, bool downgrade = false,
                    std::vector<std::string> models = {kModel}, uint32_t min_battery = 20) {
    absl::StatusOr<ReleaseFiles> r = SignImage(keys_.path(), name, image, key ? *key : key_,
                                               std::move(models), version, downgrade, min_battery);
    EXPECT_THAT(r.status(), IsOk());
    return r.ok() ? *r : ReleaseFiles{};
  }

  // Uploads as the admin; returns the release as the server lists it.
  v1::FirmwareRelease Upload(const ReleaseFiles& r) {
    v1::UploadReleaseResponse resp;
    std::unique_ptr<grpc::ClientContext> ctx = TlsContext(absl::Seconds(120));
    auto writer = admin_->UploadRelease(ctx.get(), &resp);
    v1::UploadReleaseRequest header;
    header.mutable_header()->set_manifest(r.release.manifest_bytes);
    header.mutable_header()->set_signature(r.release.signature);
    bool open = writer->Write(header);
    for (size_t at = 0; open && at < r.image.size(); at += 256 * 1024) {
      v1::UploadReleaseRequest req;
      req.set_chunk(r.image.substr(at, 256 * 1024));
      open = writer->Write(req);
    }
    if (open) writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.release();
  }

  static v1::PlannedRelease Planned(const ReleaseFiles& r) {
    v1::PlannedRelease p;
    p.set_release_id(agent::ReleaseIdOf(r.release.manifest_bytes));
    p.set_manifest(r.release.manifest_bytes);
    p.set_signature(r.release.signature);
    return p;
  }

  uint64_t Served() { return server_->server().firmware().BytesServedTo(kDockId); }

  TempDir keys_;
  TempDir dock_dir_;
  TestSigningKey key_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<v1::FirmwareService::Stub> admin_;
  EnrolledDock dock_;
  std::unique_ptr<agent::FirmwareCache> cache_;
  std::unique_ptr<agent::FirmwareDownloader> downloader_;
};

// --- Downloads ------------------------------------------------------------------------------

TEST_F(DockFirmwareTest, AFullDownloadIsVerifiedCachedAndFetchedOnce) {
  ReleaseFiles r = Sign("a", RandomImage(300 * 1024, 1), "1.0.0");
  const v1::FirmwareRelease rel = Upload(r);
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(r));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_FALSE(got->from_delta);
  EXPECT_FALSE(got->was_cached);
  EXPECT_EQ(got->bytes_received, rel.compressed_size_bytes());
  EXPECT_EQ(Served(), rel.compressed_size_bytes());
  absl::StatusOr<std::string> image = cache_->ReadImage(rel.release_id());
  ASSERT_THAT(image.status(), IsOk());
  EXPECT_EQ(*image, r.image);
  // However many cameras need it: the second ask is answered from the cache.
  absl::StatusOr<agent::FetchResult> again = downloader_->Fetch(Planned(r));
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_TRUE(again->was_cached);
  EXPECT_EQ(Served(), rel.compressed_size_bytes());
}

TEST_F(DockFirmwareTest, ADeltaFromACachedReleaseIsRebuiltAndVerified) {
  const std::string base = RandomImage(1 << 20, 1);
  ReleaseFiles v100 = Sign("v100", base, "1.0.0");
  ReleaseFiles v110 = Sign("v110", EditedImage(base, 2), "1.1.0");
  const v1::FirmwareRelease old_rel = Upload(v100);
  const v1::FirmwareRelease new_rel = Upload(v110);
  ASSERT_EQ(new_rel.deltas_size(), 1);
  ASSERT_THAT(downloader_->Fetch(Planned(v100)).status(), IsOk());
  const uint64_t before = Served();
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(v110));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_TRUE(got->from_delta);
  EXPECT_EQ(Served() - before, new_rel.deltas(0).size_bytes());
  EXPECT_LT(new_rel.deltas(0).size_bytes() * 20, new_rel.compressed_size_bytes());
  absl::StatusOr<std::string> image = cache_->ReadImage(new_rel.release_id());
  ASSERT_THAT(image.status(), IsOk());
  EXPECT_EQ(*image, v110.image);
}

TEST_F(DockFirmwareTest, ACorruptedDeltaFallsBackToTheFullImage) {
  const std::string base = RandomImage(1 << 20, 1);
  ReleaseFiles v100 = Sign("v100", base, "1.0.0");
  ReleaseFiles v110 = Sign("v110", EditedImage(base, 2), "1.1.0");
  Upload(v100);
  const v1::FirmwareRelease new_rel = Upload(v110);
  ASSERT_THAT(downloader_->Fetch(Planned(v100)).status(), IsOk());
  // The delta rots on the server's disk (same size, one byte changed).
  absl::StatusOr<firmware_service::FirmwareManager::DownloadSource> src;
  v1::DownloadReleaseRequest req;
  req.set_release_id(new_rel.release_id());
  req.add_cached_release_ids(agent::ReleaseIdOf(v100.release.manifest_bytes));
  src = server_->server().firmware().PrepareDownload(req);
  ASSERT_THAT(src.status(), IsOk());
  ASSERT_EQ(src->header.encoding(), v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA);
  ASSERT_EQ(::chmod(src->object_path.c_str(), 0644), 0);
  {
    FILE* f = std::fopen(src->object_path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, static_cast<long>(src->header.payload_size() / 2), SEEK_SET);
    const int c = std::fgetc(f);
    std::fseek(f, static_cast<long>(src->header.payload_size() / 2), SEEK_SET);
    std::fputc(c ^ 0x5a, f);
    std::fclose(f);
  }
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(v110));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_FALSE(got->from_delta);
  EXPECT_THAT(got->delta_fallback_reason, HasSubstr("SHA-256"));
  absl::StatusOr<std::string> image = cache_->ReadImage(new_rel.release_id());
  ASSERT_THAT(image.status(), IsOk());
  EXPECT_EQ(*image, v110.image);
}

TEST_F(DockFirmwareTest, ALinkDropMidDownloadResumesFromTheOffsetItHolds) {
  // Random bytes do not compress: a payload of about 3 MiB, three chunks.
  ReleaseFiles r = Sign("big", RandomImage(3 << 20, 7), "1.0.0");
  const v1::FirmwareRelease rel = Upload(r);
  const uint64_t payload = rel.compressed_size_bytes();
  CuttingProxy proxy(server_->port(), int64_t{3} << 19);  // cut after ~1.5 MiB
  OpenDock(proxy.port());
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(r));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_TRUE(proxy.cut());
  EXPECT_GE(got->calls, 2);
  // Every payload byte reached the dock once: the second call went on from the offset held,
  // which is at least the whole first chunk (1 MiB passed the proxy before the cut).
  EXPECT_EQ(got->bytes_received, payload);
  EXPECT_GE(got->resumed_from, uint64_t{1} << 20);
  // The server's side agrees: the resumed call sent only what the dock did not hold. (How much
  // of the first call was in flight in socket buffers and HTTP/2 windows when the link dropped
  // is up to the transport: two whole chunks were seen, so that is not asserted.)
  EXPECT_LE(Served(), payload + (payload - got->resumed_from));
  EXPECT_LT(Served(), 2 * payload);
  absl::StatusOr<std::string> image = cache_->ReadImage(rel.release_id());
  ASSERT_THAT(image.status(), IsOk());
  EXPECT_EQ(*image, r.image);
}

TEST_F(DockFirmwareTest, ADownloadInterruptedAcrossARestartGoesOnFromThePartialFile) {
  ReleaseFiles r = Sign("big", RandomImage(3 << 20, 8), "1.0.0");
  const v1::FirmwareRelease rel = Upload(r);
  // The first attempt dies with the link and is not retried (the agent is stopped).
  FetchCutByTheLink(r);
  std::optional<agent::PartialDownload> partial = cache_->Partial(rel.release_id());
  ASSERT_TRUE(partial.has_value());
  EXPECT_GT(partial->bytes_held, 0u);
  const uint64_t held = partial->bytes_held;
  OpenDock();  // a new agent on the same folder
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(r));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_EQ(got->bytes_received, rel.compressed_size_bytes() - held);
  EXPECT_EQ(*cache_->ReadImage(rel.release_id()), r.image);
}

// What a crash leaves in the partial download: the payload file written past the last sync.
// The partial claims only what was synced; a new agent cuts the rest off and goes on from there.
TEST_F(DockFirmwareTest, APartialReopenedAfterACrashHoldsOnlySyncedBytesAndTheDownloadGoesOn) {
  ReleaseFiles r = Sign("big", RandomImage(3 << 20, 9), "1.0.0");
  const v1::FirmwareRelease rel = Upload(r);
  const uint64_t payload = rel.compressed_size_bytes();
  // The link drops after ~1.5 MiB and the call is not retried: what arrived is synced.
  FetchCutByTheLink(r);
  std::optional<agent::PartialDownload> before = cache_->Partial(rel.release_id());
  ASSERT_TRUE(before.has_value());
  const uint64_t synced = before->bytes_held;
  ASSERT_GT(synced, 0u);
  ASSERT_LT(synced + 4096, payload);
  {
    // Then bytes written and never synced (garbage: blocks a crash lost may read back so),
    // and the agent killed before any sync: nothing records them.
    absl::StatusOr<std::unique_ptr<agent::PartialWriter>> writer = cache_->OpenPartial(
        rel.release_id(),
        agent::PartialSyncPolicy{.every_bytes = payload, .every = absl::InfiniteDuration()});
    ASSERT_THAT(writer.status(), IsOk());
    ASSERT_THAT((*writer)->Append(std::string(4096, 'x')), IsOk());
  }
  const std::string payload_file =
      agent::DockPaths{dock_dir_.path()}.Firmware() + "/partial/" + rel.release_id() + ".payload";
  struct stat st {};
  ASSERT_EQ(::stat(payload_file.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), synced + 4096);
  std::optional<agent::PartialDownload> after = cache_->Partial(rel.release_id());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->bytes_held, synced);

  OpenDock();  // a new agent on the same folder
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(r));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_EQ(got->resumed_from, synced);
  EXPECT_EQ(got->bytes_received, payload - synced);
  EXPECT_EQ(*cache_->ReadImage(rel.release_id()), r.image);
}

// A record of the held length that does not check (torn, or edited) is never taken for a
// length: the download starts again from 0 and the image still verifies.
TEST_F(DockFirmwareTest, AHeldRecordThatDoesNotCheckStartsThePayloadAgain) {
  ReleaseFiles r = Sign("big", RandomImage(3 << 20, 10), "1.0.0");
  const v1::FirmwareRelease rel = Upload(r);
  FetchCutByTheLink(r);
  std::optional<agent::PartialDownload> before = cache_->Partial(rel.release_id());
  ASSERT_TRUE(before.has_value());
  ASSERT_GT(before->bytes_held, 0u);
  const std::string record =
      agent::DockPaths{dock_dir_.path()}.Firmware() + "/partial/" + rel.release_id() + ".held";
  absl::StatusOr<provisioning::FileContents> text = provisioning::ReadSmallFile(record, 4096);
  ASSERT_THAT(text.status(), IsOk());
  std::string edited = text->data;
  edited[18] = edited[18] == '1' ? '2' : '1';  // another length, same check
  ASSERT_EQ(::unlink(record.c_str()), 0);
  ASSERT_THAT(provisioning::WriteNewFile(record, edited, 0600), IsOk());
  std::optional<agent::PartialDownload> after = cache_->Partial(rel.release_id());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->bytes_held, 0u);

  OpenDock();
  absl::StatusOr<agent::FetchResult> got = downloader_->Fetch(Planned(r));
  ASSERT_THAT(got.status(), IsOk());
  EXPECT_EQ(got->bytes_received, rel.compressed_size_bytes());
  EXPECT_EQ(*cache_->ReadImage(rel.release_id()), r.image);
}

TEST_F(DockFirmwareTest, AServerSendingMoreThanThePayloadSizeIsCutOff) {
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 3), "1.0.0");
  absl::StatusOr<std::string> compressed = firmware::Compress(r.image);
  ASSERT_THAT(compressed.status(), IsOk());
  BadDockService bad;
  bad.payload = *compressed + std::string(100 * 1024, 'x');
  bad.announced_size = compressed->size();
  ServedOnLoopback served = ServeOnLoopback(&bad);
  ASSERT_NE(served.server, nullptr);
  agent::FirmwareDownloader downloader(served.channel, *cache_, Options(2));
  absl::StatusOr<agent::FetchResult> got = downloader.Fetch(Planned(r));
  // The chunk that would pass the size is refused; what is held never passes it.
  EXPECT_THAT(got.status(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("more than")));
  std::optional<agent::PartialDownload> partial =
      cache_->Partial(agent::ReleaseIdOf(r.release.manifest_bytes));
  ASSERT_TRUE(partial.has_value());
  EXPECT_LE(partial->bytes_held, compressed->size());
  EXPECT_FALSE(cache_->Has(agent::ReleaseIdOf(r.release.manifest_bytes)));
  served.server->Shutdown();
}

TEST_F(DockFirmwareTest, AWithdrawnOrUnknownReleaseIsNotServed) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.0.0");
  const v1::FirmwareRelease rel = Upload(r);
  v1::WithdrawReleaseRequest w;
  w.set_release_id(rel.release_id());
  w.set_reason("bricks the sensor");
  v1::WithdrawReleaseResponse wr;
  ASSERT_TRUE(admin_->WithdrawRelease(TlsContext().get(), w, &wr).ok());
  EXPECT_THAT(downloader_->Fetch(Planned(r)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("withdrawn")));
  ReleaseFiles never = Sign("b", RandomImage(4096, 2), "1.1.0");
  EXPECT_THAT(downloader_->Fetch(Planned(never)).status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Served(), 0u);
}

TEST_F(DockFirmwareTest, OnlyADockCertificateMayDownload) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.0.0");
  Upload(r);
  absl::StatusOr<ClientCredentials> qm =
      server_->IssueOperator("qm-1", provisioning::Role::kQuartermaster);
  ASSERT_THAT(qm.status(), IsOk());
  auto stub = v1::DockService::NewStub(server_->Channel(qm->bundle));
  v1::DownloadReleaseRequest req;
  req.set_release_id(agent::ReleaseIdOf(r.release.manifest_bytes));
  std::unique_ptr<grpc::ClientContext> ctx = TlsContext();
  auto reader = stub->DownloadRelease(ctx.get(), req);
  v1::DownloadReleaseResponse msg;
  EXPECT_FALSE(reader->Read(&msg));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// --- Refused at the dock (each before a byte is fetched or kept) ----------------------------

TEST_F(DockFirmwareTest, TheDockRefusesABadSignature) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.0.0");
  Upload(r);
  v1::PlannedRelease p = Planned(r);
  std::string sig = p.signature();
  sig[10] ^= 0x01;
  p.set_signature(sig);
  EXPECT_THAT(downloader_->Fetch(p).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(Served(), 0u);
  EXPECT_THAT(cache_->ReleaseIds(), IsEmpty());
}

TEST_F(DockFirmwareTest, TheDockRefusesATamperedImage) {
  // A server (or a link) that hands the dock another image under a good manifest.
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 1), "1.0.0");
  std::string tampered = r.image;
  tampered[100] ^= 0x01;
  absl::StatusOr<std::string> compressed = firmware::Compress(tampered);
  ASSERT_THAT(compressed.status(), IsOk());
  EXPECT_THAT(FetchFromServerSending(r, *compressed, compressed->size()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("SHA-256")));
  EXPECT_THAT(cache_->ReleaseIds(), IsEmpty());
}

TEST_F(DockFirmwareTest, TheDockRefusesAFrameThatExpandsPastTheSignedSize) {
  // The payload's hash matches what the server announced, but the frame holds a bigger image
  // than the manifest signs: decompression stops at the signed size.
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 1), "1.0.0");
  absl::StatusOr<std::string> compressed = firmware::Compress(r.image + RandomImage(4096, 2));
  ASSERT_THAT(compressed.status(), IsOk());
  EXPECT_THAT(FetchFromServerSending(r, *compressed, compressed->size()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("past the signed size")));
  EXPECT_THAT(cache_->ReleaseIds(), IsEmpty());
  EXPECT_FALSE(cache_->Partial(agent::ReleaseIdOf(r.release.manifest_bytes)).has_value());
  // Nothing of the refused image is left behind.
  EXPECT_TRUE(std::filesystem::is_empty(agent::DockPaths{dock_dir_.path()}.Firmware() + "/tmp"));
}

TEST_F(DockFirmwareTest, TheDockRefusesAKeyItDoesNotTrust) {
  // The server trusts the key (a compromised or careless server); the dock does not.
  absl::StatusOr<TestSigningKey> stranger = MakeSigningKey(keys_.File("stranger"));
  ASSERT_THAT(stranger.status(), IsOk());
  ASSERT_TRUE(AddServerKey("stranger", stranger->public_pem).ok());
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.0.0", &*stranger);
  Upload(r);
  EXPECT_THAT(downloader_->Fetch(Planned(r)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(Served(), 0u);
}

TEST_F(DockFirmwareTest, TheDockRefusesARetiredKey) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.0.0");
  Upload(r);
  ASSERT_THAT(cache_->RetireKey(r.release.manifest.signing_key_id), IsOk());
  EXPECT_THAT(downloader_->Fetch(Planned(r)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("retired")));
  // Also after a restart (the retirement is kept).
  OpenDock();
  EXPECT_THAT(downloader_->Fetch(Planned(r)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("retired")));
  EXPECT_EQ(Served(), 0u);
}

// --- Bundles ---------------------------------------------------------------------------------

TEST_F(DockFirmwareTest, ImportReleaseVerifiesABundleExactlyAsADownload) {
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 1), "1.0.0");
  const std::string good = dock_dir_.File("good.bundle");
  ASSERT_THAT(
      provisioning::WriteNewFile(
          good, firmware::EncodeBundle({r.release.manifest_bytes, r.release.signature, r.image}),
          0644),
      IsOk());
  std::string tampered_image = r.image;
  tampered_image[5] ^= 0x01;
  const std::string bad = dock_dir_.File("bad.bundle");
  ASSERT_THAT(
      provisioning::WriteNewFile(
          bad,
          firmware::EncodeBundle({r.release.manifest_bytes, r.release.signature, tampered_image}),
          0644),
      IsOk());
  common::RealClock clock;
  auto run = [&](std::vector<std::string> args, std::string* out) {
    const testing::CliResult ran = testing::RunDockCli(std::move(args), clock);
    *out = ran.out + ran.err;
    return ran.code;
  };
  std::string out;
  EXPECT_EQ(run({"import-release", "--dir", dock_dir_.path(), bad}, &out), agent::kExitFailed);
  EXPECT_THAT(out, HasSubstr("FAILED verification"));
  EXPECT_EQ(run({"import-release", "--dir", dock_dir_.path(), good}, &out), agent::kExitOk) << out;
  EXPECT_THAT(out, HasSubstr("1.0.0"));
  OpenDock();
  EXPECT_TRUE(cache_->Has(agent::ReleaseIdOf(r.release.manifest_bytes)));
  EXPECT_EQ(run({"firmware", "--dir", dock_dir_.path()}, &out), agent::kExitOk);
  EXPECT_THAT(out, HasSubstr("1.0.0 for BWC-4"));
  EXPECT_EQ(run({"import-release", "--help"}, &out), agent::kExitOk);
}

// --- The installer, with a simulated camera in slot 1 ----------------------------------------

class InstallerTest : public DockFirmwareTest {
 protected:
  void SetUp() override {
    DockFirmwareTest::SetUp();
    if (HasFatalFailure()) return;
    absl::StatusOr<std::unique_ptr<agent::OutboxStore>> outbox =
        agent::OutboxStore::Open(dock_dir_.File("outbox.db"), {}, &clock_);
    ASSERT_THAT(outbox.status(), IsOk());
    outbox_ = *std::move(outbox);
    socket_ = camera_dir_.File("slot1.sock");
    OpenCamera();
    board_.SetOccupant(1, kSerial);
    SetBattery(80);
  }

  void OpenCamera(const std::string& model = kModel) {
    unit_.reset();
    camsim::CameraSimulatorOptions o;
    o.state_dir = camera_dir_.File("cam");
    o.serial = kSerial;
    o.model = model;
    o.firmware_version = "1.0.0";
    o.firmware_keys_pem = {key_.public_pem};
    o.clock = &clock_;
    absl::StatusOr<std::unique_ptr<camsim::CameraUnit>> unit = camsim::CameraUnit::Open(o, socket_);
    ASSERT_THAT(unit.status(), IsOk());
    unit_ = *std::move(unit);
  }

  void SetBattery(uint32_t percent) {
    agent::HealthSnapshot h;
    h.battery_percent = percent;
    board_.SetHealth(1, h, clock_.Now());
  }

  agent::FirmwareInstaller Installer(bool link_up = true) {
    return agent::FirmwareInstaller(agent::FirmwareInstallerOptions{
        .outbox = outbox_.get(),
        .cache = cache_.get(),
        .board = &board_,
        .ledger = &ledger_,
        .site_view = nullptr,
        .downloader = link_up ? downloader_.get() : nullptr,
        .clock_offset = nullptr,
        .clock = &clock_,
        .link_for_slot = [this](int) { return agent::NewGrpcCameraLink(socket_); },
        .appended = nullptr,
    });
  }

  v1::FirmwarePlan Plan(const ReleaseFiles& r, uint32_t attempt = 1,
                        std::optional<v1::InstallWindow> window = std::nullopt) {
    v1::FirmwarePlan plan;
    *plan.mutable_plan_time() = agent::ToTimestamp(clock_.Now());
    v1::FirmwareJob* job = plan.add_jobs();
    job->set_rollout_id("R-1");
    job->set_serial(kSerial);
    job->set_release_id(agent::ReleaseIdOf(r.release.manifest_bytes));
    job->set_attempt(attempt);
    if (window.has_value()) *job->mutable_window() = *window;
    *plan.add_releases() = Planned(r);
    return plan;
  }

  // The firmware steps in the outbox, as "STATE" or "STATE: error".
  std::vector<std::string> Steps() {
    absl::StatusOr<std::vector<v1::OutboxItem>> items =
        outbox_->NextBatch(100000, int64_t{1} << 40);
    EXPECT_THAT(items.status(), IsOk());
    std::vector<std::string> out;
    if (!items.ok()) return out;
    for (const v1::OutboxItem& item : *items) {
      if (!item.has_firmware()) continue;
      std::string s = v1::FirmwareInstallState_Name(item.firmware().state());
      absl::string_view name = s;
      absl::ConsumePrefix(&name, "FIRMWARE_INSTALL_STATE_");
      out.push_back(item.firmware().error().empty()
                        ? std::string(name)
                        : absl::StrCat(name, ": ", item.firmware().error()));
    }
    return out;
  }

  std::string Running() {
    absl::StatusOr<agent::CameraFirmwareStatus> s =
        agent::NewGrpcCameraLink(socket_)->GetFirmwareStatus();
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? s->running_version : "";
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1796000000)};  // 2026-11-30 00:53 UTC
  TempDir camera_dir_;
  std::string socket_;
  std::unique_ptr<camsim::CameraUnit> unit_;
  std::unique_ptr<agent::OutboxStore> outbox_;
  agent::SlotBoard board_{std::vector<int>{1}};
  agent::CustodyLedger ledger_;
};

TEST_F(InstallerTest, InstallsADownloadedReleaseAndReportsEachStepOnce) {
  ReleaseFiles r = Sign("a", RandomImage(300 * 1024, 1), "1.1.0");
  Upload(r);
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  absl::StatusOr<agent::InstallPass> pass = installer.RunOnce();
  ASSERT_THAT(pass.status(), IsOk());
  EXPECT_EQ(pass->succeeded, 1);
  EXPECT_EQ(Running(), "1.1.0");
  EXPECT_THAT(Steps(), ElementsAre("DOWNLOADING", "INSTALLING", "SUCCEEDED"));
  // Another pass (and another agent on the same files) adds nothing.
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  agent::FirmwareInstaller restarted = Installer();
  ASSERT_THAT(restarted.RunOnce().status(), IsOk());
  EXPECT_THAT(Steps(), ElementsAre("DOWNLOADING", "INSTALLING", "SUCCEEDED"));
}

TEST_F(InstallerTest, AnImageThatWillNotBootIsReportedRolledBack) {
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 1), "1.1.0");
  Upload(r);
  unit_->camera().FailNextBoot();
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.0.0");
  std::vector<std::string> steps = Steps();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_THAT(steps[2], StartsWith("ROLLED_BACK: 1.1.0 did not boot"));
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Steps().size(), 3u);
}

TEST_F(InstallerTest, AFlashWriteErrorIsReportedFailed) {
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 1), "1.1.0");
  Upload(r);
  unit_->camera().FailFlashWrites(1);
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.0.0");
  std::vector<std::string> steps = Steps();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_THAT(steps[2], StartsWith("FAILED: writing the image to the camera: flash write error"));
}

TEST_F(InstallerTest, NotInstalledBelowTheReleasesMinimumBattery) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0", nullptr, false, {kModel}, 50);
  Upload(r);
  SetBattery(49);
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  absl::StatusOr<agent::InstallPass> pass = installer.RunOnce();
  ASSERT_THAT(pass.status(), IsOk());
  EXPECT_THAT(pass->waiting, ElementsAre(HasSubstr("battery 49% below the 50%")));
  EXPECT_EQ(Running(), "1.0.0");
  EXPECT_THAT(Steps(), ElementsAre("DOWNLOADING"));
  SetBattery(50);
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.1.0");
}

TEST_F(InstallerTest, NotInstalledOutsideTheSitesInstallWindow) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0");
  Upload(r);
  // 22:00-05:00 in Bishkek (UTC+6); the fake clock starts at 06:53 there.
  v1::InstallWindow window;
  window.set_start_minute(22 * 60);
  window.set_end_minute(5 * 60);
  window.set_time_zone("Asia/Bishkek");
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(Plan(r, 1, window)).status(), IsOk());
  absl::StatusOr<agent::InstallPass> pass = installer.RunOnce();
  ASSERT_THAT(pass.status(), IsOk());
  EXPECT_THAT(pass->waiting, ElementsAre(HasSubstr("outside the site's install window")));
  EXPECT_EQ(Running(), "1.0.0");
  clock_.Advance(absl::Hours(16));  // 22:53 local
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.1.0");
}

TEST_F(InstallerTest, NeverInstalledWhileIssuedOrBeingCheckedOut) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0");
  Upload(r);
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  // Released to an officer at the desk, still in the slot.
  ASSERT_TRUE(board_.Release(1, kSerial));
  absl::StatusOr<agent::InstallPass> pass = installer.RunOnce();
  ASSERT_THAT(pass.status(), IsOk());
  EXPECT_THAT(pass->waiting, ElementsAre(HasSubstr("released to an officer")));
  // Checked out here (the ledger): issued.
  board_.SetEmpty(1);
  board_.SetOccupant(1, kSerial);
  SetBattery(80);
  ledger_.RecordCheckout("B-100", kSerial, 1);
  pass = installer.RunOnce();
  ASSERT_THAT(pass.status(), IsOk());
  EXPECT_THAT(pass->waiting, ElementsAre(HasSubstr("issued to B-100")));
  EXPECT_EQ(Running(), "1.0.0");
  // A camera being installed is not released to an officer.
  ASSERT_TRUE(board_.BeginUpdate(1, kSerial));
  EXPECT_FALSE(board_.Release(1, kSerial));
  board_.EndUpdate(1);
  // Returned: installed.
  ledger_.RecordReturn(kSerial, 2);
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.1.0");
}

TEST_F(InstallerTest, AWithdrawnReleaseIsNeverInstalled) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0");
  Upload(r);
  v1::FirmwarePlan plan = Plan(r);
  plan.add_withdrawn_release_ids(agent::ReleaseIdOf(r.release.manifest_bytes));
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(plan).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.0.0");
  EXPECT_THAT(Steps(), IsEmpty());
  EXPECT_EQ(Served(), 0u);
}

TEST_F(InstallerTest, InstallsFromTheCacheWithTheLinkDownAndReportsOnce) {
  ReleaseFiles r = Sign("a", RandomImage(64 * 1024, 1), "1.1.0");
  // Carried in on a stick: no server involved.
  ASSERT_THAT(cache_->Store(r.release.manifest_bytes, r.release.signature, r.image).status(),
              IsOk());
  agent::FirmwareInstaller installer = Installer(/*link_up=*/false);
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_EQ(Running(), "1.1.0");
  EXPECT_THAT(Steps(), ElementsAre("INSTALLING", "SUCCEEDED"));
  // Kept for the link: unacknowledged custody items, never thinned; a restarted agent on the
  // same outbox reports nothing again.
  outbox_.reset();
  absl::StatusOr<std::unique_ptr<agent::OutboxStore>> reopened =
      agent::OutboxStore::Open(dock_dir_.File("outbox.db"), {}, &clock_);
  ASSERT_THAT(reopened.status(), IsOk());
  outbox_ = *std::move(reopened);
  agent::FirmwareInstaller again = Installer(false);
  ASSERT_THAT(again.RunOnce().status(), IsOk());
  EXPECT_THAT(Steps(), ElementsAre("INSTALLING", "SUCCEEDED"));
  absl::StatusOr<agent::OutboxBacklog> backlog = outbox_->Backlog();
  ASSERT_THAT(backlog.status(), IsOk());
  EXPECT_EQ(backlog->custody.items, 2);
}

TEST_F(InstallerTest, AnOlderPlanNeverReplacesANewerOne) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0");
  agent::FirmwareInstaller installer = Installer(false);
  v1::FirmwarePlan newer = Plan(r, 2);
  v1::FirmwarePlan older = Plan(r, 1);
  *older.mutable_plan_time() = agent::ToTimestamp(clock_.Now() - absl::Minutes(5));
  ASSERT_THAT(installer.SetPlan(newer).status(), IsOk());
  absl::StatusOr<bool> kept = installer.SetPlan(older);
  ASSERT_THAT(kept.status(), IsOk());
  EXPECT_FALSE(*kept);
  absl::StatusOr<std::optional<v1::FirmwarePlan>> held = outbox_->FirmwarePlan();
  ASSERT_THAT(held.status(), IsOk());
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ((*held)->jobs(0).attempt(), 2u);
}

// Refused at the dock, before a byte goes to the camera: each reported FAILED with why.
TEST_F(InstallerTest, TheDockRefusesAnImageForAnotherModel) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0", nullptr, false, {"BWC-9"});
  ASSERT_THAT(cache_->Store(r.release.manifest_bytes, r.release.signature, r.image).status(),
              IsOk());
  agent::FirmwareInstaller installer = Installer(false);
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(AllOf(StartsWith("FAILED: the dock refused to install"),
                                         HasSubstr("BWC-4"))));
  absl::StatusOr<agent::CameraFirmwareStatus> s =
      agent::NewGrpcCameraLink(socket_)->GetFirmwareStatus();
  ASSERT_THAT(s.status(), IsOk());
  EXPECT_EQ(s->staged_version, "");
  EXPECT_EQ(s->running_version, "1.0.0");
}

TEST_F(InstallerTest, TheDockRefusesAnUnsignedDowngrade) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "0.9.0");
  ASSERT_THAT(cache_->Store(r.release.manifest_bytes, r.release.signature, r.image).status(),
              IsOk());
  agent::FirmwareInstaller installer = Installer(false);
  ASSERT_THAT(installer.SetPlan(Plan(r)).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(StartsWith("FAILED: the dock refused to install")));
  EXPECT_EQ(Running(), "1.0.0");
}

TEST_F(InstallerTest, TheDockReportsAReleaseItRefusesAsFailed) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.1.0");
  Upload(r);
  v1::FirmwarePlan plan = Plan(r);
  std::string sig = plan.releases(0).signature();
  sig[3] ^= 0x01;
  plan.mutable_releases(0)->set_signature(sig);
  agent::FirmwareInstaller installer = Installer();
  ASSERT_THAT(installer.SetPlan(plan).status(), IsOk());
  ASSERT_THAT(installer.RunOnce().status(), IsOk());
  EXPECT_THAT(Steps(), ElementsAre(StartsWith("FAILED: the dock refused the release")));
  EXPECT_EQ(Served(), 0u);
  EXPECT_EQ(Running(), "1.0.0");
}

// --- The partial download's durability -------------------------------------------------------

// The length a partial claims moves only when the bytes are synced: every `every_bytes`, or
// when asked.
TEST(PartialWriterTest, TheHeldLengthMovesOnlyWithASync) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<agent::FirmwareCache>> cache =
      agent::FirmwareCache::Open(dir.File("firmware"));
  ASSERT_THAT(cache.status(), IsOk());
  const std::string id(64, 'a');
  agent::PartialDownload header;
  header.encoding = v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL;
  header.payload_size = 3 << 20;
  header.payload_sha256 = std::string(64, 'b');
  ASSERT_THAT((*cache)->BeginPartial(id, header), IsOk());
  const std::string piece = RandomImage(256 * 1024, 4);
  std::string all;
  {
    absl::StatusOr<std::unique_ptr<agent::PartialWriter>> writer = (*cache)->OpenPartial(
        id, agent::PartialSyncPolicy{.every_bytes = 1 << 20, .every = absl::InfiniteDuration()});
    ASSERT_THAT(writer.status(), IsOk());
    for (int i = 0; i < 10; ++i) {  // 2.5 MiB
      ASSERT_THAT((*writer)->Append(piece), IsOk());
      all += piece;
    }
    EXPECT_EQ((*writer)->written(), uint64_t{10} * piece.size());
    EXPECT_EQ((*writer)->durable(), uint64_t{2} << 20);
    EXPECT_EQ((*cache)->Partial(id)->bytes_held, uint64_t{2} << 20);
    ASSERT_THAT((*writer)->Sync(), IsOk());
    EXPECT_EQ((*cache)->Partial(id)->bytes_held, all.size());
    // Never past the payload's size; nothing of the refused bytes is written.
    EXPECT_THAT((*writer)->Append(std::string((3 << 20) - all.size() + 1, 'x')),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("past the payload")));
    EXPECT_EQ((*writer)->written(), all.size());
  }
  // Reopened, it hashes what it holds and goes on from there.
  absl::StatusOr<std::unique_ptr<agent::PartialWriter>> writer = (*cache)->OpenPartial(id);
  ASSERT_THAT(writer.status(), IsOk());
  EXPECT_EQ((*writer)->header().bytes_held, all.size());
  const std::string rest = RandomImage((3 << 20) - all.size(), 5);
  ASSERT_THAT((*writer)->Append(rest), IsOk());
  all += rest;
  EXPECT_EQ((*writer)->FinishSha256(), provisioning::ToHex(provisioning::Sha256(all)));
}

}  // namespace
}  // namespace camfleet::testing
