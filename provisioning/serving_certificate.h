#pragma once
// The key and certificate a TLS server built directly on OpenSSL presents (the web page's
// cpp-httplib listener), taken from a credential bundle (credential_bundle.h) and followed as
// the bundle is renewed.
//
// camfleetd renews its own certificate while it runs (services/server/server_certificate.h) by
// swapping the bundle's `current` version. gRPC follows that with its file watcher; an SSL_CTX
// configured here follows it too: every new handshake asks for the current pair, which is
// re-read (LoadCredentialBundle: the key and certificate of one version, never a mix) when the
// bundle's files are no longer the ones last read. The check is two stat(2) calls per
// handshake, so a renewal is served on the first new connection after it, with no polling
// interval. Connections already open keep the session they made. A bundle that cannot be read
// or whose key does not match its certificate is not used (the last good pair keeps being
// served) and is reported once to `on_problem`.

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; callers need not include OpenSSL.
struct ssl_st;      // OpenSSL's SSL.

namespace camfleet::provisioning {

// A file's identity as ServingCertificate compares it (device, inode, size, times).
struct ServingFileStamp {
  unsigned long long dev = 0, ino = 0, size = 0;
  long long ctime_sec = 0, ctime_nsec = 0, mtime_sec = 0, mtime_nsec = 0;
  bool operator==(const ServingFileStamp&) const = default;
};

class ServingCertificate {
 public:
  // Reads the bundle at `dir` (DIR/key.pem and DIR/cert.pem; ca.pem is not served).
  // Errors: LoadCredentialBundle's; INVALID_ARGUMENT if the key is not the certificate's.
  // `on_problem` (may be empty) hears, once per change of the files, why a changed bundle was
  // not taken; it is called from a handshake, so it must be quick (a log line).
  static absl::StatusOr<std::unique_ptr<ServingCertificate>> Load(
      std::string dir, std::function<void(const absl::Status&)> on_problem = {});
  ~ServingCertificate();
  ServingCertificate(const ServingCertificate&) = delete;
  ServingCertificate& operator=(const ServingCertificate&) = delete;

  // Sets `ctx` up as a server context that presents the bundle's current pair on every new
  // handshake: TLS 1.2 or newer, no TLS compression, no renegotiation. This object must
  // outlive `ctx`. INTERNAL if OpenSSL refuses a setting.
  absl::Status ConfigureServerContext(ssl_ctx_st* ctx);

  // The serial (lower-case hex) of the certificate the next handshake gets, re-reading the
  // bundle if it changed; or why the bundle that is there now cannot be served (the previous
  // pair is served meanwhile).
  absl::StatusOr<std::string> ServedSerial();

 private:
  struct Pair;
  using Stamp = ServingFileStamp;

  ServingCertificate(std::string dir, std::function<void(const absl::Status&)> on_problem)
      : dir_(std::move(dir)), on_problem_(std::move(on_problem)) {}
  // The current pair, re-read first if the bundle changed since `stamp_`. Never null once
  // Load succeeded; `problem` (may be null) gets why a changed bundle was not taken.
  std::shared_ptr<const Pair> Current(absl::Status* problem);
  absl::StatusOr<std::pair<Stamp, Stamp>> StampFiles() const;
  absl::StatusOr<std::shared_ptr<const Pair>> Read() const;
  // OpenSSL's certificate callback: puts Current() on the handshake's SSL.
  static int OnHandshake(ssl_st* ssl, void* self);

  const std::string dir_;
  const std::function<void(const absl::Status&)> on_problem_;
  absl::Mutex mu_;
  std::shared_ptr<const Pair> current_ ABSL_GUARDED_BY(mu_);
  std::pair<Stamp, Stamp> stamp_ ABSL_GUARDED_BY(mu_);
  // The files a re-read failed on, and why: tried again only once they change.
  std::pair<Stamp, Stamp> failed_stamp_ ABSL_GUARDED_BY(mu_);
  absl::Status problem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace camfleet::provisioning
