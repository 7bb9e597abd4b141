#include "agent/sync_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/outbox_item.h"
#include "agent/rpc_status.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/status_macros.h"
#include "provisioning/credential_bundle.h"

namespace camfleet::agent {

// One open stream. The reader thread only reads and queues; everything else happens on Run's
// thread, so the outbox and stores see one sync caller.
struct SyncClient::Stream {
  std::unique_ptr<v1::DockService::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SyncRequest, v1::SyncResponse>> rw;
  std::thread reader;
  // Guarded by the client's mu_.
  std::deque<v1::SyncResponse> queue;
  bool reader_done = false;

  bool welcomed = false;
  uint32_t max_batch = 64;
  LanePositions sent;
  int in_flight = 0;
  absl::Time last_progress;
  absl::Time last_write;
  uint64_t custody_acked = 0;
  bool progressed = false;
};

namespace {

bool IsRefusal(const absl::Status& s) {
  return absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s);
}

}  // namespace

SyncClient::SyncClient(SyncClientOptions options) : options_(std::move(options)) {}

SyncClient::~SyncClient() { Stop(); }

void SyncClient::Emit(DockEvent::Kind kind, std::string message, absl::Status status) {
  if (!options_.events) return;
  DockEvent event;
  event.kind = kind;
  event.time = options_.clock->Now();
  event.message = absl::StrCat("sync: ", message);
  event.status = std::move(status);
  options_.events(event);
}

void SyncClient::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
  cv_.SignalAll();
}

void SyncClient::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  // A Write blocked on flow control (a server that stopped reading) ends only by cancelling.
  if (live_context_ != nullptr) live_context_->TryCancel();
  cv_.SignalAll();
}

SyncState SyncClient::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool SyncClient::WaitOnClock(absl::Duration d) {
  const absl::Time until = options_.clock->Now() + d;
  absl::MutexLock lock(&mu_);
  while (!stop_ && options_.clock->Now() < until) {
    cv_.WaitWithTimeout(&mu_, options_.poll);
  }
  return !stop_;
}

void SyncClient::Run() {
  uint64_t seed = options_.seed;
  if (seed == 0) seed = std::random_device{}();
  auto backoff = std::make_unique<Backoff>(options_.backoff, seed);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    const int64_t acked_before = state().batches_acked;
    absl::Status ended = RunStream();
    SyncState now = state();
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      state_.last_error = ended;
      state_.refused = IsRefusal(ended);
    }
    if (IsRefusal(ended)) {
      Emit(DockEvent::Kind::kSyncRefused,
           absl::StrCat("the server refused this dock's credentials; not syncing for ",
                        absl::FormatDuration(options_.refused_hold_off),
                        " (is the dock revoked? re-enroll it with a new token)"),
           ended);
      if (!WaitOnClock(options_.refused_hold_off)) return;
      continue;
    }
    Emit(DockEvent::Kind::kSyncEnded, "stream ended",
         ended.ok() ? absl::CancelledError("closed by the server") : ended);
    // A stream that moved the outbox forward earns an immediate reconnect; one that did not
    // (refused at connect, a gap that persists) waits, so a sick server is not hammered.
    if (now.batches_acked > acked_before) {
      backoff = std::make_unique<Backoff>(options_.backoff, ++seed);
      continue;
    }
    if (!WaitOnClock(backoff->Next())) return;
  }
}

absl::StatusOr<v1::SyncHello> SyncClient::MakeHello() {
  v1::SyncHello hello;
  hello.set_protocol_version(kSyncProtocolVersion);
  hello.set_epoch(options_.outbox->epoch());
  ASSIGN_OR_RETURN(std::string generation, options_.site_view->Generation());
  hello.set_known_generation(generation);
  hello.set_agent_version(kAgentVersion);
  *hello.mutable_dock_time() = ToTimestamp(options_.clock->Now());
  ASSIGN_OR_RETURN(OutboxBacklog backlog, options_.outbox->Backlog());
  hello.set_backlog_items(static_cast<uint64_t>(backlog.total.items));
  hello.set_backlog_bytes(static_cast<uint64_t>(backlog.total.bytes));
  if (options_.crl != nullptr) {
    absl::StatusOr<std::optional<HeldCrl>> held = options_.crl->LoadNewest();
    if (held.ok() && held->has_value()) {
      hello.set_crl_number(static_cast<int64_t>((*held)->number));
    }
  }
  if (options_.occupants) {
    for (v1::SlotOccupant& o : options_.occupants()) *hello.add_slots() = std::move(o);
  }
  return hello;
}

