// camfleetd: the camfleet control plane.

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/log.h"
#include "services/server/home.h"
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
  camfleet::common::LogInfo("camfleetd serving ", (*server)->store().path(), " on ",
                            (*server)->target(), options.insecure_dev ? " (plaintext)" : " (mTLS)");
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
  // Keys, the store and its WAL are for this user only.
  umask(077);
  camfleet::server::PrepareServingProcess();
  CLI::App app{"camfleetd: the camfleet control plane (fleet registry, custody, audit)"};
  app.require_subcommand(1);
  app.set_config("--config", "", "Read options from this TOML/INI file (key = value)");

  camfleet::server::InitOptions init_options;
  CLI::App* init = app.add_subcommand(
      "init",
      "Create the fleet CA, the server's TLS credentials, the store and the first "
      "admin's credentials in HOME (refuses to overwrite an existing CA)");
  init->add_option("home", init_options.home, "Home directory to create")->required();
  init->add_option("--admin", init_options.admin_name, "Name of the first admin")
      ->capture_default_str();
  init->add_option("--dns", init_options.dns_names,
                   "Host name the server certificate is valid for (repeatable)")
      ->capture_default_str();
  init->add_option("--ip", init_options.ip_addresses,
                   "IP address the server certificate is valid for (repeatable)")
      ->capture_default_str();

  camfleet::server::ServerOptions options;
  options.insecure_dev = false;
  std::string port_file;
  CLI::App* serve = app.add_subcommand("serve", "Serve the control plane API over mutual TLS");
  serve->add_option("--home", options.home, "Home directory made by `camfleetd init`")
      ->envname("CAMFLEET_HOME");
  serve
      ->add_option("--db", options.db_path,
                   "SQLite database file (default HOME/fleet.db); it must exist (made by "
                   "`camfleetd init`) unless --insecure-dev")
      ->envname("CAMFLEET_DB");
  serve->add_flag("--insecure-dev", options.insecure_dev,
                  "DEVELOPMENT ONLY: plaintext on loopback or a unix socket, callers not "
                  "authenticated (needs --db)");
  serve
      ->add_option("--listen", options.listen,
                   "Address to listen on (repeatable): 127.0.0.1:PORT, [::1]:PORT or "
                   "unix:PATH; port 0 picks a free one")
      ->envname("CAMFLEET_LISTEN")
      ->capture_default_str();
  serve
      ->add_option("--dev-operator", options.dev_operator,
                   "With --insecure-dev: the operator recorded for callers that do not name "
                   "themselves")
      ->capture_default_str();
  serve->add_option("--port-file", port_file,
                    "Write the bound TCP port to this file once serving (for scripts and tests)");

  CLI11_PARSE(app, argc, argv);
  if (init->parsed()) {
    absl::Status s = camfleet::server::InitHome(init_options);
    if (!s.ok()) {
      camfleet::common::LogError("camfleetd init: ", s.message());
      return 1;
    }
    const camfleet::server::HomePaths paths{init_options.home};
    std::printf(
        "created the fleet CA, server credentials and store in %s\n"
        "first admin's credentials: %s\n"
        "  move them to the admin's machine, then delete them here; use them with\n"
        "  camfleet --credentials DIR ...\n"
        "start the server with: camfleetd serve --home %s --listen 0.0.0.0:7443\n",
        init_options.home.c_str(), paths.AdminCredentials(init_options.admin_name).c_str(),
        init_options.home.c_str());
    return 0;
  }
  if (serve->parsed()) {
    // A production server runs on the database `init` made: a mistyped --db or --home must
    // not start an empty fleet beside the real one. A plaintext dev server makes its own.
    options.store.must_exist = !options.insecure_dev;
    return Serve(options, port_file);
  }
  return 0;
}
