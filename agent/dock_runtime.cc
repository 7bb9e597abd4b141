#include "agent/dock_runtime.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/certificate_keeper.h"
#include "agent/grpc_camera_link.h"
#include "agent/outbox_item.h"
#include "common/status_macros.h"
#include "provisioning/certificate.h"
#include "provisioning/credential_bundle.h"

namespace camfleet::agent {

absl::StatusOr<std::unique_ptr<DockRuntime>> DockRuntime::Start(DockRuntimeOptions options) {
  std::unique_ptr<DockRuntime> rt(new DockRuntime(std::move(options)));
  DockRuntimeOptions& o = rt->options_;
  absl::StatusOr<provisioning::CredentialBundle> bundle =
      provisioning::LoadCredentialBundle(o.paths.Credentials());
  if (!bundle.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("this dock is not enrolled (run `camfleet-dock enroll` first): ",
                     bundle.status().message()));
  }
  ASSIGN_OR_RETURN(provisioning::CertificateInfo me,
                   provisioning::ParseCertificate(bundle->cert_pem));
  rt->dock_id_ = me.identity;
  ASSIGN_OR_RETURN(provisioning::CertificateVerifier ca,
                   provisioning::CertificateVerifier::FromCaPem(bundle->ca_pem));
  rt->ca_ = ca;
  rt->crl_ = std::make_unique<CrlStore>(o.paths.Crl(), std::move(ca));
  ASSIGN_OR_RETURN(rt->outbox_, OutboxStore::Open(OutboxPath(o.paths), o.outbox_limits, o.clock));
  ASSIGN_OR_RETURN(rt->site_view_, SiteViewStore::Open(SiteViewPath(o.paths)));
  rt->clock_offset_ = std::make_unique<ClockOffset>(o.paths.ClockOffset());
  if (absl::Status loaded = rt->clock_offset_->Load(); !loaded.ok()) {
    DockEvent event;
    event.kind = DockEvent::Kind::kFailed;
    event.time = o.clock->Now();
    event.message = "clock offset not loaded; measured again on the next sync";
    event.status = loaded;
    rt->Emit(event);
  }

  std::vector<int> slots;
  for (const auto& [n, socket] : o.sockets) slots.push_back(n);
  rt->board_ = std::make_unique<SlotBoard>(slots);
  rt->ledger_ = std::make_unique<CustodyLedger>();
  // What the dock did that the control plane has not acknowledged: the ledger's start.
  ASSIGN_OR_RETURN(
      std::vector<v1::OutboxItem> pending,
      rt->outbox_->NextBatch(std::numeric_limits<int>::max(), std::numeric_limits<int64_t>::max()));
  rt->ledger_->Replay(pending);

  ASSIGN_OR_RETURN(rt->firmware_cache_, FirmwareCache::Open(o.paths.Firmware()));

  DockRuntime* self = rt.get();
  SyncClientOptions sync = o.sync;
  sync.endpoint = o.endpoint;
  sync.paths = o.paths;
  sync.outbox = rt->outbox_.get();
  sync.site_view = rt->site_view_.get();
  sync.crl = rt->crl_.get();
  sync.clock_offset = rt->clock_offset_.get();
  sync.clock = o.clock;
  sync.occupants = [self] { return self->board_->Occupants(); };
  sync.on_site_view = [self](uint64_t custody_acked) {
    self->ledger_->PruneAcknowledged(custody_acked);
    for (auto& m : self->monitors_) m->Recheck();
  };
  sync.on_firmware_plan = [self] {
    absl::MutexLock lock(&self->mu_);
    self->firmware_due_ = true;
    self->cv_.SignalAll();
  };
  sync.events = [self](const DockEvent& e) {
    if (e.kind == DockEvent::Kind::kCrlUpdated) {
      for (auto& m : self->monitors_) m->Recheck();
    }
    self->Emit(e);
  };
  rt->sync_ = std::make_unique<SyncClient>(std::move(sync));
  auto appended = [self] { self->sync_->Wake(); };
  auto events = [self](const DockEvent& e) { self->Emit(e); };

