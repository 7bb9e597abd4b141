#include "services/dock/dock_handler.h"

#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/log.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/firmware/release_download.h"
#include "services/rpc/grpc_status.h"
#include "services/rpc/unary.h"

namespace camfleet::dock {

constexpr char kSyncMethod[] = "camfleet.v1.DockService/Sync";

// One Sync stream. Lives until gRPC calls OnDone and no store callback of it is outstanding.
class SyncReactor final : public grpc::ServerBidiReactor<v1::SyncRequest, v1::SyncResponse> {
 public:
  SyncReactor(DockHandler& handler, grpc::CallbackServerContext* ctx)
      : handler_(handler), sync_(handler.sync_) {
    absl::StatusOr<rpc::Identity> who = handler.auth_.Authenticate(*ctx, kSyncMethod);
    if (!who.ok()) {
      Finish(rpc::ToGrpcStatus(who.status()));
      return;
    }
    who_ = *std::move(who);
    if (!handler_.Register(this)) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
      return;
    }
    registered_ = true;
    StartRead(&request_);
  }

  // The dock, from its certificate; set before the stream registers, then never changed.
  const std::string& dock_id() const { return who_.name; }

  // Keeps the reactor alive across a store callback (or Shutdown's End) even if gRPC is done
  // with it meanwhile; the last Release after OnDone deletes it.
  void Hold() {
    absl::MutexLock lock(&mu_);
    ++store_ops_;
  }
  void Release() {
    bool remove = false;
    {
      absl::MutexLock lock(&mu_);
      --store_ops_;
      remove = done_ && store_ops_ == 0;
    }
    if (remove) delete this;
  }