absl::Status SyncClient::AlignLane(v1::SyncLane lane, uint64_t server_applied,
                                   bool new_generation) {
  ASSIGN_OR_RETURN(LaneState held, options_.outbox->Lane(lane));
  const char* name = lane == v1::SYNC_LANE_CUSTODY ? "custody" : "telemetry";
  if (server_applied < held.acked_through ||
      (new_generation && server_applied < held.last_sequence)) {
    // The server lacks what it once acknowledged: a control plane restored from a backup.
    ASSIGN_OR_RETURN(ResendResult resend, options_.outbox->ResendFrom(lane, server_applied));
    Emit(DockEvent::Kind::kItemsResent,
         absl::StrCat("the server stands at ", name, " ", server_applied, " (the dock had ",
                      held.acked_through, " acknowledged): ", resend.items_to_send,
                      " items to send again"));
    if (resend.lost.has_value()) {
      Emit(DockEvent::Kind::kItemsLost,
           absl::StrCat(name, " items ", resend.lost->first, "-", resend.lost->last,
                        " were no longer held; an ITEMS_LOST alert is queued as custody item ",
                        resend.alert_sequence.value_or(0)));
    }
    return absl::OkStatus();
  }
  if (server_applied > held.acked_through) {
    // The ack for these was lost (the dock died, the stream broke).
    RETURN_IF_ERROR(options_.outbox->Acknowledge(lane, server_applied));
  }
  return absl::OkStatus();
}

absl::Status SyncClient::HandleWelcome(Stream& stream, const v1::SyncWelcome& welcome) {
  const absl::Time now = options_.clock->Now();
  if (welcome.epoch() != options_.outbox->epoch()) {
    return absl::InternalError(absl::StrCat("welcome for epoch '", welcome.epoch(),
                                            "', the dock's is '", options_.outbox->epoch(), "'"));
  }
  if (options_.clock_offset != nullptr && welcome.has_server_time()) {
    // A damaged offset file is not a reason to stop syncing; the offset is in force anyway.
    (void)options_.clock_offset->Record(stream.last_write, now,
                                        FromTimestamp(welcome.server_time()));
  }
  ASSIGN_OR_RETURN(std::string known, options_.site_view->Generation());
  const bool new_generation = !known.empty() && known != welcome.generation();
  RETURN_IF_ERROR(AlignLane(v1::SYNC_LANE_CUSTODY, welcome.custody_applied(), new_generation));
  RETURN_IF_ERROR(AlignLane(v1::SYNC_LANE_TELEMETRY, welcome.telemetry_applied(), new_generation));
  if (known != welcome.generation()) {
    RETURN_IF_ERROR(options_.site_view->SetGeneration(welcome.generation()));
  }
  stream.max_batch = welcome.max_batch_items() > 0 ? welcome.max_batch_items() : 64;
  stream.sent = LanePositions{welcome.custody_applied(), welcome.telemetry_applied()};
  stream.custody_acked = welcome.custody_applied();
  stream.welcomed = true;
  stream.last_progress = now;
  {
    absl::MutexLock lock(&mu_);
    state_.connected = true;
    state_.last_sync = now;
    state_.last_error = absl::OkStatus();
    state_.refused = false;
    ++state_.streams_opened;
  }
  Emit(DockEvent::Kind::kSyncWelcomed,
       absl::StrCat("welcomed: server applied custody ", welcome.custody_applied(), ", telemetry ",
                    welcome.telemetry_applied(), "; batches of up to ", stream.max_batch));
  return absl::OkStatus();
}

