// camfleet rollout create|list|show|pause|resume|next-wave|abort|retry

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::cli {
namespace {

using Stub = v1::RolloutService::Stub;
using google::protobuf::util::TimeUtil;

std::string StateText(v1::RolloutState s) {
  switch (s) {
    case v1::ROLLOUT_STATE_RUNNING:
      return "RUNNING";
    case v1::ROLLOUT_STATE_PAUSED:
      return "PAUSED";
    case v1::ROLLOUT_STATE_AWAITING_NEXT_WAVE:
      return "AWAITING_NEXT_WAVE";
    case v1::ROLLOUT_STATE_COMPLETED:
      return "COMPLETED";
    case v1::ROLLOUT_STATE_ABORTED:
      return "ABORTED";
    default:
      return "UNSPECIFIED";
  }
}

std::string UnitText(v1::RolloutUnitState s) {
  const std::string& full = v1::RolloutUnitState_Name(s);
  return full.size() > 19 ? full.substr(19) : full;
}

// "[##########..........]  50%  5/10 succeeded": done counts succeeded and failed cameras.
std::string Bar(const v1::RolloutCounts& c, int width = 20) {
  const uint32_t done = c.succeeded() + c.failed() + c.rolled_back();
  const double fraction =
      c.total() == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(c.total());
  const int filled = static_cast<int>(fraction * width);
  return absl::StrCat("[", std::string(static_cast<size_t>(filled), '#'),
                      std::string(static_cast<size_t>(width - filled), '.'), "] ",
                      absl::StrFormat("%3d%%", static_cast<int>(fraction * 100)));
}

std::vector<std::string> CountCells(const v1::RolloutCounts& c) {
  return {absl::StrCat(c.total()),      absl::StrCat(c.pending()),   absl::StrCat(c.downloading()),
          absl::StrCat(c.installing()), absl::StrCat(c.succeeded()), absl::StrCat(c.failed()),
          absl::StrCat(c.rolled_back())};
}

std::string Minutes(uint32_t m) { return absl::StrFormat("%02d:%02d", m / 60, m % 60); }

std::string WindowText(const v1::InstallWindow& w) {
  return absl::StrCat(Minutes(w.start_minute()), "-", Minutes(w.end_minute()), " ",
                      w.time_zone().empty() ? "UTC" : w.time_zone());
}

std::string ThresholdText(const v1::FailureThreshold& t) {
  if (t.limit_case() == v1::FailureThreshold::kCount) {
    return absl::StrCat("more than ", t.count(), " failed per wave");
  }
  return absl::StrCat("more than ", absl::StrFormat("%g", t.fraction() * 100), "% failed per wave");
}

std::string TargetText(const v1::RolloutTarget& t) {
  std::vector<std::string> parts;
  if (!t.models().empty()) parts.push_back(absl::StrCat("models ", absl::StrJoin(t.models(), ",")));
  if (!t.site_codes().empty()) {
    parts.push_back(absl::StrCat("sites ", absl::StrJoin(t.site_codes(), ",")));
  }
  if (!t.current_versions().empty()) {
    parts.push_back(absl::StrCat("running ", absl::StrJoin(t.current_versions(), ",")));
  }
  if (!t.serials().empty()) {
    parts.push_back(absl::StrCat("serials ", absl::StrJoin(t.serials(), ",")));
  }
  return absl::StrJoin(parts, "; ");
}

void PrintRollout(Session& s, const v1::Rollout& r) {
  std::vector<std::string> waves;
  for (uint32_t p : r.wave_percents()) waves.push_back(absl::StrCat(p, "%"));
  std::string wave_text = absl::StrJoin(waves, ", ");
  if (!r.canary_site_code().empty()) {
    wave_text = absl::StrCat("canary ", r.canary_site_code(), ", ", wave_text);
  }
  s.out() << RenderRecord({
      {"rollout", r.rollout_id()},
      {"release", absl::StrCat(r.release_version(), " (", r.release_id().substr(0, 12), ") for ",
                               absl::StrJoin(r.release_models(), ","))},
      {"state", StateText(r.state())},
      {"reason", r.reason()},
      {"target", TargetText(r.target())},
      {"waves", absl::StrCat(wave_text, " (", r.open_waves(), " of ", r.wave_count(), " open)",
                             r.stop_after_each_wave() ? ", stops after each wave" : "")},
      {"threshold", ThresholdText(r.failure_threshold())},
      {"silence", absl::FormatDuration(
                      absl::Microseconds(TimeUtil::DurationToMicroseconds(r.silence_timeout())))},
      {"note", r.note()},
      {"created", absl::StrCat(FormatUtc(FromTimestamp(r.create_time())), " by ", r.created_by())},
      {"progress",
       absl::StrCat(Bar(r.counts()), "  ", r.counts().succeeded(), "/", r.counts().total(),
                    " succeeded, ", r.counts().failed() + r.counts().rolled_back(), " failed")},
  });
  const std::vector<std::string> counts_header = {"TOTAL", "PENDING", "DOWNLOADING", "INSTALLING",
                                                  "OK",    "FAILED",  "ROLLED BACK"};
  if (!r.waves().empty()) {
    std::vector<std::string> header = {"WAVE", "SIZE", "OPEN"};
    header.insert(header.end(), counts_header.begin(), counts_header.end());
    header.push_back("PROGRESS");
    Table table(header);
    for (const v1::WaveProgress& w : r.waves()) {
      std::vector<std::string> row = {absl::StrCat(w.wave()),
                                      w.canary_site_code().empty()
                                          ? absl::StrCat(w.percent(), "%")
                                          : absl::StrCat("canary ", w.canary_site_code()),
                                      w.open() ? "yes" : "no"};
      for (std::string& c : CountCells(w.counts())) row.push_back(std::move(c));
      row.push_back(Bar(w.counts()));
      table.AddRow(std::move(row));
    }
    s.out() << "\n" << table.Render();
  }
  if (!r.sites().empty()) {
    std::vector<std::string> header = {"SITE", "WINDOW"};
    header.insert(header.end(), counts_header.begin(), counts_header.end());
    header.push_back("PROGRESS");
    Table table(header);
    for (const v1::SiteProgress& site : r.sites()) {
      std::vector<std::string> row = {site.site_code(),
                                      site.has_window() ? WindowText(site.window()) : "any time"};
      for (std::string& c : CountCells(site.counts())) row.push_back(std::move(c));
      row.push_back(Bar(site.counts()));
      table.AddRow(std::move(row));
    }
    s.out() << "\n" << table.Render();
  }
  if (!r.units().empty()) {
    Table table({"SERIAL", "SITE", "WAVE", "STATE", "ATTEMPT", "RUNNING", "LAST ERROR"});
    for (const v1::RolloutUnit& u : r.units()) {
      table.AddRow({u.serial(), u.site_code(), absl::StrCat(u.wave()), UnitText(u.state()),
                    absl::StrCat(u.attempt()), u.running_version(), u.last_error()});
    }
    s.out() << "\n" << table.Render();
  }
}

// "5,25,100" -> {5, 25, 100}; the server checks the values.
bool ParsePercents(const std::string& text, google::protobuf::RepeatedField<uint32_t>* out,
                   std::string* error) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    uint32_t v = 0;
    if (!absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(part), "%"), &v)) {
      *error = absl::StrCat("--waves: '", part, "' is not a percentage; give e.g. 5,25,100");
      return false;
    }
    out->Add(v);
  }
  return true;
}

