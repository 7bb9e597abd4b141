#pragma once
// gRPC edge of MonitoringService over MonitoringManager.

#include "camfleet/v1/monitoring.grpc.pb.h"
#include "services/monitoring/monitoring_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::monitoring {

class MonitoringHandler final : public v1::MonitoringService::CallbackService {
 public:
  MonitoringHandler(MonitoringManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

#define CAMFLEET_MONITORING_RPC(Method)                                                        \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                           \
                                   const v1::Method##Request* req, v1::Method##Response* resp) \
      override;
  CAMFLEET_MONITORING_RPC(ListAlerts)
  CAMFLEET_MONITORING_RPC(AcknowledgeAlert)
  CAMFLEET_MONITORING_RPC(ListConflicts)
  CAMFLEET_MONITORING_RPC(ResolveConflict)
  CAMFLEET_MONITORING_RPC(ListHealthReadings)
  CAMFLEET_MONITORING_RPC(GetSiteRules)
  CAMFLEET_MONITORING_RPC(SetSiteRules)
#undef CAMFLEET_MONITORING_RPC

 private:
  MonitoringManager& manager_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::monitoring
