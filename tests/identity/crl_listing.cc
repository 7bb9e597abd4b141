#include "tests/identity/crl_listing.h"

#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/unit/provisioning/openssl_cli.h"

namespace camfleet::testing {

std::string NormalizeSerial(const std::string& serial) {
  std::string out;
  for (char c : serial) {
    if (c != ':' && !absl::ascii_isspace(static_cast<unsigned char>(c))) {
      out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    }
  }
  const size_t first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

absl::Status WriteTextFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<CrlListing> ReadCrlWithOpenssl(const std::string& crl_pem, const std::string& dir,
                                              const std::string& file_name) {
  const std::string path = absl::StrCat(dir, "/", file_name);
  if (absl::Status s = WriteTextFile(path, crl_pem); !s.ok()) return s;
  provisioning_test::CommandResult run =
      provisioning_test::RunOpenSsl({"crl", "-in", path, "-noout", "-text"});
  if (run.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("openssl crl exited with ", run.exit_code, ": ", run.output));
  }
  CrlListing listing;
  listing.text = run.output;
  const std::vector<std::string> lines = absl::StrSplit(run.output, '\n');
  std::string current_serial;
  for (size_t i = 0; i < lines.size(); ++i) {
    const absl::string_view line = absl::StripAsciiWhitespace(lines[i]);
    const bool has_next = i + 1 < lines.size();
    const std::string next = has_next ? std::string(absl::StripAsciiWhitespace(lines[i + 1])) : "";
    if (absl::StartsWith(line, "X509v3 CRL Number:")) {
      if (!absl::SimpleAtoi(next, &listing.crl_number)) {
        return absl::InternalError(absl::StrCat("unreadable CRL number '", next, "'"));
      }
    } else if (absl::StartsWith(line, "Serial Number:")) {
      current_serial = NormalizeSerial(
          std::string(absl::StripAsciiWhitespace(line.substr(sizeof("Serial Number:") - 1))));
      listing.revoked[current_serial] = "";
    } else if (absl::StartsWith(line, "X509v3 CRL Reason Code:")) {
      if (current_serial.empty()) {
        return absl::InternalError("a reason code outside a revoked entry");
      }
      listing.revoked[current_serial] = next;
    }
  }
  if (listing.crl_number < 0) {
    return absl::InternalError(absl::StrCat("openssl shows no CRL number:\n", run.output));
  }
  return listing;
}

}  // namespace camfleet::testing
