#include "bench/dock_fleet.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/call_batch.h"
#include "bench/client_call.h"
#include "bench/closed_loop.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/status_macros.h"
#include "provisioning/certificate_authority.h"
#include "services/server/home.h"

namespace camfleet::bench {
namespace {

constexpr int64_t kMaxBatchBytes = 256 << 10;  // the agent's SyncClientOptions::max_batch_bytes
constexpr int kMaxMessageBytes = 16 << 20;     // camfleetd's

grpc::ByteBuffer ToBuffer(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool FromBuffer(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return message->ParseFromString(bytes);
}

void Stamp(v1::OutboxItem& item, absl::Time when) {
  *item.mutable_record_time() = Ts(when);
  // Measured, and zero: the dock's clock agrees with the server's.
  item.mutable_clock_offset()->set_seconds(0);
}

absl::Status Import(v1::FleetService::Stub& stub, std::string csv, int64_t rows) {
  v1::ImportManifestRequest req;
  req.set_csv(std::move(csv));
  v1::ImportManifestResponse resp;
  RETURN_IF_ERROR(FromGrpc(stub.ImportManifest(NewContext("", kBulkDeadline).get(), req, &resp)));
  if (resp.errors_size() > 0 || resp.imported() != rows) {
    return absl::InternalError(absl::StrCat(
        "ImportManifest imported ", resp.imported(), " of ", rows,
        resp.errors_size() > 0 ? absl::StrCat(", first error: ", resp.errors(0).message()) : ""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<BenchDock>> MakeDockFleet(TlsServer& server,
                                                     const DockFleetOptions& options,
                                                     std::ostream& progress) {
  const int64_t t0 = MonotonicNanos();
  std::vector<BenchDock> docks(static_cast<size_t>(options.docks));
  for (int d = 0; d < options.docks; ++d) {
    BenchDock& dock = docks[static_cast<size_t>(d)];
    dock.id = absl::StrFormat("bench-dock-%04d", d + 1);
    dock.site = absl::StrFormat("BS-%04d", d + 1);
    for (int c = 0; c < options.cameras_per_dock; ++c) {
      dock.cameras.push_back(absl::StrFormat("BC-%04d-%02d", d + 1, c + 1));
    }
    for (int h = 0; h < options.holders_per_dock; ++h) {
      dock.badges.push_back(absl::StrFormat("BH-%04d-%02d", d + 1, h + 1));
    }
  }
  auto fleet = v1::FleetService::NewStub(server.AdminChannel());
  auto provisioning = v1::ProvisioningService::NewStub(server.AdminChannel());
  CallBatch batch(options.in_flight);

  for (const BenchDock& dock : docks) {
    v1::CreateSiteRequest req;
    req.set_code(dock.site);
    req.set_name(absl::StrCat("Benchmark post ", dock.site));
    batch.Add<v1::CreateSiteRequest, v1::CreateSiteResponse>(
        "", std::move(req), [&fleet](auto* ctx, auto* r, auto* resp, auto cb) {
          fleet->async()->CreateSite(ctx, r, resp, std::move(cb));
        });
  }
  RETURN_IF_ERROR(batch.Wait("creating sites"));
  for (const BenchDock& dock : docks) {
    for (const std::string& badge : dock.badges) {
      v1::CreateHolderRequest req;
      req.set_badge(badge);
      req.set_name(absl::StrCat("Officer ", badge));
      req.set_home_site_code(dock.site);
      batch.Add<v1::CreateHolderRequest, v1::CreateHolderResponse>(
          "", std::move(req), [&fleet](auto* ctx, auto* r, auto* resp, auto cb) {
            fleet->async()->CreateHolder(ctx, r, resp, std::move(cb));
          });
    }
  }
  RETURN_IF_ERROR(batch.Wait("creating holders"));
  progress << absl::StrFormat("  %d sites, %d holders: %.1f s\n", options.docks,
                              options.docks * options.holders_per_dock, SecondsSince(t0))
           << std::flush;

  const int64_t t1 = MonotonicNanos();
  std::string csv = "serial,model,hardware_revision,site\n";
  int64_t rows = 0;
  for (const BenchDock& dock : docks) {
    for (const std::string& serial : dock.cameras) {
      absl::StrAppend(&csv, serial, ",", options.model, ",A,", dock.site, "\n");
      if (++rows == 10000) {
        RETURN_IF_ERROR(common::Annotate(Import(*fleet, std::move(csv), rows), "cameras"));
        csv = "serial,model,hardware_revision,site\n";
        rows = 0;
      }
    }
  }
  if (rows > 0) RETURN_IF_ERROR(common::Annotate(Import(*fleet, std::move(csv), rows), "cameras"));
  for (const BenchDock& dock : docks) {
    for (int c = 0; c < options.commissioned_per_dock && c < options.cameras_per_dock; ++c) {
      v1::CommissionCameraRequest req;
      req.set_serial(dock.cameras[static_cast<size_t>(c)]);
      req.set_reason("benchmark unit");
      batch.Add<v1::CommissionCameraRequest, v1::CommissionCameraResponse>(
          "", std::move(req), [&fleet](auto* ctx, auto* r, auto* resp, auto cb) {
            fleet->async()->CommissionCamera(ctx, r, resp, std::move(cb));
          });
    }
  }
  RETURN_IF_ERROR(batch.Wait("commissioning cameras"));
  progress << absl::StrFormat(
                  "  %d cameras registered (ImportManifest), %d commissioned: %.1f s\n",
                  options.docks * options.cameras_per_dock,
                  options.docks * std::min(options.commissioned_per_dock, options.cameras_per_dock),
                  SecondsSince(t1))
           << std::flush;

  // Enrollment as `camfleet-dock enroll` does it: a token from the admin, a key and CSR made
  // at the dock, EnrollDock over a connection that presents no certificate.
  const int64_t t2 = MonotonicNanos();
  std::vector<std::string> tokens(docks.size());
  for (size_t d = 0; d < docks.size(); ++d) {
    v1::CreateEnrollmentTokenRequest req;
    req.set_site_code(docks[d].site);
    req.set_note(absl::StrCat("benchmark dock ", docks[d].id));
    batch.Add<v1::CreateEnrollmentTokenRequest, v1::CreateEnrollmentTokenResponse>(
        "", std::move(req),
        [&provisioning](auto* ctx, auto* r, auto* resp, auto cb) {
          provisioning->async()->CreateEnrollmentToken(ctx, r, resp, std::move(cb));
        },
        [&tokens, d](const v1::CreateEnrollmentTokenResponse& resp) { tokens[d] = resp.token(); });
  }
  RETURN_IF_ERROR(batch.Wait("making enrollment tokens"));
  std::vector<KeyAndCsr> keys;
  keys.reserve(docks.size());
  for (const BenchDock& dock : docks) {
    ASSIGN_OR_RETURN(KeyAndCsr made, MakeKeyAndCsr(dock.id));
    keys.push_back(std::move(made));
  }
  auto enroll = v1::DockService::NewStub(server.Channel(provisioning::CredentialBundle{}));
  for (size_t d = 0; d < docks.size(); ++d) {
    v1::EnrollDockRequest req;
    req.set_token(tokens[d]);
    req.set_csr_pem(keys[d].csr_pem);
    req.set_slot_count(static_cast<int32_t>(docks[d].cameras.size()));
    batch.Add<v1::EnrollDockRequest, v1::EnrollDockResponse>(
        "", std::move(req),
        [&enroll](auto* ctx, auto* r, auto* resp, auto cb) {
          enroll->async()->EnrollDock(ctx, r, resp, std::move(cb));
        },
        [&docks, &keys, d](const v1::EnrollDockResponse& resp) {
          docks[d].bundle = provisioning::CredentialBundle{
              keys[d].key_pem, resp.certificate().certificate_pem(), resp.ca_certificate_pem()};
        });
  }
  RETURN_IF_ERROR(batch.Wait("enrolling docks"));
  progress << absl::StrFormat("  %d docks enrolled (token, CSR, EnrollDock): %.1f s\n",
                              options.docks, SecondsSince(t2))
           << std::flush;
  return docks;
}

// ------------------------------------------------------------------------------ items

v1::OutboxItem HealthItem(const std::string& serial, uint32_t slot, uint64_t camera_sequence,
                          absl::Time when, uint32_t battery_percent, bool charging) {
  v1::OutboxItem item;
  Stamp(item, when);
  v1::HealthReading* r = item.mutable_health();
  r->set_serial(serial);
  r->set_slot(slot);
  *r->mutable_device_time() = Ts(when);
  r->set_camera_sequence(camera_sequence);
  r->set_battery_percent(std::min<uint32_t>(battery_percent, 100));
  r->set_full_charge_capacity_mah(3120);
  r->set_design_capacity_mah(3300);
  r->set_cycle_count(140 + static_cast<uint32_t>(camera_sequence % 10000 / 200));
  r->set_temperature_decicelsius(charging ? 312 : 254);
  r->set_voltage_mv(3700 + battery_percent * 5);
  r->set_charging(charging);
  r->set_storage_used_bytes(uint64_t{21} << 30);
  r->set_storage_total_bytes(uint64_t{64} << 30);
  r->set_firmware_version("2.4.1");
  r->set_slot_a_version("2.4.1");
  r->set_slot_b_version("2.3.7");
  (*r->mutable_error_counters())["flash_write_errors"] = 0;
  (*r->mutable_error_counters())["sensor_resets"] = 2;
  r->mutable_uptime()->set_seconds(static_cast<int64_t>(camera_sequence % 100000) * 300);
  return item;
}

v1::OutboxItem CheckoutItem(const std::string& serial, uint32_t slot, const std::string& badge,
                            absl::Time when, absl::Duration shift) {
  v1::OutboxItem item;
  Stamp(item, when);
  v1::DockCheckout* c = item.mutable_checkout();
  c->set_serial(serial);
  c->set_slot(slot);
  c->set_badge(badge);
  *c->mutable_due_back_time() = Ts(when + shift);
  c->set_battery_percent(97);
  return item;
}

v1::OutboxItem RemovedItem(const std::string& serial, uint32_t slot, absl::Time when) {
  v1::OutboxItem item;
  Stamp(item, when);
  item.mutable_removed()->set_serial(serial);
  item.mutable_removed()->set_slot(slot);
  return item;
}

v1::OutboxItem InsertedItem(const std::string& serial, uint32_t slot, absl::Time when) {
  v1::OutboxItem item;
  Stamp(item, when);
  item.mutable_inserted()->set_serial(serial);
  item.mutable_inserted()->set_slot(slot);
  *item.mutable_inserted()->mutable_device_time() = Ts(when);
  return item;
}

v1::OutboxItem ReturnItem(const std::string& serial, uint32_t slot, const std::string& badge,
                          absl::Time when) {
  v1::OutboxItem item;
  Stamp(item, when);
  item.mutable_dock_return()->set_serial(serial);
  item.mutable_dock_return()->set_slot(slot);
  item.mutable_dock_return()->set_badge(badge);
  return item;
}

// ------------------------------------------------------------------------------ sources

ListSource::ListSource(std::vector<v1::OutboxItem> items) : items_(std::move(items)) {
  std::stable_sort(items_.begin(), items_.end(),
                   [](const v1::OutboxItem& a, const v1::OutboxItem& b) {
                     if (a.lane() != b.lane()) return a.lane() < b.lane();
                     return a.sequence() < b.sequence();
                   });
}

int64_t ListSource::bytes() const {
  int64_t n = 0;
  for (const v1::OutboxItem& item : items_) n += static_cast<int64_t>(item.ByteSizeLong());
  return n;
}

void ListSource::Resume(uint64_t custody_applied, uint64_t telemetry_applied) {
  next_ = 0;
  custody_applied_ = custody_applied;
  telemetry_applied_ = telemetry_applied;
}

bool ListSource::Next(int max_items, v1::OutboxBatch* batch) {
  int64_t bytes = 0;
  while (next_ < items_.size() && batch->items_size() < max_items) {
    const v1::OutboxItem& item = items_[next_];
    const uint64_t applied =
        item.lane() == v1::SYNC_LANE_CUSTODY ? custody_applied_ : telemetry_applied_;
    if (item.sequence() <= applied) {
      ++next_;
      continue;
    }
    const int64_t size = static_cast<int64_t>(item.ByteSizeLong());
    if (batch->items_size() > 0 && bytes + size > kMaxBatchBytes) break;
    bytes += size;
    *batch->add_items() = item;
    ++next_;
  }
  return batch->items_size() > 0;
}

ReadingSource::ReadingSource(std::vector<std::string> cameras, const std::atomic<bool>* stop,
                             uint64_t camera_sequence_base)
    : cameras_(std::move(cameras)),
      stop_(stop),
      camera_sequence_base_(camera_sequence_base),
      base_(absl::Now() - absl::Hours(2)) {}

void ReadingSource::Resume(uint64_t /*custody_applied*/, uint64_t telemetry_applied) {
  next_sequence_ = telemetry_applied + 1;
}

bool ReadingSource::Next(int max_items, v1::OutboxBatch* batch) {
  if (stop_->load(std::memory_order_relaxed)) return false;
  int64_t bytes = 0;
  const uint64_t n = cameras_.size();
  while (batch->items_size() < max_items) {
    const uint64_t s = next_sequence_;
    const uint64_t camera = (s - 1) % n;
    const uint64_t camera_sequence = camera_sequence_base_ + (s - 1) / n + 1;
    // One reading per camera per millisecond of device time: any rate stays in the past.
    v1::OutboxItem item =
        HealthItem(cameras_[camera], static_cast<uint32_t>(camera + 1), camera_sequence,
                   base_ + absl::Milliseconds(static_cast<int64_t>(camera_sequence)),
                   static_cast<uint32_t>(60 + camera_sequence % 41), camera_sequence % 3 != 0);
    item.set_lane(v1::SYNC_LANE_TELEMETRY);
    item.set_sequence(s);
    const int64_t size = static_cast<int64_t>(item.ByteSizeLong());
    if (batch->items_size() > 0 && bytes + size > kMaxBatchBytes) break;
    bytes += size;
    *batch->add_items() = std::move(item);
    ++next_sequence_;
  }
  return true;
}

// ------------------------------------------------------------------------------ streams

std::string NewEpoch() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64 rng(std::random_device{}());
  absl::MutexLock lock(&mu);
  return absl::StrFormat("%016x%016x", rng(), rng());
}

v1::SyncHello MakeHello(const std::string& epoch, int64_t backlog_items, int64_t backlog_bytes) {
  v1::SyncHello hello;
  hello.set_protocol_version(1);
  hello.set_epoch(epoch);
  hello.set_agent_version("0.3.0-bench");
  *hello.mutable_dock_time() = Ts(absl::Now());
  hello.set_backlog_items(static_cast<uint64_t>(backlog_items));
  hello.set_backlog_bytes(static_cast<uint64_t>(backlog_bytes));
  return hello;
}

std::unique_ptr<grpc::GenericStub> DockStub(const TlsServer& server, const BenchDock& dock,
                                            int index) {
  return std::make_unique<grpc::GenericStub>(server.Channel(dock.bundle, index));
}

DockStreamer::DockStreamer(grpc::GenericStub& stub, v1::SyncHello hello, BatchSource& source,
                           std::function<void(int64_t)> on_ack, absl::Duration deadline)
    : source_(source), on_ack_(std::move(on_ack)) {
  context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  stub.PrepareBidiStreamingCall(&context_, kSyncMethod, grpc::StubOptions(), this);
  v1::SyncRequest request;
  *request.mutable_hello() = std::move(hello);
  absl::MutexLock lock(&mu_);
  out_.push_back(ToBuffer(request));
}

// gRPC may run a reaction inline inside a Start* call, so none is made holding mu_.
void DockStreamer::Start() {
  grpc::ByteBuffer* first = nullptr;
  {
    absl::MutexLock lock(&mu_);
    times_.started = MonotonicNanos();
    writing_ = true;
    first = &out_.front();
  }
  StartRead(&in_);
  StartWrite(first);
  StartCall();
}

void DockStreamer::SendNextLocked() {
  v1::SyncRequest request;
  if (!source_.Next(static_cast<int>(max_batch_), request.mutable_batch())) {
    times_.drained = MonotonicNanos();
    writes_done_wanted_ = true;
    return;
  }
  in_flight_items_ = request.batch().items_size();
  out_.push_back(ToBuffer(request));
}

void DockStreamer::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone says how
  v1::SyncResponse response;
  const bool parsed = FromBuffer(in_, &response);
  int64_t acked = 0;
  grpc::ByteBuffer* write = nullptr;
  bool writes_done = false;
  {
    absl::MutexLock lock(&mu_);
    if (parsed && response.has_welcome()) {
      welcomed_ = true;
      times_.welcomed = MonotonicNanos();
      if (response.welcome().max_batch_items() > 0) {
        max_batch_ = response.welcome().max_batch_items();
      }
      source_.Resume(response.welcome().custody_applied(), response.welcome().telemetry_applied());
    } else if (parsed && response.has_server_time() && welcomed_ && times_.first_ack == 0 &&
               in_flight_items_ == 0 && !writes_done_wanted_) {
      // The server's answer to the hello is complete: the first batch goes.
      SendNextLocked();
    } else if (parsed && response.has_ack()) {
      acked = in_flight_items_;
      in_flight_items_ = 0;
      times_.items_acked += acked;
      ++times_.batches_acked;
      if (times_.first_ack == 0) times_.first_ack = MonotonicNanos();
      SendNextLocked();
    }
    if (!writing_) {
      if (!out_.empty()) {
        writing_ = true;
        write = &out_.front();
      } else if (writes_done_wanted_ && !writes_done_sent_) {
        writes_done_sent_ = true;
        writes_done = true;
      }
    }
  }
  if (acked > 0 && on_ack_) on_ack_(acked);
  StartRead(&in_);
  if (write != nullptr) StartWrite(write);
  if (writes_done) StartWritesDone();
}

void DockStreamer::OnWriteDone(bool ok) {
  grpc::ByteBuffer* write = nullptr;
  bool writes_done = false;
  {
    absl::MutexLock lock(&mu_);
    out_.pop_front();
    if (!ok) {
      writing_ = false;
      return;  // the stream broke; OnDone says how
    }
    if (!out_.empty()) {
      write = &out_.front();
    } else {
      writing_ = false;
      if (writes_done_wanted_ && !writes_done_sent_) {
        writes_done_sent_ = true;
        writes_done = true;
      }
    }
  }
  if (write != nullptr) StartWrite(write);
  if (writes_done) StartWritesDone();
}

void DockStreamer::OnWritesDoneDone(bool /*ok*/) {}

void DockStreamer::OnDone(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  times_.done = MonotonicNanos();
  times_.status = FromGrpc(status);
  finished_ = true;
}

bool DockStreamer::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&finished_), timeout);
}

bool DockStreamer::finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

StreamTimes DockStreamer::times() const {
  absl::MutexLock lock(&mu_);
  return times_;
}

// ------------------------------------------------------------------------------ the ceiling

// Answers like camfleetd's Sync reactor, minus everything the server does with the messages:
// the hello gets a welcome and a server time, every later message a pre-built ack; the next
// message is read only once the answer is written (camfleetd's flow control).
class AckServer::Service final : public grpc::CallbackGenericService {
 public:
  Service() {
    v1::SyncResponse welcome;
    welcome.mutable_welcome()->set_protocol_version(1);
    welcome.mutable_welcome()->set_generation("ack-server");
    welcome.mutable_welcome()->set_max_batch_items(256);
    welcome_ = welcome.SerializeAsString();
    v1::SyncResponse ack;
    ack.mutable_ack()->set_custody_applied(0);
    ack.mutable_ack()->set_telemetry_applied(1);
    ack_ = ack.SerializeAsString();
  }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    return new Reactor(*this);
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(Service& service) : service_(service) { StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      if (first_) {
        first_ = false;
        pending_.push_back(Buffer(service_.welcome_));
        v1::SyncResponse now;
        *now.mutable_server_time()->mutable_server_time() = Ts(absl::Now());
        pending_.push_back(ToBuffer(now));
      } else {
        pending_.push_back(Buffer(service_.ack_));
      }
      StartWrite(&pending_.front());
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
        return;
      }
      pending_.pop_front();
      if (!pending_.empty()) {
        StartWrite(&pending_.front());
      } else {
        StartRead(&in_);
      }
    }
    void OnDone() override { delete this; }

