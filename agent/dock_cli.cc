#include "agent/dock_cli.h"

#include <CLI/CLI.hpp>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/certificate_keeper.h"
#include "agent/clock_offset.h"
#include "agent/dock_enrollment.h"
#include "agent/dock_paths.h"
#include "agent/dock_runtime.h"
#include "agent/firmware_cache.h"
#include "agent/grpc_camera_link.h"
#include "agent/local_control.h"
#include "agent/outbox_item.h"
#include "agent/retry.h"
#include "agent/server_connection.h"
#include "agent/time_text.h"
#include "firmware/bundle.h"
#include "common/clock.h"
#include "google/protobuf/util/json_util.h"
#include "provisioning/file_io.h"

namespace camfleet::agent {
namespace {

constexpr size_t kMaxCaBytes = 64 * 1024;
constexpr int kMaxSlot = 256;

struct EnrollArgs {
  std::string server;
  std::string server_name;
  std::string ca_file;
  std::string token;
  std::string dock_id;
  std::string dir;
  int slot_count = 0;
};

struct RunArgs {
  std::string dir;
  std::string server;
  std::string server_name;
  std::vector<std::string> slots;
  std::string interval = "60s";
  std::string health_interval = "5m";
  std::string identify_interval = "2s";
  std::string firmware_interval = "60s";
  bool once = false;
};

struct FirmwareArgs {
  std::string dir;
  std::string file;
  bool json = false;
};

struct DeskArgs {
  std::string dir;
  std::string badge;
  bool json = false;
};

std::string Now(const DockEnvironment& env) { return FormatUtc(env.clock->Now()); }

RetryPolicy MakeRetry(const DockEnvironment& env) {
  RetryPolicy retry;
  retry.sleep = env.retry_sleep;
  return retry;
}

int Enroll(const EnrollArgs& args, const DockEnvironment& env) {
  absl::StatusOr<provisioning::FileContents> ca =
      provisioning::ReadSmallFile(args.ca_file, kMaxCaBytes);
  if (!ca.ok()) {
    *env.err << "error: --ca-file: " << ca.status().message() << "\n";
    return kExitUsage;
  }
  ServerEndpoint endpoint{args.server, args.server_name};
  DockEnrollmentRequest request{args.token, args.dock_id, ca->data, args.slot_count};
  absl::StatusOr<EnrolledDock> enrolled =
      EnrollDock(endpoint, request, DockPaths{args.dir}, MakeRetry(env), *env.clock);
  if (!enrolled.ok()) {
    *env.err << "error: " << absl::StatusCodeToString(enrolled.status().code()) << ": "
             << enrolled.status().message() << "\n";
    if (enrolled.status().code() == absl::StatusCode::kPermissionDenied) {
      *env.err << "hint: the token is unknown, used or expired; ask an admin for a new one "
                  "(camfleet token create)\n";
    }
    return enrolled.status().code() == absl::StatusCode::kAlreadyExists ||
                   enrolled.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitFailed;
  }
  *env.out << Now(env) << " dock " << args.dock_id << ": enrolled at site " << enrolled->site_code
           << (enrolled->resumed ? " (finishing the enrollment an earlier run started)" : "")
           << ": certificate " << enrolled->certificate.serial_hex << " valid until "
           << FormatUtc(enrolled->certificate.not_after) << "; credentials in "
           << DockPaths{args.dir}.Credentials();
  if (enrolled->clock.has_value() &&
      absl::AbsDuration(enrolled->clock->offset) >= absl::Seconds(1)) {
    *env.out << "; " << DescribeClockOffset("dock", enrolled->clock->offset) << " (kept in "
             << DockPaths{args.dir}.ClockOffset() << "; certificates are judged at server time)";
  }
  *env.out << "\n";
  return kExitOk;
}

// "2=/run/camfleet/slot2.sock" -> {2, path}.
absl::Status ParseSlots(const std::vector<std::string>& specs, std::map<int, std::string>& out) {
  for (const std::string& spec : specs) {
    std::pair<std::string, std::string> parts = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    int slot = 0;
    if (!absl::SimpleAtoi(parts.first, &slot) || slot < 1 || slot > kMaxSlot ||
        parts.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--slot '", spec,
                                                     "': give N=SOCKET with N from 1 to ", kMaxSlot,
                                                     ", e.g. --slot 1=/run/camfleet/slot1.sock"));
    }
    if (!out.emplace(slot, parts.second).second) {
      return absl::InvalidArgumentError(absl::StrCat("--slot ", slot, " is given twice"));
    }
  }
  return absl::OkStatus();
}

