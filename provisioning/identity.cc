#include "provisioning/identity.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace camfleet::provisioning {
namespace {

bool IsIdentityChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateIdentity(absl::string_view identity) {
  if (identity.empty()) return absl::InvalidArgumentError("identity is empty");
  const std::string shown = absl::CHexEscape(identity.substr(0, 80));
  if (identity.size() > kMaxIdentityLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("identity '", shown, "' is longer than ", kMaxIdentityLength, " characters"));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(identity.front()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("identity '", shown, "' must start with a letter or digit"));
  }
  for (char c : identity) {
    if (!IsIdentityChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("identity '", shown, "' has '", absl::CHexEscape(absl::string_view(&c, 1)),
                       "'; only letters, digits, '.', '_' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

std::string IdentityUri(const FleetIdentity& identity) {
  return absl::StrCat(kIdentityUriScheme, RoleName(identity.role), "/", identity.identity);
}

absl::StatusOr<FleetIdentity> ParseIdentityUri(absl::string_view uri) {
  const std::string shown = absl::CHexEscape(uri.substr(0, 200));
  absl::string_view rest = uri;
  if (!absl::ConsumePrefix(&rest, kIdentityUriScheme)) {
    return absl::InvalidArgumentError(absl::StrCat("'", shown, "' is not a camfleet:// URI"));
  }
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", shown, "' has no identity after the role"));
  }
  absl::StatusOr<Role> role = ParseRole(rest.substr(0, slash));
  if (!role.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", shown, "': ", role.status().message()));
  }
  const absl::string_view name = rest.substr(slash + 1);
  if (absl::Status valid = ValidateIdentity(name); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", shown, "': ", valid.message()));
  }
  return FleetIdentity{*role, std::string(name)};
}

}  // namespace camfleet::provisioning
