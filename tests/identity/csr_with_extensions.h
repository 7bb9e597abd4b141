#pragma once
// CSRs that ask for more than a client may have: extensions our CertificateRequest::Make never
// writes, made with OpenSSL directly. The CA must ignore everything but the key and the CN.

#include <string>

#include "absl/strings/string_view.h"
#include "provisioning/key.h"

namespace camfleet::testing {

// A CSR with subject CN=`common_name` for `key`, signed by it, asking for the SAN URI
// `san_uri` (e.g. "camfleet://admin/alice") and basicConstraints CA:TRUE. Aborts the test
// binary if OpenSSL fails, which only a broken install causes.
std::string CsrAskingForExtensions(const provisioning::PrivateKey& key,
                                   absl::string_view common_name, absl::string_view san_uri);

}  // namespace camfleet::testing