   private:
    static grpc::ByteBuffer Buffer(const std::string& bytes) {
      grpc::Slice slice(bytes);
      return grpc::ByteBuffer(&slice, 1);
    }
    Service& service_;
    grpc::ByteBuffer in_;
    std::deque<grpc::ByteBuffer> pending_;
    bool first_ = true;
  };

  std::string welcome_;
  std::string ack_;
};

absl::StatusOr<std::unique_ptr<AckServer>> AckServer::Start(const std::string& home) {
  const server::HomePaths paths{home};
  ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca,
                   provisioning::CertificateAuthority::Load(paths.CaDir()));
  ASSIGN_OR_RETURN(provisioning::CredentialBundle own,
                   provisioning::LoadCredentialBundle(paths.ServerCredentials()));
  std::unique_ptr<AckServer> out(new AckServer());
  out->ca_pem_ = ca.CertificatePem();
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  tls.pem_root_certs = out->ca_pem_;
  tls.pem_key_cert_pairs.push_back({own.key_pem, own.cert_pem});
  out->service_ = std::make_unique<Service>();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls), &port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterCallbackGenericService(out->service_.get());
  out->server_ = builder.BuildAndStart();
  if (out->server_ == nullptr || port == 0) {
    return absl::UnavailableError("the ack server could not listen on 127.0.0.1");
  }
  out->target_ = absl::StrCat("127.0.0.1:", port);
  return out;
}

AckServer::~AckServer() {
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
}

std::shared_ptr<grpc::Channel> AckServer::Channel(const provisioning::CredentialBundle& bundle,
                                                  int index) const {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem_;
  tls.pem_private_key = bundle.key_pem;
  tls.pem_cert_chain = bundle.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(kTlsServerName);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("camfleet.bench.channel", index);
  return grpc::CreateCustomChannel(target_, grpc::SslCredentials(tls), args);
}

}  // namespace camfleet::bench
