#pragma once
// gRPC edge of ReportService over ReportManager.

#include "camfleet/v1/report.grpc.pb.h"
#include "services/reports/report_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::reports {

class ReportHandler final : public v1::ReportService::CallbackService {
 public:
  ReportHandler(ReportManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

#define CAMFLEET_REPORT_RPC(Method)                                                            \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                           \
                                   const v1::Method##Request* req, v1::Method##Response* resp) \
      override;
  CAMFLEET_REPORT_RPC(RunReport)
  CAMFLEET_REPORT_RPC(CheckStock)
  CAMFLEET_REPORT_RPC(RecordStockCheck)
  CAMFLEET_REPORT_RPC(ListStockChecksDue)
  CAMFLEET_REPORT_RPC(SetStockCheckInterval)
#undef CAMFLEET_REPORT_RPC

 private:
  ReportManager& manager_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::reports
