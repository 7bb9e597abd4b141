#include "services/rpc/message_limits.h"

#include "absl/strings/str_cat.h"

namespace camfleet::rpc {

size_t MaxRequestBytes(absl::string_view method) {
  // The two calls that carry a whole delivery manifest (one call, or a background job).
  if (method == "camfleet.v1.FleetService/ImportManifest" ||
      method == "camfleet.v1.FleetService/StartManifestImport") {
    return static_cast<size_t>(kMaxReceiveMessageBytes);
  }
  return kDefaultMaxRequestBytes;
}

absl::Status CheckRequestSize(absl::string_view method, size_t request_bytes) {
  const size_t limit = MaxRequestBytes(method);
  if (request_bytes <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("request of ", request_bytes, " bytes; ", method,
                                                   " takes at most ", limit, " bytes"));
}

}  // namespace camfleet::rpc
