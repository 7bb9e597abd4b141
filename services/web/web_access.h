#pragma once
// Who may use the web page: one-time sign-in links and the sessions they become.
//
// The operator's certificate stays the only identity. An operator asks over mutual TLS
// (WebService.CreateSignInLink) for a link; the link carries a random 256-bit token, of which
// camfleetd keeps only the SHA-256, for five minutes, usable once. Redeeming it opens a session
// with the operator's name, role and certificate serial; the browser holds only the session's
// random id (an HttpOnly, Secure, SameSite=Strict cookie), camfleetd again only its hash. Every
// request looks the session up and checks it against the revocation set: revoking the operator
// (or the certificate the link was asked with) ends its sessions on their next request.
//
// Both live in memory, on purpose: a link lives minutes and a session a shift, and a restart of
// camfleetd signing everyone out is the safe failure. Nothing secret is ever written to disk or
// to the log, and a database copy holds no live credential.

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/rpc/identity.h"
#include "services/rpc/revocation_set.h"

namespace camfleet::web {

struct WebAccessOptions {
  absl::Duration link_lifetime = absl::Minutes(5);
  absl::Duration session_lifetime = absl::Hours(8);  // a shift
  // Outstanding links and sessions beyond these are refused (RESOURCE_EXHAUSTED): the maps
  // cannot be grown without bound by a caller asking for links in a loop.
  size_t max_links = 10000;
  size_t max_sessions = 10000;
};

struct SignInLink {
  std::string token;  // the secret; goes into the URL and nowhere else
  absl::Time expires;
};

struct Session {
  rpc::Identity who;
  std::string csrf_token;  // put into every form; a write must bring it back
  absl::Time expires;
};

struct OpenedSession {
  std::string id;  // the cookie's value
  Session session;
};

class WebAccess {
 public:
  WebAccess(const rpc::RevocationSet& revoked, const common::Clock& clock,
            WebAccessOptions options = {})
      : revoked_(revoked), clock_(clock), options_(options) {}

  // A new link for `who` (an authenticated operator). Errors: INVALID_ARGUMENT for a dock or an
  // unauthenticated caller; RESOURCE_EXHAUSTED past max_links; INTERNAL without randomness.
  absl::StatusOr<SignInLink> CreateLink(const rpc::Identity& who);

  // Uses the link up and opens a session. Errors (UNAUTHENTICATED, each saying what to do):
  // unknown or malformed token, used already, expired, operator revoked since.
  absl::StatusOr<OpenedSession> Redeem(absl::string_view token);

  // The live session behind a cookie value. Errors: UNAUTHENTICATED for an unknown or expired
  // session, or one whose operator or certificate has been revoked (the session is ended).
  absl::StatusOr<Session> Find(absl::string_view session_id);

  // Ends a session (signing out); unknown ids are ignored.
  void End(absl::string_view session_id);

 private:
  struct LinkEntry {
    rpc::Identity who;
    absl::Time expires;
    bool used = false;
  };
  bool Revoked(const rpc::Identity& who) const;
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const rpc::RevocationSet& revoked_;
  const common::Clock& clock_;
  const WebAccessOptions options_;
  absl::Mutex mu_;
  // Keyed by the hex SHA-256 of the token or session id.
  absl::flat_hash_map<std::string, LinkEntry> links_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::web
