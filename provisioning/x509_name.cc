#include "provisioning/x509_name.h"

#include <openssl/objects.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "provisioning/openssl_ptr.h"

namespace camfleet::provisioning {
namespace {

absl::StatusOr<std::string> EntryText(const X509_NAME* name, int index) {
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  const ASN1_STRING* data = entry != nullptr ? X509_NAME_ENTRY_get_data(entry) : nullptr;
  unsigned char* utf8 = nullptr;
  const int len = data != nullptr ? ASN1_STRING_to_UTF8(&utf8, data) : -1;
  if (len < 0) {
    ClearOpenSslErrors();
    return absl::InvalidArgumentError("common name is not valid text");
  }
  const OpenSslMemoryPtr<unsigned char> owned(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
}

}  // namespace

absl::StatusOr<std::string> SingleCommonName(const X509_NAME* name, absl::string_view what) {
  const int first = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (first < 0) return absl::InvalidArgumentError(absl::StrCat(what, " has no common name"));
  int count = 1;
  for (int i = first; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) ++count;
  if (count > 1) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", count, " common names"));
  }
  absl::StatusOr<std::string> text = EntryText(name, first);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", text.status().message()));
  }
  return text;
}

std::string FirstCommonName(const X509_NAME* name) {
  const int first = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (first < 0) return "";
  absl::StatusOr<std::string> text = EntryText(name, first);
  return text.ok() ? *std::move(text) : "";
}

}  // namespace camfleet::provisioning