// `run` without --once: the agent's pieces on their own threads until env.stop.
int RunAgent(const RunArgs& args, const std::map<int, std::string>& sockets,
             absl::Duration interval, const DockEnvironment& env) {
  absl::Duration health_interval;
  absl::Duration identify_interval;
  absl::Duration firmware_interval;
  if (!absl::ParseDuration(args.health_interval, &health_interval) ||
      health_interval <= absl::ZeroDuration() ||
      !absl::ParseDuration(args.identify_interval, &identify_interval) ||
      identify_interval <= absl::ZeroDuration() ||
      !absl::ParseDuration(args.firmware_interval, &firmware_interval) ||
      firmware_interval <= absl::ZeroDuration()) {
    *env.err << "error: --health-interval, --identify-interval and --firmware-interval are "
                "positive durations like 5m or 2s\n";
    return kExitUsage;
  }
  auto out_mu = std::make_shared<std::mutex>();
  DockRuntimeOptions options;
  options.paths = DockPaths{args.dir};
  options.endpoint = ServerEndpoint{args.server, args.server_name};
  options.sockets = sockets;
  options.clock = env.clock;
  options.keeper_interval = interval;
  options.keeper_retry = MakeRetry(env);
  options.health_interval = health_interval;
  options.identify_interval = identify_interval;
  options.firmware_interval = firmware_interval;
  options.events = [out_mu, out = env.out](const DockEvent& event) {
    std::lock_guard<std::mutex> lock(*out_mu);
    *out << FormatEvent(event) << "\n";
    out->flush();
  };
  absl::StatusOr<std::unique_ptr<DockRuntime>> runtime = DockRuntime::Start(std::move(options));
  if (!runtime.ok()) {
    *env.err << "error: " << absl::StatusCodeToString(runtime.status().code()) << ": "
             << runtime.status().message() << "\n";
    return absl::IsFailedPrecondition(runtime.status()) ? kExitUsage : kExitFailed;
  }
  if (env.stop != nullptr) {
    env.stop->WaitForNotification();
  } else {
    absl::Notification never;
    never.WaitForNotification();
  }
  (*runtime)->Stop();
  return kExitOk;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

int ReportCallError(const absl::Status& status, const DockEnvironment& env) {
  *env.err << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
           << "\n";
  return kExitFailed;
}

int Checkout(const DeskArgs& args, const DockEnvironment& env) {
  absl::StatusOr<dockctl::v1::CheckoutResponse> r =
      CallCheckout(ControlSocketPath(DockPaths{args.dir}), args.badge);
  if (!r.ok()) return ReportCallError(r.status(), env);
  if (args.json) {
    *env.out << ToJson(*r);
    return kExitOk;
  }
  *env.out << "Take camera " << r->serial() << " from slot " << r->slot() << " (battery "
           << r->battery_percent() << "%), checked out to badge " << args.badge
           << (r->holder_name().empty() ? "" : " (" + r->holder_name() + ")") << ", due back "
           << FormatUtc(FromTimestamp(r->due_back_time())) << "\n";
  return kExitOk;
}

int Status(const DeskArgs& args, const DockEnvironment& env) {
  absl::StatusOr<dockctl::v1::GetStatusResponse> r =
      CallStatus(ControlSocketPath(DockPaths{args.dir}));
  if (!r.ok()) return ReportCallError(r.status(), env);
  if (args.json) {
    *env.out << ToJson(*r);
    return kExitOk;
  }
  std::ostringstream o;
  o << "dock " << r->dock_id() << " at site " << (r->site_code().empty() ? "?" : r->site_code())
    << "\n";
  o << std::left << std::setw(6) << "SLOT" << std::setw(16) << "CAMERA" << std::setw(13) << "STATE"
    << std::setw(9) << "BATTERY"
    << "NOTE\n";
  for (const dockctl::v1::SlotStatus& s : r->slots()) {
    std::string note = s.refused_reason().empty() ? "" : "REFUSED: " + s.refused_reason();
    if (s.released()) note = "released";
    // The state as people say it (AVAILABLE, LOST); --json keeps the enum's full name.
    absl::string_view state = s.occupied() ? absl::string_view(s.state()) : "";
    absl::ConsumePrefix(&state, "CAMERA_STATE_");
    o << std::left << std::setw(6) << s.slot() << std::setw(16) << (s.occupied() ? s.serial() : "-")
      << std::setw(13) << std::string(state) << std::setw(9)
      << (s.has_health() ? absl::StrCat(s.battery_percent(), "%")
                         : std::string(s.occupied() ? "?" : ""))
      << note << "\n";
  }
  o << "backlog: " << r->backlog_custody() << " custody, " << r->backlog_telemetry()
    << " telemetry items\n";
  o << "sync: " << (r->sync().connected() ? "connected" : "not connected") << "; last sync "
    << (r->sync().has_last_sync_time() ? FormatUtc(FromTimestamp(r->sync().last_sync_time()))
                                       : std::string("never"));
  if (!r->sync().last_error().empty()) o << "; last error: " << r->sync().last_error();
  if (r->sync().refused()) o << " (REFUSED by the server)";
  o << "\n";
  o << "clock offset: "
    << (r->has_clock_offset() ? absl::FormatDuration(absl::Trunc(
                                    FromDurationProto(r->clock_offset()), absl::Milliseconds(1))) +
                                    " (server minus dock)"
                              : std::string("not measured"))
    << "\n";
  *env.out << o.str();
  return kExitOk;
}

// The step names as people say them (SUCCEEDED, ROLLED_BACK).
std::string StepName(v1::FirmwareInstallState state) {
  absl::string_view name = v1::FirmwareInstallState_Name(state);
  absl::ConsumePrefix(&name, "FIRMWARE_INSTALL_STATE_");
  return std::string(name);
}

int ImportRelease(const FirmwareArgs& args, const DockEnvironment& env) {
  absl::StatusOr<std::unique_ptr<FirmwareCache>> cache =
      FirmwareCache::Open(DockPaths{args.dir}.Firmware());
  if (!cache.ok()) return ReportCallError(cache.status(), env);
  absl::StatusOr<provisioning::FileContents> file =
      provisioning::ReadSmallFile(args.file, firmware::kMaxImageBytes + 64 * 1024);
  if (!file.ok()) return ReportCallError(file.status(), env);
  absl::StatusOr<firmware::Bundle> bundle = firmware::ParseBundle(file->data);
  if (!bundle.ok()) return ReportCallError(bundle.status(), env);
  // Exactly the checks a download gets before it is cached.
  absl::StatusOr<CachedRelease> stored =
      (*cache)->Store(bundle->manifest, bundle->signature, bundle->image);
  if (!stored.ok()) {
    *env.err << "release " << args.file << " FAILED verification: "
             << absl::StatusCodeToString(stored.status().code()) << ": "
             << stored.status().message() << "\n";
    return kExitFailed;
  }
  *env.out << "release " << firmware::FormatVersion(stored->manifest.version) << " ("
           << stored->release_id.substr(0, 12) << ") for "
           << absl::StrJoin(stored->manifest.models, ", ") << " verified and cached; the dock "
           << "installs it when its plan asks for it\n";
  return kExitOk;
}

int TrustKey(const FirmwareArgs& args, const DockEnvironment& env) {
  absl::StatusOr<std::unique_ptr<FirmwareCache>> cache =
      FirmwareCache::Open(DockPaths{args.dir}.Firmware());
  if (!cache.ok()) return ReportCallError(cache.status(), env);
  absl::StatusOr<provisioning::FileContents> pem = provisioning::ReadSmallFile(args.file, 64 * 1024);
  if (!pem.ok()) return ReportCallError(pem.status(), env);
  absl::StatusOr<std::string> id = (*cache)->TrustKey(pem->data);
  if (!id.ok()) return ReportCallError(id.status(), env);
  *env.out << "firmware signing key " << *id << " trusted\n";
  return kExitOk;
}

int FirmwareStatus(const FirmwareArgs& args, const DockEnvironment& env) {
  const DockPaths paths{args.dir};
  absl::StatusOr<std::unique_ptr<FirmwareCache>> cache = FirmwareCache::Open(paths.Firmware());
  if (!cache.ok()) return ReportCallError(cache.status(), env);
  common::RealClock real;
  absl::StatusOr<std::unique_ptr<OutboxStore>> outbox =
      OutboxStore::Open(OutboxPath(paths), OutboxLimits{}, env.clock ? env.clock : &real);
  if (!outbox.ok()) return ReportCallError(outbox.status(), env);
  absl::StatusOr<std::optional<v1::FirmwarePlan>> plan = (*outbox)->FirmwarePlan();
  if (!plan.ok()) return ReportCallError(plan.status(), env);

  std::vector<std::pair<std::string, std::string>> releases;  // id, text
  for (const std::string& id : (*cache)->ReleaseIds()) {
    absl::StatusOr<CachedRelease> r = (*cache)->Get(id);
    releases.emplace_back(id, r.ok() ? absl::StrCat(firmware::FormatVersion(r->manifest.version),
                                                    " for ", absl::StrJoin(r->manifest.models, ","),
                                                    ", ", r->manifest.image_size, " bytes")
                                     : absl::StrCat("REFUSED: ", r.status().message()));
  }
  struct JobRow {
    v1::FirmwareJob job;
    std::string state;
  };
  std::vector<JobRow> jobs;
  if (plan->has_value()) {
    for (const v1::FirmwareJob& job : (*plan)->jobs()) {
      std::string state = "PENDING";
      for (v1::FirmwareInstallState st :
           {v1::FIRMWARE_INSTALL_STATE_SUCCEEDED, v1::FIRMWARE_INSTALL_STATE_ROLLED_BACK,
            v1::FIRMWARE_INSTALL_STATE_FAILED, v1::FIRMWARE_INSTALL_STATE_INSTALLING,
            v1::FIRMWARE_INSTALL_STATE_DOWNLOADING}) {
        absl::StatusOr<bool> seen =
            (*outbox)->FirmwareStepReported(job.rollout_id(), job.serial(), job.attempt(), st);
        if (seen.ok() && *seen) {
          state = StepName(st);
          break;
        }
      }
      jobs.push_back({job, state});
    }
  }
  std::ostringstream o;
  if (args.json) {
    o << "{\n  \"releases\": [";
    for (size_t i = 0; i < releases.size(); ++i) {
      o << (i ? "," : "") << "\n    {\"release_id\": \"" << releases[i].first << "\"}";
    }
    o << (releases.empty() ? "" : "\n  ") << "],\n  \"jobs\": [";
    for (size_t i = 0; i < jobs.size(); ++i) {
      const JobRow& j = jobs[i];
      o << (i ? "," : "") << "\n    {\"rollout_id\": \"" << j.job.rollout_id()
        << "\", \"serial\": \"" << j.job.serial() << "\", \"release_id\": \""
        << j.job.release_id() << "\", \"attempt\": " << j.job.attempt() << ", \"state\": \""
        << j.state << "\"}";
    }
    o << (jobs.empty() ? "" : "\n  ") << "]\n}\n";
    *env.out << o.str();
    return kExitOk;
  }
  o << "cached releases (" << paths.Firmware() << "):\n";
  if (releases.empty()) o << "  none\n";
  for (const auto& [id, text] : releases) o << "  " << id.substr(0, 12) << "  " << text << "\n";
  o << "firmware jobs"
    << (plan->has_value() ? absl::StrCat(" (plan of ",
                                         FormatUtc(FromTimestamp((*plan)->plan_time())), ")")
                          : std::string(" (no plan received yet)"))
    << ":\n";
  if (!jobs.empty()) {
    o << "  " << std::left << std::setw(16) << "CAMERA" << std::setw(14) << "RELEASE"
      << std::setw(20) << "ROLLOUT" << std::setw(9) << "ATTEMPT"
      << "STATE\n";
  }
  for (const JobRow& j : jobs) {
    o << "  " << std::left << std::setw(16) << j.job.serial() << std::setw(14)
      << j.job.release_id().substr(0, 12) << std::setw(20) << j.job.rollout_id() << std::setw(9)
      << j.job.attempt() << j.state << "\n";
  }
  *env.out << o.str();
  return kExitOk;
}

std::string UnitHolder(const dockctl::v1::StockUnit& u) {
  if (u.holder_badge().empty()) return "-";
  return u.holder_name().empty() ? u.holder_badge()
                                 : absl::StrCat(u.holder_badge(), " (", u.holder_name(), ")");
}

int CheckStock(const DeskArgs& args, const DockEnvironment& env) {
  absl::StatusOr<dockctl::v1::CheckStockResponse> r =
      CallCheckStock(ControlSocketPath(DockPaths{args.dir}));
  if (!r.ok()) return ReportCallError(r.status(), env);
  if (args.json) {
    *env.out << ToJson(*r);
    return kExitOk;
  }
  std::ostringstream o;
  o << "stock check of " << r->site_code() << " at this dock, " << FormatUtc(env.clock->Now())
    << "\n";
  o << "from the site view of " << FormatUtc(FromTimestamp(r->view_time()))
    << (r->connected() ? "" : " (link to camfleetd DOWN: the view may be old)")
    << ", this dock's slots and the check-outs made here since\n";
  o << "expected " << r->expected_size() << ", in slots here " << r->in_slots_size()
    << ", issued " << r->issued_size() << ", missing " << r->missing_size() << "\n";
  auto list = [&](const char* title,
                  const google::protobuf::RepeatedPtrField<dockctl::v1::StockUnit>& units) {
    if (units.empty()) return;
    o << "\n" << title << ":\n";
    o << std::left << std::setw(16) << "SERIAL" << std::setw(12) << "STATE" << std::setw(6)
      << "SLOT"
      << "HOLDER\n";
    for (const dockctl::v1::StockUnit& u : units) {
      o << std::left << std::setw(16) << u.serial() << std::setw(12) << u.state() << std::setw(6)
        << (u.slot() == 0 ? std::string("-") : absl::StrCat(u.slot())) << UnitHolder(u)
        << (u.local_change() ? "  (here, not yet synced)" : "") << "\n";
    }
  };
  list("Issued out", r->issued());
  list("Missing (not in this dock, not issued; may sit in another dock of the site)",
       r->missing());
  list("In slots but not expected here", r->unexpected());
  if (r->missing().empty()) o << "\nnothing missing\n";
  *env.out << o.str();
  return kExitOk;
}

int Run(const RunArgs& args, const DockEnvironment& env) {
  std::map<int, std::string> sockets;
  if (absl::Status s = ParseSlots(args.slots, sockets); !s.ok()) {
    *env.err << "error: " << s.message() << "\n";
    return kExitUsage;
  }
  absl::Duration interval;
  if (!absl::ParseDuration(args.interval, &interval) || interval <= absl::ZeroDuration()) {
    *env.err << "error: --interval '" << args.interval
             << "' is not a positive duration like 60s or 5m\n";
    return kExitUsage;
  }
  if (!args.once) return RunAgent(args, sockets, interval, env);
  CertificateKeeper keeper(KeeperOptions{
      DockPaths{args.dir}, ServerEndpoint{args.server, args.server_name}, MakeRetry(env), env.clock,
      /*clock_offset=*/nullptr});
  while (true) {
    // Fresh links every pass: a slot that was empty last time must not answer from a channel
    // still backing off from the failed connects, but see the camera inserted since.
    std::vector<CameraSlot> slots;
    for (const auto& [number, socket] : sockets) {
      std::shared_ptr<CameraLink> link = NewGrpcCameraLink(socket);
      slots.push_back(CameraSlot{number, link.get(), link});
    }
    PassReport report = keeper.RunPass(slots);
    for (const Action& action : report.actions) {
      *env.out << Now(env) << " " << FormatAction(action) << "\n";
    }
    env.out->flush();
    if (args.once) return report.ok() ? kExitOk : kExitFailed;
    if (env.stop == nullptr) {
      absl::SleepFor(interval);
    } else if (env.stop->WaitForNotificationWithTimeout(interval)) {
      return kExitOk;
    }
  }
}

}  // namespace

