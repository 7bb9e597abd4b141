// camfleet-bench-enroll: camera enrollment through the real camfleetd (CSR in, certificate out,
// durable, over dock connections that stay open) beside the rate at which OpenSSL alone issues
// certificates from the same CSRs with the same fleet CA, measured in the same run; and the cost
// of mutual TLS on the foundation benchmark's lifecycle calls, against a plaintext server.
// See bench/README.md for what each figure means.

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/call_batch.h"
#include "bench/callers.h"
#include "bench/camera_csrs.h"
#include "bench/client_call.h"
#include "bench/closed_loop.h"
#include "bench/commit_ceiling.h"
#include "bench/enroll_callers.h"
#include "bench/fleet_fixture.h"
#include "bench/issue_ceiling.h"
#include "bench/process_stats.h"
#include "bench/report.h"
#include "bench/scratch_dir.h"
#include "bench/throughput_run.h"
#include "bench/tls_server.h"
#include "bench/writer_probe.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "provisioning/certificate_authority.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/page_token.h"
#include "services/rpc/revocation_set.h"
#include "services/server/server.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/identity_repository.h"

namespace camfleet::bench {
namespace {

using json = nlohmann::json;

constexpr char kSite[] = "BENCH-POST";
constexpr char kAdminName[] = "bench-admin";
constexpr char kQuartermaster[] = "bench-qm";
constexpr char kModel[] = "BWC-100";
// Thread names (the server names its threads; gRPC names its own).
constexpr char kStoreCompleter[] = "store-complete";
constexpr char kStoreSyncer[] = "store-syncer";
constexpr char kStoreCheckpointer[] = "store-ckpt";
constexpr char kSigner[] = "signer";

struct BenchOptions {
  double warmup_s = 1.0;
  double duration_s = 4.0;
  double ceiling_duration_s = 3.0;
  double commit_duration_s = 2.0;
  int cameras = 50000;
  int docks = 4;
  std::vector<int> enroll_callers = {1, 16};
  std::vector<int> clients = {1, 16, 64};
  int cameras_per_client = 4;
  int sign_threads = 0;  // 0: one per CPU
  int key_threads = 0;   // 0: one per CPU
  int import_chunk = 10000;
  bool direct = true;
  std::string db_dir;
  bool keep_db = false;
  std::string json_out;
};

// A server under test: its store's writer and probe, and the channels the clients use.
struct Target {
  std::string name;  // "mTLS" or "plaintext"
  server::Server* server = nullptr;
  pid_t writer_tid = 0;
  std::unique_ptr<WriterProbe> probe;
  std::string operator_name;  // the setup's caller in the operator header (plaintext only)
  std::shared_ptr<grpc::Channel> setup_channel;
  std::vector<std::shared_ptr<grpc::Channel>> channels;  // one per lifecycle client
  std::vector<std::unique_ptr<ClientCameras>> cameras;   // one per lifecycle client
};

// The OpenSSL-alone rate at one thread count, taken before and after the server's runs that
// it is the ceiling of, so a machine whose load changed in between shows it.
struct IssueCeiling {
  IssueRate before;
  IssueRate after;
  double certs_per_s() const { return (before.certs_per_s() + after.certs_per_s()) / 2; }
  double cpu_us_per_cert() const { return (before.cpu_us_per_cert() + after.cpu_us_per_cert()) / 2; }
};

std::vector<Caller*> First(const std::vector<std::unique_ptr<Caller>>& all, int n) {
  std::vector<Caller*> out;
  for (int i = 0; i < n && i < static_cast<int>(all.size()); ++i) {
    out.push_back(all[static_cast<size_t>(i)].get());
  }
  return out;
}

std::string Callers(int n) { return absl::StrCat(n, n == 1 ? " caller" : " callers"); }
std::string Threads(int n) { return absl::StrCat(n, n == 1 ? " thread" : " threads"); }

class Bench {
 public:
  explicit Bench(BenchOptions options) : options_(std::move(options)) {
    const int cpus = std::max<int>(1, static_cast<int>(std::thread::hardware_concurrency()));
    if (options_.sign_threads <= 0) options_.sign_threads = cpus;
    if (options_.key_threads <= 0) options_.key_threads = cpus;
  }

  absl::Status Run() {
    ASSIGN_OR_RETURN(scratch_, ScratchDir::Create(options_.db_dir, options_.keep_db));
    PrintHeader();

    std::cout << "\n== Ceiling: one-row durable SQLite commits (WAL, synchronous=FULL) ==\n"
              << std::flush;
    ASSIGN_OR_RETURN(commit_, MeasureCommitCeiling(scratch_->File("commit-ceiling.db"),
                                                   absl::Seconds(options_.commit_duration_s)));
    std::cout << absl::StrFormat("  %.0f commits/s, p50 %.2f ms, p99 %.2f ms\n",
                                 commit_.commits_per_s, commit_.latency.p50_ms,
                                 commit_.latency.p99_ms);

    RETURN_IF_ERROR(StartServers());
    RETURN_IF_ERROR(LoadFixture());
    RETURN_IF_ERROR(RunTlsCost());
    RETURN_IF_ERROR(RunEnrollment());

    BuildFigures();
    load_after_ = LoadAverages();
    std::cout << "\n== Summary ==\n";
    PrintFigures(std::cout, figures_);
    std::cout << "load average (1, 5, 15 min): " << load_before_ << " at start, " << load_after_
              << " at end, on " << std::thread::hardware_concurrency() << " CPUs\n";
    if (!options_.json_out.empty()) RETURN_IF_ERROR(WriteJson());
    for (Target* t : {&tls_, &plain_}) {
      if (t->probe != nullptr) RETURN_IF_ERROR(t->probe->Remove(t->server->store()));
    }
    direct_.reset();
    tls_server_->Shutdown(absl::Seconds(5));
    plain_server_->Shutdown(absl::Seconds(5));
    if (options_.keep_db) std::cout << "\nscratch directory kept: " << scratch_->path() << "\n";
    return absl::OkStatus();
  }

