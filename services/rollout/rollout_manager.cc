#include "services/rollout/rollout_manager.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/rollout/rollout_engine.h"
#include "services/rpc/validation.h"
#include "services/storage/audit_log.h"
#include "services/storage/firmware_repository.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/rollout_repository.h"

namespace camfleet::rollout {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kDefaultSilenceUs = int64_t{72} * 3600 * 1'000'000;
constexpr int64_t kMinSilenceUs = int64_t{60} * 1'000'000;
constexpr int64_t kMaxSilenceUs = int64_t{90} * 24 * 3600 * 1'000'000;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

absl::Status ValidateReleasePrefix(absl::string_view id) {
  if (id.size() < 8 || id.size() > 64 || !std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return absl::InvalidArgumentError(
        "release_id: give the release id or at least its first 8 lower-case hex digits (see "
        "camfleet firmware list)");
  }
  return absl::OkStatus();
}

absl::Status ValidateShortText(absl::string_view field, const std::string& value) {
  if (value.empty() || value.size() > 64) return Invalid(field, "must be 1-64 characters");
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Invalid(field, "holds a control character");
    }
  }
  return absl::OkStatus();
}

// Loads the rollout for a state change; NOT_FOUND naming it.
absl::StatusOr<storage::RolloutRow> MustFind(common::Database& db, int64_t id) {
  ASSIGN_OR_RETURN(std::optional<storage::RolloutRow> r, storage::FindRollout(db, id));
  if (!r.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("rollout_id: no rollout ", id, "; see camfleet rollout list"));
  }
  return *std::move(r);
}

absl::Status WrongState(const storage::RolloutRow& r, absl::string_view want) {
  return absl::FailedPreconditionError(absl::StrCat("rollout ", r.id, " is ", r.state,
                                                    (r.reason.empty() ? "" : " ("),
                                                    r.reason, (r.reason.empty() ? "" : ")"),
                                                    "; ", want));
}

}  // namespace

