#include "services/rollout/rollout_engine.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/firmware_repository.h"
#include "services/storage/fleet_repository.h"

namespace camfleet::rollout {
namespace {

using google::protobuf::util::TimeUtil;
using storage::RolloutRow;
using storage::RolloutUnitRow;

std::string IdText(int64_t id) { return absl::StrCat(id); }

std::vector<uint32_t> ParsePercents(const std::string& text) {
  std::vector<uint32_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    uint32_t v = 0;
    if (absl::SimpleAtoi(part, &v)) out.push_back(v);
  }
  return out;
}

bool Failed(const std::string& state) { return state == "FAILED" || state == "ROLLED_BACK"; }

// The site and its ancestors, nearest first.
std::vector<int64_t> Lineage(const absl::flat_hash_map<int64_t, storage::SiteNode>& sites,
                             int64_t site_id) {
  std::vector<int64_t> out;
  std::optional<int64_t> at = site_id;
  while (at.has_value() && out.size() < 64) {
    out.push_back(*at);
    auto it = sites.find(*at);
    if (it == sites.end()) break;
    at = it->second.parent_id;
  }
  return out;
}

// The window of `rollout_windows` that applies at `site_id` (nearest ancestor with one).
std::optional<v1::InstallWindow> WindowAt(
    const absl::flat_hash_map<int64_t, storage::SiteNode>& sites,
    const std::vector<storage::RolloutWindowRow>& windows, int64_t site_id) {
  for (int64_t at : Lineage(sites, site_id)) {
    for (const storage::RolloutWindowRow& w : windows) {
      if (w.site_id != at) continue;
      v1::InstallWindow out;
      out.set_start_minute(static_cast<uint32_t>(w.start_minute));
      out.set_end_minute(static_cast<uint32_t>(w.end_minute));
      out.set_time_zone(w.time_zone);
      return out;
    }
  }
  return std::nullopt;
}

absl::Status AuditRollout(storage::WriteTx& tx, const std::string& actor, const std::string& action,
                          int64_t id, const storage::AuditDetails& details) {
  return storage::Audit(tx, actor, action, "rollout", IdText(id), details);
}

// Cameras the target matches now that the rollout does not hold and no other active rollout
// holds: they join the last wave. Explicit serials never grow.
absl::StatusOr<std::vector<storage::RolloutCandidate>> LateJoiners(
    common::Database& db, const RolloutRow& r, const std::vector<RolloutUnitRow>& units) {
  std::vector<storage::RolloutCandidate> out;
  ASSIGN_OR_RETURN(std::vector<storage::RolloutTargetRow> target,
                   storage::ListRolloutTargets(db, r.id));
  for (const storage::RolloutTargetRow& t : target) {
    if (t.kind == "serial") return out;
  }
  ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> release,
                   storage::FindRelease(db, r.release_id));
  if (!release.has_value()) return out;
  std::vector<std::string> models(release->models().begin(), release->models().end());
  ASSIGN_OR_RETURN(std::vector<storage::RolloutCandidate> matched, MatchTarget(db, models, target));
  absl::flat_hash_set<int64_t> held;
  for (const RolloutUnitRow& u : units) held.insert(u.camera_id);
  for (storage::RolloutCandidate& c : matched) {
    if (held.contains(c.id)) continue;
    ASSIGN_OR_RETURN(std::optional<int64_t> other, storage::ActiveRolloutOfCamera(db, c.id, r.id));
    if (other.has_value()) continue;
    out.push_back(std::move(c));
  }
  return out;
}

bool Planned(const RolloutRow& r, const RolloutUnitRow& u) {
  return (r.state == "RUNNING" || r.state == "AWAITING_NEXT_WAVE") && !r.release_withdrawn &&
         u.wave <= r.open_waves && !UnitTerminal(u.state);
}

