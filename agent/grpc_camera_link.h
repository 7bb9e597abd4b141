#pragma once
// CameraLink over the camfleet.device.v1.CameraLinkService gRPC service, reached on a unix
// socket (the slot's "cable"). The socket is local to the dock, so the link is plaintext: who
// may talk to a camera is decided by the socket's file permissions.

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "agent/camera_link.h"

namespace camfleet::agent {

inline constexpr absl::Duration kDefaultCameraCallDeadline = absl::Seconds(10);

// A link to the camera serving on the unix socket at `socket_path`. Connecting is lazy: an
// absent camera shows up as UNAVAILABLE from the first call. Every call gets `deadline`.
std::unique_ptr<CameraLink> NewGrpcCameraLink(const std::string& socket_path,
                                              absl::Duration deadline = kDefaultCameraCallDeadline);

}  // namespace camfleet::agent
