#include "services/reports/report_handler.h"

#include "services/rpc/canonical_codes.h"
#include "services/rpc/unary.h"

namespace camfleet::reports {

#define CAMFLEET_READ(Method)                                                           \
  grpc::ServerUnaryReactor* ReportHandler::Method(grpc::CallbackServerContext* ctx,     \
                                                  const v1::Method##Request* req,       \
                                                  v1::Method##Response* resp) {         \
    return rpc::HandleRead(ctx, auth_, "camfleet.v1.ReportService/" #Method, req, resp, \
                           [this](const rpc::Identity&, const v1::Method##Request& r) { \
                             return manager_.Method(rpc::WithCanonicalCodes(r));        \
                           });                                                          \
  }
#define CAMFLEET_WRITE(Method)                                                                   \
  grpc::ServerUnaryReactor* ReportHandler::Method(grpc::CallbackServerContext* ctx,              \
                                                  const v1::Method##Request* req,                \
                                                  v1::Method##Response* resp) {                  \
    return rpc::HandleWrite(ctx, auth_, "camfleet.v1.ReportService/" #Method, req, resp,         \
                            [this](const rpc::Identity& who, const v1::Method##Request& r,       \
                                   Done<v1::Method##Response> done) {                            \
                              manager_.Method(who, rpc::WithCanonicalCodes(r), std::move(done)); \
                            });                                                                  \
  }

CAMFLEET_READ(RunReport)
CAMFLEET_READ(CheckStock)
CAMFLEET_WRITE(RecordStockCheck)
CAMFLEET_READ(ListStockChecksDue)
CAMFLEET_WRITE(SetStockCheckInterval)

#undef CAMFLEET_READ
#undef CAMFLEET_WRITE

}  // namespace camfleet::reports
