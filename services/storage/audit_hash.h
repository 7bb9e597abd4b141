#pragma once
// The audit chain's hash rule: an event's hash is SHA-256 of the previous event's hash followed
// by the event's CanonicalEncoding (audit_log.h). Apart from audit_log.h so that code which
// must follow the rule exactly (the tests' chain forger, tests/testing/audit_forge) calls it
// instead of restating it, without every user of the audit log seeing it.

#include <string>

#include "absl/strings/string_view.h"

namespace camfleet::storage {

std::string ChainHash(absl::string_view prev_hash, absl::string_view canonical);

}  // namespace camfleet::storage
