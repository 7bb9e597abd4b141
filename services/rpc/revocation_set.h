#pragma once
// What is revoked, in memory, so each call can be checked against it: a revoked operator or dock
// is refused on its next call even on a connection opened before the revocation (TLS checked the
// certificate only at the handshake).
//
// Two things are kept: the serials of revoked certificates, and the revoked principals
// (operators and docks by name). A certificate is refused when its serial is revoked or when its
// principal is, whatever its serial: revoking a principal revokes every certificate it ever
// held, including any a revocation pass might miss.
//
// Loaded from the store at start (identity::LoadRevocations); the code that revokes adds to it
// once the transaction that records the revocation has committed, so the set never holds a
// revocation the store does not.

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "provisioning/role.h"

namespace camfleet::rpc {

class RevocationSet {
 public:
  void Add(absl::string_view serial_hex) {
    absl::MutexLock lock(&mu_);
    if (serials_.insert(std::string(serial_hex)).second) ++generation_;
  }
  bool Contains(absl::string_view serial_hex) const {
    absl::ReaderMutexLock lock(&mu_);
    return serials_.contains(serial_hex);
  }
  // Revokes the principal behind certificates of `role` and `identity`: an operator (any
  // operator role: operator names are unique across roles) or a dock. Cameras are not
  // principals of the server; for them this does nothing.
  void AddPrincipal(provisioning::Role role, absl::string_view identity) {
    std::string key = PrincipalKey(role, identity);
    if (key.empty()) return;
    absl::MutexLock lock(&mu_);
    principals_.insert(std::move(key));
  }
  bool PrincipalRevoked(provisioning::Role role, absl::string_view identity) const {
    const std::string key = PrincipalKey(role, identity);
    if (key.empty()) return false;
    absl::ReaderMutexLock lock(&mu_);
    return principals_.contains(key);
  }
  // Grows whenever a serial is added; the CRL is rebuilt when it has moved.
  uint64_t generation() const {
    absl::ReaderMutexLock lock(&mu_);
    return generation_;
  }

 private:
  static std::string PrincipalKey(provisioning::Role role, absl::string_view identity) {
    if (provisioning::IsOperator(role)) return absl::StrCat("operator/", identity);
    if (role == provisioning::Role::kDock) return absl::StrCat("dock/", identity);
    return "";
  }

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> serials_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> principals_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace camfleet::rpc
