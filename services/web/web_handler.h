#pragma once
// gRPC edge of the web page's sign-in (WebService): an operator, over mutual TLS, asks for a
// one-time link to the page.

#include <string>

#include "camfleet/v1/web.grpc.pb.h"
#include "services/rpc/identity.h"
#include "services/web/web_access.h"

namespace camfleet::web {

class WebHandler final : public v1::WebService::CallbackService {
 public:
  // `access` is null when camfleetd serves no web page; `public_url` is where it is served.
  WebHandler(WebAccess* access, std::string public_url, const rpc::Authenticator& auth)
      : access_(access), public_url_(std::move(public_url)), auth_(auth) {}

  grpc::ServerUnaryReactor* CreateSignInLink(grpc::CallbackServerContext* ctx,
                                             const v1::CreateSignInLinkRequest* req,
                                             v1::CreateSignInLinkResponse* resp) override;

 private:
  WebAccess* access_;
  const std::string public_url_;
  const rpc::Authenticator& auth_;
};

}  // namespace camfleet::web