// Units whose dock has been in contact for the silence timeout since the job was sent (or the
// last progress) without a word about them.
absl::StatusOr<std::vector<size_t>> SilentUnits(common::Database& db, const RolloutRow& r,
                                                const std::vector<RolloutUnitRow>& units) {
  std::vector<size_t> out;
  absl::flat_hash_map<int64_t, std::optional<int64_t>> contact;
  for (size_t i = 0; i < units.size(); ++i) {
    const RolloutUnitRow& u = units[i];
    if (!Planned(r, u) || !u.sent_us.has_value()) continue;
    auto it = contact.find(u.site_id);
    if (it == contact.end()) {
      ASSIGN_OR_RETURN(std::optional<int64_t> latest, storage::LatestDockContact(db, u.site_id));
      it = contact.emplace(u.site_id, latest).first;
    }
    const int64_t since = std::max(*u.sent_us, u.progress_us.value_or(0));
    if (it->second.has_value() && *it->second - since >= r.silence_timeout_us) out.push_back(i);
  }
  return out;
}

bool Exceeds(const RolloutRow& r, int64_t failed, int64_t size) {
  if (r.threshold_count.has_value()) return failed > *r.threshold_count;
  return failed * 1'000'000 > r.threshold_ppm.value_or(0) * size;
}

v1::RolloutCounts& Count(v1::RolloutCounts& c, const std::string& state) {
  c.set_total(c.total() + 1);
  if (state == "PENDING") c.set_pending(c.pending() + 1);
  if (state == "DOWNLOADING") c.set_downloading(c.downloading() + 1);
  if (state == "INSTALLING") c.set_installing(c.installing() + 1);
  if (state == "SUCCEEDED") c.set_succeeded(c.succeeded() + 1);
  if (state == "FAILED") c.set_failed(c.failed() + 1);
  if (state == "ROLLED_BACK") c.set_rolled_back(c.rolled_back() + 1);
  return c;
}

absl::Status FillRollout(common::Database& db, const RolloutRow& r, v1::Rollout& out) {
  out.set_rollout_id(IdText(r.id));
  out.set_release_id(r.release_id);
  out.set_release_version(r.release_version);
  ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> release,
                   storage::FindRelease(db, r.release_id));
  if (release.has_value()) *out.mutable_release_models() = release->models();
  out.set_state(RolloutStateFromName(r.state));
  out.set_reason(r.reason);
  ASSIGN_OR_RETURN(std::vector<storage::RolloutTargetRow> target,
                   storage::ListRolloutTargets(db, r.id));
  for (const storage::RolloutTargetRow& t : target) {
    v1::RolloutTarget* tg = out.mutable_target();
    if (t.kind == "model") tg->add_models(t.value);
    if (t.kind == "site") tg->add_site_codes(t.value);
    if (t.kind == "version") tg->add_current_versions(t.value);
    if (t.kind == "serial") tg->add_serials(t.value);
  }
  for (uint32_t p : ParsePercents(r.wave_percents)) out.add_wave_percents(p);
  out.set_canary_site_code(r.canary_site_code);
  if (r.threshold_count.has_value()) {
    out.mutable_failure_threshold()->set_count(static_cast<uint32_t>(*r.threshold_count));
  } else {
    out.mutable_failure_threshold()->set_fraction(
        static_cast<double>(r.threshold_ppm.value_or(0)) / 1e6);
  }
  out.set_stop_after_each_wave(r.stop_after_wave);
  ASSIGN_OR_RETURN(std::vector<storage::RolloutWindowRow> windows,
                   storage::ListRolloutWindows(db, r.id));
  for (const storage::RolloutWindowRow& w : windows) {
    v1::SiteInstallWindow* sw = out.add_install_windows();
    sw->set_site_code(w.site_code);
    sw->set_start_minute(static_cast<uint32_t>(w.start_minute));
    sw->set_end_minute(static_cast<uint32_t>(w.end_minute));
    sw->set_time_zone(w.time_zone);
  }
  *out.mutable_silence_timeout() = TimeUtil::MicrosecondsToDuration(r.silence_timeout_us);
  out.set_note(r.note);
  out.set_wave_count(static_cast<uint32_t>(r.wave_count));
  out.set_open_waves(static_cast<uint32_t>(r.open_waves));
  *out.mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(r.created_us);
  out.set_created_by(r.created_by);
  *out.mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(r.updated_us);
  if (r.finished_us.has_value()) {
    *out.mutable_finish_time() = TimeUtil::MicrosecondsToTimestamp(*r.finished_us);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ParseRolloutId(absl::string_view field, absl::string_view id) {
  int64_t v = 0;
  if (id.empty() || id.size() > 18 ||
      !std::all_of(id.begin(), id.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(id, &v) || v <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", id, "' is not a rollout id; give the number camfleet rollout "
                     "list shows"));
  }
  return v;
}

