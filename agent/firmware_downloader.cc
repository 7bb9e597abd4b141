#include "agent/firmware_downloader.h"

#include <chrono>
#include <deque>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/rpc_status.h"
#include "common/status_macros.h"
#include "firmware/delta.h"
#include "provisioning/digest.h"

namespace camfleet::agent {
namespace {

// A release names at most this many cached bases (the server's bound).
constexpr size_t kMaxCachedIds = 32;

bool IsLinkFailure(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsCancelled(s) ||
         absl::IsAborted(s) || absl::IsResourceExhausted(s);
}

// Marks a payload the server sent past its size (the partial keeps what came before).
constexpr char kCutOff[] = "cut off";

// Appends a call's chunks to the partial on a thread of its own, in order, so the next chunk
// comes off the link (TLS, HTTP/2, protobuf) while the last is written, hashed and synced;
// and, given an ImageWriter, decompresses each into the image as well (a full image fetched
// from its first byte), so little is left to do once the last chunk is in. At most kMaxQueued
// bytes wait; Push blocks beyond that.
class ChunkPipe {
 public:
  static constexpr size_t kMaxQueued = size_t{8} << 20;

  // `image` may be null. Its errors do not stop the pipe: they stay in image->status().
  ChunkPipe(PartialWriter& writer, ImageWriter* image)
      : writer_(writer), image_(image), thread_([this] { Run(); }) {}
  ~ChunkPipe() { (void)Close(); }
  ChunkPipe(const ChunkPipe&) = delete;
  ChunkPipe& operator=(const ChunkPipe&) = delete;

  // False once an append failed (Close says why); the chunk is then dropped.
  bool Push(std::string chunk) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &ChunkPipe::HasRoom));
    if (!status_.ok()) return false;
    queued_ += chunk.size();
    queue_.push_back(std::move(chunk));
    return true;
  }

  // Appends what is queued and stops the thread. The first append error, if any. Idempotent.
  absl::Status Close() {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queued_ < kMaxQueued || !status_.ok();
  }
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || closed_; }

  void Run() {
    while (true) {
      std::string chunk;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &ChunkPipe::HasWork));
        if (queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      absl::Status s = writer_.Append(chunk);
      if (s.ok() && image_ != nullptr) (void)image_->Feed(chunk);
      absl::MutexLock lock(&mu_);
      queued_ -= chunk.size();
      if (!s.ok()) {
        status_ = s;
        queue_.clear();
        queued_ = 0;
        return;
      }
    }
  }

  PartialWriter& writer_;
  ImageWriter* const image_;
  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: it starts with the members above in place
};

}  // namespace

FirmwareDownloader::FirmwareDownloader(std::shared_ptr<grpc::Channel> channel, FirmwareCache& cache,
                                       FirmwareDownloaderOptions options)
    : stub_(v1::DockService::NewStub(std::move(channel))), cache_(cache), options_(options) {}

