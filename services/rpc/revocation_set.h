#pragma once
// The serials of every revoked certificate, in memory, so each call can be checked against it:
// a revoked operator or dock is refused on its next call even on a connection opened before the
// revocation (TLS checked the certificate only at the handshake). Loaded from the store at start;
// the code that revokes adds to it in the same transaction that records the revocation.

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

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
  // Grows whenever a serial is added; the CRL is rebuilt when it has moved.
  uint64_t generation() const {
    absl::ReaderMutexLock lock(&mu_);
    return generation_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> serials_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace camfleet::rpc