v1::RolloutState RolloutStateFromName(const std::string& name) {
  v1::RolloutState s = v1::ROLLOUT_STATE_UNSPECIFIED;
  v1::RolloutState_Parse("ROLLOUT_STATE_" + name, &s);
  return s;
}
std::string RolloutStateName(v1::RolloutState state) {
  const std::string& full = v1::RolloutState_Name(state);
  return full.size() > 14 ? full.substr(14) : full;
}
v1::RolloutUnitState UnitStateFromName(const std::string& name) {
  v1::RolloutUnitState s = v1::ROLLOUT_UNIT_STATE_UNSPECIFIED;
  v1::RolloutUnitState_Parse("ROLLOUT_UNIT_STATE_" + name, &s);
  return s;
}
std::string UnitStateName(v1::RolloutUnitState state) {
  const std::string& full = v1::RolloutUnitState_Name(state);
  return full.size() > 19 ? full.substr(19) : full;
}
bool UnitTerminal(const std::string& state) {
  return state == "SUCCEEDED" || state == "FAILED" || state == "ROLLED_BACK";
}

int64_t WaveOfIndex(const std::vector<uint32_t>& percents, int64_t n, int64_t index) {
  for (size_t k = 0; k < percents.size(); ++k) {
    const int64_t end = (n * percents[k] + 99) / 100;
    if (index < end) return static_cast<int64_t>(k) + 1;
  }
  return static_cast<int64_t>(percents.size());
}

