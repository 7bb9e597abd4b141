#pragma once
// A fleet CA made at run time in a temporary directory, and a one-call way to get a certificate
// from it for a fresh key.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "provisioning/certificate_authority.h"
#include "provisioning/csr.h"
#include "provisioning/key.h"
#include "provisioning/role.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::provisioning_test {

// A fixed "now" for tests that do not hand certificates to the openssl tool (which checks them
// against the real clock).
inline absl::Time FixedNow() {
  return absl::FromCivil(absl::CivilSecond(2025, 6, 1, 12, 0, 0), absl::UTCTimeZone());
}

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<provisioning::CertificateAuthority> ca =
        provisioning::CertificateAuthority::Create(dir_.path(), CaCreatedAt());
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_.emplace(*std::move(ca));
  }

  // When the CA is made; tests that need the real clock override it.
  virtual absl::Time CaCreatedAt() const { return FixedNow(); }

  provisioning::CertificateAuthority& Ca() { return *ca_; }
  const testing::TempDir& Dir() const { return dir_; }

  // A fresh EC P-256 key, its CSR with CN = identity, and the CA's answer.
  absl::StatusOr<provisioning::IssuedCertificate> IssueFresh(provisioning::Role role,
                                                             const std::string& identity,
                                                             absl::Time now) {
    provisioning::IssueRequest request;
    request.role = role;
    request.identity = identity;
    return IssueFresh(request, now);
  }

  absl::StatusOr<provisioning::IssuedCertificate> IssueFresh(
      const provisioning::IssueRequest& request, absl::Time now) {
    absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
    if (!key.ok()) return key.status();
    absl::StatusOr<provisioning::CertificateRequest> csr =
        provisioning::CertificateRequest::Make(*key, request.identity);
    if (!csr.ok()) return csr.status();
    return ca_->Issue(*csr, request, now);
  }

 private:
  testing::TempDir dir_;
  std::optional<provisioning::CertificateAuthority> ca_;
};

}  // namespace camfleet::provisioning_test