  // Ends the stream with `status` once the messages queued so far are written.
  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      finish_status_ = status;
      read_when_drained_ = false;
      if (writing_) return;  // OnWriteDone drains the queue, then finishes
    }
    Drain();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The dock half-closed or the call was cancelled: nothing more will come.
      End(grpc::Status::OK);
      return;
    }
    if (request_.ByteSizeLong() > sync_.options().max_message_bytes) {
      End(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat("message is ", request_.ByteSizeLong(), " bytes; at most ",
                                    sync_.options().max_message_bytes, " per message")));
      return;
    }
    if (!session_.has_value()) {
      if (!request_.has_hello()) {
        End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         "the first message of a Sync stream must be a SyncHello"));
        return;
      }
      Hold();
      sync_.Open(who_, request_.hello(), [this](absl::StatusOr<OpenResult> opened) {
        OnOpened(std::move(opened));
        Release();
      });
      return;
    }
    if (!request_.has_batch()) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "after the hello a Sync stream carries only OutboxBatch messages"));
      return;
    }
    Hold();
    sync_.ApplyBatch(*session_, request_.batch(), [this](absl::StatusOr<BatchResult> result) {
      OnApplied(std::move(result));
      Release();
    });
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        // The stream is broken (cancelled, dock gone): drop what is queued.
        queue_.clear();
        if (!finishing_) {
          finishing_ = true;
          finish_status_ = grpc::Status::OK;
        }
      } else {
        queue_.pop_front();
      }
    }
    Drain();
  }

  void OnDone() override {
    if (registered_) handler_.Unregister(this);
    bool remove = false;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      remove = store_ops_ == 0;
    }
    if (remove) delete this;
  }

 private:
  void OnOpened(absl::StatusOr<OpenResult> opened) {
    if (!opened.ok()) {
      End(rpc::ToGrpcStatus(opened.status()));
      return;
    }
    {
      absl::MutexLock view_lock(&view_mu_);
      session_ = std::move(opened->session);
      crl_sent_ = session_->known_crl_number;
      common::LogInfo("dock ", who_.name, " connected (epoch ", session_->epoch, ", custody ",
                      opened->welcome.custody_applied(), ", telemetry ",
                      opened->welcome.telemetry_applied(), ")");
      v1::SyncResponse welcome;
      *welcome.mutable_welcome() = std::move(opened->welcome);
      Queue(std::move(welcome));
      if (!QueueSiteView()) return;
      if (!QueuePlan(/*on_connect=*/true)) return;
    }
    Hold();
    sync_.NewerCrl(session_->known_crl_number,
                   [this](absl::StatusOr<std::optional<v1::CrlUpdate>> crl) {
                     if (!crl.ok()) {
                       End(rpc::ToGrpcStatus(crl.status()));
                     } else {
                       {
                         absl::MutexLock view_lock(&view_mu_);
                         if (crl->has_value()) QueueCrl(**crl);
                       }
                       v1::SyncResponse now;
                       *now.mutable_server_time() = sync_.Now();
                       Queue(std::move(now));
                       ReadWhenDrained();
                     }
                     Release();
                   });
  }

  void OnApplied(absl::StatusOr<BatchResult> result) {
    if (!result.ok()) {
      End(rpc::ToGrpcStatus(result.status()));
      return;
    }
    // Under view_mu_: a view the pusher queues after this ack was built after this batch
    // committed, so the dock may take it as covering what the ack acknowledges.
    absl::MutexLock view_lock(&view_mu_);
    v1::SyncResponse ack;
    *ack.mutable_ack() = std::move(result->ack);
    Queue(std::move(ack));
    if (!result->gap.ok()) {
      common::LogWarning("dock ", who_.name, ": ", result->gap.message());
      End(rpc::ToGrpcStatus(result->gap));
      return;
    }
    if (result->custody_changed || absl::Now() - last_view_ >= sync_.options().site_view_interval) {
      if (!QueueSiteView()) return;
    }
    // Firmware progress travels in the custody lane and may finish a job or open a wave.
    if (result->custody_changed && !QueuePlan(/*on_connect=*/false)) return;
    ReadWhenDrained();
  }

  bool QueueSiteView() ABSL_EXCLUSIVE_LOCKS_REQUIRED(view_mu_) {
    absl::StatusOr<v1::SiteView> view = sync_.BuildSiteView(*session_);
    if (!view.ok()) {
      End(rpc::ToGrpcStatus(view.status()));
      return false;
    }
    view_key_ = ViewKey(*view);
    last_view_ = absl::Now();
    v1::SyncResponse message;
    *message.mutable_site_view() = *std::move(view);
    Queue(std::move(message));
    return true;
  }

  // Queues the site's firmware plan if it differs from the last one sent. On connect it goes
  // down even when empty if the site ever had a rollout, so a dock drops jobs of a rollout
  // that was paused, aborted or withdrawn while it was away; a site that never had one gets
  // no plan message at all.
  bool QueuePlan(bool on_connect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(view_mu_) {
    std::vector<storage::PlannedUnit> unsent;
    bool ever = false;
    absl::StatusOr<v1::FirmwarePlan> plan = sync_.BuildFirmwarePlan(*session_, &unsent, &ever);
    if (!plan.ok()) {
      End(rpc::ToGrpcStatus(plan.status()));
      return false;
    }
    SendPlan(*std::move(plan), std::move(unsent), on_connect && ever);
    return true;
  }

  void SendPlan(v1::FirmwarePlan plan, std::vector<storage::PlannedUnit> unsent, bool always)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(view_mu_) {
    std::string key = PlanKey(plan);
    if (!always && key == plan_key_) return;
    plan_key_ = std::move(key);
    v1::SyncResponse message;
    *message.mutable_firmware_plan() = std::move(plan);
    Queue(std::move(message));
    sync_.MarkJobsSent(std::move(unsent));
  }

  static std::string PlanKey(v1::FirmwarePlan plan) {
    plan.clear_plan_time();
    std::string key;
    google::protobuf::io::StringOutputStream out(&key);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    plan.SerializeToCodedStream(&coded);
    coded.Trim();
    return key;
  }

  void QueueCrl(const v1::CrlUpdate& update) ABSL_EXCLUSIVE_LOCKS_REQUIRED(view_mu_) {
    if (update.crl_number() <= crl_sent_) return;
    crl_sent_ = update.crl_number();
    v1::SyncResponse message;
    *message.mutable_crl() = update;
    Queue(std::move(message));
  }

  // The view without its time: two views with the same key tell the dock the same thing.
  static std::string ViewKey(v1::SiteView view) {
    view.clear_view_time();
    std::string key;
    google::protobuf::io::StringOutputStream out(&key);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    view.SerializeToCodedStream(&coded);
    coded.Trim();
    return key;
  }

 public:
  // From the pusher: sends `view_of(session)` if this stream is past its welcome and the view
  // differs from the last one it got. `view_of` may return a cached view for the site.
  void PushView(
      const std::function<const absl::StatusOr<v1::SiteView>&(const DockSession&)>& view_of) {
    absl::MutexLock view_lock(&view_mu_);
    if (!session_.has_value()) return;
    const absl::StatusOr<v1::SiteView>& view = view_of(*session_);
    if (!view.ok()) return;  // said in the log by the pusher; the next change tries again
    std::string key = ViewKey(*view);
    if (key == view_key_) return;
    view_key_ = std::move(key);
    last_view_ = absl::Now();
    v1::SyncResponse message;
    *message.mutable_site_view() = *view;
    Queue(std::move(message));
  }
  // From the pusher: sends the site's firmware plan if it differs from the last one sent.
  // `plan_of` may return a plan cached for the site (with its unsent jobs).
  void PushPlan(const std::function<const absl::StatusOr<std::pair<
                    v1::FirmwarePlan, std::vector<storage::PlannedUnit>>>&(const DockSession&)>&
                    plan_of) {
    absl::MutexLock view_lock(&view_mu_);
    if (!session_.has_value()) return;
    const auto& plan = plan_of(*session_);
    if (!plan.ok()) return;
    SendPlan(plan->first, plan->second, /*always=*/false);
  }
  // From the pusher: sends `update` if it is newer than what this stream has.
  void PushCrl(const v1::CrlUpdate& update) {
    absl::MutexLock view_lock(&view_mu_);
    if (!session_.has_value()) return;
    QueueCrl(update);
  }

 private:
  void Queue(v1::SyncResponse message) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      queue_.push_back(std::move(message));
      if (writing_) return;
    }
    Drain();
  }

  // The next read starts once everything queued is written: one batch in flight per stream.
  void ReadWhenDrained() {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      read_when_drained_ = true;
      if (writing_) return;
    }
    Drain();
  }

  // Starts the next write, or the pending read, or the finish, whichever is due.
  void Drain() {
    enum { kNothing, kWrite, kRead, kFinish } next = kNothing;
    const v1::SyncResponse* message = nullptr;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (!queue_.empty()) {
        writing_ = true;
        message = &queue_.front();
        next = kWrite;
      } else if (finishing_) {
        finished_ = true;
        status = finish_status_;
        next = kFinish;
      } else if (read_when_drained_) {
        read_when_drained_ = false;
        next = kRead;
      }
    }
    switch (next) {
      case kWrite:
        StartWrite(message);
        break;
      case kRead:
        StartRead(&request_);
        break;
      case kFinish:
        Finish(status);
        break;
      case kNothing:
        break;
    }
  }

  DockHandler& handler_;
  DockSyncManager& sync_;
  rpc::Identity who_;
  bool registered_ = false;
  // Touched only between a read completing and the next read starting (one at a time).
  v1::SyncRequest request_;
  // Orders what goes down: views, CRLs and acks are queued under it, so a view queued after an
  // ack was built after that ack's batch committed. Taken before mu_.
  absl::Mutex view_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Set once under view_mu_ when the hello is accepted; read by the stream's own callbacks
  // (which run after that) and by the pusher under view_mu_.
  std::optional<DockSession> session_;
  std::string view_key_ ABSL_GUARDED_BY(view_mu_);  // ViewKey of the last view queued
  int64_t crl_sent_ ABSL_GUARDED_BY(view_mu_) = 0;  // newest CRL number the dock has
  std::string plan_key_ ABSL_GUARDED_BY(view_mu_);  // PlanKey of the last plan queued
  absl::Time last_view_ = absl::InfinitePast();

  absl::Mutex mu_;
  std::deque<v1::SyncResponse> queue_ ABSL_GUARDED_BY(mu_);  // front is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_when_drained_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  int store_ops_ ABSL_GUARDED_BY(mu_) = 0;  // Holds outstanding
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