  for (const auto& [n, socket] : o.sockets) {
    SlotMonitorOptions m;
    m.slot = n;
    m.make_link = [path = socket] { return NewGrpcCameraLink(path); };
    m.outbox = rt->outbox_.get();
    m.site_view = rt->site_view_.get();
    m.crl = rt->crl_.get();
    m.ca = &*rt->ca_;
    m.clock_offset = rt->clock_offset_.get();
    m.board = rt->board_.get();
    m.ledger = rt->ledger_.get();
    m.clock = o.clock;
    m.identify_interval = o.identify_interval;
    m.health_interval = o.health_interval;
    m.clock_skew_bound = o.clock_skew_bound;
    m.appended = appended;
    m.events = events;
    rt->monitors_.push_back(std::make_unique<SlotMonitor>(std::move(m)));
  }
  rt->desk_ = std::make_unique<CheckoutDesk>(CheckoutDeskOptions{
      .outbox = rt->outbox_.get(),
      .site_view = rt->site_view_.get(),
      .board = rt->board_.get(),
      .ledger = rt->ledger_.get(),
      .clock_offset = rt->clock_offset_.get(),
      .clock = o.clock,
      .appended = appended,
      .events = events,
  });
  ASSIGN_OR_RETURN(
      rt->control_,
      LocalControlServer::Start(
          ControlSocketPath(o.paths),
          LocalControlHandlers{
              .checkout = [self](const std::string& badge) { return self->desk_->Checkout(badge); },
              .status = [self] { return self->Status(); },
              .check_stock = [self] { return self->CheckStock(); }}));

  for (auto& m : rt->monitors_) m->Start();
  rt->sync_thread_ = std::thread([self] { self->sync_->Run(); });
  if (o.keeper_interval > absl::ZeroDuration()) {
    rt->keeper_thread_ = std::thread([self] { self->KeeperLoop(); });
  }
  if (o.firmware_interval > absl::ZeroDuration()) {
    rt->firmware_thread_ = std::thread([self] { self->FirmwareLoop(); });
  }
  return rt;
}

DockRuntime::~DockRuntime() { Stop(); }

void DockRuntime::Emit(const DockEvent& event) {
  if (options_.events) options_.events(event);
}

bool DockRuntime::WaitOnClock(absl::Duration d) {
  const absl::Time until = options_.clock->Now() + d;
  absl::MutexLock lock(&mu_);
  while (!stopping_ && options_.clock->Now() < until) {
    cv_.WaitWithTimeout(&mu_, absl::Milliseconds(50));
  }
  return !stopping_;
}

void DockRuntime::FirmwareLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + options_.firmware_interval;
      while (!stopping_ && !firmware_due_ && absl::Now() < until) {
        cv_.WaitWithTimeout(&mu_, until - absl::Now());
      }
      if (stopping_) return;
      firmware_due_ = false;
    }
    // A fresh channel per pass: the keeper may have renewed the dock's certificate.
    std::unique_ptr<FirmwareDownloader> downloader;
    if (absl::StatusOr<provisioning::CredentialBundle> bundle =
            provisioning::LoadCredentialBundle(options_.paths.Credentials());
        bundle.ok()) {
      downloader = std::make_unique<FirmwareDownloader>(
          MutualTlsChannel(options_.endpoint, *bundle), *firmware_cache_);
    }
    FirmwareInstaller installer(FirmwareInstallerOptions{
        .outbox = outbox_.get(),
        .cache = firmware_cache_.get(),
        .board = board_.get(),
        .ledger = ledger_.get(),
        .site_view = site_view_.get(),
        .downloader = downloader.get(),
        .clock_offset = clock_offset_.get(),
        .clock = options_.clock,
        .link_for_slot =
            [this](int slot) {
              auto it = options_.sockets.find(slot);
              return NewGrpcCameraLink(it == options_.sockets.end() ? std::string() : it->second);
            },
        .appended = [this] { sync_->Wake(); },
    });
    absl::StatusOr<InstallPass> pass = installer.RunOnce();
    if (!pass.ok()) {
      DockEvent event;
      event.kind = DockEvent::Kind::kFailed;
      event.time = options_.clock->Now();
      event.message = "firmware pass";
      event.status = pass.status();
      Emit(event);
    }
  }
}

