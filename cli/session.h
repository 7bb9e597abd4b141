#pragma once
// What every command runs with: output streams, --json, the clock, the connection options and
// the client (made only for commands that need the server, after parsing, so usage errors
// never touch the network). Also the exit codes, in one place.

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <ostream>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/connection_config.h"
#include "common/clock.h"

namespace camfleet::cli {

// Exit codes. Scripts rely on them; never renumber.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;          // the server refused, or could not be reached
inline constexpr int kExitUsage = 2;             // bad flags or arguments; nothing was sent
inline constexpr int kExitAuditBroken = 3;       // `audit verify` found a broken chain
inline constexpr int kExitManifestRejected = 4;  // `camera import`: bad rows, nothing imported

// The process's surroundings; tests pass string streams, a map of variables and a fake clock.
struct Environment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  GetEnv getenv;
  const common::Clock* clock = nullptr;
};

class Session {
 public:
  Session(Environment env, bool json, ConnectionOptions connection);

  std::ostream& out() { return *env_.out; }
  std::ostream& err() { return *env_.err; }
  bool json() const { return json_; }
  absl::Time Now() const { return env_.clock->Now(); }
  const ConnectionOptions& connection() const { return connection_; }

  // Makes the channel (loading the credentials for TLS); RunCamfleet calls it before any
  // command that needs the server. Errors: MakeChannel's; nothing is sent.
  absl::Status Connect();
  // The client made by Connect(). Called without a successful Connect(), it is made then, and
  // a channel that cannot be made fails every call with its error.
  const Client& client();

  // Prints "error: CODE: message" (and a hint when unreachable) to stderr; returns kExitRpcError.
  int RpcError(const absl::Status& status);
  // Prints "error: message" to stderr; returns kExitUsage.
  int UsageError(absl::string_view message);
  // Prints the message as one JSON document (proto field names, zero values included) to
  // stdout; returns kExitOk.
  int PrintJson(const google::protobuf::Message& message);

 private:
  Environment env_;
  bool json_;
  ConnectionOptions connection_;
  std::unique_ptr<Client> client_;
};

// A parsed command, ready to run.
struct Action {
  // Returns the exit code.
  std::function<int(Session&)> run;
  // False for commands that only read local files (`whoami`): they run without --credentials
  // or --insecure, and RunCamfleet makes no channel for them.
  bool needs_server = true;
};

}  // namespace camfleet::cli