absl::StatusOr<std::string> FirmwareDownloader::FetchPayload(const std::string& release_id,
                                                             uint64_t image_size, bool allow_delta,
                                                             FetchResult& result,
                                                             std::unique_ptr<ImageWriter>& image) {
  std::optional<PartialDownload> partial = cache_.Partial(release_id);
  if (partial.has_value() && !allow_delta &&
      partial->encoding == v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA) {
    cache_.DropPartial(release_id);
    partial.reset();
  }
  if (partial.has_value() && partial->bytes_held == partial->payload_size) {
    ASSIGN_OR_RETURN(std::unique_ptr<PartialWriter> held,
                     cache_.OpenPartial(release_id, options_.partial_sync));
    return held->FinishSha256();
  }
  v1::DownloadReleaseRequest req;
  req.set_release_id(release_id);
  if (partial.has_value()) {
    req.set_encoding(partial->encoding);
    req.set_delta_from_release_id(partial->delta_from_release_id);
    req.set_offset(partial->bytes_held);
  } else if (allow_delta) {
    for (const std::string& id : cache_.ReleaseIds()) {
      if (id != release_id && static_cast<size_t>(req.cached_release_ids_size()) < kMaxCachedIds) {
        req.add_cached_release_ids(id);
      }
    }
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(options_.call_deadline));
  ++result.calls;
  std::unique_ptr<grpc::ClientReader<v1::DownloadReleaseResponse>> reader =
      stub_->DownloadRelease(&ctx, req);
  v1::DownloadReleaseResponse msg;
  std::unique_ptr<PartialWriter> writer;
  std::optional<ChunkPipe> pipe;
  // Ends the call early (refusing what the server sends) and says why; what arrived is written
  // and synced first, so the next call goes on from it.
  auto abandon = [&](absl::Status why) {
    ctx.TryCancel();
    if (pipe.has_value()) (void)pipe->Close();
    (void)reader->Finish();
    if (writer != nullptr) (void)writer->Sync();
    return why;
  };
  if (!reader->Read(&msg)) {
    absl::Status s = FromGrpc(reader->Finish());
    if (!s.ok()) return s;
    return absl::UnavailableError("the download ended before its header");
  }
  if (!msg.has_header()) {
    return abandon(absl::UnavailableError("the download's first message was not its header"));
  }
  const v1::DownloadHeader header = msg.header();
  if (header.payload_sha256().size() != 64 ||
      (header.encoding() != v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL &&
       header.encoding() != v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA) ||
      header.payload_size() > firmware::kMaxImageBytes * 2) {
    return abandon(absl::UnavailableError("the download's header is malformed"));
  }
  const bool matches_partial = partial.has_value() && header.encoding() == partial->encoding &&
                               header.delta_from_release_id() == partial->delta_from_release_id &&
                               header.payload_size() == partial->payload_size &&
                               header.payload_sha256() == partial->payload_sha256 &&
                               header.offset() == partial->bytes_held;
  if (!matches_partial) {
    if (header.offset() != 0) {
      // Not what is held, and not from the start: nothing to append it to.
      cache_.DropPartial(release_id);
      return abandon(absl::UnavailableError(
          "the server resumed a payload other than the one held; starting it again"));
    }
    PartialDownload fresh;
    fresh.encoding = header.encoding();
    fresh.delta_from_release_id = header.delta_from_release_id();
    fresh.payload_size = header.payload_size();
    fresh.payload_sha256 = header.payload_sha256();
    if (absl::Status s = cache_.BeginPartial(release_id, fresh); !s.ok()) return abandon(s);
  }
  absl::StatusOr<std::unique_ptr<PartialWriter>> opened =
      cache_.OpenPartial(release_id, options_.partial_sync);
  if (!opened.ok()) return abandon(opened.status());
  writer = *std::move(opened);
  if (writer->written() != header.offset()) {
    // The partial changed under the call (it is the only writer: should not happen).
    return abandon(absl::UnavailableError("the partial download is not where the call resumed"));
  }
  uint64_t held = header.offset();
  if (matches_partial && held > 0) result.resumed_from = held;
  if (header.encoding() == v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_FULL && header.offset() == 0) {
    // The whole frame comes in this call: rebuild the image as it comes. (A resumed call
    // leaves that to StoreFromPartial, from the partial file.)
    absl::StatusOr<std::unique_ptr<ImageWriter>> begun = cache_.BeginImage(release_id, image_size);
    if (begun.ok()) image = *std::move(begun);
  }
  pipe.emplace(*writer, image.get());
  while (reader->Read(&msg)) {
    if (!msg.has_chunk() || msg.chunk().empty()) {
      return abandon(absl::UnavailableError("the download sent something other than a chunk"));
    }
    if (held + msg.chunk().size() > header.payload_size()) {
      return abandon(absl::DataLossError(absl::StrCat("the server sent more than the payload's ",
                                                      header.payload_size(), " bytes; ", kCutOff,
                                                      " at byte ", held)));
    }
    const size_t size = msg.chunk().size();
    if (!pipe->Push(std::move(*msg.mutable_chunk()))) return abandon(pipe->Close());
    held += size;
    result.bytes_received += size;
  }
  absl::Status written = pipe->Close();
  absl::Status s = FromGrpc(reader->Finish());
  // A link drop keeps what arrived; so does the end of the payload.
  absl::Status synced = written.ok() ? writer->Sync() : written;
  if (!s.ok()) return s;
  if (!synced.ok()) return synced;
  if (held != header.payload_size()) {
    return absl::UnavailableError(
        absl::StrCat("the download ended at byte ", held, " of ", header.payload_size()));
  }
  return writer->FinishSha256();
}

