#include "services/web/web_handler.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/rpc/unary.h"

namespace camfleet::web {
namespace {

v1::Role ProtoRole(provisioning::Role role) {
  switch (role) {
    case provisioning::Role::kAdmin: return v1::ROLE_ADMIN;
    case provisioning::Role::kQuartermaster: return v1::ROLE_QUARTERMASTER;
    case provisioning::Role::kAuditor: return v1::ROLE_AUDITOR;
    default: return v1::ROLE_UNSPECIFIED;  // CreateLink refuses every other role
  }
}

}  // namespace

grpc::ServerUnaryReactor* WebHandler::CreateSignInLink(grpc::CallbackServerContext* ctx,
                                                       const v1::CreateSignInLinkRequest* req,
                                                       v1::CreateSignInLinkResponse* resp) {
  return rpc::HandleRead(
      ctx, auth_, "camfleet.v1.WebService/CreateSignInLink", req, resp,
      [this](const rpc::Identity& who,
             const v1::CreateSignInLinkRequest&) -> absl::StatusOr<v1::CreateSignInLinkResponse> {
        if (access_ == nullptr) {
          return absl::FailedPreconditionError(
              "camfleetd serves no web page; start it with `camfleetd serve --web-listen "
              "HOST:PORT`");
        }
        ASSIGN_OR_RETURN(SignInLink link, access_->CreateLink(who));
        v1::CreateSignInLinkResponse out;
        out.set_url(absl::StrCat(public_url_, "/sign-in?token=", link.token));
        out.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(link.expires));
        out.set_operator_name(who.name);
        out.set_role(who.role ? ProtoRole(*who.role) : v1::ROLE_UNSPECIFIED);
        return out;
      });
}

}  // namespace camfleet::web
