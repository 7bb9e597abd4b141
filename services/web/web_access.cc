#include "services/web/web_access.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "provisioning/digest.h"

namespace camfleet::web {
namespace {

// A random 256-bit secret, URL- and cookie-safe.
absl::StatusOr<std::string> NewSecret() {
  ASSIGN_OR_RETURN(std::string bytes, provisioning::RandomBytes(32));
  return absl::WebSafeBase64Escape(bytes);
}

std::string Key(absl::string_view secret) {
  return provisioning::ToHex(provisioning::Sha256(secret));
}

constexpr char kNewLink[] = "; run `camfleet web` for a new sign-in link";

}  // namespace

bool WebAccess::Revoked(const rpc::Identity& who) const {
  if (!who.role || revoked_.PrincipalRevoked(*who.role, who.name)) return true;
  return !who.certificate_serial.empty() && revoked_.Contains(who.certificate_serial);
}

void WebAccess::PruneLocked(absl::Time now) {
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->second.expires <= now) {
      links_.erase(it++);
    } else {
      ++it;
    }
  }
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.expires <= now) {
      sessions_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::StatusOr<SignInLink> WebAccess::CreateLink(const rpc::Identity& who) {
  if (!who.authenticated || !who.role || !provisioning::IsOperator(*who.role)) {
    return absl::InvalidArgumentError("sign-in links are for operators with a certificate");
  }
  ASSIGN_OR_RETURN(std::string token, NewSecret());
  const absl::Time now = clock_.Now();
  const absl::Time expires = now + options_.link_lifetime;
  absl::MutexLock lock(&mu_);
  PruneLocked(now);
  if (links_.size() >= options_.max_links) {
    return absl::ResourceExhaustedError(absl::StrCat(
        links_.size(), " sign-in links are outstanding; wait for them to expire (",
        absl::FormatDuration(options_.link_lifetime), ")"));
  }
  links_[Key(token)] = LinkEntry{who, expires, false};
  return SignInLink{std::move(token), expires};
}

absl::StatusOr<OpenedSession> WebAccess::Redeem(absl::string_view token) {
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(std::string id, NewSecret());
  ASSIGN_OR_RETURN(std::string csrf, NewSecret());
  absl::MutexLock lock(&mu_);
  // Used links are kept until they expire so that a second use is named as such.
  auto it = links_.find(Key(token));
  if (it == links_.end()) {
    return absl::UnauthenticatedError(absl::StrCat("this sign-in link is not known", kNewLink));
  }
  LinkEntry& link = it->second;
  if (link.used) {
    return absl::UnauthenticatedError(
        absl::StrCat("this sign-in link has been used already; each works once", kNewLink));
  }
  if (link.expires <= now) {
    const absl::Time expired = link.expires;
    links_.erase(it);
    return absl::UnauthenticatedError(absl::StrCat(
        "this sign-in link expired at ",
        absl::FormatTime("%H:%M:%S UTC", expired, absl::UTCTimeZone()), kNewLink));
  }
  link.used = true;
  if (Revoked(link.who)) {
    return absl::UnauthenticatedError(absl::StrCat("operator '", link.who.name,
                                                   "' has been revoked since asking for it"));
  }
  PruneLocked(now);
  if (sessions_.size() >= options_.max_sessions) {
    return absl::ResourceExhaustedError("too many open web sessions; try again later");
  }
  Session session{link.who, std::move(csrf), now + options_.session_lifetime};
  sessions_[Key(id)] = session;
  return OpenedSession{std::move(id), std::move(session)};
}

absl::StatusOr<Session> WebAccess::Find(absl::string_view session_id) {
  if (session_id.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("not signed in", kNewLink));
  }
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(Key(session_id));
  if (it == sessions_.end()) {
    return absl::UnauthenticatedError(
        absl::StrCat("this session is not known (signed out, or camfleetd restarted)", kNewLink));
  }
  if (it->second.expires <= now) {
    sessions_.erase(it);
    return absl::UnauthenticatedError(absl::StrCat("this session has expired", kNewLink));
  }
  if (Revoked(it->second.who)) {
    const std::string name = it->second.who.name;
    sessions_.erase(it);
    return absl::UnauthenticatedError(
        absl::StrCat("operator '", name, "' has been revoked; this session has ended"));
  }
  return it->second;
}

void WebAccess::End(absl::string_view session_id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(Key(session_id));
}

}  // namespace camfleet::web