absl::Status SyncClient::HandleResponse(Stream& stream, const v1::SyncResponse& response) {
  const absl::Time now = options_.clock->Now();
  switch (response.kind_case()) {
    case v1::SyncResponse::kWelcome:
      if (stream.welcomed) return absl::InternalError("a second welcome on one stream");
      return HandleWelcome(stream, response.welcome());
    case v1::SyncResponse::kAck: {
      if (!stream.welcomed) return absl::InternalError("an ack before the welcome");
      const v1::SyncAck& ack = response.ack();
      RETURN_IF_ERROR(options_.outbox->Acknowledge(v1::SYNC_LANE_CUSTODY, ack.custody_applied()));
      RETURN_IF_ERROR(
          options_.outbox->Acknowledge(v1::SYNC_LANE_TELEMETRY, ack.telemetry_applied()));
      stream.custody_acked = std::max(stream.custody_acked, ack.custody_applied());
      stream.in_flight = std::max(0, stream.in_flight - 1);
      stream.last_progress = now;
      stream.progressed = true;
      for (const v1::RejectedItem& r : ack.rejected()) {
        Emit(DockEvent::Kind::kItemRejected,
             absl::StrCat("the server rejected ",
                          r.lane() == v1::SYNC_LANE_CUSTODY ? "custody" : "telemetry", " item ",
                          r.sequence(), ": ", r.reason()));
      }
      {
        absl::MutexLock lock(&mu_);
        state_.last_sync = now;
        ++state_.batches_acked;
      }
      Emit(DockEvent::Kind::kSyncAcked,
           absl::StrCat("acknowledged: custody through ", ack.custody_applied(),
                        ", telemetry through ", ack.telemetry_applied()));
      return absl::OkStatus();
    }
    case v1::SyncResponse::kSiteView: {
      RETURN_IF_ERROR(options_.site_view->Replace(response.site_view(), now));
      if (options_.on_site_view) options_.on_site_view(stream.custody_acked);
      Emit(DockEvent::Kind::kSiteViewReceived,
           absl::StrCat("site view of ", response.site_view().site_code(), ": ",
                        response.site_view().holders_size(), " holders, ",
                        response.site_view().cameras_size(), " cameras"));
      return absl::OkStatus();
    }
    case v1::SyncResponse::kCrl: {
      if (options_.crl == nullptr) return absl::OkStatus();
      const v1::CrlUpdate& update = response.crl();
      if (update.crl_number() < 0) {
        Emit(DockEvent::Kind::kFailed, "CRL refused",
             absl::InvalidArgumentError("negative CRL number"));
        return absl::OkStatus();
      }
      absl::StatusOr<HeldCrl> held =
          options_.crl->Accept(static_cast<uint64_t>(update.crl_number()), update.crl_pem(),
                               {update.revoked_factory_key_fingerprints().begin(),
                                update.revoked_factory_key_fingerprints().end()});
      // A CRL refused is reported and the stream goes on: the one held stays in force.
      if (!held.ok()) {
        Emit(DockEvent::Kind::kFailed,
             absl::StrCat("CRL ", update.crl_number(), " refused; the one held stays in force"),
             held.status());
      } else {
        Emit(DockEvent::Kind::kCrlUpdated, absl::StrCat("CRL ", held->number, " in force"));
      }
      return absl::OkStatus();
    }
    case v1::SyncResponse::kServerTime:
      if (options_.clock_offset != nullptr) {
        (void)options_.clock_offset->Record(stream.last_write, now,
                                            FromTimestamp(response.server_time().server_time()));
      }
      return absl::OkStatus();
    case v1::SyncResponse::kFirmwarePlan: {
      // Kept in the outbox's file with the jobs' progress (agent/firmware_installer.h).
      ASSIGN_OR_RETURN(bool kept, options_.outbox->SetFirmwarePlan(response.firmware_plan()));
      if (kept && options_.on_firmware_plan) options_.on_firmware_plan();
      return absl::OkStatus();
    }
    case v1::SyncResponse::KIND_NOT_SET:
      break;
  }
  return absl::InternalError("a sync response without a kind");
}

