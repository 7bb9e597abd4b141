#include "agent/slot_monitor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/outbox_item.h"
#include "agent/time_text.h"
#include "common/status_macros.h"
#include "provisioning/certificate.h"

namespace camfleet::agent {
namespace {

const char* StateName(v1::CameraState state) {
  switch (state) {
    case v1::CAMERA_STATE_LOST:
      return "LOST";
    case v1::CAMERA_STATE_RETIRED:
      return "RETIRED";
    default:
      return "refused";
  }
}

}  // namespace

SlotMonitor::SlotMonitor(SlotMonitorOptions options) : options_(std::move(options)) {}

SlotMonitor::~SlotMonitor() { Stop(); }

void SlotMonitor::Start() {
  thread_ = std::thread([this] {
    while (true) {
      (void)PollOnce();  // failures are events; the next poll tries again
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + options_.identify_interval;
      while (!stop_ && !recheck_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
      if (stop_) return;
    }
  });
}

void SlotMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void SlotMonitor::Recheck() {
  absl::MutexLock lock(&mu_);
  recheck_ = true;
  cv_.SignalAll();
}

void SlotMonitor::Emit(DockEvent::Kind kind, const std::string& serial, std::string message,
                       absl::Status status) {
  if (!options_.events) return;
  DockEvent event;
  event.kind = kind;
  event.time = options_.clock->Now();
  event.slot = options_.slot;
  event.serial = serial;
  event.message = std::move(message);
  event.status = std::move(status);
  options_.events(event);
}

absl::StatusOr<uint64_t> SlotMonitor::Append(v1::OutboxItem item, bool keep) {
  std::optional<absl::Duration> offset;
  if (options_.clock_offset != nullptr && options_.clock_offset->Latest().has_value()) {
    offset = options_.clock_offset->Offset();
  }
  StampItem(item, options_.clock->Now(), offset);
  ASSIGN_OR_RETURN(AppendResult result, options_.outbox->Append(std::move(item), {.keep = keep}));
  if (options_.appended) options_.appended();
  return result.sequence;
}

absl::Status SlotMonitor::Alert(v1::DockAlertKind kind, const std::string& serial,
                                const std::string& text) {
  v1::OutboxItem item;
  v1::DockAlert* alert = item.mutable_alert();
  alert->set_kind(kind);
  alert->set_serial(serial);
  alert->set_slot(static_cast<uint32_t>(options_.slot));
  alert->set_message(text);
  return Append(std::move(item)).status();
}

absl::Status SlotMonitor::PollOnce() {
  {
    absl::MutexLock lock(&mu_);
    if (recheck_) {
      recheck_ = false;
      judged_ = false;
    }
  }
  if (link_ == nullptr) link_ = options_.make_link();
  absl::StatusOr<CameraIdentity> id = link_->Identify();
  if (!id.ok()) {
    if (absl::IsUnavailable(id.status())) {
      link_.reset();
      if (!serial_.empty()) return OnRemoved(serial_);
      return absl::OkStatus();
    }
    // Slow or failing, but answering: still there. Said once.
    if (id.status() != last_failure_) {
      Emit(DockEvent::Kind::kSlotFailed, serial_, "identify", id.status());
      last_failure_ = id.status();
    }
    return id.status();
  }
  last_failure_ = absl::OkStatus();
  if (!serial_.empty() && serial_ != id->serial) RETURN_IF_ERROR(OnRemoved(serial_));
  if (serial_.empty()) return OnInserted(*id);
  identity_ = *id;
  if (!judged_) RETURN_IF_ERROR(Judge(*id));
  if (options_.clock->Now() >= next_health_) return ReadHealth(serial_);
  return absl::OkStatus();
}

absl::Status SlotMonitor::OnRemoved(const std::string& serial) {
  v1::OutboxItem item;
  item.mutable_removed()->set_serial(serial);
  item.mutable_removed()->set_slot(static_cast<uint32_t>(options_.slot));
  absl::StatusOr<uint64_t> seq = Append(std::move(item));
  if (!seq.ok()) {
    Emit(DockEvent::Kind::kSlotFailed, serial, "recording the removal", seq.status());
    return seq.status();
  }
  serial_.clear();
  judged_ = false;
  options_.board->SetEmpty(options_.slot);
  Emit(DockEvent::Kind::kCameraRemoved, serial, "removed");
  return absl::OkStatus();
}

absl::Status SlotMonitor::OnInserted(const CameraIdentity& id) {
  std::string cert_serial;
  if (!id.certificate_pem.empty()) {
    absl::StatusOr<provisioning::CertificateInfo> info =
        provisioning::ParseCertificate(id.certificate_pem);
    if (info.ok()) cert_serial = info->serial_hex;
  }
  v1::OutboxItem item;
  v1::CameraInserted* inserted = item.mutable_inserted();
  inserted->set_serial(id.serial);
  inserted->set_slot(static_cast<uint32_t>(options_.slot));
  inserted->set_certificate_serial(cert_serial);
  *inserted->mutable_device_time() = ToTimestamp(id.device_time);
  absl::StatusOr<uint64_t> seq = Append(std::move(item));
  if (!seq.ok()) {
    Emit(DockEvent::Kind::kSlotFailed, id.serial, "recording the insertion", seq.status());
    return seq.status();
  }
  serial_ = id.serial;
  identity_ = id;
  judged_ = false;
  next_health_ = absl::InfinitePast();
  options_.board->SetOccupant(options_.slot, id.serial);
  Emit(
      DockEvent::Kind::kCameraInserted, id.serial,
      absl::StrCat("inserted (", id.model, ", firmware ", id.firmware_version,
                   cert_serial.empty() ? ", no certificate" : ", certificate " + cert_serial, ")"));

  // Back from an officer: the dock believes it was out (checked out here, or ISSUED).
  absl::StatusOr<std::optional<v1::SiteView>> view = options_.site_view->View();
  const v1::SiteView* v = view.ok() && view->has_value() ? &**view : nullptr;
  std::optional<bool> locally_out = options_.ledger->LocallyOut(id.serial);
  bool issued = false;
  if (v != nullptr) {
    for (const v1::SiteCamera& c : v->cameras()) {
      if (c.serial() == id.serial) issued = c.state() == v1::CAMERA_STATE_ISSUED;
    }
  }
  if (locally_out.value_or(issued)) {
    const std::string badge = options_.ledger->HolderOf(id.serial, v);
    v1::OutboxItem ret;
    ret.mutable_dock_return()->set_serial(id.serial);
    ret.mutable_dock_return()->set_slot(static_cast<uint32_t>(options_.slot));
    ret.mutable_dock_return()->set_badge(badge);
    absl::StatusOr<uint64_t> ret_seq = Append(std::move(ret));
    if (!ret_seq.ok()) {
      Emit(DockEvent::Kind::kSlotFailed, id.serial, "recording the return", ret_seq.status());
    } else {
      options_.ledger->RecordReturn(id.serial, *ret_seq);
      Emit(DockEvent::Kind::kCameraReturned, id.serial,
           absl::StrCat("returned", badge.empty() ? "" : " by badge " + badge));
    }
  }

  // The camera's clock against server time, once the dock knows its own offset.
  if (options_.clock_offset != nullptr && options_.clock_offset->Latest().has_value()) {
    const absl::Time server_now = options_.clock_offset->ToServerTime(options_.clock->Now());
    const absl::Duration skew = id.device_time - server_now;
    if (absl::AbsDuration(skew) > options_.clock_skew_bound) {
      const std::string text = absl::StrCat(
          "camera clock is ",
          absl::FormatDuration(absl::Trunc(absl::AbsDuration(skew), absl::Seconds(1))),
          skew > absl::ZeroDuration() ? " ahead of" : " behind", " server time (bound ",
          absl::FormatDuration(options_.clock_skew_bound), "); set to server time");
      absl::Status alerted = Alert(v1::DOCK_ALERT_KIND_CLOCK_SKEW, id.serial, text);
      if (!alerted.ok()) {
        Emit(DockEvent::Kind::kSlotFailed, id.serial, "recording the clock skew", alerted);
      } else {
        absl::Status set =
            link_->SetClock(options_.clock_offset->ToServerTime(options_.clock->Now()));
        if (set.ok()) {
          Emit(DockEvent::Kind::kCameraClockSet, id.serial, text);
        } else {
          Emit(DockEvent::Kind::kSlotFailed, id.serial, "setting the camera's clock", set);
        }
      }
    }
  }
  RETURN_IF_ERROR(Judge(id));
  return ReadHealth(id.serial);
}

absl::Status SlotMonitor::Judge(const CameraIdentity& id) {
  std::optional<SlotInfo> info = options_.board->Get(options_.slot);
  if (info.has_value() && !info->refused_reason.empty()) {
    judged_ = true;
    return absl::OkStatus();
  }
  v1::DockAlertKind kind = v1::DOCK_ALERT_KIND_UNSPECIFIED;
  std::string reason;
  if (options_.crl != nullptr && options_.ca != nullptr && !id.certificate_pem.empty()) {
    absl::StatusOr<std::optional<HeldCrl>> held = options_.crl->LoadNewest();
    if (held.ok() && held->has_value()) {
      std::optional<Revocation> revoked = FindRevocation(**held, *options_.ca, id.certificate_pem);
      // Superseded: the server let the camera enroll again (certificate_keeper.h).
      if (revoked.has_value() && revoked->reason != "superseded") {
        kind = v1::DOCK_ALERT_KIND_REVOKED_CAMERA;
        reason =
            absl::StrCat("certificate ", revoked->serial_hex, " revoked (", revoked->reason, ")");
      }
    }
  }
  absl::StatusOr<v1::SiteCamera> camera = options_.site_view->FindCamera(id.serial);
  if (kind == v1::DOCK_ALERT_KIND_UNSPECIFIED && camera.ok()) {
    if (camera->state() == v1::CAMERA_STATE_LOST) {
      kind = v1::DOCK_ALERT_KIND_LOST_CAMERA;
    } else if (camera->state() == v1::CAMERA_STATE_RETIRED) {
      kind = v1::DOCK_ALERT_KIND_RETIRED_CAMERA;
    } else if (camera->revoked()) {
      kind = v1::DOCK_ALERT_KIND_REVOKED_CAMERA;
      reason = "certificate revoked (site view)";
    }
    if (reason.empty() && kind != v1::DOCK_ALERT_KIND_UNSPECIFIED) {
      reason = absl::StrCat("the control plane has it ", StateName(camera->state()));
    }
  }
  if (kind != v1::DOCK_ALERT_KIND_UNSPECIFIED) {
    const std::string text = absl::StrCat("camera ", id.serial, " in slot ", options_.slot, " at ",
                                          FormatUtc(options_.clock->Now()), " refused: ", reason,
                                          "; keep this unit out of service and report it");
    RETURN_IF_ERROR(Alert(kind, id.serial, text));
    options_.board->SetRefused(options_.slot, reason);
    Emit(DockEvent::Kind::kCameraRefused, id.serial, absl::StrCat("REFUSED: ", reason));
  } else if (absl::IsNotFound(camera.status())) {
    absl::StatusOr<std::optional<v1::SiteView>> view = options_.site_view->View();
    // Before the first view every camera is unknown; that is not worth an alert.
    if (view.ok() && view->has_value() && !judged_) {
      RETURN_IF_ERROR(Alert(v1::DOCK_ALERT_KIND_UNKNOWN_CAMERA, id.serial,
                            absl::StrCat("camera ", id.serial, " in slot ", options_.slot,
                                         " is not in the site view")));
      Emit(DockEvent::Kind::kCameraUnknown, id.serial, "not in the site view");
    }
  }
  judged_ = true;
  return absl::OkStatus();
}

absl::Status SlotMonitor::ReadHealth(const std::string& serial) {
  // The schedule counts from when the reading was asked for, not from when it was stored.
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<HealthSnapshot> h = link_->ReadHealth();
  if (!h.ok()) {
    Emit(DockEvent::Kind::kSlotFailed, serial, "reading health", h.status());
    return h.status();
  }
  std::optional<SlotInfo> info = options_.board->Get(options_.slot);
  bool keep = h->battery_percent <= kLowBatteryPercent ||
              h->temperature_decicelsius >= kHighTemperatureDecicelsius;
  if (info.has_value() && info->health.has_value()) {
    for (const auto& [name, value] : h->error_counters) {
      auto it = info->health->error_counters.find(name);
      if (value > (it == info->health->error_counters.end() ? 0 : it->second)) keep = true;
    }
  }
  v1::OutboxItem item;
  v1::HealthReading* r = item.mutable_health();
  r->set_serial(serial);
  r->set_slot(static_cast<uint32_t>(options_.slot));
  *r->mutable_device_time() = ToTimestamp(h->device_time);
  r->set_camera_sequence(h->sequence);
  r->set_battery_percent(h->battery_percent);
  r->set_full_charge_capacity_mah(h->full_charge_capacity_mah);
  r->set_design_capacity_mah(h->design_capacity_mah);
  r->set_cycle_count(h->cycle_count);
  r->set_temperature_decicelsius(h->temperature_decicelsius);
  r->set_voltage_mv(h->voltage_mv);
  r->set_charging(h->charging);
  r->set_storage_used_bytes(h->storage_used_bytes);
  r->set_storage_total_bytes(h->storage_total_bytes);
  r->set_firmware_version(h->firmware_version);
  r->set_slot_a_version(h->slot_a_version);
  r->set_slot_b_version(h->slot_b_version);
  for (const auto& [name, value] : h->error_counters) (*r->mutable_error_counters())[name] = value;
  *r->mutable_uptime() = ToDurationProto(h->uptime);
  absl::StatusOr<uint64_t> seq = Append(std::move(item), keep);
  if (!seq.ok()) {
    Emit(DockEvent::Kind::kSlotFailed, serial, "storing a health reading", seq.status());
    return seq.status();
  }
  options_.board->SetHealth(options_.slot, *h, now);
  next_health_ = now + options_.health_interval;
  Emit(DockEvent::Kind::kHealthRead, serial,
       absl::StrCat("health: battery ", h->battery_percent, "%", keep ? " (kept: threshold)" : ""));
  return absl::OkStatus();
}

}  // namespace camfleet::agent
