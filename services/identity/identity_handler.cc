#include "services/identity/identity_handler.h"

#include "services/rpc/unary.h"

namespace camfleet::identity {

#define CAMFLEET_READ(Handler, Service, Method)                                         \
  grpc::ServerUnaryReactor* Handler::Method(grpc::CallbackServerContext* ctx,           \
                                            const v1::Method##Request* req,             \
                                            v1::Method##Response* resp) {               \
    return rpc::HandleRead(ctx, auth_, "camfleet.v1." #Service "/" #Method, req, resp,  \
                           [this](const rpc::Identity&, const v1::Method##Request& r) { \
                             return manager_.Method(r);                                 \
                           });                                                          \
  }
#define CAMFLEET_WRITE(Handler, Service, Method)                                                \
  grpc::ServerUnaryReactor* Handler::Method(grpc::CallbackServerContext* ctx,                   \
                                            const v1::Method##Request* req,                     \
                                            v1::Method##Response* resp) {                       \
    return rpc::HandleWrite(                                                                    \
        ctx, auth_, "camfleet.v1." #Service "/" #Method, req, resp,                             \
        [this](const rpc::Identity& who, const v1::Method##Request& r,                          \
               Done<v1::Method##Response> done) { manager_.Method(who, r, std::move(done)); }); \
  }

CAMFLEET_READ(ProvisioningHandler, ProvisioningService, ListOperators)
CAMFLEET_READ(ProvisioningHandler, ProvisioningService, ListEnrollmentTokens)
CAMFLEET_READ(ProvisioningHandler, ProvisioningService, ListDocks)
CAMFLEET_READ(ProvisioningHandler, ProvisioningService, ListCertificates)
CAMFLEET_READ(ProvisioningHandler, ProvisioningService, ListSupplierCas)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, IssueOperatorCertificate)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, RenewOperatorCertificate)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, RevokeOperator)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, CreateEnrollmentToken)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, RevokeDock)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, RevokeCertificate)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, ResetCameraEnrollment)
CAMFLEET_WRITE(ProvisioningHandler, ProvisioningService, AddSupplierCa)

// GetCrl may build a new CRL, which takes a write (the CRL number), so it finishes like a write.
grpc::ServerUnaryReactor* ProvisioningHandler::GetCrl(grpc::CallbackServerContext* ctx,
                                                      const v1::GetCrlRequest* req,
                                                      v1::GetCrlResponse* resp) {
  return rpc::HandleWrite(
      ctx, auth_, "camfleet.v1.ProvisioningService/GetCrl", req, resp,
      [this](const rpc::Identity&, const v1::GetCrlRequest& r, Done<v1::GetCrlResponse> done) {
        manager_.GetCrl(r, std::move(done));
      });
}

#undef CAMFLEET_READ
#undef CAMFLEET_WRITE

}  // namespace camfleet::identity
