#pragma once
// FirmwareService as plain C++: trusted signing keys, release upload with every check made
// before anything is kept, listing, withdrawal, and the delivery choice for docks (delta or
// compressed full image, whichever is smaller). Metadata goes to the store (with audit events in
// the same transaction); bytes go to the content-addressed ImageStore.
//
// An upload is a session: BeginUpload checks the signed manifest before any image byte is taken,
// AddChunk streams bytes to a temporary file (refusing any past the signed size), and
// FinishUpload verifies size and SHA-256, moves the image into the store, computes the
// compressed image and deltas from earlier releases of the same models, then records the
// release. Slow work (hashing, compression) runs on the manager's own thread, not on gRPC's.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "camfleet/v1/firmware.pb.h"
#include "camfleet/v1/provisioning.pb.h"
#include "common/work_pool.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "services/firmware/image_store.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/storage/store.h"

namespace camfleet::firmware_service {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

inline constexpr size_t kMaxChunkBytes = 1 << 20;

struct FirmwareOptions {
  // How often camfleetd collects the image store (CollectGarbage; real time); zero: never on
  // its own. The first run comes one interval after the start, at most 10 minutes.
  absl::Duration gc_interval = absl::Hours(1);
};

// What one collection of the image store did.
struct GcReport {
  // Withdrawn releases no unfinished rollout names whose objects left the store in this run.
  std::vector<std::string> release_ids;
  // Deltas whose rows went, as (from release id, to release id).
  std::vector<std::pair<std::string, std::string>> dropped_deltas;
  int objects_removed = 0;
  uint64_t bytes_freed = 0;
};

class FirmwareManager {
 public:
  FirmwareManager(storage::Store& store, std::unique_ptr<ImageStore> images,
                  const rpc::PageTokens& tokens, FirmwareOptions options = {});
  ~FirmwareManager();

  class UploadSession;
  // Checks the header and the release it announces. Errors as in firmware.proto. A release the
  // server holds already comes back as an OK session with `finished()` set.
  absl::StatusOr<std::unique_ptr<UploadSession>> BeginUpload(const rpc::Identity& who,
                                                             const v1::ReleaseHeader& header);
  // INVALID_ARGUMENT for an empty or oversized chunk, or one that goes past the signed size.
  absl::Status AddChunk(UploadSession& session, absl::string_view chunk);
  // Verifies, stores and records. `done` runs on another thread.
  void FinishUpload(std::unique_ptr<UploadSession> session, Done<v1::UploadReleaseResponse> done);

  absl::StatusOr<v1::ListReleasesResponse> ListReleases(const v1::ListReleasesRequest& req);
  void WithdrawRelease(const rpc::Identity& who, const v1::WithdrawReleaseRequest& req,
                       Done<v1::WithdrawReleaseResponse> done);
  void AddSigningKey(const rpc::Identity& who, const v1::AddSigningKeyRequest& req,
                     Done<v1::AddSigningKeyResponse> done);
  absl::StatusOr<v1::ListSigningKeysResponse> ListSigningKeys(const v1::ListSigningKeysRequest&);
  void RetireSigningKey(const rpc::Identity& who, const v1::RetireSigningKeyRequest& req,
                        Done<v1::RetireSigningKeyResponse> done);

  // What a dock should fetch for `release_id` when it holds the image with SHA-256
  // `cached_image_sha256` (empty: none): the delta from it if the server has one and it is
  // smaller than the compressed full image, else the compressed full image.
  struct Offer {
    bool delta = false;
    std::string object_sha256;  // in the ImageStore
    uint64_t size_bytes = 0;
  };
  absl::StatusOr<Offer> ChooseDelivery(const std::string& release_id,
                                       const std::string& cached_image_sha256);

  // Where a dock's download comes from (DockService.DownloadRelease): the header to send and the
  // ImageStore object whose bytes follow. Errors: INVALID_ARGUMENT for a malformed request;
  // NOT_FOUND for a release the server does not hold; FAILED_PRECONDITION for a withdrawn one,
  // or a resume whose encoding or delta base the server no longer offers (start again with
  // encoding unset); OUT_OF_RANGE for a resume offset past the payload.
  struct DownloadSource {
    v1::DownloadHeader header;
    std::string object_path;
  };
  absl::StatusOr<DownloadSource> PrepareDownload(const v1::DownloadReleaseRequest& req);

  // What ExportRelease streams: the bundle's prefix (firmware/bundle.h), then the image file's
  // bytes, then the suffix. Errors: INVALID_ARGUMENT for a malformed id; NOT_FOUND.
  struct ExportSource {
    std::string prefix;
    std::string image_path;
    uint64_t image_size = 0;
  };
  absl::StatusOr<ExportSource> PrepareExport(const v1::ExportReleaseRequest& req);

  // Payload bytes handed to each dock's download streams since the server started, by dock id:
  // what a test (and later /metrics) reads to see that a dock fetched a release once.
  void CountServed(const std::string& dock_id, uint64_t bytes);
  uint64_t BytesServedTo(const std::string& dock_id) const;
  std::map<std::string, uint64_t> BytesServed() const;

  // Collects the image store: removes the objects of withdrawn releases that no unfinished
  // rollout names, the deltas to them and from them (a delta from one is kept while an
  // unfinished rollout of its target may still be fetching it), and any object no release or
  // delta row names (what a crash between storing an upload and recording it left). Objects a
  // release still offered for download names are never removed. The rows go, with a
  // `firmware.gc` audit event, in one transaction before any file is removed; a run that finds
  // nothing writes nothing. Runs on the manager's thread, after any upload being finished, so
  // an upload's objects are never taken for garbage before its row is written.
  absl::StatusOr<GcReport> CollectGarbage();
  // Runs CollectGarbage every options.gc_interval on a thread of its own until StopGc (the
  // server stops it before its store).
  void StartGc();
  void StopGc();

  // The trusted keys as the store holds them now.
  absl::StatusOr<firmware::Trust> LoadTrust();
  ImageStore& images() { return *images_; }

 private:
  void Finish(std::unique_ptr<UploadSession> session, Done<v1::UploadReleaseResponse> done);
  absl::StatusOr<GcReport> Collect();

  storage::Store& store_;
  std::unique_ptr<ImageStore> images_;
  const rpc::PageTokens& tokens_;
  const FirmwareOptions options_;
  absl::Mutex gc_mu_;
  bool gc_stop_ ABSL_GUARDED_BY(gc_mu_) = false;
  std::thread gc_thread_;
  mutable absl::Mutex served_mu_;
  std::map<std::string, uint64_t> served_ ABSL_GUARDED_BY(served_mu_);
  // Last: its destructor runs what is queued, which uses the members above.
  common::WorkPool pool_;
};

class FirmwareManager::UploadSession {
 public:
  bool finished() const { return finished_.has_value(); }

 private:
  friend class FirmwareManager;
  rpc::Identity who;
  std::string release_id;
  std::string manifest_bytes;
  std::string signature;
  firmware::Manifest manifest;
  std::unique_ptr<ImageStore::Upload> upload;
  std::optional<v1::UploadReleaseResponse> finished_;
};

}  // namespace camfleet::firmware_service
