#pragma once
// How big a request each method takes, checked before anything else looks at it.
//
// gRPC 1.51's server has one receive limit for every method (GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
// kMaxReceiveMessageBytes below, set in server.cc): the per-method maxRequestMessageBytes of a
// service config is applied only by clients, and a server interceptor sees a request only after
// it is deserialized. So a request is bounded in two steps:
//   1. before it is parsed, by gRPC: no message over kMaxReceiveMessageBytes is read (the
//      largest legitimate one is an 8 MiB manifest); the connection's memory comes out of the
//      server's ResourceQuota, and a connection has at most kMaxStreamsPerConnection calls open;
//   2. first thing in the handler (rpc/unary.h), before authentication, signature checks or any
//      store access: the method's own limit below, RESOURCE_EXHAUSTED past it. Every unary
//      method takes at most kDefaultMaxRequestBytes (64 KiB: a CSR, a certificate, a page
//      request) unless it is listed here.
// Streams (Sync, UploadRelease) keep their own per-message bounds in their handlers.

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace camfleet::rpc {

// An 8 MiB manifest (fleet/manifest.h) and the rest of its request.
inline constexpr int kMaxReceiveMessageBytes = (8 << 20) + (64 << 10);
inline constexpr size_t kDefaultMaxRequestBytes = size_t{64} << 10;
inline constexpr int kMaxStreamsPerConnection = 100;

// The most bytes a request to `method` ("camfleet.v1.FleetService/ImportManifest") may have.
size_t MaxRequestBytes(absl::string_view method);

// RESOURCE_EXHAUSTED naming the method, the size and its limit if `request_bytes` is over it.
absl::Status CheckRequestSize(absl::string_view method, size_t request_bytes);

}  // namespace camfleet::rpc