absl::Status ValidateCreate(const v1::CreateRolloutRequest& req) {
  RETURN_IF_ERROR(ValidateReleasePrefix(req.release_id()));
  const v1::RolloutTarget& t = req.target();
  if (t.models_size() + t.site_codes_size() + t.current_versions_size() + t.serials_size() == 0) {
    return absl::InvalidArgumentError(
        "target: give at least one of models, site_codes, current_versions or serials");
  }
  if (t.models_size() + t.site_codes_size() + t.current_versions_size() + t.serials_size() >
      10'000) {
    return Invalid("target", "has more than 10000 entries");
  }
  for (int i = 0; i < t.models_size(); ++i) {
    RETURN_IF_ERROR(ValidateShortText(absl::StrCat("target.models[", i, "]"), t.models(i)));
  }
  for (int i = 0; i < t.site_codes_size(); ++i) {
    RETURN_IF_ERROR(rpc::ValidateSiteCode(absl::StrCat("target.site_codes[", i, "]"),
                                          t.site_codes(i)));
  }
  for (int i = 0; i < t.current_versions_size(); ++i) {
    RETURN_IF_ERROR(ValidateShortText(absl::StrCat("target.current_versions[", i, "]"),
                                      t.current_versions(i)));
  }
  for (int i = 0; i < t.serials_size(); ++i) {
    RETURN_IF_ERROR(rpc::ValidateSerial(absl::StrCat("target.serials[", i, "]"), t.serials(i)));
  }
  if (req.wave_percents_size() > 20) return Invalid("wave_percents", "has more than 20 waves");
  uint32_t last = 0;
  for (int i = 0; i < req.wave_percents_size(); ++i) {
    const uint32_t p = req.wave_percents(i);
    if (p == 0 || p > 100) {
      return Invalid(absl::StrCat("wave_percents[", i, "]"),
                     absl::StrCat("is ", p, "; give 1-100 (cumulative percent of the cameras)"));
    }
    if (p <= last) {
      return Invalid(absl::StrCat("wave_percents[", i, "]"),
                     absl::StrCat("is ", p, ", not above the wave before (", last,
                                  "); waves are cumulative, e.g. 5,25,100"));
    }
    last = p;
  }
  if (req.wave_percents_size() > 0 && last != 100) {
    return absl::FailedPreconditionError(
        absl::StrCat("wave_percents: the last wave is ", last,
                     "%; the last wave must reach 100% so every targeted camera is planned"));
  }
  if (!req.canary_site_code().empty()) {
    RETURN_IF_ERROR(rpc::ValidateSiteCode("canary_site_code", req.canary_site_code()));
  }
  if (req.has_failure_threshold()) {
    const v1::FailureThreshold& f = req.failure_threshold();
    if (f.limit_case() == v1::FailureThreshold::kFraction &&
        (!std::isfinite(f.fraction()) || f.fraction() < 0 || f.fraction() > 1)) {
      return Invalid("failure_threshold.fraction",
                     absl::StrCat("is ", f.fraction(), "; give 0-1 (0.2 for 20%)"));
    }
  }
  std::set<std::string> window_sites;
  for (int i = 0; i < req.install_windows_size(); ++i) {
    const v1::SiteInstallWindow& w = req.install_windows(i);
    const std::string field = absl::StrCat("install_windows[", i, "]");
    RETURN_IF_ERROR(rpc::ValidateSiteCode(field + ".site_code", w.site_code()));
    if (!window_sites.insert(w.site_code()).second) {
      return Invalid(field + ".site_code", absl::StrCat("'", w.site_code(), "' is given twice"));
    }
    if (w.start_minute() >= 1440) {
      return Invalid(field + ".start_minute",
                     absl::StrCat("is ", w.start_minute(), "; give 0-1439 (minutes after midnight)"));
    }
    if (w.end_minute() >= 1440) {
      return Invalid(field + ".end_minute",
                     absl::StrCat("is ", w.end_minute(), "; give 0-1439 (minutes after midnight)"));
    }
    if (w.start_minute() == w.end_minute()) {
      return Invalid(field, "starts where it ends; leave the site out to install any time");
    }
    if (!w.time_zone().empty()) {
      absl::TimeZone tz;
      if (w.time_zone().size() > 64 || w.time_zone().find("..") != std::string::npos ||
          !absl::LoadTimeZone(w.time_zone(), &tz)) {
        return Invalid(field + ".time_zone",
                       absl::StrCat("'", w.time_zone(),
                                    "' is not a known IANA time zone; give e.g. Asia/Bishkek"));
      }
    }
  }
  if (req.has_silence_timeout()) {
    const int64_t us = TimeUtil::DurationToMicroseconds(req.silence_timeout());
    if (us < kMinSilenceUs || us > kMaxSilenceUs) {
      return Invalid("silence_timeout", "must be 1 minute to 90 days");
    }
  }
  if (req.note().size() > 500) return Invalid("note", "is longer than 500 characters");
  return absl::OkStatus();
}

RolloutManager::RolloutManager(storage::Store& store, const rpc::PageTokens& tokens,
                               RolloutOptions options)
    : store_(store), tokens_(tokens), options_(options) {
  if (options_.tick_interval > absl::ZeroDuration()) {
    ticker_ = std::thread([this] { TickLoop(); });
  }
}

RolloutManager::~RolloutManager() { Shutdown(); }

void RolloutManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (ticker_.joinable()) ticker_.join();
}

void RolloutManager::TickLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + options_.tick_interval;
      while (!stopping_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
      if (stopping_) return;
    }
    if (absl::Status s = Tick(); !s.ok()) {
      common::LogWarning("rollouts: applying silence and late joiners: ", s.ToString());
    }
  }
}

absl::Status RolloutManager::Tick() {
  bool due = false;
  const absl::Time now = store_.clock().Now();
  RETURN_IF_ERROR(store_.ReadForPrecheck([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(due, AnythingDue(db, now));
    return absl::OkStatus();
  }));
  if (!due) return absl::OkStatus();
  return store_.WriteAndWait(
      [](storage::WriteTx& tx) { return AdvanceAll(tx, kSystemActor); });
}