// "HH:MM" -> minutes after midnight.
bool ParseClock(absl::string_view text, uint32_t* minutes) {
  std::vector<absl::string_view> hm = absl::StrSplit(text, ':');
  uint32_t h = 0, m = 0;
  if (hm.size() != 2 || !absl::SimpleAtoi(hm[0], &h) || !absl::SimpleAtoi(hm[1], &m) || h > 24 ||
      m > 59 || (h == 24 && m != 0)) {
    return false;
  }
  *minutes = (h * 60 + m) % 1440;
  return true;
}

// "SITE=22:00-05:00@Asia/Bishkek" (the zone is optional: UTC).
bool ParseWindow(const std::string& text, v1::SiteInstallWindow* w, std::string* error) {
  *error = absl::StrCat("--window: '", text,
                        "' is not SITE=HH:MM-HH:MM[@ZONE], e.g. POST-7=22:00-05:00@Asia/Bishkek");
  std::vector<std::string> site_rest = absl::StrSplit(text, absl::MaxSplits('=', 1));
  if (site_rest.size() != 2 || site_rest[0].empty()) return false;
  w->set_site_code(site_rest[0]);
  std::vector<std::string> hours_zone = absl::StrSplit(site_rest[1], absl::MaxSplits('@', 1));
  if (hours_zone.size() == 2) w->set_time_zone(hours_zone[1]);
  std::vector<std::string> range = absl::StrSplit(hours_zone[0], '-');
  uint32_t start = 0, end = 0;
  if (range.size() != 2 || !ParseClock(range[0], &start) || !ParseClock(range[1], &end)) {
    return false;
  }
  w->set_start_minute(start);
  w->set_end_minute(end);
  return true;
}

