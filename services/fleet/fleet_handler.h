#pragma once
// gRPC edge of the fleet service: authenticates the caller and forwards to FleetManager.

#include "camfleet/v1/fleet.grpc.pb.h"
#include "services/fleet/fleet_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::fleet {

class FleetHandler final : public v1::FleetService::CallbackService {
 public:
  FleetHandler(FleetManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

#define CAMFLEET_FLEET_RPC(Method)                                                  \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                \
                                   const v1::Method##Request* req,                  \
                                   v1::Method##Response* resp) override;
  CAMFLEET_FLEET_RPC(CreateSite)
  CAMFLEET_FLEET_RPC(GetSite)
  CAMFLEET_FLEET_RPC(ListSites)
  CAMFLEET_FLEET_RPC(CreateHolder)
  CAMFLEET_FLEET_RPC(GetHolder)
  CAMFLEET_FLEET_RPC(ListHolders)
  CAMFLEET_FLEET_RPC(RegisterCamera)
  CAMFLEET_FLEET_RPC(ImportManifest)
  CAMFLEET_FLEET_RPC(GetCamera)
  CAMFLEET_FLEET_RPC(ListCameras)
  CAMFLEET_FLEET_RPC(CommissionCamera)
  CAMFLEET_FLEET_RPC(IssueCamera)
  CAMFLEET_FLEET_RPC(ReturnCamera)
  CAMFLEET_FLEET_RPC(ReportCameraLost)
  CAMFLEET_FLEET_RPC(ReportCameraFound)
  CAMFLEET_FLEET_RPC(ReportCameraFaulty)
  CAMFLEET_FLEET_RPC(RepairCamera)
  CAMFLEET_FLEET_RPC(RetireCamera)
  CAMFLEET_FLEET_RPC(ListOverdueAssignments)
  CAMFLEET_FLEET_RPC(GetCustodyTrail)
#undef CAMFLEET_FLEET_RPC
  grpc::ServerUnaryReactor* StartManifestImport(grpc::CallbackServerContext* ctx,
                                                const v1::StartManifestImportRequest* req,
                                                v1::StartManifestImportResponse* resp) override;
  grpc::ServerUnaryReactor* GetManifestImport(grpc::CallbackServerContext* ctx,
                                              const v1::GetManifestImportRequest* req,
                                              v1::GetManifestImportResponse* resp) override;

 private:
  FleetManager& manager_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::fleet
