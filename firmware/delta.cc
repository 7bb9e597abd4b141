#include "firmware/delta.h"

#include <zstd.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"

namespace camfleet::firmware {
namespace {

struct FreeCCtx {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct FreeDCtx {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
using CCtxPtr = std::unique_ptr<ZSTD_CCtx, FreeCCtx>;
using DCtxPtr = std::unique_ptr<ZSTD_DCtx, FreeDCtx>;

// The largest window zstd takes on a 64-bit machine.
constexpr int kMaxWindowLog = 31;

// A window that holds all of `bytes`: back-references may reach anywhere into the old image.
int WindowLogFor(uint64_t bytes) {
  int log = 10;
  while (log < kMaxWindowLog && (uint64_t{1} << log) < bytes) ++log;
  return log;
}

absl::Status ZstdError(absl::StatusCode code, absl::string_view what, size_t rc) {
  return absl::Status(code, absl::StrCat(what, ": ", ZSTD_getErrorName(rc)));
}

absl::StatusOr<std::string> CompressWithPrefix(absl::string_view prefix, absl::string_view data) {
  CCtxPtr cctx(ZSTD_createCCtx());
  if (cctx == nullptr) return absl::InternalError("zstd: out of memory");
  const int window = WindowLogFor(std::max<uint64_t>(prefix.size(), data.size()) + 1);
  for (auto [param, value] :
       {std::pair{ZSTD_c_compressionLevel, kCompressionLevel}, std::pair{ZSTD_c_windowLog, window},
        std::pair{ZSTD_c_enableLongDistanceMatching, 1}, std::pair{ZSTD_c_checksumFlag, 1}}) {
    if (size_t rc = ZSTD_CCtx_setParameter(cctx.get(), param, value); ZSTD_isError(rc)) {
      return ZstdError(absl::StatusCode::kInternal, "zstd parameter", rc);
    }
  }
  if (!prefix.empty()) {
    if (size_t rc = ZSTD_CCtx_refPrefix(cctx.get(), prefix.data(), prefix.size());
        ZSTD_isError(rc)) {
      return ZstdError(absl::StatusCode::kInternal, "zstd prefix", rc);
    }
  }
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) return ZstdError(absl::StatusCode::kInternal, "zstd compress", n);
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> DecompressWithPrefix(absl::string_view prefix, absl::string_view frame,
                                                 uint64_t max_size) {
  DCtxPtr dctx(ZSTD_createDCtx());
  if (dctx == nullptr) return absl::InternalError("zstd: out of memory");
  if (size_t rc = ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxWindowLog);
      ZSTD_isError(rc)) {
    return ZstdError(absl::StatusCode::kInternal, "zstd parameter", rc);
  }
  if (!prefix.empty()) {
    if (size_t rc = ZSTD_DCtx_refPrefix(dctx.get(), prefix.data(), prefix.size());
        ZSTD_isError(rc)) {
      return ZstdError(absl::StatusCode::kInternal, "zstd prefix", rc);
    }
  }
  // The frame's declared size is not trusted; output is bounded by `max_size` (plus one byte to
  // notice a frame that tries to go past it).
  std::string out;
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  const size_t step = ZSTD_DStreamOutSize();
  size_t rc = 1;
  while (rc != 0) {
    const size_t have = out.size();
    const uint64_t room = max_size + 1 - have;
    if (room == 0) break;
    out.resize(have + static_cast<size_t>(std::min<uint64_t>(step, room)));
    ZSTD_outBuffer o{out.data() + have, out.size() - have, 0};
    rc = ZSTD_decompressStream(dctx.get(), &o, &in);
    out.resize(have + o.pos);
    if (ZSTD_isError(rc)) {
      return ZstdError(absl::StatusCode::kInvalidArgument, "the compressed data is damaged", rc);
    }
    if (rc != 0 && in.pos == in.size && o.pos == 0) {
      return absl::InvalidArgumentError("the compressed data is truncated");
    }
  }
  if (out.size() > max_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("the compressed data expands past the signed size of ", max_size, " bytes"));
  }
  if (in.pos != in.size) {
    return absl::InvalidArgumentError("the compressed data has trailing bytes");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> MakeDelta(absl::string_view old_image, absl::string_view new_image) {
  return CompressWithPrefix(old_image, new_image);
}

absl::StatusOr<std::string> ApplyDelta(absl::string_view old_image, absl::string_view delta,
                                       uint64_t max_size) {
  return DecompressWithPrefix(old_image, delta, max_size);
}

absl::StatusOr<std::string> Compress(absl::string_view image) {
  return CompressWithPrefix({}, image);
}

absl::StatusOr<std::string> Decompress(absl::string_view compressed, uint64_t max_size) {
  return DecompressWithPrefix({}, compressed, max_size);
}

absl::StatusOr<RebuiltImage> RebuildImage(
    const Trust& trust, absl::string_view manifest_bytes, absl::string_view signature,
    absl::string_view old_image, absl::string_view delta,
    const std::function<absl::StatusOr<std::string>()>& fetch_full) {
  absl::StatusOr<Manifest> manifest = trust.Verify(manifest_bytes, signature);
  if (!manifest.ok()) return manifest.status();
  RebuiltImage result;
  absl::StatusOr<std::string> rebuilt = ApplyDelta(old_image, delta, manifest->image_size);
  absl::Status why = rebuilt.status();
  if (rebuilt.ok()) why = CheckImage(*manifest, *rebuilt);
  if (why.ok()) {
    result.image = *std::move(rebuilt);
    result.from_delta = true;
    return result;
  }
  result.fallback_reason = absl::StrCat("delta not used: ", why.message());
  absl::StatusOr<std::string> compressed = fetch_full();
  if (!compressed.ok()) return compressed.status();
  absl::StatusOr<std::string> full = Decompress(*compressed, manifest->image_size);
  if (!full.ok()) return full.status();
  if (absl::Status s = CheckImage(*manifest, *full); !s.ok()) return s;
  result.image = *std::move(full);
  return result;
}

}  // namespace camfleet::firmware
