#include "provisioning/openssl_ptr.h"

#include <openssl/err.h>

#include <climits>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace camfleet::provisioning {

absl::Status OpenSslError(absl::StatusCode code, absl::string_view context) {
  // The first error queued is the root cause; later ones are the layers that passed it up.
  const unsigned long first = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type.
  ClearOpenSslErrors();
  const char* reason = first != 0 ? ERR_reason_error_string(first) : nullptr;
  if (reason == nullptr) return absl::Status(code, context);
  return absl::Status(code, absl::StrCat(context, ": ", reason));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

BioPtr MemoryBio(absl::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string MemoryBioContents(BIO* bio) {
  char* data = nullptr;
  const int64_t len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace camfleet::provisioning
