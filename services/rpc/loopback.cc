#include "services/rpc/loopback.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace camfleet::rpc {

absl::Status CheckLoopbackAddress(const std::string& address) {
  if (absl::StartsWith(address, "unix:") && address.size() > 5) return absl::OkStatus();
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address, "' needs HOST:PORT or unix:PATH"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address, "' does not resolve: ", ::gai_strerror(rc)));
  }
  std::vector<std::string> outside;
  int loopback = 0;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    bool is_loopback = false;
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      is_loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
      ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      is_loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    }
    if (is_loopback) {
      ++loopback;
    } else {
      outside.emplace_back(text[0] != '\0' ? text : "an address of another family");
    }
  }
  ::freeaddrinfo(found);
  if (loopback == 0 || !outside.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address '", address, "' is not loopback or a unix socket",
        outside.empty() ? std::string()
                        : absl::StrCat(" (it resolves to ", absl::StrJoin(outside, ", "), ")"),
        "; without TLS camfleetd listens only on a loopback IP (127.0.0.1, [::1]), a name "
        "resolving only to loopback, or unix:PATH"));
  }
  return absl::OkStatus();
}

}  // namespace camfleet::rpc
