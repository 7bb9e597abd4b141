#include "bench/issue_ceiling.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/process_stats.h"
#include "bench/throughput_run.h"
#include "common/status_macros.h"
#include "provisioning/csr.h"

namespace camfleet::bench {
namespace {

// What IdentityManager::Sign does for a camera, with the real time as the server's clock.
absl::Status IssueOne(const provisioning::CertificateAuthority& ca, const CameraCsr& c) {
  ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                   provisioning::CertificateRequest::FromPem(c.csr_pem));
  provisioning::IssueRequest request;
  request.role = provisioning::Role::kCamera;
  request.identity = c.serial;
  ASSIGN_OR_RETURN(provisioning::IssuedCertificate cert, ca.Issue(csr, request, absl::Now()));
  if (cert.info.identity != c.serial) {
    return absl::InternalError("an issued certificate names the wrong camera");
  }
  return absl::OkStatus();
}

}  // namespace

nlohmann::json IssueRate::ToJson() const {
  return {{"threads", threads},
          {"certs_per_s", certs_per_s()},
          {"certs", certs},
          {"window_s", window_s},
          {"latency", LatencyJson(latency)},
          {"process_cpu", process_cpu},
          {"cpu_us_per_cert", cpu_us_per_cert()}};
}

nlohmann::json IssueSteps::ToJson() const {
  return {{"count", count},
          {"decode_us", decode_us},
          {"verify_us", verify_us},
          {"issue_us", issue_us},
          {"build_sign_encode_us", issue_us - verify_us}};
}

absl::StatusOr<IssueRate> MeasureIssueRate(const provisioning::CertificateAuthority& ca,
                                           const std::vector<CameraCsr>& csrs, int threads,
                                           absl::Duration warmup, absl::Duration duration) {
  if (csrs.empty()) return absl::InvalidArgumentError("no CSRs to issue certificates for");
  threads = std::max(threads, 1);
  const int64_t start = MonotonicNanos();
  const int64_t begin = start + absl::ToInt64Nanoseconds(warmup);
  const int64_t end = begin + absl::ToInt64Nanoseconds(duration);
  std::vector<std::vector<int64_t>> latencies(static_cast<size_t>(threads));
  absl::Mutex mu;
  absl::Status first_error;
  auto work = [&](size_t t) {
    size_t i = t * csrs.size() / static_cast<size_t>(threads);
    while (true) {
      const int64_t t0 = MonotonicNanos();
      if (t0 >= end) return;
      absl::Status s = IssueOne(ca, csrs[i]);
      const int64_t t1 = MonotonicNanos();
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = std::move(s);
        return;
      }
      if (t1 >= begin && t1 <= end) latencies[t].push_back(t1 - t0);
      i = (i + 1) % csrs.size();
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(work, static_cast<size_t>(t));
  // The window is a span of wall time; sleeping only waits for it to open and close.
  absl::SleepFor(absl::Nanoseconds(begin - MonotonicNanos()));
  const int64_t cpu0 = ProcessCpuNanos();
  const int64_t wall0 = MonotonicNanos();
  absl::SleepFor(absl::Nanoseconds(end - MonotonicNanos()));
  const int64_t cpu1 = ProcessCpuNanos();
  const int64_t wall1 = MonotonicNanos();
  for (std::thread& w : workers) w.join();
  if (!first_error.ok()) return common::Annotate(first_error, "issuing with OpenSSL alone");
  IssueRate out;
  out.threads = threads;
  out.window_s = absl::ToDoubleSeconds(duration);
  out.process_cpu = static_cast<double>(cpu1 - cpu0) / static_cast<double>(wall1 - wall0);
  std::vector<int64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  out.certs = static_cast<int64_t>(all.size());
  out.latency = Summarize(std::move(all));
  return out;
}

absl::StatusOr<IssueSteps> MeasureIssueSteps(const provisioning::CertificateAuthority& ca,
                                             const std::vector<CameraCsr>& csrs, int count) {
  IssueSteps out;
  int64_t decode = 0, verify = 0, issue = 0;
  for (int k = 0; k < count && !csrs.empty(); ++k) {
    const CameraCsr& c = csrs[static_cast<size_t>(k) % csrs.size()];
    const int64_t t0 = ThreadCpuNanos();
    ASSIGN_OR_RETURN(provisioning::CertificateRequest csr,
                     provisioning::CertificateRequest::FromPem(c.csr_pem));
    const int64_t t1 = ThreadCpuNanos();
    RETURN_IF_ERROR(provisioning::CheckCsr(csr, provisioning::CsrExpectations{c.serial}));
    const int64_t t2 = ThreadCpuNanos();
    provisioning::IssueRequest request;
    request.role = provisioning::Role::kCamera;
    request.identity = c.serial;
    ASSIGN_OR_RETURN(provisioning::IssuedCertificate cert, ca.Issue(csr, request, absl::Now()));
    const int64_t t3 = ThreadCpuNanos();
    if (cert.pem.empty()) return absl::InternalError("an issued certificate has no PEM");
    decode += t1 - t0;
    verify += t2 - t1;
    issue += t3 - t2;
    ++out.count;
  }
  if (out.count > 0) {
    const double n = static_cast<double>(out.count) * 1e3;
    out.decode_us = static_cast<double>(decode) / n;
    out.verify_us = static_cast<double>(verify) / n;
    out.issue_us = static_cast<double>(issue) / n;
  }
  return out;
}

}  // namespace camfleet::bench