absl::Status SyncClient::SendMore(Stream& stream) {
  while (stream.in_flight < options_.window) {
    ASSIGN_OR_RETURN(std::vector<v1::OutboxItem> items,
                     options_.outbox->NextBatch(static_cast<int>(stream.max_batch),
                                                options_.max_batch_bytes, stream.sent));
    if (items.empty()) return absl::OkStatus();
    v1::SyncRequest request;
    for (v1::OutboxItem& item : items) {
      if (item.lane() == v1::SYNC_LANE_CUSTODY) {
        stream.sent.custody = std::max(stream.sent.custody, item.sequence());
      } else {
        stream.sent.telemetry = std::max(stream.sent.telemetry, item.sequence());
      }
      *request.mutable_batch()->add_items() = std::move(item);
    }
    stream.last_write = options_.clock->Now();
    if (stream.in_flight == 0) stream.last_progress = stream.last_write;
    if (!stream.rw->Write(request)) {
      return absl::UnavailableError("the stream broke while sending a batch");
    }
    ++stream.in_flight;
  }
  return absl::OkStatus();
}

absl::Status SyncClient::RunStream() {
  absl::StatusOr<provisioning::CredentialBundle> bundle =
      provisioning::LoadCredentialBundle(options_.paths.Credentials());
  if (!bundle.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no dock credentials (run `camfleet-dock enroll`): ", bundle.status().message()));
  }
  ASSIGN_OR_RETURN(v1::SyncHello hello, MakeHello());

  Stream stream;
  stream.stub = v1::DockService::NewStub(MutualTlsChannel(options_.endpoint, *bundle));
  stream.context.set_deadline(absl::ToChronoTime(absl::Now() + options_.stream_lifetime));
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return absl::OkStatus();
    live_context_ = &stream.context;
    ++state_.attempts;
  }
  stream.rw = stream.stub->Sync(&stream.context);
  stream.last_write = options_.clock->Now();
  v1::SyncRequest first;
  *first.mutable_hello() = std::move(hello);
  stream.rw->Write(first);  // a failure shows as the stream's end, read below
  stream.reader = std::thread([this, &stream] {
    v1::SyncResponse response;
    while (stream.rw->Read(&response)) {
      absl::MutexLock lock(&mu_);
      stream.queue.push_back(std::move(response));
      cv_.SignalAll();
    }
    absl::MutexLock lock(&mu_);
    stream.reader_done = true;
    cv_.SignalAll();
  });

  const absl::Time welcome_deadline = absl::Now() + options_.welcome_timeout;
  absl::Status local;  // an error on our side that ends the stream
  bool stopping = false;
  while (true) {
    std::deque<v1::SyncResponse> responses;
    bool reader_done = false;
    {
      absl::MutexLock lock(&mu_);
      if (stream.queue.empty() && !stream.reader_done && !stop_ && !woken_) {
        cv_.WaitWithTimeout(&mu_, options_.poll);
      }
      responses.swap(stream.queue);
      reader_done = stream.reader_done;
      stopping = stop_;
      woken_ = false;
    }
    for (const v1::SyncResponse& response : responses) {
      local = HandleResponse(stream, response);
      if (!local.ok()) break;
    }
    if (!local.ok() || stopping || reader_done) break;
    if (!stream.welcomed) {
      if (absl::Now() > welcome_deadline) {
        local = absl::DeadlineExceededError(
            absl::StrCat("no welcome within ", absl::FormatDuration(options_.welcome_timeout)));
        break;
      }
      continue;
    }
    local = SendMore(stream);
    if (!local.ok()) break;
    if (stream.in_flight > 0 &&
        options_.clock->Now() - stream.last_progress > options_.stall_timeout) {
      local = absl::UnavailableError(
          absl::StrCat("no acknowledgement for ", absl::FormatDuration(options_.stall_timeout),
                       " with ", stream.in_flight, " batches in flight: reopening the stream"));
      break;
    }
  }

  if (stopping && local.ok()) {
    // A clean end: half-close and give the server a moment to end the stream itself.
    stream.rw->WritesDone();
    absl::MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + absl::Seconds(2);
    while (!stream.reader_done && absl::Now() < until) cv_.WaitWithTimeout(&mu_, options_.poll);
  }
  bool reader_done_now = false;
  {
    absl::MutexLock lock(&mu_);
    reader_done_now = stream.reader_done;
  }
  if (!reader_done_now) stream.context.TryCancel();
  stream.reader.join();
  const absl::Status finished = FromGrpc(stream.rw->Finish());
  {
    absl::MutexLock lock(&mu_);
    live_context_ = nullptr;
    state_.connected = false;
  }
  if (stopping) return absl::OkStatus();
  if (!local.ok()) return local;
  return finished;
}

}  // namespace camfleet::agent
