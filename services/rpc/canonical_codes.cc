#include "services/rpc/canonical_codes.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "google/protobuf/descriptor.h"

namespace camfleet::rpc {

std::string CanonicalCode(absl::string_view code) { return absl::AsciiStrToUpper(code); }

void CanonicalizeCodes(google::protobuf::Message& request) {
  static constexpr absl::string_view kCodeFields[] = {
      "code", "parent_code", "site_code", "home_site_code", "badge", "holder_badge", "serial"};
  const google::protobuf::Descriptor* d = request.GetDescriptor();
  const google::protobuf::Reflection* r = request.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (f->type() != google::protobuf::FieldDescriptor::TYPE_STRING || f->is_repeated()) continue;
    if (std::find(std::begin(kCodeFields), std::end(kCodeFields), f->name()) ==
        std::end(kCodeFields)) {
      continue;
    }
    std::string value = r->GetString(request, f);
    std::string canonical = CanonicalCode(value);
    if (canonical != value) r->SetString(&request, f, std::move(canonical));
  }
}

}  // namespace camfleet::rpc