void RolloutManager::CreateRollout(const rpc::Identity& who, const v1::CreateRolloutRequest& req,
                                   Done<v1::CreateRolloutResponse> done) {
  if (absl::Status s = ValidateCreate(req); !s.ok()) return done(s);
  storage::WriteWithResponse<v1::CreateRolloutResponse>(
      store_,
      [req, actor = who.actor()](storage::WriteTx& tx,
                                 v1::CreateRolloutResponse& resp) -> absl::Status {
        common::Database& db = tx.db();
        ASSIGN_OR_RETURN(std::optional<v1::FirmwareRelease> release,
                         storage::FindRelease(db, req.release_id(), /*allow_prefix=*/true));
        if (!release.has_value()) {
          return absl::NotFoundError(absl::StrCat("release_id: no release ", req.release_id(),
                                                  "; see camfleet firmware list"));
        }
        if (release->has_withdraw_time()) {
          return absl::FailedPreconditionError(
              absl::StrCat("release_id: release ", release->version(), " (",
                           release->release_id().substr(0, 12), ") is withdrawn (",
                           release->withdraw_reason(), "); upload a new release"));
        }
        ASSIGN_OR_RETURN(std::optional<int64_t> release_row,
                         storage::ReleaseRowId(db, release->release_id()));
        if (!release_row.has_value()) return absl::InternalError("release row vanished");
        const std::vector<std::string> models(release->models().begin(),
                                              release->models().end());
        const v1::RolloutTarget& t = req.target();
        std::vector<storage::RolloutTargetRow> target;
        for (int i = 0; i < t.models_size(); ++i) {
          if (std::find(models.begin(), models.end(), t.models(i)) == models.end()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "target.models[", i, "]: release ", release->version(), " is not for model '",
                t.models(i), "' (it is for ", absl::StrJoin(models, ", "), ")"));
          }
          target.push_back({"model", t.models(i)});
        }
        for (int i = 0; i < t.site_codes_size(); ++i) {
          absl::StatusOr<storage::SiteRow> site = storage::FindSite(db, t.site_codes(i));
          if (!site.ok()) {
            return absl::Status(site.status().code(),
                                absl::StrCat("target.site_codes[", i, "]: ", site.status().message()));
          }
          target.push_back({"site", t.site_codes(i)});
        }
        for (const std::string& v : t.current_versions()) target.push_back({"version", v});
        for (int i = 0; i < t.serials_size(); ++i) {
          absl::StatusOr<storage::CameraRow> cam = storage::FindCamera(db, t.serials(i));
          if (!cam.ok()) {
            return absl::Status(cam.status().code(),
                                absl::StrCat("target.serials[", i, "]: ", cam.status().message()));
          }
          if (std::find(models.begin(), models.end(), cam->camera.model()) == models.end()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "target.serials[", i, "]: camera ", t.serials(i), " is a ", cam->camera.model(),
                "; release ", release->version(), " is for ", absl::StrJoin(models, ", ")));
          }
          target.push_back({"serial", t.serials(i)});
        }
        ASSIGN_OR_RETURN(std::vector<storage::RolloutCandidate> matched,
                         MatchTarget(db, models, target));
        if (matched.empty()) {
          return absl::FailedPreconditionError(
              "target: matches no camera (of the release's models, not lost or retired)");
        }
        for (const storage::RolloutCandidate& c : matched) {
          ASSIGN_OR_RETURN(std::optional<int64_t> other,
                           storage::ActiveRolloutOfCamera(db, c.id, 0));
          if (other.has_value()) {
            return absl::FailedPreconditionError(
                absl::StrCat("target: camera ", c.serial, " is in rollout ", *other,
                             ", which is not finished; abort it or narrow the target"));
          }
        }
        storage::RolloutRow row;
        row.release_row = *release_row;
        row.state = "RUNNING";
        std::vector<uint32_t> percents(req.wave_percents().begin(), req.wave_percents().end());
        if (percents.empty()) percents.push_back(100);
        row.wave_percents = absl::StrJoin(percents, ",");
        std::vector<const storage::RolloutCandidate*> canary, rest;
        if (!req.canary_site_code().empty()) {
          absl::StatusOr<storage::SiteRow> site = storage::FindSite(db, req.canary_site_code());
          if (!site.ok()) {
            return absl::Status(site.status().code(),
                                absl::StrCat("canary_site_code: ", site.status().message()));
          }
          row.canary_site_id = site->id;
          ASSIGN_OR_RETURN(auto sites, storage::AllSites(db));
          for (const storage::RolloutCandidate& c : matched) {
            bool in = false;
            std::optional<int64_t> at = c.site_id;
            for (int depth = 0; at.has_value() && depth < 64; ++depth) {
              if (*at == site->id) in = true;
              auto it = sites.find(*at);
              at = it == sites.end() ? std::nullopt : it->second.parent_id;
            }
            (in ? canary : rest).push_back(&c);
          }
          if (canary.empty()) {
            return absl::FailedPreconditionError(
                absl::StrCat("canary_site_code: site ", req.canary_site_code(),
                             " has no camera the target matches; pick a site that has"));
          }
        } else {
          for (const storage::RolloutCandidate& c : matched) rest.push_back(&c);
        }
        const int64_t offset = canary.empty() ? 0 : 1;
        row.wave_count = static_cast<int64_t>(percents.size()) + offset;
        row.open_waves = 1;
        if (req.failure_threshold().limit_case() == v1::FailureThreshold::kCount) {
          row.threshold_count = req.failure_threshold().count();
        } else {
          row.threshold_ppm = std::llround(req.failure_threshold().fraction() * 1e6);
        }
        row.stop_after_wave = req.stop_after_each_wave();
        row.silence_timeout_us = req.has_silence_timeout()
                                     ? TimeUtil::DurationToMicroseconds(req.silence_timeout())
                                     : kDefaultSilenceUs;
        row.note = req.note();
        row.created_by = actor;
        ASSIGN_OR_RETURN(int64_t id, storage::InsertRollout(tx, row));
        for (const storage::RolloutTargetRow& tr : target) {
          RETURN_IF_ERROR(storage::InsertRolloutTarget(tx, id, tr));
        }
        for (int i = 0; i < req.install_windows_size(); ++i) {
          const v1::SiteInstallWindow& w = req.install_windows(i);
          absl::StatusOr<storage::SiteRow> site = storage::FindSite(db, w.site_code());
          if (!site.ok()) {
            return absl::Status(site.status().code(),
                                absl::StrCat("install_windows[", i, "].site_code: ",
                                             site.status().message()));
          }
          RETURN_IF_ERROR(storage::InsertRolloutWindow(
              tx, id, {site->id, w.site_code(), w.start_minute(), w.end_minute(), w.time_zone()}));
        }
        for (const storage::RolloutCandidate* c : canary) {
          RETURN_IF_ERROR(storage::InsertRolloutUnit(tx, id, c->id, 1));
        }
        const int64_t n = static_cast<int64_t>(rest.size());
        for (int64_t i = 0; i < n; ++i) {
          RETURN_IF_ERROR(storage::InsertRolloutUnit(tx, id, rest[static_cast<size_t>(i)]->id,
                                                     offset + WaveOfIndex(percents, n, i)));
        }
        std::vector<std::string> target_text;
        for (const storage::RolloutTargetRow& tr : target) {
          target_text.push_back(absl::StrCat(tr.kind, "=", tr.value));
        }
        RETURN_IF_ERROR(storage::Audit(
            tx, actor, "rollout.create", "rollout", absl::StrCat(id),
            {{"release", release->release_id()},
             {"version", release->version()},
             {"target", absl::StrJoin(target_text, ",")},
             {"cameras", absl::StrCat(matched.size())},
             {"waves", row.wave_percents},
             {"canary_site", req.canary_site_code()},
             {"stop_after_each_wave", row.stop_after_wave ? "true" : "false"}}));
        RETURN_IF_ERROR(Advance(tx, id, actor));
        ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(db, id, false));
        return absl::OkStatus();
      },
      std::move(done));
}