absl::StatusOr<std::vector<storage::RolloutCandidate>> MatchTarget(
    common::Database& db, const std::vector<std::string>& release_models,
    const std::vector<storage::RolloutTargetRow>& target) {
  std::set<std::string> models, versions, serials;
  std::vector<std::string> site_codes;
  for (const storage::RolloutTargetRow& t : target) {
    if (t.kind == "model") models.insert(t.value);
    if (t.kind == "site") site_codes.push_back(t.value);
    if (t.kind == "version") versions.insert(t.value);
    if (t.kind == "serial") serials.insert(t.value);
  }
  std::vector<std::string> wanted;
  for (const std::string& m : release_models) {
    if (models.empty() || models.count(m) > 0) wanted.push_back(m);
  }
  ASSIGN_OR_RETURN(std::vector<storage::RolloutCandidate> cands,
                   storage::RolloutCandidates(db, wanted));
  absl::flat_hash_set<int64_t> roots;
  absl::flat_hash_map<int64_t, storage::SiteNode> sites;
  if (!site_codes.empty()) {
    ASSIGN_OR_RETURN(sites, storage::AllSites(db));
    for (const auto& [id, node] : sites) {
      if (std::find(site_codes.begin(), site_codes.end(), node.code) != site_codes.end()) {
        roots.insert(id);
      }
    }
  }
  std::vector<storage::RolloutCandidate> out;
  for (storage::RolloutCandidate& c : cands) {
    if (!serials.empty() && serials.count(c.serial) == 0) continue;
    if (!versions.empty() && versions.count(c.firmware_version) == 0) continue;
    if (!site_codes.empty()) {
      bool in = false;
      for (int64_t at : Lineage(sites, c.site_id)) in = in || roots.contains(at);
      if (!in) continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string ThresholdText(const RolloutRow& r, int64_t wave, int64_t failed, int64_t size) {
  std::string limit;
  if (r.threshold_count.has_value()) {
    limit = absl::StrCat(*r.threshold_count);
  } else {
    limit = absl::StrCat(absl::StrFormat("%g", static_cast<double>(r.threshold_ppm.value_or(0)) /
                                                   10'000.0),
                         "%");
  }
  return absl::StrCat("wave ", wave, ": ", failed, " of ", size, " failed (threshold ", limit, ")");
}

absl::Status Advance(storage::WriteTx& tx, int64_t id, const std::string& actor) {
  ASSIGN_OR_RETURN(std::optional<RolloutRow> found, storage::FindRollout(tx.db(), id));
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("no rollout ", id));
  RolloutRow r = *std::move(found);
  if (r.state == "COMPLETED" || r.state == "ABORTED") return absl::OkStatus();
  const int64_t now = common::ToMicros(tx.now());
  if (r.release_withdrawn) {
    r.state = "ABORTED";
    r.reason = absl::StrCat("release ", r.release_version, " was withdrawn");
    r.finished_us = now;
    RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
    return AuditRollout(tx, actor, "rollout.abort", r.id, {{"reason", r.reason}});
  }
  ASSIGN_OR_RETURN(std::vector<RolloutUnitRow> units, storage::ListRolloutUnits(tx.db(), r.id));
  ASSIGN_OR_RETURN(std::vector<storage::RolloutCandidate> late, LateJoiners(tx.db(), r, units));
  if (!late.empty()) {
    for (const storage::RolloutCandidate& c : late) {
      RETURN_IF_ERROR(storage::InsertRolloutUnit(tx, r.id, c.id, r.wave_count));
      RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.join", "camera", c.serial,
                                     {{"rollout", IdText(r.id)},
                                      {"wave", absl::StrCat(r.wave_count)}}));
    }
    ASSIGN_OR_RETURN(units, storage::ListRolloutUnits(tx.db(), r.id));
  }
  ASSIGN_OR_RETURN(std::vector<size_t> silent, SilentUnits(tx.db(), r, units));
  for (size_t i : silent) {
    RolloutUnitRow& u = units[i];
    u.state = "FAILED";
    u.last_error = "silent";
    u.finished_us = now;
    RETURN_IF_ERROR(storage::UpdateRolloutUnit(tx, u));
    RETURN_IF_ERROR(storage::Audit(
        tx, actor, "rollout.unit.silent", "camera", u.serial,
        {{"rollout", IdText(r.id)},
         {"attempt", absl::StrCat(u.attempt)},
         {"silence_timeout_s", absl::StrCat(r.silence_timeout_us / 1'000'000)}}));
  }
  if (r.state != "RUNNING") return absl::OkStatus();
  while (true) {
    const int64_t w = r.open_waves;
    int64_t size = 0, failed = 0;
    bool all_done = true;
    for (const RolloutUnitRow& u : units) {
      if (u.wave == w) {
        ++size;
        if (Failed(u.state)) ++failed;
      }
      if (u.wave <= w && !UnitTerminal(u.state)) all_done = false;
    }
    if (r.threshold_waived != w && Exceeds(r, failed, size)) {
      r.state = "PAUSED";
      r.reason = ThresholdText(r, w, failed, size);
      RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
      return AuditRollout(tx, actor, "rollout.pause", r.id,
                          {{"reason", r.reason}, {"by_threshold", "true"}});
    }
    if (!all_done) return absl::OkStatus();
    if (w >= r.wave_count) {
      r.state = "COMPLETED";
      r.reason = "";
      r.finished_us = now;
      RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
      return AuditRollout(tx, actor, "rollout.complete", r.id, {{"waves", absl::StrCat(w)}});
    }
    if (r.stop_after_wave) {
      r.state = "AWAITING_NEXT_WAVE";
      r.reason = absl::StrCat("wave ", w, " finished; start wave ", w + 1,
                              " with camfleet rollout next-wave");
      RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
      return AuditRollout(tx, actor, "rollout.wave_done", r.id, {{"wave", absl::StrCat(w)}});
    }
    r.open_waves = w + 1;
    RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
    RETURN_IF_ERROR(
        AuditRollout(tx, actor, "rollout.wave_open", r.id, {{"wave", absl::StrCat(w + 1)}}));
  }
}

absl::Status AdvanceAll(storage::WriteTx& tx, const std::string& actor) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, storage::ActiveRolloutIds(tx.db()));
  for (int64_t id : ids) RETURN_IF_ERROR(Advance(tx, id, actor));
  return absl::OkStatus();
}

