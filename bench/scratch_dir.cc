#include "bench/scratch_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace camfleet::bench {

absl::StatusOr<std::unique_ptr<ScratchDir>> ScratchDir::Create(const std::string& base,
                                                               bool keep) {
  std::string root = base;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string pattern = root + "/camfleet-bench-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot make a scratch directory under ", root, ": ", strerror(errno)));
  }
  return std::unique_ptr<ScratchDir>(new ScratchDir(pattern, keep));
}

ScratchDir::~ScratchDir() {
  if (keep_) return;
  std::error_code ec;  // the non-throwing form: a leftover directory is not worth a crash
  std::filesystem::remove_all(path_, ec);
}

}  // namespace camfleet::bench