absl::StatusOr<v1::GetRolloutResponse> RolloutManager::GetRollout(
    const v1::GetRolloutRequest& req) {
  ASSIGN_OR_RETURN(int64_t id, ParseRolloutId("rollout_id", req.rollout_id()));
  v1::GetRolloutResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(db, id, req.include_units()));
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<v1::ListRolloutsResponse> RolloutManager::ListRollouts(
    const v1::ListRolloutsRequest& req) {
  ASSIGN_OR_RETURN(int limit, rpc::ResolvePageSize(req.page_size()));
  if (!v1::RolloutState_IsValid(req.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state is ", req.state(), "; give a RolloutState or leave it unset"));
  }
  const std::string state =
      req.state() == v1::ROLLOUT_STATE_UNSPECIFIED ? "" : RolloutStateName(req.state());
  const std::string query = absl::StrCat("rollouts|", state);
  ASSIGN_OR_RETURN(std::string cursor, tokens_.Decode(query, req.page_token()));
  int64_t before = 0;
  if (!cursor.empty() && !absl::SimpleAtoi(cursor, &before)) {
    return absl::InvalidArgumentError("page_token: not a token of this list");
  }
  v1::ListRolloutsResponse resp;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<storage::RolloutRow> rows,
                     storage::ListRollouts(db, state, before, limit + 1));
    if (static_cast<int>(rows.size()) > limit) {
      rows.pop_back();
      resp.set_next_page_token(tokens_.Encode(query, absl::StrCat(rows.back().id)));
    }
    for (const storage::RolloutRow& r : rows) {
      ASSIGN_OR_RETURN(*resp.add_rollouts(), SummarizeRollout(db, r));
    }
    return absl::OkStatus();
  }));
  return resp;
}

