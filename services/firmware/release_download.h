#pragma once
// The firmware streams the server sends: DockService.DownloadRelease and
// FirmwareService.ExportRelease.
//
// DockService.DownloadRelease, the server side (proto/camfleet/v1/provisioning.proto): a dock
// (certificate role dock) fetches a release's payload, the smaller of a zstd delta from a release
// it holds and the zstd full image (FirmwareManager::PrepareDownload), from an offset.
//
// The payload is never held whole: one chunk (at most 1 MiB) is read from the ImageStore object
// with pread at a time, and the next is read only once gRPC has taken the previous one, so a slow
// link holds one chunk per stream. Every disk read (and the store read that prepares the
// download) runs on a small pool of its own ("fw-stream"), never on gRPC's callback threads
// (services/rpc/unary.h says why), and not on the rpc read pool, so downloads cannot starve
// ordinary reads. Bytes handed to gRPC are counted per dock (FirmwareManager::BytesServed).

#include <grpcpp/grpcpp.h>

#include "camfleet/v1/firmware.grpc.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "services/firmware/firmware_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::firmware_service {

inline constexpr char kDownloadReleaseMethod[] = "camfleet.v1.DockService/DownloadRelease";
inline constexpr char kExportReleaseMethod[] = "camfleet.v1.FirmwareService/ExportRelease";

// The reactor for one call; it deletes itself when the call is done.
grpc::ServerWriteReactor<v1::DownloadReleaseResponse>* StartReleaseDownload(
    FirmwareManager& manager, const rpc::Authenticator& auth, grpc::CallbackServerContext* ctx,
    const v1::DownloadReleaseRequest* req);

// ExportRelease (admins and quartermasters): the signed release bundle (firmware/bundle.h),
// the image streamed from the store the same way; the first message carries the bundle's size.
grpc::ServerWriteReactor<v1::ExportReleaseResponse>* StartReleaseExport(
    FirmwareManager& manager, const rpc::Authenticator& auth, grpc::CallbackServerContext* ctx,
    const v1::ExportReleaseRequest* req);

}  // namespace camfleet::firmware_service
