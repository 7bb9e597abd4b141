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

#include <memory>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "camfleet/v1/firmware.pb.h"
#include "common/work_pool.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "services/firmware/image_store.h"
#include "services/rpc/identity.h"
#include "services/storage/store.h"

namespace camfleet::firmware_service {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

inline constexpr size_t kMaxChunkBytes = 1 << 20;

class FirmwareManager {
 public:
  FirmwareManager(storage::Store& store, std::unique_ptr<ImageStore> images);
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

  // The trusted keys as the store holds them now.
  absl::StatusOr<firmware::Trust> LoadTrust();
  ImageStore& images() { return *images_; }

 private:
  void Finish(std::unique_ptr<UploadSession> session, Done<v1::UploadReleaseResponse> done);

  storage::Store& store_;
  std::unique_ptr<ImageStore> images_;
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
