// camfleet-bench-preauth-flood: docks renewing while certificate-less callers flood camfleetd
// (issue 11, item 6). Docks enroll, the server's clock moves into their renewal window, then at
// once: --bad-enrollments EnrollDock calls with bad tokens (and a well-formed CSR, so each
// reaches the token check), --garbage requests of --garbage-mib MiB of random bytes to
// EnrollDock, and every dock's RenewDockCertificate. Prints how long the renewals took (all,
// median, slowest) beside a run without the flood, how many succeeded, how the flood was
// answered (by status code) and how fast, and the process's peak memory.
// Run with a release build: `camfleet-bench-preauth-flood --docks 50 --bad-enrollments 10000`.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/process_stats.h"
#include "bench/scratch_dir.h"
#include "camfleet/v1/fleet.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "common/clock.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/digest.h"
#include "provisioning/key.h"
#include "services/server/home.h"
#include "services/server/server.h"

namespace camfleet::bench {
namespace {

constexpr char kAdmin[] = "bench-admin";
constexpr char kEnrollDock[] = "/camfleet.v1.DockService/EnrollDock";

struct Options {
  int docks = 50;
  int bad_enrollments = 10'000;
  int garbage = 16;
  int garbage_mib = 16;
  int flood_connections = 8;
};

struct KeyCsr {
  std::string key_pem;
  std::string csr_pem;
};

KeyCsr MakeKeyCsr(const std::string& cn) {
  provisioning::PrivateKey key = *provisioning::PrivateKey::GenerateEcP256();
  provisioning::CertificateRequest csr = *provisioning::CertificateRequest::Make(key, cn);
  return {*key.ToPem(), *csr.ToPem()};
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return ctx;
}

class Fleet {
 public:
  Fleet(std::string target, std::string ca_pem)
      : target_(std::move(target)), ca_(std::move(ca_pem)) {}
  std::shared_ptr<grpc::Channel> Channel(const provisioning::CredentialBundle& bundle) const {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ca_;
    tls.pem_private_key = bundle.key_pem;
    tls.pem_cert_chain = bundle.cert_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    return grpc::CreateCustomChannel(target_, grpc::SslCredentials(tls), args);
  }

 private:
  std::string target_;
  std::string ca_;
};

class Codes {
 public:
  void Add(grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    ++counts_[code];
  }
  std::string Describe() const {
    absl::MutexLock lock(&mu_);
    std::string out;
    for (const auto& [code, n] : counts_) absl::StrAppend(&out, " ", CodeName(code), "=", n);
    return out;
  }

