#pragma once
// Fetches releases for the dock's cache over DockService.DownloadRelease, its own RPC (never the
// sync stream, so a large download does not delay check-outs and acks).
//
// Fetch(release) first checks the release's signature with the dock's own keys (a release the
// dock would refuse is never downloaded), then:
//  - asks for it naming the releases the dock has cached, so the server may send a delta;
//  - writes the chunks to DIR/firmware/partial/ (FirmwareCache::PartialWriter), hashing them
//    as they come, and syncs them every few MiB (options.partial_sync) and when a call ends,
//    recording only the synced length: after a link drop it asks again with the encoding, base
//    and offset it holds and goes on from there, never from 0; after a crash or kill of the
//    agent it goes on from the last sync; a header that no longer matches what is held (the
//    server rebuilt the payload) starts the payload again;
//  - cuts off a server that sends more than the header's payload_size, or a header that differs
//    from the partial it resumes (nothing past the size is ever written);
//  - checks the payload's SHA-256 (hashed as it arrived), then rebuilds the image (a delta
//    against the cached base in memory; a full image decompressed into the cache's file as
//    its chunks arrive, or from the partial file after a resumed call; never more than the
//    signed image size) and checks the image's size, SHA-256 and signature exactly as an
//    imported bundle (FirmwareCache::Store, KeepImage, StoreFromPartial) before keeping it;
//  - any mismatch of a delta (payload hash, rebuild, image hash) drops it and fetches the full
//    image; a full image that does not check is refused (DATA_LOSS).
// One download at a time per release: the installer asks once per release, however many
// cameras need it.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/firmware_cache.h"
#include "camfleet/v1/dock_sync.pb.h"
#include "camfleet/v1/provisioning.grpc.pb.h"

namespace camfleet::agent {

struct FirmwareDownloaderOptions {
  // Deadline of one DownloadRelease call (a stream that stalls longer is given up and resumed).
  absl::Duration call_deadline = absl::Minutes(10);
  // Calls per Fetch before it gives up (each resumes from what is held); the next Fetch goes
  // on from there too.
  int max_attempts = 5;
  absl::Duration retry_delay = absl::Milliseconds(200);
  // How often the partial download is synced (what a crash can cost to fetch again).
  PartialSyncPolicy partial_sync;
};

struct FetchResult {
  CachedRelease release;
  // How it arrived: already cached, from a delta, or from the full image.
  bool was_cached = false;
  bool from_delta = false;
  // Why a delta was dropped for the full image; empty if it was not.
  std::string delta_fallback_reason;
  // Payload bytes received by this Fetch (all calls), and calls made.
  uint64_t bytes_received = 0;
  int calls = 0;
  // The offset the latest resumed call went on from (0 if no call resumed a partial).
  uint64_t resumed_from = 0;
};

class FirmwareDownloader {
 public:
  FirmwareDownloader(std::shared_ptr<grpc::Channel> channel, FirmwareCache& cache,
                     FirmwareDownloaderOptions options = {});

  // Errors: the dock's refusal of the release (FirmwareCache::Verify: INVALID_ARGUMENT,
  // PERMISSION_DENIED, UNAUTHENTICATED); the server's (NOT_FOUND, FAILED_PRECONDITION for a
  // withdrawn release); UNAVAILABLE/DEADLINE_EXCEEDED after max_attempts link failures (what
  // was fetched is kept for the next Fetch); DATA_LOSS for a full image that does not match
  // its manifest.
  absl::StatusOr<FetchResult> Fetch(const v1::PlannedRelease& release);

 private:
  // One call: fills the partial; once it holds the whole payload (synced), returns the
  // payload's SHA-256 (lower-case hex) over the bytes held. A call that fetches a full image
  // from its first byte also rebuilds the image (at most `image_size` bytes) into `image` as
  // the chunks come.
  absl::StatusOr<std::string> FetchPayload(const std::string& release_id, uint64_t image_size,
                                           bool allow_delta, FetchResult& result,
                                           std::unique_ptr<ImageWriter>& image);

  std::unique_ptr<v1::DockService::Stub> stub_;
  FirmwareCache& cache_;
  FirmwareDownloaderOptions options_;
};

}  // namespace camfleet::agent
