#pragma once
// gRPC edge of the audit service.

#include "camfleet/v1/audit.grpc.pb.h"
#include "services/audit/audit_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::audit {

class AuditHandler final : public v1::AuditService::CallbackService {
 public:
  AuditHandler(AuditManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* ctx,
                                            const v1::ListAuditEventsRequest* req,
                                            v1::ListAuditEventsResponse* resp) override;
  grpc::ServerUnaryReactor* VerifyAuditChain(grpc::CallbackServerContext* ctx,
                                             const v1::VerifyAuditChainRequest* req,
                                             v1::VerifyAuditChainResponse* resp) override;
  grpc::ServerUnaryReactor* CreateAuditCheckpoint(
      grpc::CallbackServerContext* ctx, const v1::CreateAuditCheckpointRequest* req,
      v1::CreateAuditCheckpointResponse* resp) override;

 private:
  AuditManager& manager_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::audit
