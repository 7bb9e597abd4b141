#pragma once
// Codes people type (site codes, badge numbers, camera serials) are stored in one case, upper,
// and accepted in any: `batken-post-01` and `BATKEN-POST-01` are the same site.

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace camfleet::rpc {

// `code` in the stored case: ASCII letters upper-cased, every other byte as given, so that
// validation still names a bad character.
std::string CanonicalCode(absl::string_view code);

// Puts the codes of a FleetService, MonitoringService or ReportService request in their stored
// case: the top-level string fields named code, parent_code, site_code, home_site_code, badge,
// holder_badge and serial (in these services `serial` is always a camera's). Not for
// ProvisioningService requests, where `serial` can be a certificate's (lower-case hex). The
// gRPC handlers call it before the managers; other callers of the managers (the web page) must
// too. Models are free text, not codes, and are left as given.
void CanonicalizeCodes(google::protobuf::Message& request);
template <typename Request>
Request WithCanonicalCodes(const Request& request) {
  Request copy = request;
  CanonicalizeCodes(copy);
  return copy;
}

}  // namespace camfleet::rpc