void DockRuntime::KeeperLoop() {
  RetryPolicy retry = options_.keeper_retry;
  retry.sleep = [this](absl::Duration d) {
    absl::MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + d;
    while (!stopping_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
  };
  KeeperOptions keeper_options{options_.paths, options_.endpoint, retry, options_.clock,
                               clock_offset_.get()};
  // A stale CRL (crl_store.h) is said at the dock (the keeper's kCrlStale line) and raised up
  // the sync stream once per CRL number, so a quartermaster hears of a dock cut off too long.
  std::optional<uint64_t> alerted_crl;
  keeper_options.crl_stale = [this, &alerted_crl](uint64_t number, const std::string& text) {
    if (alerted_crl == number) return;
    v1::OutboxItem item;
    v1::DockAlert* alert = item.mutable_alert();
    alert->set_kind(v1::DOCK_ALERT_KIND_CRL_STALE);
    alert->set_message(text);
    std::optional<absl::Duration> offset;
    if (clock_offset_->Latest().has_value()) offset = clock_offset_->Offset();
    StampItem(item, options_.clock->Now(), offset);
    absl::StatusOr<AppendResult> appended = outbox_->Append(std::move(item));
    if (!appended.ok()) {
      DockEvent event;
      event.kind = DockEvent::Kind::kFailed;
      event.time = options_.clock->Now();
      event.message = "recording the stale-CRL alert";
      event.status = appended.status();
      Emit(event);
      return;
    }
    alerted_crl = number;
    sync_->Wake();
  };
  CertificateKeeper keeper(std::move(keeper_options));
  do {
    // Fresh links every pass (see dock_cli.cc).
    // Each slot's work runs on its own worker and may outlive the pass (a hung camera), so
    // the slot keeps its link alive.
    std::vector<CameraSlot> slots;
    for (const auto& [number, socket] : options_.sockets) {
      std::shared_ptr<CameraLink> link = NewGrpcCameraLink(socket);
      slots.push_back(CameraSlot{number, link.get(), link});
    }
    PassReport report = keeper.RunPass(slots);
    for (const Action& action : report.actions) {
      DockEvent event;
      event.kind = DockEvent::Kind::kCertificate;
      event.time = options_.clock->Now();
      event.slot = action.slot;
      event.serial = action.subject;
      event.message = FormatAction(action);
      Emit(event);
    }
  } while (WaitOnClock(options_.keeper_interval));
}

void DockRuntime::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    cv_.SignalAll();
  }
  control_.reset();
  for (auto& m : monitors_) m->Stop();
  if (keeper_thread_.joinable()) keeper_thread_.join();
  if (firmware_thread_.joinable()) firmware_thread_.join();
  if (sync_ != nullptr) sync_->Stop();
  if (sync_thread_.joinable()) sync_thread_.join();
}

absl::StatusOr<dockctl::v1::GetStatusResponse> DockRuntime::Status() {
  dockctl::v1::GetStatusResponse out;
  out.set_dock_id(dock_id_);
  out.set_epoch(outbox_->epoch());
  absl::StatusOr<std::optional<v1::SiteView>> view = site_view_->View();
  const v1::SiteView* v = view.ok() && view->has_value() ? &**view : nullptr;
  if (v != nullptr) out.set_site_code(v->site_code());
  for (const SlotInfo& slot : board_->Snapshot()) {
    dockctl::v1::SlotStatus* s = out.add_slots();
    s->set_slot(static_cast<uint32_t>(slot.slot));
    s->set_occupied(slot.occupied);
    s->set_serial(slot.serial);
    s->set_refused_reason(slot.refused_reason);
    s->set_released(slot.released);
    if (slot.health.has_value()) {
      s->set_has_health(true);
      s->set_battery_percent(slot.health->battery_percent);
      *s->mutable_health_time() = ToTimestamp(slot.health_time);
    }
    if (slot.occupied) {
      std::string state = "UNKNOWN";
      if (v != nullptr) {
        for (const v1::SiteCamera& c : v->cameras()) {
          if (c.serial() == slot.serial) state = v1::CameraState_Name(c.state());
        }
      }
      s->set_state(state);
    }
  }
  ASSIGN_OR_RETURN(OutboxBacklog backlog, outbox_->Backlog());
  out.set_backlog_custody(static_cast<uint64_t>(backlog.custody.items));
  out.set_backlog_telemetry(static_cast<uint64_t>(backlog.telemetry.items));
  const SyncState sync = sync_->state();
  out.mutable_sync()->set_connected(sync.connected);
  if (sync.last_sync.has_value())
    *out.mutable_sync()->mutable_last_sync_time() = ToTimestamp(*sync.last_sync);
  if (!sync.last_error.ok()) {
    out.mutable_sync()->set_last_error(absl::StrCat(
        absl::StatusCodeToString(sync.last_error.code()), ": ", sync.last_error.message()));
  }
  out.mutable_sync()->set_refused(sync.refused);
  if (std::optional<ClockOffsetSample> offset = clock_offset_->Latest(); offset.has_value()) {
    *out.mutable_clock_offset() = ToDurationProto(offset->offset);
  }
  *out.mutable_dock_time() = ToTimestamp(options_.clock->Now());
  return out;
}

