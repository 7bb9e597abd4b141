#include "agent/crl_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/server_connection.h"
#include "agent/time_text.h"
#include "provisioning/certificate.h"
#include "provisioning/file_io.h"
#include "provisioning/revocation.h"

namespace camfleet::agent {

namespace {

// As large as the server may send (server_connection.h): a CRL that reached the dock must load
// again after a restart.
constexpr size_t kMaxCrlBytes = kMaxMessageFromServer;
constexpr char kPrefix[] = "crl-";
constexpr char kSuffix[] = ".pem";
// The newest two: the one in force and the one before, in case the newest is found damaged.
constexpr size_t kKeep = 2;

// The CRL numbers of the files in `dir`, newest first.
absl::StatusOr<std::vector<uint64_t>> ListNumbers(const std::string& dir) {
  std::vector<uint64_t> numbers;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return numbers;
  if (ec) return absl::InternalError(absl::StrCat("reading ", dir, ": ", ec.message()));
  for (const auto& entry : it) {
    const std::string filename = entry.path().filename().string();
    absl::string_view name = filename;
    uint64_t number = 0;
    if (absl::ConsumePrefix(&name, kPrefix) && absl::ConsumeSuffix(&name, kSuffix) &&
        absl::SimpleAtoi(name, &number)) {
      numbers.push_back(number);
    }
  }
  std::sort(numbers.begin(), numbers.end(), std::greater<>());
  return numbers;
}

}  // namespace

CrlStore::CrlStore(std::string dir, provisioning::CertificateVerifier ca)
    : dir_(std::move(dir)), ca_(std::move(ca)) {}

std::string CrlStore::PathFor(uint64_t number) const {
  return provisioning::JoinPath(dir_, absl::StrFormat("%s%020u%s", kPrefix, number, kSuffix));
}

std::string CrlStore::FactoryPathFor(uint64_t number) const {
  return provisioning::JoinPath(dir_, absl::StrFormat("factory-%020u.txt", number));
}

absl::StatusOr<std::optional<HeldCrl>> CrlStore::LoadNewest() const {
  absl::StatusOr<std::vector<uint64_t>> numbers = ListNumbers(dir_);
  if (!numbers.ok()) return numbers.status();
  for (uint64_t number : *numbers) {
    absl::StatusOr<provisioning::FileContents> file =
        provisioning::ReadSmallFile(PathFor(number), kMaxCrlBytes);
    if (!file.ok()) continue;
    // A file the fleet CA did not sign (damaged, or put there by someone else) is passed over:
    // it must neither lift a revocation nor hide the older, good CRL.
    absl::StatusOr<provisioning::CertificateVerifier> with = ca_.WithCrl(file->data);
    if (!with.ok()) continue;
    // The number that orders CRLs is the one the CA signed, not a file name anyone could pick.
    if (with->CrlNumber() != number) continue;
    HeldCrl held{number, std::move(file->data), *std::move(with), {}};
    if (absl::StatusOr<provisioning::FileContents> keys =
            provisioning::ReadSmallFile(FactoryPathFor(number), kMaxCrlBytes);
        keys.ok()) {
      for (absl::string_view line : absl::StrSplit(keys->data, '\n', absl::SkipEmpty())) {
        held.revoked_factory_keys.emplace_back(line);
      }
    }
    return held;
  }
  return std::nullopt;
}

namespace {

// The sync stream and the certificate keeper both accept CRLs into the dock's folder, often the
// same CRL at the same moment. One at a time in the process: the second then finds the CRL held
// instead of racing the first one's files (seen: ALREADY_EXISTS on the factory list, and the
// keeper went on with its stale CRL and alerted again).
absl::Mutex& AcceptMutex() {
  static absl::Mutex* const mu = new absl::Mutex();
  return *mu;
}

}  // namespace

absl::StatusOr<HeldCrl> CrlStore::Accept(uint64_t number, absl::string_view pem,
                                         const std::vector<std::string>& factory_keys) {
  absl::StatusOr<provisioning::CertificateVerifier> with = ca_.WithCrl(pem);
  if (!with.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CRL ", number, " refused: ", with.status().message()));
  }
  // The server's word for the number must be what the CA signed: an old, genuinely signed CRL
  // offered under a high number would otherwise pin the dock to stale revocations.
  if (with->CrlNumber() != number) {
    return absl::InvalidArgumentError(
        absl::StrCat("CRL ", number, " refused: the signed CRL says number ",
                     with->CrlNumber().has_value() ? absl::StrCat(*with->CrlNumber()) : "none"));
  }
  absl::MutexLock lock(&AcceptMutex());
  absl::StatusOr<std::optional<HeldCrl>> held = LoadNewest();
  if (!held.ok()) return held.status();
  if (held->has_value()) {
    if (number < (*held)->number) {
      return absl::FailedPreconditionError(absl::StrCat("the server offered CRL ", number,
                                                        ", older than CRL ", (*held)->number,
                                                        " held here; keeping ", (*held)->number));
    }
    if (number == (*held)->number) return **std::move(held);
  }
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("creating ", dir_, ": ", std::strerror(errno)));
  }
  // The factory list first: once the CRL file is there, its list is too.
  std::string keys;
  for (const std::string& key : factory_keys) {
    if (key.empty() || key.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("CRL ", number, " refused: a revoked factory key is not lower-case hex"));
    }
    absl::StrAppend(&keys, key, "\n");
  }
  const std::string factory_path = FactoryPathFor(number);
  std::error_code removed_ec;
  std::filesystem::remove(factory_path, removed_ec);  // a leftover of a crash: rewrite it
  if (absl::Status w = provisioning::WriteNewFile(factory_path, keys, 0644); !w.ok()) return w;
  const std::string path = PathFor(number);
  absl::Status written = provisioning::WriteNewFile(path, pem, 0644);
  // ALREADY_EXISTS: a file of that number that did not verify (LoadNewest passed over it).
  // Move it aside rather than trust it, and write the good one.
  if (absl::IsAlreadyExists(written)) {
    const std::string aside = absl::StrCat(path, ".bad");
    if (std::rename(path.c_str(), aside.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("moving aside ", path, ": ", std::strerror(errno)));
    }
    written = provisioning::WriteNewFile(path, pem, 0644);
  }
  if (!written.ok()) return written;
  // Prune only what is older than the CRL just accepted, keeping it and the kKeep - 1 newest
  // below it: counting files above it (which failed to verify, or LoadNewest would have held
  // them) could delete every good CRL. Failures to remove cost only disk space.
  if (absl::StatusOr<std::vector<uint64_t>> numbers = ListNumbers(dir_); numbers.ok()) {
    size_t kept = 0;
    for (uint64_t n : *numbers) {
      if (n > number) continue;
      if (kept++ < kKeep) continue;
      std::error_code ec;
      std::filesystem::remove(PathFor(n), ec);
      std::filesystem::remove(FactoryPathFor(n), ec);
    }
  }
  return HeldCrl{number, std::string(pem), *std::move(with), factory_keys};
}

