#pragma once
// The camfleet-dock command line, callable in-process so tests can run it with a fake clock:
//
//   camfleet-dock enroll --server HOST:PORT --ca-file CA.pem --token TOKEN --dock-id ID --dir DIR
//   camfleet-dock run --dir DIR --server HOST:PORT --slot 1=/run/slot1.sock ... [--once]
//   camfleet-dock checkout --dir DIR --badge N [--json]    (asks the running agent)
//   camfleet-dock status --dir DIR [--json]                 (asks the running agent)
//   camfleet-dock import-release --dir DIR FILE              (a signed release bundle)
//   camfleet-dock firmware --dir DIR [--json] [trust-key FILE] (cache, jobs; trust a key)
//
// Exit status: 0 when everything asked for was done; 1 when an action failed (the line saying
// which starts with the slot or dock and "FAILED"); 2 for a bad command line or unusable
// configuration (the message says what to fix).

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace camfleet::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct DockEnvironment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  const common::Clock* clock = nullptr;
  // `run` without --once stops (every piece of the agent, cleanly) once this is notified, after
  // the certificate keeper's first pass. Null: it never stops by itself.
  absl::Notification* stop = nullptr;
  // How the retries of a call wait; absl::SleepFor when empty.
  std::function<void(absl::Duration)> retry_sleep;
};

// `args` includes the program name.
int RunDock(const std::vector<std::string>& args, const DockEnvironment& env);

}  // namespace camfleet::agent