int RunDock(const std::vector<std::string>& args, const DockEnvironment& env) {
  CLI::App app(
      "camfleet-dock: the dock agent. Keeps the dock's and its cameras' certificates current, "
      "reports its cameras to camfleetd and checks cameras out to officers.",
      "camfleet-dock");
  app.require_subcommand(1);

  auto enroll_args = std::make_shared<EnrollArgs>();
  CLI::App* enroll = app.add_subcommand(
      "enroll", "Enroll this dock with a one-time token: a key is made here, only a CSR is sent");
  enroll->add_option("--server", enroll_args->server, "camfleetd address, host:port")->required();
  enroll->add_option("--server-name", enroll_args->server_name,
                     "Name the server's certificate carries, if not the host in --server");
  enroll->add_option("--ca-file", enroll_args->ca_file, "The fleet CA certificate, PEM")
      ->required()
      ->type_name("FILE");
  enroll
      ->add_option("--token", enroll_args->token,
                   "The one-time enrollment token from an admin (or CAMFLEET_DOCK_TOKEN)")
      ->envname("CAMFLEET_DOCK_TOKEN")
      ->required();
  enroll->add_option("--dock-id", enroll_args->dock_id, "This dock's id, e.g. post-7-dock-1")
      ->required();
  enroll->add_option("--dir", enroll_args->dir, "The dock's directory (made 0700)")
      ->required()
      ->type_name("DIR");
  enroll->add_option("--slot-count", enroll_args->slot_count, "Number of charging slots")
      ->check(CLI::Range(0, kMaxSlot));
  enroll->footer(
      "Writes the credential bundle to DIR/credentials. Refuses a DIR that is already enrolled,\n"
      "before spending the token. The key and CSR are kept in DIR/enrollment until the\n"
      "certificate is stored: if the answer is lost, run the same command again (same token) to\n"
      "finish the enrollment. Measures the dock clock against the server (DIR/clock-offset).");

  auto run_args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand(
      "run", "Keep certificates current: the dock's own, and those of the cameras in its slots");
  run->add_option("--dir", run_args->dir, "The dock's directory, as given to enroll")
      ->required()
      ->type_name("DIR");
  run->add_option("--server", run_args->server, "camfleetd address, host:port")->required();
  run->add_option("--server-name", run_args->server_name,
                  "Name the server's certificate carries, if not the host in --server");
  run->add_option("--slot", run_args->slots,
                  "A slot and the camera link socket of the camera in it: N=PATH (repeat)")
      ->type_name("N=PATH");
  run->add_option("--interval", run_args->interval, "Time between passes (default 60s)")
      ->type_name("DURATION");
  run->add_flag("--once", run_args->once,
                "Do one pass and exit: 0 if every action worked, 1 if one failed");
  run->footer(
      "Each pass renews the dock's certificate once 2/3 of its validity has passed (or within the\n"
      "30-day grace after expiry), enrolls cameras without a certificate and renews cameras'\n"
      "certificates on the same schedule. It fetches the fleet CRL (kept in DIR/crl, used while\n"
      "the server is unreachable) and refuses cameras whose certificate is revoked: a REFUSED "
      "line\n"
      "is an alert, not a failure. One line per action; calls to the server are retried with\n"
      "backoff while it is unreachable.\n"
      "Without --once the agent keeps running (until SIGINT/SIGTERM): a monitor per slot records\n"
      "insertions, removals, health readings, returns and refusals in the outbox (DIR/outbox.db);\n"
      "the sync stream sends them to camfleetd and keeps the site view, CRL and clock offset;\n"
      "DIR/control.sock serves `camfleet-dock checkout` and `camfleet-dock status`; the pass\n"
      "above runs every --interval.");

  run->add_option("--health-interval", run_args->health_interval,
                  "Time between health readings of a docked camera (default 5m)")
      ->type_name("DURATION");
  run->add_option("--identify-interval", run_args->identify_interval,
                  "How often each slot is polled for insertion and removal (default 2s)")
      ->type_name("DURATION");
  run->add_option("--firmware-interval", run_args->firmware_interval,
                  "How often the firmware plan is worked through: downloads and installs "
                  "(default 60s; a new plan starts a pass at once)")
      ->type_name("DURATION");

  auto checkout_args = std::make_shared<DeskArgs>();
  CLI::App* checkout = app.add_subcommand(
      "checkout",
      "Check out the best-charged eligible camera to an officer (asks the running agent)");
  checkout->add_option("--dir", checkout_args->dir, "The dock's directory")
      ->required()
      ->type_name("DIR");
  checkout->add_option("--badge", checkout_args->badge, "The officer's badge")->required();
  checkout->add_flag("--json", checkout_args->json, "Print the answer as JSON");
  checkout->footer(
      "Works with the link to camfleetd down: the check-out is stored in the dock's outbox and\n"
      "reaches the server on the next sync. Refuses an unknown badge and an officer who already\n"
      "holds a camera.");

  auto status_args = std::make_shared<DeskArgs>();
  CLI::App* status = app.add_subcommand(
      "status", "Show the running agent's slots, cameras, outbox backlog and sync state");
  status->add_option("--dir", status_args->dir, "The dock's directory")
      ->required()
      ->type_name("DIR");
  status->add_flag("--json", status_args->json, "Print JSON instead of a table");

  auto import_args = std::make_shared<FirmwareArgs>();
  CLI::App* import_release = app.add_subcommand(
      "import-release",
      "Verify a signed release bundle (camfleet firmware export) and put it in the dock's cache");
  import_release->add_option("--dir", import_args->dir, "The dock's directory")
      ->required()
      ->type_name("DIR");
  import_release->add_option("FILE", import_args->file, "The bundle")->required();
  import_release->footer(
      "For a post cut off from camfleetd: the release is checked exactly as a download is\n"
      "(signature with the dock's trusted keys, image size and SHA-256) before it is cached.");

  auto firmware_args = std::make_shared<FirmwareArgs>();
  CLI::App* firmware_cmd =
      app.add_subcommand("firmware", "Show the dock's firmware cache and jobs, or trust a key");
  firmware_cmd->add_option("--dir", firmware_args->dir, "The dock's directory")
      ->required()
      ->type_name("DIR");
  firmware_cmd->add_flag("--json", firmware_args->json, "Print JSON instead of tables");
  auto trust_args = std::make_shared<FirmwareArgs>();
  CLI::App* trust_key = firmware_cmd->add_subcommand(
      "trust-key", "Trust a firmware signing public key (camfleet-sign keygen's .pub)");
  trust_key->add_option("FILE", trust_args->file, "The public key, PEM")->required();
  auto stock_args = std::make_shared<DeskArgs>();
  CLI::App* stock = app.add_subcommand(
      "stock-check", "Check the site's stock from what this dock knows (works with the link down)");
  stock->add_option("--dir", stock_args->dir, "The dock's directory")
      ->required()
      ->type_name("DIR");
  stock->add_flag("--json", stock_args->json, "Print JSON instead of tables");
  stock->footer(
      "Asks the running agent. Expected: the site's cameras in state REGISTERED, AVAILABLE,\n"
      "ISSUED or FAULTY as the last site view from camfleetd has them. In slots: docked here now.\n"
      "Issued: out with an officer, by the view or by a check-out made here since (still in the\n"
      "outbox). Missing: the rest. This dock does not see other docks' slots, so a camera in\n"
      "another dock of the site shows as missing here; `camfleet stock-check SITE` on the\n"
      "control plane sees every dock, and records the check.");

  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  // CLI11 reports bad command lines (and --help) by throwing; this is where that stops.
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (enroll->parsed()) return Enroll(*enroll_args, env);
  if (checkout->parsed()) return Checkout(*checkout_args, env);
  if (status->parsed()) return Status(*status_args, env);
  if (import_release->parsed()) return ImportRelease(*import_args, env);
  if (trust_key->parsed()) {
    trust_args->dir = firmware_args->dir;
    return TrustKey(*trust_args, env);
  }
  if (firmware_cmd->parsed()) return FirmwareStatus(*firmware_args, env);
  if (stock->parsed()) return CheckStock(*stock_args, env);
  return Run(*run_args, env);
}

}  // namespace camfleet::agent