 private:
  static std::string CodeName(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::OK:
        return "OK";
      case grpc::StatusCode::UNAVAILABLE:
        return "UNAVAILABLE";
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return "RESOURCE_EXHAUSTED";
      case grpc::StatusCode::UNAUTHENTICATED:
        return "UNAUTHENTICATED";
      case grpc::StatusCode::PERMISSION_DENIED:
        return "PERMISSION_DENIED";
      case grpc::StatusCode::INVALID_ARGUMENT:
        return "INVALID_ARGUMENT";
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "DEADLINE_EXCEEDED";
      default:
        return absl::StrCat("code", static_cast<int>(code));
    }
  }
  mutable absl::Mutex mu_;
  std::map<grpc::StatusCode, int> counts_ ABSL_GUARDED_BY(mu_);
};

struct RenewalFigures {
  int ok = 0;
  absl::Duration all;
  absl::Duration median;
  absl::Duration slowest;
  Codes codes;
};

// Every dock renews once, all at once; returns when all have answered.
void RenewAll(const Fleet& fleet, std::vector<provisioning::CredentialBundle>& docks,
              const std::vector<std::string>& ids, RenewalFigures& out) {
  struct Call {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::DockService::Stub> stub;
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::RenewDockCertificateRequest req;
    v1::RenewDockCertificateResponse resp;
    KeyCsr next;
    grpc::Status status;
    absl::Duration took;
  };
  std::vector<Call> calls(docks.size());
  for (size_t i = 0; i < docks.size(); ++i) {
    calls[i].channel = fleet.Channel(docks[i]);
    calls[i].channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    calls[i].stub = v1::DockService::NewStub(calls[i].channel);
    calls[i].next = MakeKeyCsr(ids[i]);
    calls[i].req.set_csr_pem(calls[i].next.csr_pem);
  }
  absl::BlockingCounter done(static_cast<int>(docks.size()));
  const absl::Time start = absl::Now();
  for (Call& c : calls) {
    c.ctx = Context(absl::Minutes(5));
    c.stub->async()->RenewDockCertificate(c.ctx.get(), &c.req, &c.resp,
                                          [&c, &done, start](grpc::Status s) {
                                            c.status = std::move(s);
                                            c.took = absl::Now() - start;
                                            done.DecrementCount();
                                          });
  }
  done.Wait();
  out.all = absl::Now() - start;
  std::vector<absl::Duration> took;
  for (size_t i = 0; i < calls.size(); ++i) {
    out.codes.Add(calls[i].status.error_code());
    took.push_back(calls[i].took);
    if (calls[i].status.ok()) {
      ++out.ok;
      docks[i] = {calls[i].next.key_pem, calls[i].resp.certificate().certificate_pem(),
                  calls[i].resp.ca_certificate_pem()};
    }
  }
  std::sort(took.begin(), took.end());
  out.median = took[took.size() / 2];
  out.slowest = took.back();
}

int Run(const Options& options) {
  server::PrepareServingProcess();
  absl::StatusOr<std::unique_ptr<ScratchDir>> scratch = ScratchDir::Create("", false);
  if (!scratch.ok()) {
    std::cerr << scratch.status() << "\n";
    return 1;
  }
  common::FakeClock clock(absl::Now());
  server::InitOptions init;
  init.home = (*scratch)->File("home");
  init.admin_name = kAdmin;
  init.now = clock.Now();
  if (absl::Status s = server::InitHome(init); !s.ok()) {
    std::cerr << "init: " << s << "\n";
    return 1;
  }
  server::ServerOptions so;
  so.home = init.home;
  so.listen = {"127.0.0.1:0"};
  so.clock = &clock;
  absl::StatusOr<std::unique_ptr<server::Server>> srv = server::Server::Start(so);
  if (!srv.ok()) {
    std::cerr << "start: " << srv.status() << "\n";
    return 1;
  }
  const server::HomePaths paths{init.home};
  provisioning::CredentialBundle admin =
      *provisioning::LoadCredentialBundle(paths.AdminCredentials(kAdmin));
  Fleet fleet((*srv)->target(), admin.ca_pem);
  auto admin_channel = fleet.Channel(admin);
  {
    v1::CreateSiteRequest req;
    req.set_code("POST-1");
    req.set_name("Post 1");
    v1::CreateSiteResponse resp;
    grpc::Status s = v1::FleetService::NewStub(admin_channel)
                         ->CreateSite(Context(absl::Minutes(1)).get(), req, &resp);
    if (!s.ok()) {
      std::cerr << "create site: " << s.error_message() << "\n";
      return 1;
    }
  }
  std::vector<provisioning::CredentialBundle> docks;
  std::vector<std::string> ids;
  auto prov = v1::ProvisioningService::NewStub(admin_channel);
  auto anonymous = v1::DockService::NewStub(fleet.Channel({}));
  for (int i = 0; i < options.docks; ++i) {
    const std::string id = absl::StrCat("post-1-dock-", i);
    v1::CreateEnrollmentTokenRequest token_req;
    token_req.set_site_code("POST-1");
    v1::CreateEnrollmentTokenResponse token;
    grpc::Status s =
        prov->CreateEnrollmentToken(Context(absl::Minutes(1)).get(), token_req, &token);
    KeyCsr kc = MakeKeyCsr(id);
    v1::EnrollDockRequest req;
    req.set_token(token.token());
    req.set_csr_pem(kc.csr_pem);
    v1::EnrollDockResponse resp;
    if (s.ok()) s = anonymous->EnrollDock(Context(absl::Minutes(1)).get(), req, &resp);
    if (!s.ok()) {
      std::cerr << "enrolling " << id << ": " << s.error_message() << "\n";
      return 1;
    }
    docks.push_back({kc.key_pem, resp.certificate().certificate_pem(), resp.ca_certificate_pem()});
    ids.push_back(id);
  }

  // Baseline: renewals alone (window open at 61 days), then again 61 days on, under the flood.
  clock.Advance(absl::Hours(24 * 61));
  RenewalFigures quiet;
  RenewAll(fleet, docks, ids, quiet);
  clock.Advance(absl::Hours(24 * 61));

  KeyCsr rogue = MakeKeyCsr("rogue-dock");
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::DockService::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  for (int i = 0; i < options.flood_connections; ++i) {
    channels.push_back(fleet.Channel({}));
    stubs.push_back(v1::DockService::NewStub(channels.back()));
    generic.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
  }
  struct Bad {
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::EnrollDockRequest req;
    v1::EnrollDockResponse resp;
  };
  std::vector<Bad> bad(static_cast<size_t>(options.bad_enrollments));
  std::string garbage_bytes =
      *provisioning::RandomBytes(static_cast<size_t>(options.garbage_mib) << 20);
  grpc::Slice slice(garbage_bytes);
  grpc::ByteBuffer garbage(&slice, 1);
  std::vector<grpc::ByteBuffer> garbage_out(static_cast<size_t>(options.garbage));
  std::vector<std::unique_ptr<grpc::ClientContext>> garbage_ctx;
  Codes flood_codes;
  Codes garbage_codes;
  absl::BlockingCounter flood_done(options.bad_enrollments + options.garbage);
  ResetPeakRss(0);
  const absl::Time flood_start = absl::Now();
  for (int i = 0; i < options.bad_enrollments; ++i) {
    Bad& b = bad[static_cast<size_t>(i)];
    b.ctx = Context(absl::Minutes(5));
    b.req.set_token(absl::StrCat("not-a-token-", i));
    b.req.set_csr_pem(rogue.csr_pem);
    stubs[static_cast<size_t>(i % options.flood_connections)]->async()->EnrollDock(
        b.ctx.get(), &b.req, &b.resp, [&](grpc::Status s) {
          flood_codes.Add(s.error_code());
          flood_done.DecrementCount();
        });
  }
  for (int i = 0; i < options.garbage; ++i) {
    garbage_ctx.push_back(Context(absl::Minutes(5)));
    generic[static_cast<size_t>(i % options.flood_connections)]->UnaryCall(
        garbage_ctx.back().get(), kEnrollDock, grpc::StubOptions(), &garbage,
        &garbage_out[static_cast<size_t>(i)], [&](grpc::Status s) {
          garbage_codes.Add(s.error_code());
          flood_done.DecrementCount();
        });
  }
  RenewalFigures flooded;
  RenewAll(fleet, docks, ids, flooded);
  flood_done.Wait();
  const absl::Duration flood_took = absl::Now() - flood_start;
  const ProcessMemory memory = ReadProcessMemory();

  std::cout << absl::StrFormat("renewals alone:        %d of %d OK in %s (median %s, slowest %s)\n",
                               quiet.ok, options.docks, absl::FormatDuration(quiet.all),
                               absl::FormatDuration(quiet.median),
                               absl::FormatDuration(quiet.slowest));
  std::cout << absl::StrFormat(
      "renewals under flood:  %d of %d OK in %s (median %s, slowest %s);%s\n", flooded.ok,
      options.docks, absl::FormatDuration(flooded.all), absl::FormatDuration(flooded.median),
      absl::FormatDuration(flooded.slowest), flooded.codes.Describe());
  std::cout << absl::StrFormat(
      "flood: %d bad-token enrollments + %d x %d MiB garbage over %d connections, all answered "
      "in %s (%.0f calls/s)\n  bad tokens:%s\n  garbage:%s\n",
      options.bad_enrollments, options.garbage, options.garbage_mib, options.flood_connections,
      absl::FormatDuration(flood_took),
      (options.bad_enrollments + options.garbage) / absl::ToDoubleSeconds(flood_took),
      flood_codes.Describe(), garbage_codes.Describe());
  std::cout << absl::StrFormat("process peak RSS during the flood: %.1f MiB\n",
                               static_cast<double>(memory.peak_rss) / (1 << 20));
  (*srv)->Shutdown();
  return flooded.ok == options.docks ? 0 : 2;
}

}  // namespace
}  // namespace camfleet::bench

int main(int argc, char** argv) {
  camfleet::bench::Options options;
  CLI::App app{"Docks renewing while certificate-less callers flood camfleetd (issue 11, item 6)"};
  app.add_option("--docks", options.docks, "Docks that renew")->capture_default_str();
  app.add_option("--bad-enrollments", options.bad_enrollments, "EnrollDock calls with bad tokens")
      ->capture_default_str();
  app.add_option("--garbage", options.garbage, "Requests of random bytes to EnrollDock")
      ->capture_default_str();
  app.add_option("--garbage-mib", options.garbage_mib, "Size of each, MiB")->capture_default_str();
  app.add_option("--flood-connections", options.flood_connections,
                 "Connections the flood is spread over")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return camfleet::bench::Run(options);
}
