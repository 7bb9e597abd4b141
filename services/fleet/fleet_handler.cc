#include "services/fleet/fleet_handler.h"

#include "services/rpc/canonical_codes.h"
#include "services/rpc/unary.h"

namespace camfleet::fleet {

// Each method is the same three lines; the macros keep the twenty of them from drifting apart.
#define CAMFLEET_READ(Method)                                                           \
  grpc::ServerUnaryReactor* FleetHandler::Method(grpc::CallbackServerContext* ctx,      \
                                                 const v1::Method##Request* req,        \
                                                 v1::Method##Response* resp) {          \
    return rpc::HandleRead(ctx, auth_, "camfleet.v1.FleetService/" #Method, req, resp,  \
                           [this](const rpc::Identity&, const v1::Method##Request& r) { \
                             return manager_.Method(rpc::WithCanonicalCodes(r));        \
                           });                                                          \
  }
#define CAMFLEET_WRITE(Method)                                                                   \
  grpc::ServerUnaryReactor* FleetHandler::Method(grpc::CallbackServerContext* ctx,               \
                                                 const v1::Method##Request* req,                 \
                                                 v1::Method##Response* resp) {                   \
    return rpc::HandleWrite(ctx, auth_, "camfleet.v1.FleetService/" #Method, req, resp,          \
                            [this](const rpc::Identity& who, const v1::Method##Request& r,       \
                                   Done<v1::Method##Response> done) {                            \
                              manager_.Method(who, rpc::WithCanonicalCodes(r), std::move(done)); \
                            });                                                                  \
  }

CAMFLEET_READ(GetSite)
CAMFLEET_READ(ListSites)
CAMFLEET_READ(GetHolder)
CAMFLEET_READ(ListHolders)
CAMFLEET_READ(GetCamera)
CAMFLEET_READ(ListCameras)
CAMFLEET_READ(ListOverdueAssignments)
CAMFLEET_READ(GetCustodyTrail)
CAMFLEET_WRITE(CreateSite)
CAMFLEET_WRITE(CreateHolder)
CAMFLEET_WRITE(RegisterCamera)
CAMFLEET_WRITE(ImportManifest)
CAMFLEET_WRITE(CommissionCamera)
CAMFLEET_WRITE(IssueCamera)
CAMFLEET_WRITE(ReturnCamera)
CAMFLEET_WRITE(ReportCameraLost)
CAMFLEET_WRITE(ReportCameraFound)
CAMFLEET_WRITE(ReportCameraFaulty)
CAMFLEET_WRITE(RepairCamera)
CAMFLEET_WRITE(RetireCamera)

#undef CAMFLEET_READ
#undef CAMFLEET_WRITE

grpc::ServerUnaryReactor* FleetHandler::StartManifestImport(
    grpc::CallbackServerContext* ctx, const v1::StartManifestImportRequest* req,
    v1::StartManifestImportResponse* resp) {
  return rpc::HandleWrite(ctx, auth_, "camfleet.v1.FleetService/StartManifestImport", req, resp,
                          [this](const rpc::Identity& who, const v1::StartManifestImportRequest& r,
                                 Done<v1::StartManifestImportResponse> done) {
                            manager_.StartManifestImport(who, r.manifest(), std::move(done));
                          });
}

grpc::ServerUnaryReactor* FleetHandler::GetManifestImport(
    grpc::CallbackServerContext* ctx, const v1::GetManifestImportRequest* req,
    v1::GetManifestImportResponse* resp) {
  return rpc::HandleRead(ctx, auth_, "camfleet.v1.FleetService/GetManifestImport", req, resp,
                         [this](const rpc::Identity&, const v1::GetManifestImportRequest& r) {
                           return manager_.GetManifestImport(r);
                         });
}

}  // namespace camfleet::fleet
