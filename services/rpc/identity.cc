#include "services/rpc/identity.h"

#include "absl/strings/str_cat.h"
#include "services/rpc/validation.h"

namespace camfleet::rpc {

absl::StatusOr<Identity> DevAuthenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kOperatorMetadata);
  if (it == metadata.end()) return Identity{default_operator_, "admin"};
  std::string name(it->second.data(), it->second.size());
  if (absl::Status s = ValidateText("operator name", name, 1, 64); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.message(), " (set it with the CLI's --operator flag)"));
  }
  return Identity{name, "admin"};
}

}  // namespace camfleet::rpc