DockHandler::DockHandler(identity::IdentityManager& identity, DockSyncManager& sync,
                         firmware_service::FirmwareManager& firmware,
                         const rpc::Authenticator& auth)
    : identity_(identity), sync_(sync), firmware_(firmware), auth_(auth) {
  if (sync_.options().push_interval > absl::ZeroDuration()) {
    pusher_ = std::thread([this] { PushLoop(); });
  }
}

DockHandler::~DockHandler() { Shutdown(); }

void DockHandler::PushLoop() {
  int64_t audit_mark = 0;
  // Changes before the first look are in every stream's welcome view already.
  if (!sync_.CentralChangeSince(audit_mark).ok()) audit_mark = 0;
  uint64_t revocations = sync_.RevocationGeneration();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + sync_.options().push_interval;
      while (!shut_down_ && absl::Now() < until) stop_cv_.WaitWithDeadline(&mu_, until);
      if (shut_down_) return;
    }
    PushOnce(audit_mark, revocations);
  }
}

void DockHandler::PushOnce(int64_t& audit_mark, uint64_t& revocations) {
  absl::StatusOr<bool> changed = sync_.CentralChangeSince(audit_mark);
  if (!changed.ok()) {
    common::LogWarning("looking for central changes to push to docks: ",
                       changed.status().ToString());
    return;
  }
  const uint64_t generation = sync_.RevocationGeneration();
  std::optional<v1::CrlUpdate> crl;
  if (generation != revocations) {
    absl::Notification fetched;
    absl::StatusOr<std::optional<v1::CrlUpdate>> newer;
    sync_.NewerCrl(0, [&](absl::StatusOr<std::optional<v1::CrlUpdate>> result) {
      newer = std::move(result);
      fetched.Notify();
    });
    fetched.WaitForNotification();
    if (newer.ok()) {
      revocations = generation;
      crl = std::move(*newer);
    } else {
      common::LogWarning("building the CRL to push to docks: ", newer.status().ToString());
    }
  }
  if (!*changed && !crl.has_value()) return;
  std::vector<SyncReactor*> open;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    for (SyncReactor* reactor : open_) {
      reactor->Hold();
      open.push_back(reactor);
    }
  }
  // One view per site per look, however many of its docks are connected.
  absl::flat_hash_map<int64_t, absl::StatusOr<v1::SiteView>> views;
  auto view_of = [&](const DockSession& session) -> const absl::StatusOr<v1::SiteView>& {
    auto it = views.find(session.site_id);
    if (it == views.end()) {
      it = views.emplace(session.site_id, sync_.BuildSiteView(session)).first;
      if (!it->second.ok()) {
        common::LogWarning("site view of ", session.site_code,
                           " not pushed: ", it->second.status().ToString());
      }
    }
    return it->second;
  };
  // Rollout changes (a wave opened, a rollout paused, a release withdrawn) are audited, so
  // they show up here as central changes too; one plan per site per look.
  using PlanAndUnsent = std::pair<v1::FirmwarePlan, std::vector<storage::PlannedUnit>>;
  absl::flat_hash_map<int64_t, absl::StatusOr<PlanAndUnsent>> plans;
  auto plan_of = [&](const DockSession& session) -> const absl::StatusOr<PlanAndUnsent>& {
    auto it = plans.find(session.site_id);
    if (it == plans.end()) {
      std::vector<storage::PlannedUnit> unsent;
      absl::StatusOr<v1::FirmwarePlan> plan = sync_.BuildFirmwarePlan(session, &unsent);
      absl::StatusOr<PlanAndUnsent> entry =
          plan.ok() ? absl::StatusOr<PlanAndUnsent>(PlanAndUnsent(*std::move(plan), unsent))
                    : absl::StatusOr<PlanAndUnsent>(plan.status());
      it = plans.emplace(session.site_id, std::move(entry)).first;
      if (!it->second.ok()) {
        common::LogWarning("firmware plan of ", session.site_code,
                           " not pushed: ", it->second.status().ToString());
      }
    }
    return it->second;
  };
  for (SyncReactor* reactor : open) {
    if (crl.has_value()) reactor->PushCrl(*crl);
    if (*changed) {
      reactor->PushView(view_of);
      reactor->PushPlan(plan_of);
    }
    reactor->Release();
  }
}