absl::StatusOr<bool> AnythingDue(common::Database& db, absl::Time now) {
  (void)now;  // silence compares dock contact with send times, both server time
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, storage::ActiveRolloutIds(db));
  for (int64_t id : ids) {
    ASSIGN_OR_RETURN(std::optional<RolloutRow> r, storage::FindRollout(db, id));
    if (!r.has_value()) continue;
    if (r->release_withdrawn) return true;
    ASSIGN_OR_RETURN(std::vector<RolloutUnitRow> units, storage::ListRolloutUnits(db, id));
    ASSIGN_OR_RETURN(std::vector<size_t> silent, SilentUnits(db, *r, units));
    if (!silent.empty()) return true;
    ASSIGN_OR_RETURN(std::vector<storage::RolloutCandidate> late, LateJoiners(db, *r, units));
    if (!late.empty()) return true;
  }
  return false;
}

absl::Status ValidateProgress(const v1::FirmwareProgress& p) {
  RETURN_IF_ERROR(ParseRolloutId("firmware.rollout_id", p.rollout_id()).status());
  RETURN_IF_ERROR(rpc::ValidateSerial("firmware.serial", p.serial()));
  if (p.release_id().size() != 64 ||
      !std::all_of(p.release_id().begin(), p.release_id().end(),
                   [](char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); })) {
    return absl::InvalidArgumentError(
        "firmware.release_id must be 64 lower-case hex digits (the plan's release id)");
  }
  if (p.attempt() == 0) {
    return absl::InvalidArgumentError("firmware.attempt is 0; attempts count from 1");
  }
  if (p.state() == v1::FIRMWARE_INSTALL_STATE_UNSPECIFIED ||
      !v1::FirmwareInstallState_IsValid(p.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("firmware.state is ", p.state(), "; give a FirmwareInstallState"));
  }
  if (p.error().size() > 1000) {
    return absl::InvalidArgumentError("firmware.error is longer than 1000 characters");
  }
  if (p.running_version().size() > 64) {
    return absl::InvalidArgumentError("firmware.running_version is longer than 64 characters");
  }
  return absl::OkStatus();
}

absl::Status ApplyProgress(storage::WriteTx& tx, const std::string& actor, int64_t site_id,
                           const v1::FirmwareProgress& p) {
  ASSIGN_OR_RETURN(int64_t id, ParseRolloutId("firmware.rollout_id", p.rollout_id()));
  ASSIGN_OR_RETURN(std::optional<RolloutRow> r, storage::FindRollout(tx.db(), id));
  if (!r.has_value()) {
    return absl::NotFoundError(absl::StrCat("firmware.rollout_id: no rollout ", p.rollout_id()));
  }
  ASSIGN_OR_RETURN(storage::CameraRow cam, storage::FindCamera(tx.db(), p.serial()));
  if (cam.site_id != site_id) {
    return absl::PermissionDeniedError(absl::StrCat("camera '", p.serial(), "' belongs to site ",
                                                    cam.camera.site_code(),
                                                    ", not to the dock's site"));
  }
  ASSIGN_OR_RETURN(std::optional<RolloutUnitRow> found,
                   storage::FindRolloutUnit(tx.db(), id, cam.id));
  if (!found.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("camera '", p.serial(), "' is not targeted by rollout ", id));
  }
  RolloutUnitRow u = *std::move(found);
  const std::string step = UnitStateName(static_cast<v1::RolloutUnitState>(
      p.state() == v1::FIRMWARE_INSTALL_STATE_DOWNLOADING   ? v1::ROLLOUT_UNIT_STATE_DOWNLOADING
      : p.state() == v1::FIRMWARE_INSTALL_STATE_INSTALLING  ? v1::ROLLOUT_UNIT_STATE_INSTALLING
      : p.state() == v1::FIRMWARE_INSTALL_STATE_SUCCEEDED   ? v1::ROLLOUT_UNIT_STATE_SUCCEEDED
      : p.state() == v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK ? v1::ROLLOUT_UNIT_STATE_ROLLED_BACK
                                                            : v1::ROLLOUT_UNIT_STATE_FAILED));
  std::string ignore;
  if (r->state == "ABORTED") {
    ignore = "the rollout is aborted";
  } else if (p.release_id() != r->release_id) {
    ignore = "another release than the rollout's";
  } else if (static_cast<int64_t>(p.attempt()) != u.attempt) {
    ignore = absl::StrCat("attempt ", p.attempt(), " is not the current attempt ", u.attempt);
  } else if (UnitTerminal(u.state) && !(u.state == "FAILED" && u.last_error == "silent" &&
                                        UnitTerminal(step))) {
    // A silent camera that reports its outcome after all is believed; anything else that
    // comes after the outcome is late news of an earlier step.
    ignore = absl::StrCat("the camera's attempt is finished (", u.state, ")");
  }
  storage::AuditDetails details = {{"rollout", IdText(id)},
                                   {"attempt", absl::StrCat(p.attempt())},
                                   {"state", step},
                                   {"release", p.release_id()}};
  if (!p.error().empty()) details.emplace_back("error", p.error());
  if (!p.running_version().empty()) details.emplace_back("running_version", p.running_version());
  if (!ignore.empty()) {
    details.emplace_back("ignored", ignore);
    return storage::Audit(tx, actor, "rollout.progress.ignore", "camera", p.serial(), details);
  }
  const int64_t now = common::ToMicros(tx.now());
  u.state = step;
  u.progress_us = now;
  if (!p.running_version().empty()) u.running_version = p.running_version();
  if (UnitTerminal(step)) {
    u.finished_us = now;
    u.last_error = step == "SUCCEEDED" ? "" : p.error();
  }
  RETURN_IF_ERROR(storage::UpdateRolloutUnit(tx, u));
  RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.progress", "camera", p.serial(), details));
  return Advance(tx, id, actor);
}

