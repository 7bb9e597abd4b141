#include "agent/dock_state.h"

namespace camfleet::agent {

SlotBoard::SlotBoard(const std::vector<int>& slots) {
  absl::MutexLock lock(&mu_);
  for (int n : slots) slots_[n].slot = n;
}

std::vector<SlotInfo> SlotBoard::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<SlotInfo> out;
  out.reserve(slots_.size());
  for (const auto& [n, info] : slots_) out.push_back(info);
  return out;
}

std::optional<SlotInfo> SlotBoard::Get(int slot) const {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(slot);
  if (it == slots_.end()) return std::nullopt;
  return it->second;
}

std::vector<v1::SlotOccupant> SlotBoard::Occupants() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::SlotOccupant> out;
  for (const auto& [n, info] : slots_) {
    if (!info.occupied) continue;
    v1::SlotOccupant o;
    o.set_slot(static_cast<uint32_t>(n));
    o.set_serial(info.serial);
    out.push_back(std::move(o));
  }
  return out;
}

void SlotBoard::SetOccupant(int slot, const std::string& serial) {
  absl::MutexLock lock(&mu_);
  SlotInfo& info = slots_[slot];
  if (info.occupied && info.serial == serial) return;
  info = SlotInfo{};
  info.slot = slot;
  info.occupied = true;
  info.serial = serial;
}

void SlotBoard::SetEmpty(int slot) {
  absl::MutexLock lock(&mu_);
  slots_[slot] = SlotInfo{};
  slots_[slot].slot = slot;
}

void SlotBoard::SetHealth(int slot, const HealthSnapshot& health, absl::Time at) {
  absl::MutexLock lock(&mu_);
  SlotInfo& info = slots_[slot];
  info.health = health;
  info.health_time = at;
}

void SlotBoard::SetRefused(int slot, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  slots_[slot].refused_reason = reason;
}

bool SlotBoard::Release(int slot, const std::string& serial) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(slot);
  if (it == slots_.end() || !it->second.occupied || it->second.serial != serial ||
      it->second.released || it->second.updating) {
    return false;
  }
  it->second.released = true;
  return true;
}

bool SlotBoard::BeginUpdate(int slot, const std::string& serial) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(slot);
  if (it == slots_.end() || !it->second.occupied || it->second.serial != serial ||
      it->second.released || it->second.updating) {
    return false;
  }
  it->second.updating = true;
  return true;
}

void SlotBoard::EndUpdate(int slot) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(slot);
  if (it != slots_.end()) it->second.updating = false;
}

void CustodyLedger::RecordCheckout(const std::string& badge, const std::string& serial,
                                   uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  by_serial_[serial] = Entry{badge, sequence, true};
}

void CustodyLedger::RecordReturn(const std::string& serial, uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  by_serial_[serial] = Entry{"", sequence, false};
}

void CustodyLedger::Replay(const std::vector<v1::OutboxItem>& items) {
  for (const v1::OutboxItem& item : items) {
    if (item.lane() != v1::SYNC_LANE_CUSTODY) continue;
    if (item.has_checkout()) {
      RecordCheckout(item.checkout().badge(), item.checkout().serial(), item.sequence());
    } else if (item.has_dock_return()) {
      RecordReturn(item.dock_return().serial(), item.sequence());
    }
  }
}

std::string CustodyLedger::HolderOf(const std::string& serial, const v1::SiteView* view) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = by_serial_.find(serial);
    if (it != by_serial_.end()) return it->second.out ? it->second.badge : std::string();
  }
  if (view == nullptr) return "";
  for (const v1::SiteCamera& camera : view->cameras()) {
    if (camera.serial() == serial) return camera.holder_badge();
  }
  return "";
}

std::string CustodyLedger::HeldBy(const std::string& badge, const v1::SiteView* view) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [serial, entry] : by_serial_) {
    if (entry.out && entry.badge == badge) return serial;
  }
  if (view == nullptr) return "";
  for (const v1::SiteHolder& holder : view->holders()) {
    if (holder.badge() != badge || holder.holds_serial().empty()) continue;
    // Returned (or checked out to someone else) here since the view: not theirs any more.
    auto it = by_serial_.find(holder.holds_serial());
    if (it != by_serial_.end() && (!it->second.out || it->second.badge != badge)) return "";
    return holder.holds_serial();
  }
  return "";
}

std::optional<bool> CustodyLedger::LocallyOut(const std::string& serial) const {
  absl::MutexLock lock(&mu_);
  auto it = by_serial_.find(serial);
  if (it == by_serial_.end()) return std::nullopt;
  return it->second.out;
}

void CustodyLedger::PruneAcknowledged(uint64_t acked_through) {
  absl::MutexLock lock(&mu_);
  for (auto it = by_serial_.begin(); it != by_serial_.end();) {
    if (it->second.sequence <= acked_through) {
      it = by_serial_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace camfleet::agent
