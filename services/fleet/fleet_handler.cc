#include "services/fleet/fleet_handler.h"

#include "services/rpc/unary.h"

namespace camfleet::fleet {

// Each method is the same three lines; the macros keep the twenty of them from drifting apart.
#define CAMFLEET_READ(Method)                                                                  \
  grpc::ServerUnaryReactor* FleetHandler::Method(grpc::CallbackServerContext* ctx,             \
                                                 const v1::Method##Request* req,               \
                                                 v1::Method##Response* resp) {                 \
    return rpc::HandleRead(ctx, auth_, "camfleet.v1.FleetService/" #Method, req, resp,         \
                           [this](const rpc::Identity&, const v1::Method##Request& r) {        \
                             return manager_.Method(r);                                         \
                           });                                                                  \
  }
#define CAMFLEET_WRITE(Method)                                                                 \
  grpc::ServerUnaryReactor* FleetHandler::Method(grpc::CallbackServerContext* ctx,             \
                                                 const v1::Method##Request* req,               \
                                                 v1::Method##Response* resp) {                 \
    return rpc::HandleWrite(ctx, auth_, "camfleet.v1.FleetService/" #Method, req, resp,        \
                            [this](const rpc::Identity& who, const v1::Method##Request& r,     \
                                   Done<v1::Method##Response> done) {                          \
                              manager_.Method(who, r, std::move(done));                        \
                            });                                                                \
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

}  // namespace camfleet::fleet
