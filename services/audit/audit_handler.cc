#include "services/audit/audit_handler.h"

#include "services/rpc/unary.h"

namespace camfleet::audit {

grpc::ServerUnaryReactor* AuditHandler::ListAuditEvents(grpc::CallbackServerContext* ctx,
                                                        const v1::ListAuditEventsRequest* req,
                                                        v1::ListAuditEventsResponse* resp) {
  return rpc::HandleRead(ctx, auth_, "camfleet.v1.AuditService/ListAuditEvents", req, resp,
                         [this](const rpc::Identity&, const v1::ListAuditEventsRequest& r) {
                           return manager_.ListAuditEvents(r);
                         });
}

grpc::ServerUnaryReactor* AuditHandler::VerifyAuditChain(grpc::CallbackServerContext* ctx,
                                                         const v1::VerifyAuditChainRequest* req,
                                                         v1::VerifyAuditChainResponse* resp) {
  // Verifying reads the whole chain (seconds on a big one): on the long-read thread, so that
  // it takes neither a callback thread nor the threads of the short reads.
  return rpc::HandleLongRead(ctx, auth_, "camfleet.v1.AuditService/VerifyAuditChain", req, resp,
                             [this](const rpc::Identity&, const v1::VerifyAuditChainRequest& r) {
                               return manager_.VerifyAuditChain(r);
                             });
}

grpc::ServerUnaryReactor* AuditHandler::CreateAuditCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::CreateAuditCheckpointRequest* req,
    v1::CreateAuditCheckpointResponse* resp) {
  return rpc::HandleRead(ctx, auth_, "camfleet.v1.AuditService/CreateAuditCheckpoint", req, resp,
                         [this](const rpc::Identity&, const v1::CreateAuditCheckpointRequest& r) {
                           return manager_.CreateAuditCheckpoint(r);
                         });
}

}  // namespace camfleet::audit