absl::StatusOr<FetchResult> FirmwareDownloader::Fetch(const v1::PlannedRelease& release) {
  ASSIGN_OR_RETURN(firmware::Manifest manifest,
                   cache_.Verify(release.manifest(), release.signature()));
  const std::string id = ReleaseIdOf(release.manifest());
  if (id != release.release_id()) {
    return absl::InvalidArgumentError(absl::StrCat("release ", release.release_id(),
                                                   ": the id is not the SHA-256 of its manifest (",
                                                   id, "); refused"));
  }
  FetchResult result;
  if (cache_.Has(id)) {
    ASSIGN_OR_RETURN(result.release, cache_.Get(id));
    result.was_cached = true;
    return result;
  }
  bool allow_delta = true;
  bool resumed_refused = false;
  absl::Status last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) absl::SleepFor(options_.retry_delay);
    const bool had_partial = cache_.Partial(id).has_value();
    std::unique_ptr<ImageWriter> streamed;  // the image rebuilt as the payload came, if it was
    absl::StatusOr<std::string> payload_sha256 =
        FetchPayload(id, manifest.image_size, allow_delta, result, streamed);
    last = payload_sha256.status();
    if (!last.ok()) {
      if (IsLinkFailure(last) ||
          (absl::IsDataLoss(last) && absl::StrContains(last.message(), kCutOff))) {
        continue;  // resume from what is held
      }
      if (had_partial && !resumed_refused &&
          (absl::IsFailedPrecondition(last) || absl::IsOutOfRange(last))) {
        // The server no longer offers what was held (a base withdrawn): start again.
        resumed_refused = true;
        cache_.DropPartial(id);
        continue;
      }
      return last;
    }
    std::optional<PartialDownload> partial = cache_.Partial(id);
    if (!partial.has_value()) {
      last = absl::UnavailableError("the partial download vanished");
      continue;
    }
    const bool delta = partial->encoding == v1::FIRMWARE_PAYLOAD_ENCODING_ZSTD_DELTA;
    auto fall_back = [&](absl::string_view why) {
      cache_.DropPartial(id);
      allow_delta = false;
      result.delta_fallback_reason = std::string(why);
    };
    if (*payload_sha256 != partial->payload_sha256) {
      if (delta) {
        fall_back("the delta's SHA-256 is not the one announced");
        continue;
      }
      cache_.DropPartial(id);
      return absl::DataLossError(absl::StrCat(
          "release ", id.substr(0, 12), ": the full image's payload does not match its SHA-256"));
    }
    absl::StatusOr<CachedRelease> stored;
    if (delta) {
      // A delta is small; the base image and the rebuilt one are held in memory.
      absl::StatusOr<std::string> payload = cache_.ReadPartial(id);
      absl::StatusOr<std::string> base = payload.ok()
                                             ? cache_.ReadImage(partial->delta_from_release_id)
                                             : absl::StatusOr<std::string>(payload.status());
      absl::StatusOr<std::string> image =
          base.ok() ? firmware::ApplyDelta(*base, *payload, manifest.image_size)
                    : absl::StatusOr<std::string>(base.status());
      stored = image.ok() ? cache_.Store(release.manifest(), release.signature(), *image)
                          : absl::StatusOr<CachedRelease>(image.status());
    } else if (streamed != nullptr && streamed->status().ok()) {
      stored = cache_.KeepImage(release.manifest(), release.signature(), std::move(streamed));
    } else {
      streamed.reset();  // (a failed rebuild: StoreFromPartial says why, from the partial file)
      stored = cache_.StoreFromPartial(release.manifest(), release.signature());
    }
    if (!stored.ok()) {
      if (delta) {
        fall_back(absl::StrCat("the image rebuilt from the delta was refused: ",
                               stored.status().message()));
        continue;
      }
      cache_.DropPartial(id);
      return absl::DataLossError(
          absl::StrCat("release ", id.substr(0, 12),
                       ": the downloaded image was refused: ", stored.status().message()));
    }
    result.release = *std::move(stored);
    result.from_delta = delta;
    return result;
  }
  return last;
}

}  // namespace camfleet::agent
