#pragma once
// The OpenSSL-alone rate: what the provisioning library does for one enrollment, and nothing
// else, on the same CSRs with the same fleet CA: decode the PEM CSR, verify it (its
// self-signature, key type, CN), build the certificate and sign it, encode it and read it back
// (CertificateRequest::FromPem + CertificateAuthority::Issue, exactly the server's
// IdentityManager::Sign). No gRPC, no TLS, no store.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/camera_csrs.h"
#include "bench/closed_loop.h"
#include "nlohmann/json.hpp"
#include "provisioning/certificate_authority.h"

namespace camfleet::bench {

struct IssueRate {
  int threads = 0;
  double window_s = 0;
  int64_t certs = 0;         // issued inside the window
  LatencySummary latency;    // of one decode + issue
  double process_cpu = 0;    // CPU-seconds per second of the process over the window
  double certs_per_s() const { return window_s > 0 ? static_cast<double>(certs) / window_s : 0; }
  double cpu_us_per_cert() const {
    return certs > 0 ? process_cpu * window_s * 1e6 / static_cast<double>(certs) : 0;
  }
  nlohmann::json ToJson() const;
};

// Issues camera certificates for `csrs` (round and round, each thread starting at its own
// offset) on `threads` threads for `warmup` + `duration`; counts those that end in the window.
// Errors: the first failed issue (which would be a broken fixture).
absl::StatusOr<IssueRate> MeasureIssueRate(const provisioning::CertificateAuthority& ca,
                                           const std::vector<CameraCsr>& csrs, int threads,
                                           absl::Duration warmup, absl::Duration duration);

// One thread, the steps apart, mean microseconds of the thread's CPU time each over `count`
// CSRs (CPU time, so a busy machine does not inflate them): decode (CertificateRequest::FromPem),
// verify (CheckCsr), and the whole Issue, which verifies again, builds, signs, encodes and reads
// back; build+sign+encode is Issue minus verify.
struct IssueSteps {
  int64_t count = 0;
  double decode_us = 0;
  double verify_us = 0;
  double issue_us = 0;
  nlohmann::json ToJson() const;
};
absl::StatusOr<IssueSteps> MeasureIssueSteps(const provisioning::CertificateAuthority& ca,
                                             const std::vector<CameraCsr>& csrs, int count);

}  // namespace camfleet::bench
