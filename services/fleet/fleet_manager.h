#pragma once
// The fleet: sites, holders, cameras, their lifecycle and custody. Plain C++ over the store;
// the gRPC handler in fleet_handler.h only authenticates, calls in here and maps the result.
//
// Reads return at once. Writes are queued on the store's writer and `done` is called, on the
// writer thread, once the change and its audit event are committed together (or failed).
// Every method validates its request first and changes nothing when it is refused.

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "camfleet/v1/fleet.pb.h"
#include "services/rpc/identity.h"
#include "services/rpc/page_token.h"
#include "services/rpc/revocation_set.h"
#include "services/fleet/manifest_import.h"
#include "services/storage/store.h"

namespace camfleet::fleet {

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>)>;

class FleetManager {
 public:
  // `revoked` receives the serials of certificates revoked by lifecycle changes (a camera
  // reported lost or retired), so that docks and the server refuse them at once.
  // Big manifest imports cut by a restart are taken up here (manifest_import.h).
  FleetManager(storage::Store& store, const rpc::PageTokens& tokens, rpc::RevocationSet& revoked,
               const ManifestImportOptions& imports = {});
  // For tools and tests that need no shared revocation set: keeps its own.
  FleetManager(storage::Store& store, const rpc::PageTokens& tokens);
  // Stops running imports (they import nothing) and waits for their threads.
  ~FleetManager();

  void CreateSite(const rpc::Identity& who, const v1::CreateSiteRequest& req,
                  Done<v1::CreateSiteResponse> done);
  absl::StatusOr<v1::GetSiteResponse> GetSite(const v1::GetSiteRequest& req);
  absl::StatusOr<v1::ListSitesResponse> ListSites(const v1::ListSitesRequest& req);

  void CreateHolder(const rpc::Identity& who, const v1::CreateHolderRequest& req,
                    Done<v1::CreateHolderResponse> done);
  absl::StatusOr<v1::GetHolderResponse> GetHolder(const v1::GetHolderRequest& req);
  absl::StatusOr<v1::ListHoldersResponse> ListHolders(const v1::ListHoldersRequest& req);

  void RegisterCamera(const rpc::Identity& who, const v1::RegisterCameraRequest& req,
                      Done<v1::RegisterCameraResponse> done);
  // A manifest of up to one chunk of rows is imported in one write; a bigger one runs as an
  // import job (manifest_import.h) and `done` is called when it ends.
  void ImportManifest(const rpc::Identity& who, const v1::ImportManifestRequest& req,
                      Done<v1::ImportManifestResponse> done);
  // Starts an import job and answers with its id (manifest_import.h).
  void StartManifestImport(const rpc::Identity& who, const v1::ImportManifestRequest& req,
                           Done<v1::StartManifestImportResponse> done);
  absl::StatusOr<v1::GetManifestImportResponse> GetManifestImport(
      const v1::GetManifestImportRequest& req);
  absl::StatusOr<v1::GetCameraResponse> GetCamera(const v1::GetCameraRequest& req);
  absl::StatusOr<v1::ListCamerasResponse> ListCameras(const v1::ListCamerasRequest& req);

  void CommissionCamera(const rpc::Identity& who, const v1::CommissionCameraRequest& req,
                        Done<v1::CommissionCameraResponse> done);
  void IssueCamera(const rpc::Identity& who, const v1::IssueCameraRequest& req,
                   Done<v1::IssueCameraResponse> done);
  void ReturnCamera(const rpc::Identity& who, const v1::ReturnCameraRequest& req,
                    Done<v1::ReturnCameraResponse> done);
  void ReportCameraLost(const rpc::Identity& who, const v1::ReportCameraLostRequest& req,
                        Done<v1::ReportCameraLostResponse> done);
  void ReportCameraFound(const rpc::Identity& who, const v1::ReportCameraFoundRequest& req,
                         Done<v1::ReportCameraFoundResponse> done);
  void ReportCameraFaulty(const rpc::Identity& who, const v1::ReportCameraFaultyRequest& req,
                          Done<v1::ReportCameraFaultyResponse> done);
  void RepairCamera(const rpc::Identity& who, const v1::RepairCameraRequest& req,
                    Done<v1::RepairCameraResponse> done);
  void RetireCamera(const rpc::Identity& who, const v1::RetireCameraRequest& req,
                    Done<v1::RetireCameraResponse> done);

  absl::StatusOr<v1::ListOverdueAssignmentsResponse> ListOverdueAssignments(
      const v1::ListOverdueAssignmentsRequest& req);
  absl::StatusOr<v1::GetCustodyTrailResponse> GetCustodyTrail(
      const v1::GetCustodyTrailRequest& req);

 private:
  // Runs `fn` in a write transaction and hands the response it filled to `done`.
  template <typename Resp, typename Fn>
  void RunWrite(Fn fn, Done<Resp> done);

  storage::Store& store_;
  const rpc::PageTokens& tokens_;
  std::unique_ptr<rpc::RevocationSet> own_revoked_;
  rpc::RevocationSet* revoked_;
  std::unique_ptr<ManifestImporter> importer_;
};

}  // namespace camfleet::fleet