absl::Status StopRolloutsOfRelease(storage::WriteTx& tx, int64_t release_row,
                                   const std::string& actor, const std::string& reason) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, storage::ActiveRolloutsOfRelease(tx.db(), release_row));
  for (int64_t id : ids) {
    ASSIGN_OR_RETURN(std::optional<RolloutRow> r, storage::FindRollout(tx.db(), id));
    if (!r.has_value()) continue;
    r->state = "ABORTED";
    r->reason = absl::StrCat("release ", r->release_version, " was withdrawn: ", reason);
    r->finished_us = common::ToMicros(tx.now());
    RETURN_IF_ERROR(storage::UpdateRollout(tx, *r));
    RETURN_IF_ERROR(AuditRollout(tx, actor, "rollout.abort", id,
                                 {{"reason", r->reason}, {"release_withdrawn", "true"}}));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::FirmwarePlan> BuildPlan(common::Database& db, int64_t site_id, absl::Time now,
                                           std::vector<storage::PlannedUnit>* unsent) {
  v1::FirmwarePlan plan;
  *plan.mutable_plan_time() = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(now));
  ASSIGN_OR_RETURN(std::vector<storage::PlannedUnit> units,
                   storage::PlannedUnitsOfSite(db, site_id));
  absl::flat_hash_map<int64_t, storage::SiteNode> sites;
  if (!units.empty()) {
    ASSIGN_OR_RETURN(sites, storage::AllSites(db));
  }
  std::map<int64_t, std::optional<v1::InstallWindow>> windows;  // by rollout
  std::vector<std::string> release_ids;
  absl::flat_hash_set<std::string> serials;
  for (const storage::PlannedUnit& u : units) {
    if (!serials.insert(u.serial).second) continue;  // one job per camera: the oldest rollout
    auto it = windows.find(u.rollout_id);
    if (it == windows.end()) {
      ASSIGN_OR_RETURN(std::vector<storage::RolloutWindowRow> rows,
                       storage::ListRolloutWindows(db, u.rollout_id));
      it = windows.emplace(u.rollout_id, WindowAt(sites, rows, site_id)).first;
    }
    v1::FirmwareJob* job = plan.add_jobs();
    job->set_rollout_id(IdText(u.rollout_id));
    job->set_serial(u.serial);
    job->set_release_id(u.release_id);
    job->set_attempt(static_cast<uint32_t>(u.attempt));
    if (it->second.has_value()) *job->mutable_window() = *it->second;
    if (std::find(release_ids.begin(), release_ids.end(), u.release_id) == release_ids.end()) {
      release_ids.push_back(u.release_id);
    }
    if (unsent != nullptr && !u.sent_us.has_value()) unsent->push_back(u);
  }
  for (const std::string& rid : release_ids) {
    ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> release, storage::FindRelease(db, rid));
    if (!release.has_value()) return absl::InternalError(absl::StrCat("release ", rid, " vanished"));
    v1::PlannedRelease* pr = plan.add_releases();
    pr->set_release_id(rid);
    pr->set_manifest(release->manifest());
    pr->set_signature(release->signature());
  }
  ASSIGN_OR_RETURN(std::vector<std::string> withdrawn,
                   storage::WithdrawnReleasesOfSite(db, site_id));
  for (std::string& w : withdrawn) plan.add_withdrawn_release_ids(std::move(w));
  return plan;
}