 private:
  int MaxClients() const { return options_.clients.back(); }
  int MaxEnrollCallers() const { return options_.enroll_callers.back(); }
  LoadOptions Load() const {
    return LoadOptions{absl::Seconds(options_.warmup_s), absl::Seconds(options_.duration_s)};
  }

  void PrintHeader() {
    load_before_ = LoadAverages();
    std::cout << "camfleet-bench-enroll: " << std::thread::hardware_concurrency()
              << " CPUs, SQLite " << sqlite3_libversion() << ", gRPC " << grpc::Version()
              << "\nscratch directory: " << scratch_->path()
              << "\nenrollment: " << options_.cameras << " cameras, " << options_.docks
              << " docks, callers " << absl::StrJoin(options_.enroll_callers, ", ")
              << " (one mTLS connection each); OpenSSL alone on 1 and up to "
              << Threads(options_.sign_threads)
              << "\nmTLS cost: lifecycle and empty calls at " << absl::StrJoin(options_.clients, ", ")
              << " clients, over mutual TLS and over plaintext\n"
              << "load average (1, 5, 15 min) at start: " << load_before_;
    if (LoadAverage() > 0.5 * std::thread::hardware_concurrency()) {
      std::cout << "  -- WARNING: the machine is busy; figures will be low and noisy";
    }
    std::cout << "\n" << std::flush;
  }

  // ------------------------------------------------------------------------------ servers

