#include "provisioning/serving_certificate.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/file_io.h"
#include "provisioning/key.h"
#include "provisioning/openssl_ptr.h"
#include "provisioning/x509_certificate.h"

namespace camfleet::provisioning {

struct ServingCertificate::Pair {
  PrivateKey key;
  X509Ptr cert;
  std::vector<X509Ptr> chain;  // certificates after the first in cert.pem, if any
  std::string serial_hex;
};

absl::StatusOr<std::unique_ptr<ServingCertificate>> ServingCertificate::Load(
    std::string dir, std::function<void(const absl::Status&)> on_problem) {
  std::unique_ptr<ServingCertificate> out(
      new ServingCertificate(std::move(dir), std::move(on_problem)));
  absl::StatusOr<std::pair<Stamp, Stamp>> stamp = out->StampFiles();
  if (!stamp.ok()) return stamp.status();
  absl::StatusOr<std::shared_ptr<const Pair>> pair = out->Read();
  if (!pair.ok()) return pair.status();
  absl::MutexLock lock(&out->mu_);
  out->current_ = *std::move(pair);
  out->stamp_ = *stamp;
  return out;
}

ServingCertificate::~ServingCertificate() = default;

absl::StatusOr<std::pair<ServingCertificate::Stamp, ServingCertificate::Stamp>>
ServingCertificate::StampFiles() const {
  auto stamp = [this](const char* name) -> absl::StatusOr<Stamp> {
    const std::string path = JoinPath(dir_, name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound
                                        : absl::StatusCode::kInternal,
                          absl::StrCat("cannot stat ", path, ": ", std::strerror(err)));
    }
    Stamp s;
    s.dev = static_cast<unsigned long long>(st.st_dev);
    s.ino = static_cast<unsigned long long>(st.st_ino);
    s.size = static_cast<unsigned long long>(st.st_size);
    s.ctime_sec = st.st_ctim.tv_sec;
    s.ctime_nsec = st.st_ctim.tv_nsec;
    s.mtime_sec = st.st_mtim.tv_sec;
    s.mtime_nsec = st.st_mtim.tv_nsec;
    return s;
  };
  absl::StatusOr<Stamp> cert = stamp(kBundleCertFile);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<Stamp> key = stamp(kBundleKeyFile);
  if (!key.ok()) return key.status();
  return std::make_pair(*cert, *key);
}

absl::StatusOr<std::shared_ptr<const ServingCertificate::Pair>> ServingCertificate::Read() const {
  absl::StatusOr<CredentialBundle> bundle = LoadCredentialBundle(dir_);
  if (!bundle.ok()) return bundle.status();
  absl::StatusOr<PrivateKey> key = PrivateKey::FromPem(bundle->key_pem);
  if (!key.ok()) return key.status();
  const std::string what = JoinPath(dir_, kBundleCertFile);
  absl::StatusOr<X509Ptr> cert = ReadPemCertificate(bundle->cert_pem, what);
  if (!cert.ok()) return cert.status();
  std::vector<X509Ptr> chain;
  {
    // Any further certificates in cert.pem go out as the chain.
    BioPtr bio = MemoryBio(bundle->cert_pem);
    if (bio == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
    X509Ptr first(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    while (first != nullptr) {
      X509Ptr next(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
      if (next == nullptr) break;
      chain.push_back(std::move(next));
    }
    ClearOpenSslErrors();  // the end of the PEM text reads as an error
  }
  if (X509_check_private_key(cert->get(), key->NativeHandle()) != 1) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(
        JoinPath(dir_, kBundleKeyFile), " is not the key of the certificate ", what));
  }
  auto pair = std::make_shared<Pair>(Pair{*std::move(key), *std::move(cert), std::move(chain), ""});
  pair->serial_hex = SerialToHex(X509_get0_serialNumber(pair->cert.get()));
  return std::shared_ptr<const Pair>(std::move(pair));
}

std::shared_ptr<const ServingCertificate::Pair> ServingCertificate::Current(
    absl::Status* problem) {
  absl::StatusOr<std::pair<Stamp, Stamp>> stamp = StampFiles();
  absl::MutexLock lock(&mu_);
  if (!stamp.ok()) {
    // The files are missing for the moment (a hand-made change under way): keep serving.
    if (problem != nullptr) *problem = stamp.status();
    return current_;
  }
  if (*stamp == stamp_) return current_;
  if (*stamp == failed_stamp_ && !problem_.ok()) {
    if (problem != nullptr) *problem = problem_;
    return current_;
  }
  // Read under the lock: handshakes that arrive meanwhile wait for the new pair instead of
  // all reading the bundle themselves. A renewal happens a few times a year.
  absl::StatusOr<std::shared_ptr<const Pair>> pair = Read();
  if (!pair.ok()) {
    failed_stamp_ = *stamp;
    problem_ = pair.status();
    if (problem != nullptr) *problem = problem_;
    if (on_problem_) on_problem_(problem_);
    return current_;
  }
  current_ = *std::move(pair);
  stamp_ = *stamp;
  problem_ = absl::OkStatus();
  return current_;
}

int ServingCertificate::OnHandshake(ssl_st* ssl, void* self) {
  std::shared_ptr<const Pair> pair = static_cast<ServingCertificate*>(self)->Current(nullptr);
  if (pair == nullptr) return 0;
  if (SSL_use_certificate(ssl, pair->cert.get()) != 1 ||
      SSL_use_PrivateKey(ssl, pair->key.NativeHandle()) != 1 || SSL_clear_chain_certs(ssl) != 1) {
    ClearOpenSslErrors();
    return 0;
  }
  for (const X509Ptr& extra : pair->chain) {
    if (SSL_add1_chain_cert(ssl, extra.get()) != 1) {
      ClearOpenSslErrors();
      return 0;
    }
  }
  return 1;
}

absl::Status ServingCertificate::ConfigureServerContext(ssl_ctx_st* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot require TLS 1.2");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  SSL_CTX_set_cert_cb(ctx, &ServingCertificate::OnHandshake, this);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ServingCertificate::ServedSerial() {
  absl::Status problem;
  std::shared_ptr<const Pair> pair = Current(&problem);
  if (!problem.ok()) return problem;
  return pair->serial_hex;
}

}  // namespace camfleet::provisioning