bool DockHandler::Register(SyncReactor* reactor) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return false;
  open_.insert(reactor);
  return true;
}

void DockHandler::Unregister(SyncReactor* reactor) {
  absl::MutexLock lock(&mu_);
  open_.erase(reactor);
}

int DockHandler::ConnectedDocks() {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_set<std::string> docks;
  for (const SyncReactor* reactor : open_) docks.insert(reactor->dock_id());
  return static_cast<int>(docks.size());
}

void DockHandler::Shutdown() {
  std::vector<SyncReactor*> open;
  {
    // A registered reactor is alive (OnDone unregisters it under mu_ before anything else), and
    // the hold keeps it so while End runs outside the lock.
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    stop_cv_.SignalAll();
    for (SyncReactor* reactor : open_) {
      reactor->Hold();
      open.push_back(reactor);
    }
  }
  for (SyncReactor* reactor : open) {
    reactor->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the server is shutting down; reconnect with backoff"));
    reactor->Release();
  }
  if (pusher_.joinable() && pusher_.get_id() != std::this_thread::get_id()) pusher_.join();
}

grpc::ServerBidiReactor<v1::SyncRequest, v1::SyncResponse>* DockHandler::Sync(
    grpc::CallbackServerContext* ctx) {
  return new SyncReactor(*this, ctx);
}

#define CAMFLEET_DOCK_WRITE(Method)                                                        \
  grpc::ServerUnaryReactor* DockHandler::Method(grpc::CallbackServerContext* ctx,          \
                                                const v1::Method##Request* req,            \
                                                v1::Method##Response* resp) {              \
    return rpc::HandleWrite(ctx, auth_, "camfleet.v1.DockService/" #Method, req, resp,     \
                            [this](const rpc::Identity& who, const v1::Method##Request& r, \
                                   identity::Done<v1::Method##Response> done) {            \
                              identity_.Method(who, r, std::move(done));                   \
                            });                                                            \
  }
CAMFLEET_DOCK_WRITE(EnrollDock)
CAMFLEET_DOCK_WRITE(RenewDockCertificate)
CAMFLEET_DOCK_WRITE(EnrollCamera)
CAMFLEET_DOCK_WRITE(RenewCameraCertificate)
#undef CAMFLEET_DOCK_WRITE

grpc::ServerWriteReactor<v1::DownloadReleaseResponse>* DockHandler::DownloadRelease(
    grpc::CallbackServerContext* ctx, const v1::DownloadReleaseRequest* req) {
  return firmware_service::StartReleaseDownload(firmware_, auth_, ctx, req);
}

}  // namespace camfleet::dock
