#pragma once
// What the openssl command-line tool, an implementation independent of ours, reads out of a
// CRL the server published: `openssl crl -in FILE -noout -text`.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace camfleet::testing {

struct CrlListing {
  int64_t crl_number = -1;
  // Revoked serials as lower-case hex without leading zeros (as the API shows them) ->
  // openssl's reason text ("Key Compromise", "Superseded", ...; empty without a reason code).
  std::map<std::string, std::string> revoked;
  std::string text;  // openssl's whole output, for failure messages
};

// Writes `crl_pem` to `dir`/`file_name` and has openssl print it.
// INTERNAL if openssl fails or prints something this parser does not understand.
absl::StatusOr<CrlListing> ReadCrlWithOpenssl(const std::string& crl_pem, const std::string& dir,
                                              const std::string& file_name = "crl.pem");

// `openssl` serial text ("0A:1B" or "0A1B") as the API writes serials: lower case, no leading
// zeros, no colons.
std::string NormalizeSerial(const std::string& serial);

// Writes `contents` to `path` (replacing it). INTERNAL on I/O errors.
absl::Status WriteTextFile(const std::string& path, const std::string& contents);

}  // namespace camfleet::testing