bool CrlIsStale(const HeldCrl& crl, absl::Time now) {
  std::optional<absl::Time> next = crl.verifier.CrlNextUpdate();
  return next.has_value() && now - *next > kCrlStaleGrace;
}

std::string DescribeStaleCrl(const HeldCrl& crl, absl::Time now) {
  std::optional<absl::Time> next = crl.verifier.CrlNextUpdate();
  if (!next.has_value()) return absl::StrCat("CRL ", crl.number, " has no nextUpdate");
  return absl::StrCat("CRL ", crl.number, " is stale: its nextUpdate was ", FormatUtc(*next), ", ",
                      absl::FormatDuration(absl::Trunc(now - *next, absl::Hours(1))),
                      " ago (grace ", absl::FormatDuration(kCrlStaleGrace),
                      "); revoked cameras may go unrecognised until a newer CRL arrives");
}

std::optional<Revocation> FindRevocation(const HeldCrl& crl,
                                         const provisioning::CertificateVerifier& ca,
                                         absl::string_view cert_pem) {
  if (!crl.revoked_factory_keys.empty()) {
    absl::StatusOr<std::string> key = provisioning::CertificateKeyFingerprint(cert_pem);
    if (key.ok() && std::find(crl.revoked_factory_keys.begin(), crl.revoked_factory_keys.end(),
                              *key) != crl.revoked_factory_keys.end()) {
      // A supplier's certificate: its serial is the supplier's; name the key instead.
      return Revocation{absl::StrCat("factory certificate (key ", key->substr(0, 16), ")"),
                        "keyCompromise", ""};
    }
  }
  absl::StatusOr<provisioning::CertificateInfo> info = provisioning::ParseCertificate(cert_pem);
  if (!info.ok()) return std::nullopt;
  // Only a certificate the fleet CA issued (checked at a moment it was valid, so that expiry
  // does not matter) can be on its CRL; for anything else the CRL is silent. One from an
  // issuing CA the fleet root revoked is the fleet's too; that CA signs no CRL any more, but
  // the first CRL lists every certificate the fleet revoked.
  const absl::Time valid_at = info->not_before + absl::Seconds(1);
  const bool revoked_issuer = crl.verifier.VerifyForRecovery(cert_pem, valid_at).ok();
  if (!revoked_issuer && !ca.VerifyChain(cert_pem, valid_at).ok()) return std::nullopt;
  absl::StatusOr<std::optional<provisioning::RevokedCertificate>> entry =
      crl.verifier.FindRevocation(cert_pem);
  if (revoked_issuer && entry.ok() && !entry->has_value()) {
    entry = crl.verifier.FindRevocationInFirstCrl(cert_pem);
  }
  if (!entry.ok() || !entry->has_value()) return std::nullopt;
  const provisioning::RevokedCertificate& r = **entry;
  return Revocation{
      info->serial_hex, std::string(provisioning::RevocationReasonName(r.reason)),
      r.revoked_at == absl::InfinitePast()
          ? ""
          : absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", r.revoked_at, absl::UTCTimeZone())};
}

}  // namespace camfleet::agent
