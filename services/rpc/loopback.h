#pragma once
// The plaintext development guard (issue 11, item 10): camfleetd without TLS listens only where
// nobody but this machine can connect. The address is resolved, not read as text, so
// "127.evil.example:7443" (a DNS name that happens to start with 127.) or a hosts-file
// "localhost" pointing elsewhere is refused.

#include <string>

#include "absl/status/status.h"

namespace camfleet::rpc {

// OK for "unix:PATH" and for HOST:PORT (HOST a name, an IPv4 address or a bracketed IPv6
// address) whose every resolved address is loopback (127.0.0.0/8 or ::1).
// INVALID_ARGUMENT naming the address and what it resolved to otherwise, or if it has no port
// or does not resolve.
absl::Status CheckLoopbackAddress(const std::string& address);

}  // namespace camfleet::rpc