// "20%" -> fraction 0.2; "3" -> count 3.
bool ParseThreshold(const std::string& text, v1::FailureThreshold* t, std::string* error) {
  *error = absl::StrCat("--max-failures: '", text,
                        "' is not a count or a percentage; give e.g. 3 or 20%");
  if (absl::EndsWith(text, "%")) {
    double p = 0;
    if (!absl::SimpleAtod(absl::StripSuffix(text, "%"), &p)) return false;
    t->set_fraction(p / 100.0);
    return true;
  }
  uint32_t n = 0;
  if (!absl::SimpleAtoi(text, &n)) return false;
  t->set_count(n);
  return true;
}

void SplitInto(const std::vector<std::string>& values,
               google::protobuf::RepeatedPtrField<std::string>* out) {
  for (const std::string& v : values) {
    for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
      out->Add(std::string(absl::StripAsciiWhitespace(part)));
    }
  }
}

void AddCreate(CLI::App* rollout, Action* selected) {
  struct Args {
    v1::CreateRolloutRequest request;
    std::vector<std::string> models, sites, versions, serials, windows;
    std::string waves, threshold, silence;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = rollout->add_subcommand("create", "Roll a release out to cameras in waves");
  cmd->footer(
      "Target with any of --model, --site (with the sites below it), --running (current\n"
      "firmware version) and --serial; kinds combine with AND. Waves are cumulative percentages\n"
      "ending at 100. A wave with more failures than --max-failures pauses the rollout by\n"
      "itself. Example:\n"
      "  camfleet rollout create 3f9a1c2e --model BWC-4 --waves 5,25,100 --canary POST-7 \\\n"
      "      --max-failures 10% --window POST-7=22:00-05:00@Asia/Bishkek");
  cmd->add_option("release", *args->request.mutable_release_id(),
                  "Release id, or its first 8+ hex digits (see firmware list)")
      ->required();
  cmd->add_option("--model", args->models, "Camera models (repeat or comma-separate)");
  cmd->add_option("--site", args->sites, "Site codes, each with the sites below it");
  cmd->add_option("--running", args->versions, "Firmware versions the cameras run now");
  cmd->add_option("--serial", args->serials, "Explicit camera serials");
  cmd->add_option("--waves", args->waves, "Cumulative percentages per wave, e.g. 5,25,100")
      ->default_str("100");
  cmd->add_option("--canary", *args->request.mutable_canary_site_code(),
                  "A site whose cameras form a first wave of their own");
  cmd->add_option("--max-failures", args->threshold,
                  "Failures a wave may have before the rollout pauses: a count or a percentage "
                  "(default 0: the first failure pauses)");
  cmd->add_flag_function(
      "--stop-after-each-wave", [args](int64_t) { args->request.set_stop_after_each_wave(true); },
      "Wait after each wave until an admin runs rollout next-wave");
  cmd->add_option("--window", args->windows,
                  "When a site's docks may install: SITE=HH:MM-HH:MM[@IANA zone] (repeatable)");
  cmd->add_option("--silence-timeout", args->silence,
                  "A camera whose dock has been in contact this long since its job went down, "
                  "without a word on it, counts as failed (e.g. 72h; default 72h)");
  cmd->add_option("--note", *args->request.mutable_note(), "A note for people and the audit log");
  SetAction(cmd, selected, [args](Session& s) {
    v1::CreateRolloutRequest request = args->request;
    SplitInto(args->models, request.mutable_target()->mutable_models());
    SplitInto(args->sites, request.mutable_target()->mutable_site_codes());
    SplitInto(args->versions, request.mutable_target()->mutable_current_versions());
    SplitInto(args->serials, request.mutable_target()->mutable_serials());
    std::string error;
    if (!args->waves.empty() &&
        !ParsePercents(args->waves, request.mutable_wave_percents(), &error)) {
      return s.UsageError(error);
    }
    if (!args->threshold.empty() &&
        !ParseThreshold(args->threshold, request.mutable_failure_threshold(), &error)) {
      return s.UsageError(error);
    }
    for (const std::string& w : args->windows) {
      if (!ParseWindow(w, request.add_install_windows(), &error)) return s.UsageError(error);
    }
    if (!args->silence.empty()) {
      absl::Duration d;
      if (!absl::ParseDuration(args->silence, &d)) {
        return s.UsageError(absl::StrCat("--silence-timeout: '", args->silence,
                                         "' is not a duration; give e.g. 72h or 30m"));
      }
      *request.mutable_silence_timeout() =
          TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(d));
    }
    return Finish(s, s.client().Rollout(&Stub::CreateRollout, request),
                  [&](const v1::CreateRolloutResponse& r) {
                    s.out() << "rollout " << r.rollout().rollout_id() << " started\n";
                    PrintRollout(s, r.rollout());
                  });
  });
}