absl::StatusOr<std::vector<storage::RolloutWaveStateCount>> RolloutManager::Progress() {
  static constexpr const char* kUnitStates[] = {"PENDING",   "DOWNLOADING", "INSTALLING",
                                                "SUCCEEDED", "FAILED",      "ROLLED_BACK"};
  std::vector<storage::RolloutWaveStateCount> counts;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(counts, storage::CountUnitsOfUnfinishedRollouts(db));
    return absl::OkStatus();
  }));
  // Rows come ordered by rollout and wave: fill in each wave's missing states.
  std::vector<storage::RolloutWaveStateCount> out;
  for (size_t i = 0; i < counts.size();) {
    const int64_t rollout = counts[i].rollout_id;
    const int64_t wave = counts[i].wave;
    std::map<std::string, int64_t> by_state;
    for (; i < counts.size() && counts[i].rollout_id == rollout && counts[i].wave == wave; ++i) {
      by_state[counts[i].state] = counts[i].cameras;
    }
    for (const char* state : kUnitStates) {
      const auto found = by_state.find(state);
      out.push_back({rollout, wave, state, found == by_state.end() ? 0 : found->second});
    }
  }
  return out;
}

void RolloutManager::PauseRollout(const rpc::Identity& who, const v1::PauseRolloutRequest& req,
                                  Done<v1::PauseRolloutResponse> done) {
  absl::StatusOr<int64_t> id = ParseRolloutId("rollout_id", req.rollout_id());
  if (!id.ok()) return done(id.status());
  if (absl::Status s = rpc::ValidateText("reason", req.reason(), 1, 500); !s.ok()) return done(s);
  storage::WriteWithResponse<v1::PauseRolloutResponse>(
      store_,
      [id = *id, req, actor = who.actor()](storage::WriteTx& tx,
                                           v1::PauseRolloutResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::RolloutRow r, MustFind(tx.db(), id));
        if (r.state != "RUNNING" && r.state != "AWAITING_NEXT_WAVE") {
          return WrongState(r, "only a RUNNING or AWAITING_NEXT_WAVE rollout can be paused");
        }
        r.state = "PAUSED";
        r.reason = absl::StrCat("paused by ", actor, ": ", req.reason());
        RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.pause", "rollout", absl::StrCat(id),
                                       {{"reason", req.reason()}}));
        ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(tx.db(), id, false));
        return absl::OkStatus();
      },
      std::move(done));
}

void RolloutManager::ResumeRollout(const rpc::Identity& who, const v1::ResumeRolloutRequest& req,
                                   Done<v1::ResumeRolloutResponse> done) {
  absl::StatusOr<int64_t> id = ParseRolloutId("rollout_id", req.rollout_id());
  if (!id.ok()) return done(id.status());
  storage::WriteWithResponse<v1::ResumeRolloutResponse>(
      store_,
      [id = *id, actor = who.actor()](storage::WriteTx& tx,
                                      v1::ResumeRolloutResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::RolloutRow r, MustFind(tx.db(), id));
        if (r.state != "PAUSED") return WrongState(r, "only a PAUSED rollout can be resumed");
        r.state = "RUNNING";
        // Going on after the threshold stopped a wave is the admin's decision for that wave.
        r.threshold_waived = r.open_waves;
        r.reason = "";
        RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.resume", "rollout", absl::StrCat(id),
                                       {{"wave", absl::StrCat(r.open_waves)}}));
        RETURN_IF_ERROR(Advance(tx, id, actor));
        ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(tx.db(), id, false));
        return absl::OkStatus();
      },
      std::move(done));
}