  absl::Status StartServers() {
    std::cout << "\n== Servers ==\n" << std::flush;
    int64_t t = MonotonicNanos();
    thread_labels_[getpid()] = "bench main";
    ASSIGN_OR_RETURN(tls_server_, TlsServer::Start(scratch_->File("home"), kAdminName));
    tls_.name = "mTLS";
    tls_.server = &tls_server_->server();
    ASSIGN_OR_RETURN(tls_.writer_tid, WriterThreadId(tls_.server->store()));
    tls_.setup_channel = tls_server_->AdminChannel();
    std::cout << absl::StrFormat(
                     "  mTLS:      %s, home %s (InitHome: CA, server certificate, admin; %.1f s)\n",
                     tls_.server->target(), tls_server_->home(), SecondsSince(t))
              << std::flush;

    server::ServerOptions so;
    so.db_path = scratch_->File("plaintext.db");
    so.listen = {"127.0.0.1:0"};
    so.insecure_dev = true;  // the plaintext --insecure-dev listener, loopback only
    so.dev_operator = "bench";
    ASSIGN_OR_RETURN(plain_server_, server::Server::Start(so));
    plain_.name = "plaintext";
    plain_.server = plain_server_.get();
    plain_.operator_name = "bench-setup";
    ASSIGN_OR_RETURN(plain_.writer_tid, WriterThreadId(plain_.server->store()));
    grpc::ChannelArguments args;
    args.SetInt("camfleet.bench.channel", -1);
    plain_.setup_channel =
        grpc::CreateCustomChannel(plain_.server->target(), grpc::InsecureChannelCredentials(), args);
    std::cout << "  plaintext: " << plain_.server->target() << " (--insecure-dev), database "
              << so.db_path << "\n  (process " << getpid() << "; store writer threads: mTLS "
              << tls_.writer_tid << ", plaintext " << plain_.writer_tid
              << ", for an outside profiler)\n"
              << std::flush;
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------------ fixture

  absl::Status LoadFixture() {
    std::cout << "\n== Fixture ==\n" << std::flush;
    int64_t t = MonotonicNanos();
    std::cout << "  the cameras make their keys and CSRs (not timed: that happens on the camera), "
              << Threads(options_.key_threads) << "\n"
              << std::flush;
    ASSIGN_OR_RETURN(csrs_, MakeCameraCsrs(options_.cameras, options_.key_threads));
    std::cout << absl::StrFormat("  %d keys and CSRs: %.1f s\n", options_.cameras,
                                 SecondsSince(t))
              << std::flush;
    for (Target* target : {&tls_, &plain_}) RETURN_IF_ERROR(LoadStore(*target));

    t = MonotonicNanos();
    ASSIGN_OR_RETURN(provisioning::CredentialBundle qm,
                     tls_server_->IssueOperator(kQuartermaster, provisioning::Role::kQuartermaster));
    for (int d = 1; d <= options_.docks; ++d) {
      const std::string dock_id = absl::StrFormat("bench-dock-%02d", d);
      ASSIGN_OR_RETURN(provisioning::CredentialBundle bundle,
                       tls_server_->EnrollDock(kSite, dock_id));
      docks_.emplace_back(dock_id, std::move(bundle));
    }
    std::cout << absl::StrFormat(
                     "  mTLS: quartermaster %s's certificate and %d docks enrolled through the API "
                     "(token + CSR): %.1f s\n",
                     kQuartermaster, options_.docks, SecondsSince(t))
              << std::flush;

    // Every client its own connection, opened now and kept for the whole run.
    t = MonotonicNanos();
    for (int i = 0; i < MaxClients(); ++i) {
      tls_.channels.push_back(tls_server_->Channel(qm, i));
      grpc::ChannelArguments args;
      args.SetInt("camfleet.bench.channel", i);
      plain_.channels.push_back(grpc::CreateCustomChannel(
          plain_.server->target(), grpc::InsecureChannelCredentials(), args));
    }
    for (int i = 0; i < MaxEnrollCallers(); ++i) {
      const auto& [dock_id, bundle] = docks_[static_cast<size_t>(i) % docks_.size()];
      dock_channels_.push_back(tls_server_->Channel(bundle, 1000 + i));
    }
    for (Target* target : {&tls_, &plain_}) {
      for (size_t i = 0; i < target->channels.size(); ++i) {
        RETURN_IF_ERROR(WaitConnected(target->channels[i],
                                      absl::StrCat(target->name, " channel ", i)));
      }
    }
    for (size_t i = 0; i < dock_channels_.size(); ++i) {
      RETURN_IF_ERROR(WaitConnected(dock_channels_[i], absl::StrCat("dock channel ", i)));
    }
    std::cout << absl::StrFormat(
                     "  connections: %d quartermaster (mTLS), %d plaintext, %d dock (mTLS, dock "
                     "i %% %d): %.1f s\n",
                     MaxClients(), MaxClients(), MaxEnrollCallers(), options_.docks,
                     SecondsSince(t))
              << std::flush;

    for (Target* target : {&tls_, &plain_}) {
      target->probe = std::make_unique<WriterProbe>();
      RETURN_IF_ERROR(target->probe->Install(target->server->store(), {}));
    }
    return absl::OkStatus();
  }

  // The same fleet in both stores, through the API: a site, the lifecycle clients' holders and
  // commissioned cameras, and the enrollment cameras, REGISTERED (the plaintext store gets them
  // too, so both stores are the same size while the lifecycle calls are compared).
  absl::Status LoadStore(Target& target) {
    const int64_t t = MonotonicNanos();
    auto stub = v1::FleetService::NewStub(target.setup_channel);
    {
      v1::CreateSiteRequest req;
      req.set_code(kSite);
      req.set_name("Benchmark post");
      v1::CreateSiteResponse resp;
      RETURN_IF_ERROR(common::Annotate(
          FromGrpc(stub->CreateSite(NewContext(target.operator_name, kSetupDeadline).get(), req,
                                    &resp)),
          absl::StrCat(target.name, ": creating site ", kSite)));
    }
    std::string lifecycle_csv = "serial,model,hardware_revision,site\n";
    CallBatch batch(256);
    for (int c = 0; c < MaxClients(); ++c) {
      auto cams = std::make_unique<ClientCameras>();
      cams->operator_name = absl::StrFormat("bench-client-%02d", c);
      cams->holder = absl::StrFormat("BENCH-%02d", c);
      v1::CreateHolderRequest h;
      h.set_badge(cams->holder);
      h.set_name(absl::StrFormat("Bench holder %d", c));
      h.set_home_site_code(kSite);
      batch.Add<v1::CreateHolderRequest, v1::CreateHolderResponse>(
          target.operator_name, std::move(h), [&stub](auto* ctx, auto* req, auto* resp, auto cb) {
            stub->async()->CreateHolder(ctx, req, resp, std::move(cb));
          });
      for (int k = 0; k < options_.cameras_per_client; ++k) {
        cams->serials.push_back(absl::StrFormat("LC-%02d-%02d", c, k));
        absl::StrAppend(&lifecycle_csv, cams->serials.back(), ",", kModel, ",A,", kSite, "\n");
      }
      target.cameras.push_back(std::move(cams));
    }
    RETURN_IF_ERROR(batch.Wait(absl::StrCat(target.name, ": creating holders")));
    RETURN_IF_ERROR(Import(target, *stub, std::move(lifecycle_csv), "lifecycle cameras"));
    for (const auto& cams : target.cameras) {
      for (const std::string& serial : cams->serials) {
        v1::CommissionCameraRequest req;
        req.set_serial(serial);
        req.set_reason("benchmark unit");
        batch.Add<v1::CommissionCameraRequest, v1::CommissionCameraResponse>(
            target.operator_name, std::move(req),
            [&stub](auto* ctx, auto* r, auto* resp, auto cb) {
              stub->async()->CommissionCamera(ctx, r, resp, std::move(cb));
            });
      }
    }
    RETURN_IF_ERROR(batch.Wait(absl::StrCat(target.name, ": commissioning")));
    std::cout << absl::StrFormat(
                     "  %s: site %s, %d holders, %d lifecycle cameras commissioned: %.1f s\n",
                     target.name, kSite, MaxClients(), MaxClients() * options_.cameras_per_client,
                     SecondsSince(t))
              << std::flush;

    const int64_t t2 = MonotonicNanos();
    for (size_t first = 0; first < csrs_.size();
         first += static_cast<size_t>(options_.import_chunk)) {
      const size_t last = std::min(csrs_.size(), first + static_cast<size_t>(options_.import_chunk));
      std::string csv = "serial,model,hardware_revision,site\n";
      for (size_t i = first; i < last; ++i) {
        absl::StrAppend(&csv, csrs_[i].serial, ",", kModel, ",A,", kSite, "\n");
      }
      RETURN_IF_ERROR(Import(target, *stub, std::move(csv), "enrollment cameras"));
      std::cout << absl::StrFormat("    %s: %zu / %zu cameras imported (%.1f s)\n", target.name,
                                   last, csrs_.size(), SecondsSince(t2))
                << std::flush;
    }
    std::cout << absl::StrFormat(
                     "  %s: %zu enrollment cameras registered with ImportManifest in chunks of "
                     "%d: %.1f s\n",
                     target.name, csrs_.size(), options_.import_chunk, SecondsSince(t2))
              << std::flush;
    return absl::OkStatus();
  }

  absl::Status Import(Target& target, v1::FleetService::Stub& stub, std::string csv,
                      const std::string& what) {
    v1::ImportManifestRequest req;
    req.set_csv(std::move(csv));
    v1::ImportManifestResponse resp;
    RETURN_IF_ERROR(common::Annotate(
        FromGrpc(stub.ImportManifest(NewContext(target.operator_name, kBulkDeadline).get(), req,
                                     &resp)),
        absl::StrCat(target.name, ": importing ", what)));
    if (resp.errors_size() > 0 || resp.imported() != resp.rows()) {
      return absl::InternalError(absl::StrCat(
          target.name, ": importing ", what, " imported ", resp.imported(), " of ", resp.rows(),
          resp.errors_size() > 0 ? absl::StrCat(", first error: ", resp.errors(0).message())
                                 : ""));
    }
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------------ runs

  void Record(const std::string& kind, const std::vector<Caller*>& callers, Target& target) {
    runs_.push_back(RunLoad(kind, callers, Load(), target.server->store(), target.writer_tid,
                            *target.probe, thread_labels_));
    const ThroughputRun& r = runs_.back();
    std::cout << absl::StrFormat(
                     "  %-15s %2d: %7.0f calls/s  p50 %6.2f ms  p99 %6.2f ms  cpu %4.0f us/call",
                     r.kind, r.clients, r.load.calls_per_s(), r.load.latency.p50_ms,
                     r.load.latency.p99_ms, r.cpu_us_per_call())
              << (r.load.errors > 0 ? absl::StrCat("  ", r.load.errors, " ERRORS") : "") << "\n"
              << std::flush;
  }

  // The foundation's lifecycle and empty calls, over mutual TLS and over plaintext, each
  // client count interleaved so a change in the machine's load hits both sides alike.
  absl::Status RunTlsCost() {
    std::cout << "\n== The cost of mutual TLS: " << options_.warmup_s << " s warm-up + "
              << options_.duration_s << " s measured per run ==\n"
              << std::flush;
    std::vector<std::unique_ptr<Caller>> health_tls, health_plain, life_tls, life_plain;
    for (int i = 0; i < MaxClients(); ++i) {
      const size_t k = static_cast<size_t>(i);
      health_tls.push_back(std::make_unique<HealthCaller>(tls_.channels[k]));
      health_plain.push_back(std::make_unique<HealthCaller>(plain_.channels[k]));
      life_tls.push_back(std::make_unique<GrpcLifecycleCaller>(tls_.channels[k], *tls_.cameras[k]));
      life_plain.push_back(
          std::make_unique<GrpcLifecycleCaller>(plain_.channels[k], *plain_.cameras[k]));
    }
    for (int n : options_.clients) {
      Record("empty-tls", First(health_tls, n), tls_);
      Record("empty-plain", First(health_plain, n), plain_);
      Record("lifecycle-tls", First(life_tls, n), tls_);
      Record("lifecycle-plain", First(life_plain, n), plain_);
    }
    for (const char* kind : {"empty-tls", "empty-plain", "lifecycle-tls", "lifecycle-plain"}) {
      std::cout << "\n-- " << kind << " --\n";
      PrintRuns(runs_, kind);
    }
    std::cout << "\nwhere the store's writer spent the window, lifecycle over mTLS:\n";
    PrintWriterBreakdown(runs_, "lifecycle-tls");
    std::cout << "lifecycle over plaintext:\n";
    PrintWriterBreakdown(runs_, "lifecycle-plain");
    return absl::OkStatus();
  }

  absl::StatusOr<IssueRate> MeasureIssue(int threads, const char* when) {
    ASSIGN_OR_RETURN(IssueRate r, MeasureIssueRate(*ca_, csrs_, threads,
                                                   absl::Seconds(std::min(options_.warmup_s, 0.5)),
                                                   absl::Seconds(options_.ceiling_duration_s)));
    std::cout << absl::StrFormat(
        "  OpenSSL alone, %-10s %s: %7.0f certs/s  p50 %6.3f ms  p99 %6.3f ms  cpu %4.0f us/cert "
        "(process cpu %.2f)\n",
        Threads(threads), when, r.certs_per_s(), r.latency.p50_ms, r.latency.p99_ms,
        r.cpu_us_per_cert(), r.process_cpu);
    std::cout << std::flush;
    return r;
  }

  absl::Status RunEnrollment() {
    std::cout << "\n== Enrollment: EnrollCamera over dock connections (mTLS), beside OpenSSL "
                 "alone on the same CSRs and CA ==\n"
              << std::flush;
    ASSIGN_OR_RETURN(provisioning::CertificateAuthority ca, tls_server_->LoadCa());
    ca_ = std::make_unique<provisioning::CertificateAuthority>(std::move(ca));
    ASSIGN_OR_RETURN(steps_, MeasureIssueSteps(*ca_, csrs_, 2000));
    std::cout << absl::StrFormat(
        "  OpenSSL alone, one certificate, steps apart (CPU time, 1 thread, %d certs): decode %.1f us, "
        "verify %.1f us, issue %.1f us (= verify again + build + sign + encode + read back: "
        "%.1f us beyond verify)\n",
        steps_.count, steps_.decode_us, steps_.verify_us, steps_.issue_us,
        steps_.issue_us - steps_.verify_us);

    RETURN_IF_ERROR(MeasurePrecheck());
    MeasureIdle();

    // The diagnostic caller: the same calls straight into an IdentityManager over the same
    // store and CA, signing on as many executor threads as OpenSSL alone gets.
    tokens_ = std::make_unique<rpc::PageTokens>("bench: direct enrollment, never lists");
    direct_ = std::make_unique<identity::IdentityManager>(tls_.server->store(), *ca_, revoked_,
                                                          *tokens_);
    for (int i = 0; i < options_.sign_threads; ++i) {
      executors_.push_back(std::make_unique<SerialExecutor>());
    }
    pool_ = std::make_unique<CameraPool>(csrs_);
    std::vector<std::unique_ptr<Caller>> enroll, direct, health;
    for (int i = 0; i < MaxEnrollCallers(); ++i) {
      const size_t k = static_cast<size_t>(i);
      enroll.push_back(std::make_unique<GrpcEnrollCaller>(dock_channels_[k], *pool_, exhausted_));
      health.push_back(std::make_unique<HealthCaller>(dock_channels_[k]));
      rpc::Identity dock;
      dock.name = docks_[k % docks_.size()].first;
      dock.role = provisioning::Role::kDock;
      dock.authenticated = true;
      direct.push_back(std::make_unique<DirectEnrollCaller>(
          *direct_, std::move(dock), *executors_[k % executors_.size()], *pool_));
    }
    std::deque<std::vector<std::unique_ptr<Caller>>> refused_callers;
    for (int n : options_.enroll_callers) {
      // One call in flight signs on one thread at a time; more can use every CPU.
      const int threads = std::min(n, options_.sign_threads);
      std::cout << "\n  -- " << Callers(n) << " --\n" << std::flush;
      IssueCeiling ceiling;
      ASSIGN_OR_RETURN(ceiling.before, MeasureIssue(threads, "before"));
      Record("empty-dock", First(health, n), tls_);
      precheck_under_load_[n] =
          SamplePrecheckDuring([&] { Record("enroll", First(enroll, n), tls_); });
      if (options_.direct) Record("enroll-direct", First(direct, n), tls_);
      // Kept until the end: a run that did not drain may still complete into its callers.
      std::vector<std::unique_ptr<Caller>>& refused = refused_callers.emplace_back();
      const size_t enrolled = pool_->taken();
      for (int i = 0; i < n; ++i) {
        refused.push_back(std::make_unique<RefusedEnrollCaller>(
            dock_channels_[static_cast<size_t>(i)], csrs_, enrolled,
            static_cast<size_t>(i) * enrolled / static_cast<size_t>(n)));
      }
      Record("enroll-refused", First(refused, n), tls_);
      ASSIGN_OR_RETURN(ceiling.after, MeasureIssue(threads, "after "));
      const double drift = ceiling.after.certs_per_s() / std::max(ceiling.before.certs_per_s(), 1.0);
      if (drift < 0.8 || drift > 1.25) {
        std::cout << absl::StrFormat(
            "  WARNING: OpenSSL alone moved %.0f%% between before and after: the machine's load "
            "changed during these runs\n",
            100 * (drift - 1));
      }
      ceilings_[n] = ceiling;
      std::cout << absl::StrFormat("  cameras enrolled so far: %zu of %zu\n", pool_->taken(),
                                   pool_->size())
                << std::flush;
    }
    if (pool_->left() == 0) {
      std::cout << "  WARNING: every camera was enrolled; runs that ran out show errors. Give a "
                   "bigger --cameras.\n";
    }
    PrintEnrollment();
    return absl::OkStatus();
  }

  // The reads EnrollCamera makes before it signs (IdentityManager's LoadCameraContext: the
  // dock, the camera, its certificate), timed alone on one thread through the server's store, on
  // cameras not enrolled yet, as the runs see them.
  absl::Status MeasurePrecheck() {
    const int count = std::min<int>(2000, static_cast<int>(csrs_.size()));
    const std::string& dock_id = docks_.front().first;
    std::vector<int64_t> nanos;
    int64_t cpu = 0;
    for (int i = 0; i < count; ++i) {
      const std::string& serial = csrs_[csrs_.size() - 1 - static_cast<size_t>(i)].serial;
      const int64_t t0 = MonotonicNanos();
      const int64_t c0 = ThreadCpuNanos();
      RETURN_IF_ERROR(PrecheckRead(dock_id, serial));
      cpu += ThreadCpuNanos() - c0;
      nanos.push_back(MonotonicNanos() - t0);
    }
    precheck_ = Summarize(std::move(nanos));
    precheck_cpu_us_ = count > 0 ? static_cast<double>(cpu) / 1e3 / count : 0;
    std::cout << absl::StrFormat(
        "  EnrollCamera's reads before signing (dock, camera, its certificate), alone on 1 "
        "thread: %.1f us of CPU; wall p50 %.3f ms, p99 %.3f ms\n",
        precheck_cpu_us_, precheck_.p50_ms, precheck_.p99_ms);
    return absl::OkStatus();
  }

  absl::Status PrecheckRead(const std::string& dock_id, const std::string& serial) {
    return tls_.server->store().Read([&](common::Database& db) -> absl::Status {
      ASSIGN_OR_RETURN(storage::DockRow dock, storage::FindDock(db, dock_id));
      ASSIGN_OR_RETURN(storage::CameraRow camera, storage::FindCamera(db, serial));
      ASSIGN_OR_RETURN(std::optional<storage::CertificateRow> cert,
                       storage::FindCameraCertificate(db, camera.id));
      if (cert.has_value() || dock.site_id != camera.site_id) {
        return absl::InternalError(absl::StrCat("camera ", serial, " is not ready to enroll"));
      }
      return absl::OkStatus();
    });
  }

  // Runs `run` while another thread makes the precheck's reads every 2 ms: how long a
  // handler's precheck takes - and holds its thread - under that run's write load (the store's
  // Read may wait for the WAL to be made durable before it returns).
  struct PrecheckUnderLoad {
    LatencySummary wall;
    double cpu_us = 0;
  };
  PrecheckUnderLoad SamplePrecheckDuring(absl::AnyInvocable<void()> run) {
    std::atomic<bool> stop{false};
    std::vector<int64_t> wall;
    int64_t cpu = 0;
    absl::Status error;
    std::thread sampler([&] {
      const std::string& dock_id = docks_.front().first;
      for (size_t i = 0; !stop.load(); ++i) {
        // Cameras from the pool's far end: the runs do not reach them.
        const std::string& serial = csrs_[csrs_.size() - 1 - i % 100].serial;
        const int64_t t0 = MonotonicNanos();
        const int64_t c0 = ThreadCpuNanos();
        absl::Status s = PrecheckRead(dock_id, serial);
        cpu += ThreadCpuNanos() - c0;
        wall.push_back(MonotonicNanos() - t0);
        if (!s.ok() && error.ok()) error = s;
        // A sampling period, not a synchronisation.
        absl::SleepFor(absl::Milliseconds(2));
      }
    });
    run();
    stop.store(true);
    sampler.join();
    PrecheckUnderLoad out;
    if (!wall.empty()) out.cpu_us = static_cast<double>(cpu) / 1e3 / static_cast<double>(wall.size());
    out.wall = Summarize(std::move(wall));
    std::cout << absl::StrFormat(
                     "    the precheck's reads during that run (sampled every 2 ms): wall p50 "
                     "%.2f ms, p99 %.2f ms, mean %.2f ms; %.0f us of CPU%s\n",
                     out.wall.p50_ms, out.wall.p99_ms, out.wall.mean_ms, out.cpu_us,
                     error.ok() ? "" : absl::StrCat(" (", error.ToString(), ")"))
              << std::flush;
    return out;
  }

  // What the process burns doing nothing (two idle servers' gRPC threads): subtracted from the
  // CPU per call in the breakdown.
  void MeasureIdle() {
    const int64_t cpu0 = ProcessCpuNanos();
    const int64_t wall0 = MonotonicNanos();
    // A span of wall time to measure over, not a synchronisation.
    absl::SleepFor(absl::Seconds(1));
    idle_cpu_ = static_cast<double>(ProcessCpuNanos() - cpu0) /
                static_cast<double>(MonotonicNanos() - wall0);
    std::cout << absl::StrFormat("  idle process cpu (both servers, nothing running): %.3f\n",
                                 idle_cpu_)
              << std::flush;
  }

  // CPU per call of `r` beyond what the idle process burns, microseconds.
  double NetCpuUs(const ThroughputRun& r) const {
    return r.load.calls > 0 ? (r.process_cpu - idle_cpu_) * r.load.window_s * 1e6 /
                                  static_cast<double>(r.load.calls)
                            : 0;
  }

  void PrintEnrollment() {
    std::cout << "\n-- enrollment over gRPC + mTLS: EnrollCamera, durable --\n";
    PrintRuns(runs_, "enroll");
    if (options_.direct) {
      std::cout << "\n-- diagnostic: the same calls straight into IdentityManager (no gRPC, no "
                   "TLS) --\n";
      PrintRuns(runs_, "enroll-direct");
    }
    std::cout << "\n-- diagnostic: EnrollCamera for cameras enrolled already (refused after the "
                 "reads, before signing, no write) --\n";
    PrintRuns(runs_, "enroll-refused");
    std::cout << "\n-- empty call over the same dock connections (mTLS) --\n";
    PrintRuns(runs_, "empty-dock");
    std::cout << "\n-- where the store's writer spent the window: enrollment over gRPC --\n";
    PrintWriterBreakdown(runs_, "enroll");
    if (options_.direct) {
      std::cout << "direct into IdentityManager:\n";
      PrintWriterBreakdown(runs_, "enroll-direct");
    }
    if (const ThroughputRun* r = FindRun(runs_, "enroll", MaxEnrollCallers()); r != nullptr) {
      std::cout << "\nthe writer's statements, enrollment over gRPC with " << Callers(r->clients)
                << " (COMMIT is the writer's COMMIT statement: the WAL write, plus the fsync and "
                   "any checkpoint if the store runs them inside it):\n";
      PrintStatementCosts(*r, 12);
    }

    for (int n : options_.enroll_callers) {
      std::cout << "\n-- time on a CPU per call by thread, " << Callers(n)
                << ", microseconds (gRPC's threads serve both ends) --\n";
      PrintThreadCpu(runs_, {"enroll", "enroll-direct", "enroll-refused", "empty-dock"}, n);
    }

    // Where one enrollment's time goes, from the CPU each path costs in the same run.
    std::cout << "\n-- where an enrollment's time goes: CPU per call of this whole process (client "
                 "side included), net of the idle process; microseconds --\n";
    std::vector<std::vector<std::string>> rows = {
        {"callers", "enroll/s", "OpenSSL alone/s", "cpu/enroll", "OpenSSL alone cpu/cert",
         "signer threads", "store writer", "store completer", "store syncer", "store ckpt",
         "gRPC+TLS+rest", "refused call", "empty call", "direct cpu/call", "process cpu",
         "OpenSSL alone cpu"}};
    for (int n : options_.enroll_callers) {
      const ThroughputRun* e = FindRun(runs_, "enroll", n);
      const ThroughputRun* d = FindRun(runs_, "enroll-direct", n);
      const ThroughputRun* h = FindRun(runs_, "empty-dock", n);
      const ThroughputRun* f = FindRun(runs_, "enroll-refused", n);
      const IssueCeiling& c = ceilings_[n];
      const double total = NetCpuUs(*e);
      const double signer_us = ThreadUsPerCall(*e, kSigner);
      const double writer_us = ThreadUsPerCall(*e, "store writer");
      const double completer_us = ThreadUsPerCall(*e, kStoreCompleter);
      const double syncer_us = ThreadUsPerCall(*e, kStoreSyncer);
      const double ckpt_us = ThreadUsPerCall(*e, kStoreCheckpointer);
      rows.push_back({absl::StrCat(n), Rate(e->load.calls_per_s()), Rate(c.certs_per_s()),
                      absl::StrFormat("%.0f", total), absl::StrFormat("%.0f", c.cpu_us_per_cert()),
                      absl::StrFormat("%.0f", signer_us), absl::StrFormat("%.0f", writer_us),
                      absl::StrFormat("%.0f", completer_us), absl::StrFormat("%.0f", syncer_us),
                      absl::StrFormat("%.0f", ckpt_us),
                      absl::StrFormat("%.0f", total - signer_us - writer_us - completer_us -
                                                  syncer_us - ckpt_us),
                      absl::StrFormat("%.0f", NetCpuUs(*f)), absl::StrFormat("%.0f", NetCpuUs(*h)),
                      d != nullptr ? absl::StrFormat("%.0f", NetCpuUs(*d)) : "-",
                      absl::StrFormat("%.2f", e->process_cpu),
                      absl::StrFormat("%.2f", (c.before.process_cpu + c.after.process_cpu) / 2)});
    }
    PrintTable(std::cout, rows);
    std::cout
        << "OpenSSL alone cpu/cert: the ceiling's CPU per certificate (decode, verify, build, "
           "sign). signer threads: camfleetd's signing pool, where an enrollment's checks, "
           "precheck reads (timed alone above), CSR decoding and checking and signing run and "
           "its write is queued. store writer: the write transaction and its COMMIT. store "
           "completer: runs write completions, which answer the calls (gRPC serializes and "
           "encrypts the answer there). store syncer: the WAL's fdatasync. store ckpt: "
           "checkpoints. gRPC+TLS+rest: everything else - gRPC's threads at both ends (TLS, "
           "authentication, validation, the handler), the benchmark's own callers. refused "
           "call: EnrollCamera for an enrolled camera, refused after the reads (no signing, no "
           "write). direct: the same calls into IdentityManager without gRPC or TLS. process "
           "cpu: CPU-seconds per second the run got; OpenSSL alone cpu: what the ceiling's "
           "threads got in the same minutes (the machine's spare CPU): a run whose process cpu "
           "reaches it is CPU-bound, and its ratio to OpenSSL alone is then OpenSSL alone "
           "cpu/cert / cpu/enroll.\n";
  }

  static double ThreadUsPerCall(const ThroughputRun& r, const std::string& name) {
    auto it = r.thread_cpu.find(name);
    if (it == r.thread_cpu.end() || r.load.calls == 0) return 0;
    return static_cast<double>(it->second) / 1e3 / static_cast<double>(r.load.calls);
  }

  // ------------------------------------------------------------------------------ figures

  void BuildFigures() {
    const Goal half{Goal::On::kRatio, Goal::Bound::kAtLeast, 0.5};
    for (int n : options_.enroll_callers) {
      const IssueCeiling& c = ceilings_[n];
      figures_.push_back({absl::StrFormat("OpenSSL alone, %s", Threads(c.before.threads)),
                          c.certs_per_s(), "certs/s", 0, std::nullopt, "", std::nullopt});
    }
    figures_.push_back({"1-row durable commits", commit_.commits_per_s, "commits/s", 0,
                        std::nullopt, "", std::nullopt});
    for (int n : options_.enroll_callers) {
      const IssueCeiling& c = ceilings_[n];
      const ThroughputRun* e = FindRun(runs_, "enroll", n);
      const ThroughputRun* h = FindRun(runs_, "empty-dock", n);
      const std::string ceiling_name = absl::StrFormat("OpenSSL alone, %d thr", c.before.threads);
      // The goal is the server's rate: many docks enrolling at once. One caller waits for each
      // answer before sending the next, so its rate is one enrollment's latency (signature,
      // durable commit and round trip in series) and is shown without the goal.
      figures_.push_back(
          {absl::StrFormat("enrollments/s, %s%s", Callers(n), n == 1 ? " (latency-bound)" : ""),
           e->load.calls_per_s(), "calls/s", 0, c.certs_per_s(), ceiling_name,
           n > 1 ? std::optional<Goal>(half) : std::nullopt});
      if (n == 1) {
        // One call in flight pays a whole durable commit per enrollment.
        figures_.push_back({"enrollments/s, 1 caller (latency-bound)", e->load.calls_per_s(),
                            "calls/s", 0, commit_.commits_per_s, "1-row commits", std::nullopt});
      }
      figures_.push_back({absl::StrFormat("enrollment p50, %s", Callers(n)),
                          e->load.latency.p50_ms, "ms", 2, h->load.latency.p50_ms,
                          absl::StrFormat("empty mTLS p50, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("enrollment p99, %s", Callers(n)),
                          e->load.latency.p99_ms, "ms", 2, h->load.latency.p99_ms,
                          absl::StrFormat("empty mTLS p99, %d cl", n), std::nullopt});
      if (const ThroughputRun* d = FindRun(runs_, "enroll-direct", n); d != nullptr) {
        figures_.push_back({absl::StrFormat("enrollments/s no gRPC (diag.), %s", Callers(n)),
                            d->load.calls_per_s(), "calls/s", 0, c.certs_per_s(), ceiling_name,
                            std::nullopt});
      }
    }
    for (int n : options_.clients) {
      const ThroughputRun* et = FindRun(runs_, "empty-tls", n);
      const ThroughputRun* ep = FindRun(runs_, "empty-plain", n);
      const ThroughputRun* lt = FindRun(runs_, "lifecycle-tls", n);
      const ThroughputRun* lp = FindRun(runs_, "lifecycle-plain", n);
      figures_.push_back({absl::StrFormat("empty call over mTLS, %s", Clients(n)),
                          et->load.calls_per_s(), "calls/s", 0, ep->load.calls_per_s(),
                          absl::StrFormat("plaintext, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle over mTLS, %s", Clients(n)),
                          lt->load.calls_per_s(), "calls/s", 0, lp->load.calls_per_s(),
                          absl::StrFormat("plaintext, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle over mTLS, %s", Clients(n)),
                          lt->load.calls_per_s(), "calls/s", 0, et->load.calls_per_s(),
                          absl::StrFormat("empty mTLS, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle p50 over mTLS, %s", Clients(n)),
                          lt->load.latency.p50_ms, "ms", 2, lp->load.latency.p50_ms,
                          absl::StrFormat("plaintext p50, %d cl", n), std::nullopt});
      figures_.push_back({absl::StrFormat("lifecycle p99 over mTLS, %s", Clients(n)),
                          lt->load.latency.p99_ms, "ms", 2, lp->load.latency.p99_ms,
                          absl::StrFormat("plaintext p99, %d cl", n), std::nullopt});
    }
  }

  absl::Status WriteJson() {
    json out;
    out["config"] = {{"warmup_s", options_.warmup_s},
                     {"duration_s", options_.duration_s},
                     {"ceiling_duration_s", options_.ceiling_duration_s},
                     {"commit_duration_s", options_.commit_duration_s},
                     {"cameras", options_.cameras},
                     {"docks", options_.docks},
                     {"enroll_callers", options_.enroll_callers},
                     {"clients", options_.clients},
                     {"cameras_per_client", options_.cameras_per_client},
                     {"sign_threads", options_.sign_threads},
                     {"key_threads", options_.key_threads},
                     {"import_chunk", options_.import_chunk},
                     {"direct", options_.direct}};
    out["machine"] = {{"cpus", std::thread::hardware_concurrency()},
                      {"load_average_start", load_before_},
                      {"load_average_end", load_after_},
                      {"sqlite", sqlite3_libversion()},
                      {"grpc", grpc::Version()}};
    out["commit_ceiling"] = {{"commits_per_s", commit_.commits_per_s},
                             {"latency", LatencyJson(commit_.latency)}};
    out["issue_steps"] = steps_.ToJson();
    out["precheck_read"] = {{"cpu_us", precheck_cpu_us_}, {"wall", LatencyJson(precheck_)}};
    out["precheck_read_during_enrollment"] = json::array();
    for (const auto& [n, p] : precheck_under_load_) {
      out["precheck_read_during_enrollment"].push_back(
          {{"callers", n}, {"cpu_us", p.cpu_us}, {"wall", LatencyJson(p.wall)}});
    }
    out["idle_process_cpu"] = idle_cpu_;
    out["issue_ceilings"] = json::array();
    for (const auto& [n, c] : ceilings_) {
      out["issue_ceilings"].push_back({{"callers", n},
                                       {"certs_per_s", c.certs_per_s()},
                                       {"before", c.before.ToJson()},
                                       {"after", c.after.ToJson()}});
    }
    out["cameras_enrolled"] = pool_ != nullptr ? pool_->taken() : 0;
    out["runs"] = json::array();
    for (const ThroughputRun& r : runs_) out["runs"].push_back(r.ToJson());
    out["figures"] = FiguresJson(figures_);
    std::ofstream file(options_.json_out);
    file << out.dump(2) << "\n";
    file.close();
    if (!file) {
      return absl::UnavailableError(absl::StrCat("could not write --json-out ", options_.json_out));
    }
    std::cout << "\nJSON written to " << options_.json_out << "\n";
    return absl::OkStatus();
  }

  BenchOptions options_;
  std::unique_ptr<ScratchDir> scratch_;
  std::string load_before_;
  std::string load_after_;
  CommitCeiling commit_;
  std::unique_ptr<TlsServer> tls_server_;
  std::unique_ptr<server::Server> plain_server_;
  Target tls_;
  Target plain_;
  std::vector<CameraCsr> csrs_;
  std::vector<std::pair<std::string, provisioning::CredentialBundle>> docks_;
  std::vector<std::shared_ptr<grpc::Channel>> dock_channels_;
  std::unique_ptr<provisioning::CertificateAuthority> ca_;
  IssueSteps steps_;
  LatencySummary precheck_;
  double precheck_cpu_us_ = 0;
  std::map<int, PrecheckUnderLoad> precheck_under_load_;
  double idle_cpu_ = 0;
  std::map<int, IssueCeiling> ceilings_;
  rpc::RevocationSet revoked_;
  std::unique_ptr<rpc::PageTokens> tokens_;
  std::unique_ptr<identity::IdentityManager> direct_;
  std::vector<std::unique_ptr<SerialExecutor>> executors_;
  SerialExecutor exhausted_;
  std::unique_ptr<CameraPool> pool_;
  std::vector<ThroughputRun> runs_;
  std::vector<Figure> figures_;
  std::map<pid_t, std::string> thread_labels_;
};

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::server::PrepareServingProcess();
  camfleet::bench::BenchOptions o;
  CLI::App app{
      "camfleet-bench-enroll: camera enrollment through the real camfleetd over mutual TLS "
      "beside OpenSSL alone on the same CSRs and CA, and the cost of mutual TLS on the lifecycle "
      "calls, each measured in the same run"};
  app.add_option("--warmup", o.warmup_s, "Seconds of warm-up before each throughput window")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds measured per throughput run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--ceiling-duration", o.ceiling_duration_s,
                 "Seconds of each OpenSSL-alone measurement (taken before and after the runs it "
                 "is the ceiling of)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--commit-duration", o.commit_duration_s,
                 "Seconds of one-row commits for the durable-commit ceiling")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cameras", o.cameras,
                 "Cameras registered for enrollment; each enrolls once, so the pool must outlast "
                 "every enrollment run (warm-up included)")
      ->check(CLI::Range(1, 2000000))
      ->capture_default_str();
  app.add_option("--docks", o.docks, "Docks enrolled; enrollment caller i is dock i % docks")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--enroll-callers", o.enroll_callers,
                 "Concurrent EnrollCamera callers for each enrollment run")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--clients", o.clients,
                 "Concurrent clients for the lifecycle and empty calls over mTLS and plaintext")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--cameras-per-client", o.cameras_per_client,
                 "Cameras each lifecycle client issues and returns in turn")
      ->check(CLI::Range(1, 99))
      ->capture_default_str();
  app.add_option("--sign-threads", o.sign_threads,
                 "Most threads for OpenSSL alone (and the direct run's signing); 0 = one per CPU")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--key-threads", o.key_threads,
                 "Threads making the cameras' keys and CSRs before timing; 0 = one per CPU")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--import-chunk", o.import_chunk, "Rows per ImportManifest call")
      ->check(CLI::Range(1, 50000))
      ->capture_default_str();
  app.add_flag("!--no-direct", o.direct,
               "Skip the diagnostic enrollment runs straight into IdentityManager");
  app.add_option("--db-dir", o.db_dir,
                 "Directory for the scratch home and databases (default $TMPDIR or /tmp)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--keep-db", o.keep_db, "Keep the scratch directory afterwards");
  app.add_option("--json-out", o.json_out, "Also write every figure as JSON to this file");
  CLI11_PARSE(app, argc, argv);

  for (std::vector<int>* v : {&o.clients, &o.enroll_callers}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  camfleet::bench::Bench bench(o);
  if (absl::Status s = bench.Run(); !s.ok()) {
    std::cerr << "camfleet-bench-enroll: " << s << "\n";
    return 1;
  }
  return 0;
}