void AddList(CLI::App* rollout, Action* selected) {
  struct Args {
    std::string state;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = rollout->add_subcommand("list", "List rollouts, newest first");
  cmd->add_option("--state", args->state,
                  "Only rollouts in this state (running, paused, awaiting_next_wave, completed, "
                  "aborted)");
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListRolloutsRequest request;
    if (!args->state.empty()) {
      v1::RolloutState state;
      std::string name = absl::AsciiStrToUpper(args->state);
      if (!v1::RolloutState_Parse("ROLLOUT_STATE_" + name, &state)) {
        return s.UsageError(absl::StrCat("--state: '", args->state,
                                         "' is not running, paused, awaiting_next_wave, "
                                         "completed or aborted"));
      }
      request.set_state(state);
    }
    absl::StatusOr<v1::ListRolloutsResponse> resp =
        FetchPages<v1::ListRolloutsRequest, v1::ListRolloutsResponse>(
            request, args->page, [&](const v1::ListRolloutsRequest& r) {
              return s.client().Rollout(&Stub::ListRollouts, r);
            });
    return Finish(s, resp, [&](const v1::ListRolloutsResponse& r) {
      if (r.rollouts().empty()) {
        s.out() << "no rollouts\n";
        return;
      }
      Table table({"ROLLOUT", "RELEASE", "STATE", "WAVE", "CAMERAS", "OK", "FAILED", "PROGRESS",
                   "CREATED", "REASON"});
      for (const v1::Rollout& ro : r.rollouts()) {
        table.AddRow({ro.rollout_id(), ro.release_version(), StateText(ro.state()),
                      absl::StrCat(ro.open_waves(), "/", ro.wave_count()),
                      absl::StrCat(ro.counts().total()), absl::StrCat(ro.counts().succeeded()),
                      absl::StrCat(ro.counts().failed() + ro.counts().rolled_back()),
                      Bar(ro.counts(), 10), FormatUtc(FromTimestamp(ro.create_time())),
                      ro.reason()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "rollouts");
    });
  });
}

bool Finished(v1::RolloutState state) {
  return state == v1::ROLLOUT_STATE_COMPLETED || state == v1::ROLLOUT_STATE_ABORTED;
}

void AddShow(CLI::App* rollout, Action* selected) {
  struct Args {
    v1::GetRolloutRequest request;
    bool watch = false;
    std::string interval = "2s";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = rollout->add_subcommand(
      "show", "A rollout's progress per wave and per site (--cameras: per camera)");
  cmd->add_option("rollout", *args->request.mutable_rollout_id(), "Rollout id (see rollout list)")
      ->required();
  cmd->add_flag_function(
      "--cameras", [args](int64_t) { args->request.set_include_units(true); },
      "Also list every targeted camera with its state, attempt and last error");
  cmd->add_flag("--watch", args->watch,
                "Refresh until the rollout is completed or aborted (a live progress bar)");
  cmd->add_option("--interval", args->interval, "How often --watch refreshes (default 2s)");
  SetAction(cmd, selected, [args](Session& s) {
    absl::Duration interval;
    if (!absl::ParseDuration(args->interval, &interval) || interval < absl::Milliseconds(100)) {
      return s.UsageError(absl::StrCat("--interval: '", args->interval,
                                       "' is not a duration of at least 100ms; give e.g. 2s"));
    }
    while (true) {
      absl::StatusOr<v1::GetRolloutResponse> resp =
          s.client().Rollout(&Stub::GetRollout, args->request);
      if (!resp.ok()) return s.RpcError(resp.status());
      if (s.json()) {
        // One JSON document per refresh (JSON lines while watching).
        s.PrintJson(*resp);
      } else {
        if (args->watch) s.out() << "\n" << FormatUtcSeconds(s.Now()) << "\n";
        PrintRollout(s, resp->rollout());
      }
      s.out().flush();
      if (!args->watch || Finished(resp->rollout().state())) return kExitOk;
      absl::SleepFor(interval);
    }
  });
}

// pause, resume, next-wave, abort, retry: one rollout id, maybe a reason.
template <typename Request, typename Response>
void AddStateCommand(CLI::App* rollout, Action* selected, const std::string& name,
                     const std::string& help, bool with_reason,
                     grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                     std::string done_text) {
  (void)with_reason;
  auto request = std::make_shared<Request>();
  CLI::App* cmd = rollout->add_subcommand(name, help);
  cmd->add_option("rollout", *request->mutable_rollout_id(), "Rollout id (see rollout list)")
      ->required();
  if constexpr (requires(Request r) { r.mutable_reason(); }) {
    if (with_reason) {
      cmd->add_option("--reason", *request->mutable_reason(), "Why, for the audit log")->required();
    }
  }
  SetAction(cmd, selected, [request, method, done_text](Session& s) {
    return Finish(s, s.client().Rollout(method, *request), [&](const Response& r) {
      if constexpr (requires(Response x) { x.retried(); }) {
        s.out() << "retrying " << r.retried() << " camera(s) with a new attempt\n";
      } else {
        s.out() << done_text << "\n";
      }
      PrintRollout(s, r.rollout());
    });
  });
}

}  // namespace

void AddRolloutCommands(CLI::App& app, Action* selected) {
  CLI::App* rollout = app.add_subcommand("rollout", "Staged firmware rollouts through the docks");
  rollout->require_subcommand(1);
  AddCreate(rollout, selected);
  AddList(rollout, selected);
  AddShow(rollout, selected);
  AddStateCommand<v1::PauseRolloutRequest, v1::PauseRolloutResponse>(
      rollout, selected, "pause", "Pause: jobs leave the docks' plans until resumed", true,
      &Stub::PauseRollout, "paused");
  AddStateCommand<v1::ResumeRolloutRequest, v1::ResumeRolloutResponse>(
      rollout, selected, "resume",
      "Resume a paused rollout (a wave paused by its threshold goes on without it)", false,
      &Stub::ResumeRollout, "resumed");
  AddStateCommand<v1::NextWaveRequest, v1::NextWaveResponse>(
      rollout, selected, "next-wave", "Start the next wave of a rollout waiting for it", false,
      &Stub::NextWave, "next wave started");
  AddStateCommand<v1::AbortRolloutRequest, v1::AbortRolloutResponse>(
      rollout, selected, "abort", "Abort: every job leaves the plans; final", true,
      &Stub::AbortRollout, "aborted");
  AddStateCommand<v1::RetryFailedRequest, v1::RetryFailedResponse>(
      rollout, selected, "retry", "Retry failed and rolled-back cameras only, with a new attempt",
      false, &Stub::RetryFailed, "");
}

}  // namespace camfleet::cli
