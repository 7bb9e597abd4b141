#pragma once
// A fresh directory for a benchmark's files (databases, a camfleetd home), removed afterwards
// unless kept.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace camfleet::bench {

class ScratchDir {
 public:
  // Makes camfleet-bench-XXXXXX under `base`, or under $TMPDIR (else /tmp) when `base` is
  // empty. UNAVAILABLE naming the directory if it cannot be made.
  static absl::StatusOr<std::unique_ptr<ScratchDir>> Create(const std::string& base, bool keep);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  ScratchDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  bool keep_;
};

}  // namespace camfleet::bench