absl::StatusOr<v1::Rollout> SummarizeRollout(common::Database& db, const RolloutRow& row) {
  v1::Rollout out;
  RETURN_IF_ERROR(FillRollout(db, row, out));
  ASSIGN_OR_RETURN(std::vector<RolloutUnitRow> units, storage::ListRolloutUnits(db, row.id));
  for (const RolloutUnitRow& u : units) Count(*out.mutable_counts(), u.state);
  return out;
}

absl::StatusOr<v1::Rollout> LoadRollout(common::Database& db, int64_t id, bool include_units) {
  ASSIGN_OR_RETURN(std::optional<RolloutRow> r, storage::FindRollout(db, id));
  if (!r.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("rollout_id: no rollout ", id, "; see camfleet rollout list"));
  }
  v1::Rollout out;
  RETURN_IF_ERROR(FillRollout(db, *r, out));
  ASSIGN_OR_RETURN(std::vector<RolloutUnitRow> units, storage::ListRolloutUnits(db, id));
  const std::vector<uint32_t> percents = ParsePercents(r->wave_percents);
  const int64_t offset = r->canary_site_id.has_value() ? 1 : 0;
  for (int64_t w = 1; w <= r->wave_count; ++w) {
    v1::WaveProgress* wp = out.add_waves();
    wp->set_wave(static_cast<uint32_t>(w));
    if (w == 1 && offset == 1) {
      wp->set_canary_site_code(r->canary_site_code);
    } else if (static_cast<size_t>(w - offset - 1) < percents.size()) {
      wp->set_percent(percents[static_cast<size_t>(w - offset - 1)]);
    }
    wp->set_open(w <= r->open_waves);
    wp->mutable_counts();
  }
  ASSIGN_OR_RETURN(std::vector<storage::RolloutWindowRow> windows,
                   storage::ListRolloutWindows(db, id));
  ASSIGN_OR_RETURN(auto sites, storage::AllSites(db));
  std::map<std::string, v1::SiteProgress> by_site;
  for (const RolloutUnitRow& u : units) {
    Count(*out.mutable_counts(), u.state);
    if (u.wave >= 1 && u.wave <= out.waves_size()) {
      Count(*out.mutable_waves(static_cast<int>(u.wave - 1))->mutable_counts(), u.state);
    }
    v1::SiteProgress& sp = by_site[u.site_code];
    if (sp.site_code().empty()) {
      sp.set_site_code(u.site_code);
      std::optional<v1::InstallWindow> window = WindowAt(sites, windows, u.site_id);
      if (window.has_value()) *sp.mutable_window() = *window;
    }
    Count(*sp.mutable_counts(), u.state);
    if (include_units) {
      v1::RolloutUnit* ru = out.add_units();
      ru->set_serial(u.serial);
      ru->set_model(u.model);
      ru->set_site_code(u.site_code);
      ru->set_wave(static_cast<uint32_t>(u.wave));
      ru->set_state(UnitStateFromName(u.state));
      ru->set_attempt(static_cast<uint32_t>(u.attempt));
      ru->set_last_error(u.last_error);
      ru->set_running_version(u.running_version);
      if (u.sent_us) *ru->mutable_sent_time() = TimeUtil::MicrosecondsToTimestamp(*u.sent_us);
      if (u.progress_us) {
        *ru->mutable_progress_time() = TimeUtil::MicrosecondsToTimestamp(*u.progress_us);
      }
      if (u.finished_us) {
        *ru->mutable_finish_time() = TimeUtil::MicrosecondsToTimestamp(*u.finished_us);
      }
    }
  }
  for (auto& [code, sp] : by_site) *out.add_sites() = std::move(sp);
  return out;
}

}  // namespace camfleet::rollout
