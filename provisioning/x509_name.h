#pragma once
// Reading common names out of X.509 names. Internal to provisioning/.

#include <openssl/x509.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace camfleet::provisioning {

// The name's one CN as UTF-8. INVALID_ARGUMENT "<what> has no common name" / "... has 2 common
// names" / "... common name is not valid text".
absl::StatusOr<std::string> SingleCommonName(const X509_NAME* name, absl::string_view what);

// The first CN, or "" if there is none or it cannot be read; for messages and information only.
std::string FirstCommonName(const X509_NAME* name);

}  // namespace camfleet::provisioning
