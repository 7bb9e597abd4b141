// camfleetd: the camfleet control plane.

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/log.h"
#include "services/server/server.h"

namespace {

int Serve(camfleet::server::ServerOptions options, const std::string& port_file) {
  // Block the shutdown signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<camfleet::server::Server>> server =
      camfleet::server::Server::Start(options);
  if (!server.ok()) {
    camfleet::common::LogError("camfleetd could not start: ", server.status().message());
    return 1;
  }
  camfleet::common::LogInfo("camfleetd serving ", options.db_path, " on ", (*server)->target());
  if (!port_file.empty()) {
    std::ofstream out(port_file + ".tmp");
    out << (*server)->port() << "\n";
    out.close();
    if (!out || std::rename((port_file + ".tmp").c_str(), port_file.c_str()) != 0) {
      camfleet::common::LogError("could not write --port-file ", port_file);
      return 1;
    }
  }
  int sig = 0;
  sigwait(&signals, &sig);
  camfleet::common::LogInfo("signal ", sig, ": finishing in-flight calls and stopping");
  (*server)->Shutdown();
  camfleet::common::LogInfo("camfleetd stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"camfleetd: the camfleet control plane (fleet registry, custody, audit)"};
  app.require_subcommand(1);
  app.set_config("--config", "", "Read options from this TOML/INI file (key = value)");

  camfleet::server::ServerOptions options;
  std::string port_file;
  CLI::App* serve = app.add_subcommand("serve", "Serve the control plane API");
  serve->add_option("--db", options.db_path, "SQLite database file (created if missing)")
      ->required()
      ->envname("CAMFLEET_DB");
  serve->add_option("--listen", options.listen,
                    "Address to listen on (repeatable): 127.0.0.1:PORT, [::1]:PORT or "
                    "unix:PATH; port 0 picks a free one")
      ->envname("CAMFLEET_LISTEN")
      ->capture_default_str();
  serve->add_option("--dev-operator", options.dev_operator,
                    "Operator name recorded for callers that do not send one (development "
                    "mode, until mutual TLS)")
      ->capture_default_str();
  serve->add_option("--port-file", port_file,
                    "Write the bound TCP port to this file once serving (for scripts and tests)");

  CLI11_PARSE(app, argc, argv);
  if (serve->parsed()) return Serve(options, port_file);
  return 0;
}