absl::StatusOr<dockctl::v1::CheckStockResponse> DockRuntime::CheckStock() {
  ASSIGN_OR_RETURN(std::optional<v1::SiteView> view, site_view_->View());
  if (!view.has_value()) {
    return absl::FailedPreconditionError(
        "this dock has no site view yet (it has not synced with camfleetd since it was "
        "enrolled), so it does not know which cameras its site should hold");
  }
  dockctl::v1::CheckStockResponse out;
  out.set_site_code(view->site_code());
  *out.mutable_view_time() = view->view_time();
  *out.mutable_dock_time() = ToTimestamp(options_.clock->Now());
  out.set_connected(sync_->state().connected);
  std::map<std::string, int> slot_of;
  for (const SlotInfo& slot : board_->Snapshot()) {
    if (slot.occupied && !slot.serial.empty()) slot_of[slot.serial] = slot.slot;
  }
  std::map<std::string, std::string> names;
  for (const v1::SiteHolder& h : view->holders()) names[h.badge()] = h.name();
  auto state_name = [](v1::CameraState state) {
    std::string name = v1::CameraState_Name(state);
    return name.substr(std::min(name.size(), sizeof("CAMERA_STATE_") - 1));
  };
  std::set<std::string> expected_serials;
  for (const v1::SiteCamera& c : view->cameras()) {
    const v1::CameraState state = c.state();
    const bool expected = state == v1::CAMERA_STATE_REGISTERED ||
                          state == v1::CAMERA_STATE_AVAILABLE ||
                          state == v1::CAMERA_STATE_ISSUED || state == v1::CAMERA_STATE_FAULTY;
    if (!expected) continue;
    expected_serials.insert(c.serial());
    dockctl::v1::StockUnit unit;
    unit.set_serial(c.serial());
    unit.set_state(state_name(state));
    auto slot = slot_of.find(c.serial());
    if (slot != slot_of.end()) unit.set_slot(static_cast<uint32_t>(slot->second));
    unit.set_holder_badge(ledger_->HolderOf(c.serial(), &*view));
    if (!unit.holder_badge().empty()) unit.set_holder_name(names[unit.holder_badge()]);
    unit.set_local_change(ledger_->LocallyOut(c.serial()).has_value());
    *out.add_expected() = unit;
    if (unit.slot() != 0) {
      *out.add_in_slots() = std::move(unit);
    } else if (!unit.holder_badge().empty()) {
      *out.add_issued() = std::move(unit);
    } else {
      *out.add_missing() = std::move(unit);
    }
  }
  for (const auto& [serial, slot] : slot_of) {
    if (expected_serials.count(serial) > 0) continue;
    dockctl::v1::StockUnit* unit = out.add_unexpected();
    unit->set_serial(serial);
    unit->set_slot(static_cast<uint32_t>(slot));
    unit->set_state("UNKNOWN");
    for (const v1::SiteCamera& c : view->cameras()) {
      if (c.serial() == serial) unit->set_state(state_name(c.state()));
    }
  }
  return out;
}

}  // namespace camfleet::agent
