#include "services/firmware/release_download.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/work_pool.h"
#include "firmware/bundle.h"
#include "services/rpc/grpc_status.h"

namespace camfleet::firmware_service {
namespace {

// Never destroyed, like rpc::ReadPool: a static's destructor could run while calls finish.
common::WorkPool& StreamPool() {
  static common::WorkPool* pool = new common::WorkPool(2, "fw-stream");
  return *pool;
}

// Part of what a stream sends: bytes in memory, or `size` bytes of a file from `offset`.
struct Segment {
  std::string bytes;
  std::string path;
  uint64_t offset = 0;
  uint64_t size = 0;
};

Segment Bytes(std::string bytes) {
  Segment s;
  s.bytes = std::move(bytes);
  return s;
}

Segment FileRange(std::string path, uint64_t offset, uint64_t size) {
  Segment s;
  s.path = std::move(path);
  s.offset = offset;
  s.size = size;
  return s;
}

template <typename Resp>
struct StreamPlan {
  // Sent first (a header); may be unset.
  std::optional<Resp> first;
  std::vector<Segment> segments;
};

// Streams a plan's segments in chunks of at most kMaxChunkBytes, one chunk in memory at a time:
// the next is read (on StreamPool, never on a gRPC thread) only once gRPC took the last.
template <typename Resp>
class StreamReactor final : public grpc::ServerWriteReactor<Resp> {
 public:
  using Prepare = std::function<absl::StatusOr<StreamPlan<Resp>>(const rpc::Identity&)>;
  using Count = std::function<void(const rpc::Identity&, uint64_t)>;

  StreamReactor(const rpc::Authenticator& auth, grpc::CallbackServerContext* ctx,
                absl::string_view method, Prepare prepare, Count count)
      : ctx_(ctx), count_(std::move(count)) {
    absl::StatusOr<rpc::Identity> who = auth.Authenticate(*ctx, method);
    if (!who.ok()) {
      this->Finish(rpc::ToGrpcStatus(who.status()));
      return;
    }
    who_ = *std::move(who);
    StreamPool().Schedule([this, prepare = std::move(prepare)] { Start(prepare); });
  }

  ~StreamReactor() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The other side went away (a link drop): a dock resumes from what it holds.
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    if (count_ && last_chunk_bytes_ > 0) count_(who_, last_chunk_bytes_);
    StreamPool().Schedule([this] { SendNext(); });
  }

  void OnDone() override { delete this; }

 private:
  void Start(const Prepare& prepare) {
    absl::StatusOr<StreamPlan<Resp>> plan = prepare(who_);
    if (!plan.ok()) {
      this->Finish(rpc::ToGrpcStatus(plan.status()));
      return;
    }
    segments_ = std::move(plan->segments);
    if (plan->first.has_value()) {
      out_ = *std::move(plan->first);
      last_chunk_bytes_ = 0;
      this->StartWrite(&out_);
      return;
    }
    SendNext();
  }

  void SendNext() {
    if (ctx_->IsCancelled()) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled"));
      return;
    }
    while (index_ < segments_.size() && at_ >= SegmentSize(segments_[index_])) {
      ++index_;
      at_ = 0;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
    if (index_ >= segments_.size()) {
      this->Finish(grpc::Status::OK);
      return;
    }
    const Segment& seg = segments_[index_];
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(kMaxChunkBytes, SegmentSize(seg) - at_));
    out_.Clear();
    std::string* chunk = out_.mutable_chunk();
    if (seg.path.empty()) {
      chunk->assign(seg.bytes, static_cast<size_t>(at_), want);
    } else {
      if (fd_ < 0) fd_ = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) {
        this->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                  absl::StrCat("cannot open ", seg.path, ": ",
                                               std::strerror(errno))));
        return;
      }
      chunk->resize(want);
      size_t got = 0;
      while (got < want) {
        const ssize_t n = ::pread(fd_, chunk->data() + got, want - got,
                                  static_cast<off_t>(seg.offset + at_ + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          this->Finish(grpc::Status(grpc::StatusCode::DATA_LOSS,
                                    absl::StrCat("firmware object ", seg.path,
                                                 " ends early at byte ", seg.offset + at_ + got)));
          return;
        }
        got += static_cast<size_t>(n);
      }
    }
    at_ += want;
    last_chunk_bytes_ = want;
    this->StartWrite(&out_);
  }

  static uint64_t SegmentSize(const Segment& s) {
    return s.path.empty() ? s.bytes.size() : s.size;
  }

  grpc::CallbackServerContext* ctx_;
  Count count_;
  rpc::Identity who_;
  std::vector<Segment> segments_;
  size_t index_ = 0;
  uint64_t at_ = 0;
  int fd_ = -1;
  uint64_t last_chunk_bytes_ = 0;
  Resp out_;
};

}  // namespace

grpc::ServerWriteReactor<v1::DownloadReleaseResponse>* StartReleaseDownload(
    FirmwareManager& manager, const rpc::Authenticator& auth, grpc::CallbackServerContext* ctx,
    const v1::DownloadReleaseRequest* req) {
  using Plan = StreamPlan<v1::DownloadReleaseResponse>;
  // `req` stays valid until the call finishes.
  return new StreamReactor<v1::DownloadReleaseResponse>(
      auth, ctx, kDownloadReleaseMethod,
      [&manager, req](const rpc::Identity&) -> absl::StatusOr<Plan> {
        absl::StatusOr<FirmwareManager::DownloadSource> source = manager.PrepareDownload(*req);
        if (!source.ok()) return source.status();
        Plan plan;
        plan.first.emplace();
        *plan.first->mutable_header() = source->header;
        // The payload from the offset on: a segment over the file, skipping what the dock holds.
        plan.segments.push_back(
            FileRange(source->object_path, source->header.offset(),
                      source->header.payload_size() - source->header.offset()));
        return plan;
      },
      [&manager](const rpc::Identity& who, uint64_t bytes) { manager.CountServed(who.name, bytes); });
}

grpc::ServerWriteReactor<v1::ExportReleaseResponse>* StartReleaseExport(
    FirmwareManager& manager, const rpc::Authenticator& auth, grpc::CallbackServerContext* ctx,
    const v1::ExportReleaseRequest* req) {
  using Plan = StreamPlan<v1::ExportReleaseResponse>;
  return new StreamReactor<v1::ExportReleaseResponse>(
      auth, ctx, kExportReleaseMethod,
      [&manager, req](const rpc::Identity&) -> absl::StatusOr<Plan> {
        absl::StatusOr<FirmwareManager::ExportSource> source = manager.PrepareExport(*req);
        if (!source.ok()) return source.status();
        Plan plan;
        plan.first.emplace();
        plan.first->set_bundle_size(source->prefix.size() + source->image_size +
                                    sizeof(firmware::kBundleSuffix) - 1);
        plan.segments.push_back(Bytes(std::move(source->prefix)));
        plan.segments.push_back(FileRange(source->image_path, 0, source->image_size));
        plan.segments.push_back(Bytes(firmware::kBundleSuffix));
        return plan;
      },
      nullptr);
}

}  // namespace camfleet::firmware_service