void RolloutManager::NextWave(const rpc::Identity& who, const v1::NextWaveRequest& req,
                              Done<v1::NextWaveResponse> done) {
  absl::StatusOr<int64_t> id = ParseRolloutId("rollout_id", req.rollout_id());
  if (!id.ok()) return done(id.status());
  storage::WriteWithResponse<v1::NextWaveResponse>(
      store_,
      [id = *id, actor = who.actor()](storage::WriteTx& tx,
                                      v1::NextWaveResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::RolloutRow r, MustFind(tx.db(), id));
        if (r.state != "AWAITING_NEXT_WAVE") {
          return WrongState(r, "next-wave starts a wave only after the previous one finished "
                               "(AWAITING_NEXT_WAVE)");
        }
        r.state = "RUNNING";
        r.reason = "";
        r.open_waves = std::min(r.open_waves + 1, r.wave_count);
        RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.wave_open", "rollout",
                                       absl::StrCat(id), {{"wave", absl::StrCat(r.open_waves)}}));
        RETURN_IF_ERROR(Advance(tx, id, actor));
        ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(tx.db(), id, false));
        return absl::OkStatus();
      },
      std::move(done));
}

void RolloutManager::AbortRollout(const rpc::Identity& who, const v1::AbortRolloutRequest& req,
                                  Done<v1::AbortRolloutResponse> done) {
  absl::StatusOr<int64_t> id = ParseRolloutId("rollout_id", req.rollout_id());
  if (!id.ok()) return done(id.status());
  if (absl::Status s = rpc::ValidateText("reason", req.reason(), 1, 500); !s.ok()) return done(s);
  storage::WriteWithResponse<v1::AbortRolloutResponse>(
      store_,
      [id = *id, req, actor = who.actor()](storage::WriteTx& tx,
                                           v1::AbortRolloutResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::RolloutRow r, MustFind(tx.db(), id));
        if (r.state == "COMPLETED" || r.state == "ABORTED") {
          return WrongState(r, "it is finished already");
        }
        r.state = "ABORTED";
        r.reason = absl::StrCat("aborted by ", actor, ": ", req.reason());
        r.finished_us = common::ToMicros(tx.now());
        RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
        RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.abort", "rollout", absl::StrCat(id),
                                       {{"reason", req.reason()}}));
        ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(tx.db(), id, false));
        return absl::OkStatus();
      },
      std::move(done));
}

void RolloutManager::RetryFailed(const rpc::Identity& who, const v1::RetryFailedRequest& req,
                                 Done<v1::RetryFailedResponse> done) {
  absl::StatusOr<int64_t> id = ParseRolloutId("rollout_id", req.rollout_id());
  if (!id.ok()) return done(id.status());
  storage::WriteWithResponse<v1::RetryFailedResponse>(
      store_,
      [id = *id, actor = who.actor()](storage::WriteTx& tx,
                                      v1::RetryFailedResponse& resp) -> absl::Status {
        ASSIGN_OR_RETURN(storage::RolloutRow r, MustFind(tx.db(), id));
        if (r.state == "ABORTED") return WrongState(r, "an aborted rollout is not retried");
        ASSIGN_OR_RETURN(std::vector<storage::RolloutUnitRow> units,
                         storage::ListRolloutUnits(tx.db(), id));
        uint32_t retried = 0;
        for (storage::RolloutUnitRow& u : units) {
          if (u.state != "FAILED" && u.state != "ROLLED_BACK") continue;
          const std::string was = u.state;
          u.state = "PENDING";
          u.attempt += 1;
          u.sent_us.reset();
          u.progress_us.reset();
          u.finished_us.reset();
          RETURN_IF_ERROR(storage::UpdateRolloutUnit(tx, u));
          RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.retry", "camera", u.serial,
                                         {{"rollout", absl::StrCat(id)},
                                          {"was", was},
                                          {"last_error", u.last_error},
                                          {"attempt", absl::StrCat(u.attempt)}}));
          ++retried;
        }
        if (retried == 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("rollout ", id, " has no FAILED or ROLLED_BACK camera to retry"));
        }
        if (r.state == "COMPLETED") {
          r.state = "RUNNING";
          r.finished_us.reset();
          r.reason = "";
          RETURN_IF_ERROR(storage::UpdateRollout(tx, r));
        }
        RETURN_IF_ERROR(storage::Audit(tx, actor, "rollout.retry_failed", "rollout",
                                       absl::StrCat(id), {{"retried", absl::StrCat(retried)}}));
        RETURN_IF_ERROR(Advance(tx, id, actor));
        resp.set_retried(retried);
        ASSIGN_OR_RETURN(*resp.mutable_rollout(), LoadRollout(tx.db(), id, false));
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace camfleet::rollout
