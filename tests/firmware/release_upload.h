#pragma once
// Uploading a signed release over the real wire, as `camfleet firmware upload` does: for the
// tests (and the firmware bench) that need releases on a running camfleetd. Apart from
// signed_release.h so that the tests of the signing code alone do not need gRPC.

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "common/grpc_status.h"
#include "tests/firmware/signed_release.h"

namespace camfleet::testing {

// The header, then the image in 256 KiB chunks. The call's status; `out` gets the response.
inline grpc::Status UploadSignedRelease(v1::FirmwareService::Stub& stub, grpc::ClientContext* ctx,
                                        const ReleaseFiles& r, v1::UploadReleaseResponse* out) {
  constexpr size_t kChunk = 256 * 1024;
  auto writer = stub.UploadRelease(ctx, out);
  v1::UploadReleaseRequest header;
  header.mutable_header()->set_manifest(r.release.manifest_bytes);
  header.mutable_header()->set_signature(r.release.signature);
  bool open = writer->Write(header);
  for (size_t at = 0; open && at < r.image.size(); at += kChunk) {
    v1::UploadReleaseRequest chunk;
    chunk.set_chunk(r.image.substr(at, kChunk));
    open = writer->Write(chunk);
  }
  if (open) writer->WritesDone();
  return writer->Finish();
}

// The same with a 60 s deadline, answering what the server stored or the call's status.
inline absl::StatusOr<v1::FirmwareRelease> UploadSignedRelease(v1::FirmwareService::Stub& stub,
                                                               const ReleaseFiles& r) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::UploadReleaseResponse resp;
  const grpc::Status status = UploadSignedRelease(stub, &ctx, r, &resp);
  if (!status.ok()) return common::FromGrpcStatus(status);
  return resp.release();
}

}  // namespace camfleet::testing
