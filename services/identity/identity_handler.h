#pragma once
// The gRPC edge of ProvisioningService over IdentityManager. DockService (enrollment and the
// sync stream) is served by services/dock/dock_handler.h, over IdentityManager as well.

#include "camfleet/v1/provisioning.grpc.pb.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::identity {

#define CAMFLEET_IDENTITY_RPC(Method)                                                          \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                           \
                                   const v1::Method##Request* req, v1::Method##Response* resp) \
      override;

class ProvisioningHandler final : public v1::ProvisioningService::CallbackService {
 public:
  ProvisioningHandler(IdentityManager& manager, const rpc::Authenticator& auth)
      : manager_(manager), auth_(auth) {}

  CAMFLEET_IDENTITY_RPC(ListOperators)
  CAMFLEET_IDENTITY_RPC(ListEnrollmentTokens)
  CAMFLEET_IDENTITY_RPC(ListDocks)
  CAMFLEET_IDENTITY_RPC(ListCertificates)
  CAMFLEET_IDENTITY_RPC(ListSupplierCas)
  CAMFLEET_IDENTITY_RPC(IssueOperatorCertificate)
  CAMFLEET_IDENTITY_RPC(RenewOperatorCertificate)
  CAMFLEET_IDENTITY_RPC(RevokeOperator)
  CAMFLEET_IDENTITY_RPC(CreateEnrollmentToken)
  CAMFLEET_IDENTITY_RPC(RevokeDock)
  CAMFLEET_IDENTITY_RPC(RevokeCertificate)
  CAMFLEET_IDENTITY_RPC(ResetCameraEnrollment)
  CAMFLEET_IDENTITY_RPC(AddSupplierCa)
  CAMFLEET_IDENTITY_RPC(GetCrl)

 private:
  IdentityManager& manager_;
  const rpc::Authenticator& auth_;
};

#undef CAMFLEET_IDENTITY_RPC

}  // namespace camfleet::identity
