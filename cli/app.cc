#include "cli/app.h"

#include <optional>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "cli/connection_config.h"
#include "cli/report_commands.h"

namespace camfleet::cli {
namespace {

constexpr char kFooter[] = R"(Connection (flag > environment > config file > default):
  --server       CAMFLEET_SERVER       server = "host:port"   default 127.0.0.1:7443
  --credentials  CAMFLEET_CREDENTIALS  credentials = "DIR"    your key.pem, cert.pem, ca.pem (TLS)
  --insecure     CAMFLEET_INSECURE=1                          plaintext, development servers only
  --server-name  CAMFLEET_SERVER_NAME  server_name = "host"   if the certificate names another host
  --operator     CAMFLEET_OPERATOR     operator = "name"      default $USER; only with --insecure
  --timeout      CAMFLEET_TIMEOUT      timeout = 30           seconds, per call
  --config       CAMFLEET_CONFIG                              default ~/.config/camfleet/config.toml
Every command that talks to camfleetd needs --credentials DIR (or --insecure for a development
server). With TLS the server takes your name and role from your certificate; --operator is not
sent. `camfleet whoami` shows what your credentials say.

Times: a duration like 30m, 12h, 7d, 1d12h, or RFC3339 like 2026-11-23T08:00:00Z.
Exit codes: 0 ok, 1 server error or unreachable, 2 usage error,
            3 audit chain broken, 4 manifest rejected (bad rows, nothing imported).)";

constexpr char kSubcommandFooter[] =
    "Global options (before or after the command): --server ADDR, --credentials DIR, "
    "--insecure, --server-name HOST, --operator NAME, --timeout SECONDS, --config FILE, --json. "
    "See camfleet --help.";

// The last subcommand on the command line, e.g. `camera` in `camfleet camera`.
CLI::App* DeepestParsed(CLI::App& app) {
  CLI::App* current = &app;
  while (true) {
    std::vector<CLI::App*> parsed = current->get_subcommands();
    if (parsed.empty()) return current;
    current = parsed.front();
  }
}

std::optional<std::string> GivenValue(const CLI::Option* option, const std::string& value) {
  if (option->count() == 0) return std::nullopt;
  return value;
}

}  // namespace

int RunCamfleet(const std::vector<std::string>& args, const Environment& env) {
  CLI::App app{"camfleet: the quartermaster's command line for the camfleet control plane"};
  app.name("camfleet");
  // Global flags may come after the subcommand too: `camfleet camera list --json`. Set before
  // any subcommand is added, since subcommands inherit it when created.
  app.fallthrough();
  app.require_subcommand(0, 1);
  // Subcommands inherit this short footer when created; the top level gets the full one below.
  app.footer(kSubcommandFooter);
  app.set_version_flag("--version", "camfleet 0.1.0");
  app.get_formatter()->column_width(34);

  std::string server, credentials, server_name, operator_name, timeout, config;
  bool insecure = false;
  bool json = false;
  CLI::Option* server_opt =
      app.add_option("--server", server, "camfleetd address, host:port or unix:PATH")
          ->type_name("ADDR");
  CLI::Option* credentials_opt =
      app.add_option("--credentials", credentials,
                     "Your credential bundle (key.pem, cert.pem, ca.pem): mutual TLS")
          ->type_name("DIR");
  app.add_flag("--insecure", insecure,
               "Plaintext to a development server (camfleetd serve --insecure-dev)");
  CLI::Option* server_name_opt =
      app.add_option("--server-name", server_name,
                     "TLS: the name in the server's certificate, if not the --server host")
          ->type_name("HOST");
  CLI::Option* operator_opt =
      app.add_option("--operator", operator_name,
                     "--insecure only: your name as the actor (TLS: from your certificate)")
          ->type_name("NAME");
  CLI::Option* timeout_opt =
      app.add_option("--timeout", timeout, "Deadline of each call to the server")
          ->type_name("SECONDS");
  CLI::Option* config_opt =
      app.add_option("--config", config, "Config file (TOML: key = value)")->type_name("FILE");
  app.add_flag("--json", json, "Print one JSON document (proto field names) for scripts");

  Action selected;
  AddSiteCommands(app, &selected);
  AddHolderCommands(app, &selected);
  AddCameraCommands(app, &selected);
  AddCustodyCommands(app, &selected);
  AddAuditCommands(app, &selected);
  AddOperatorCommands(app, &selected);
  AddEnrollmentCommands(app, &selected);
  AddCertificateCommands(app, &selected);
  AddMonitoringCommands(app, &selected);
  AddFirmwareCommands(app, &selected);
  AddRolloutCommands(app, &selected);
  AddWebCommands(app, &selected);
  AddReportCommands(app, &selected);
  app.footer(kFooter);

  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  // CLI11 reports bad command lines (and --help) by throwing; this is where that stops.
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, *env.out, *env.err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  ConnectionFlags flags{.server = GivenValue(server_opt, server),
                        .credentials_dir = GivenValue(credentials_opt, credentials),
                        .insecure = insecure,
                        .server_name = GivenValue(server_name_opt, server_name),
                        .operator_name = GivenValue(operator_opt, operator_name),
                        .timeout_seconds = GivenValue(timeout_opt, timeout),
                        .config_path = GivenValue(config_opt, config)};
  absl::StatusOr<ConnectionOptions> connection = ResolveConnection(flags, env.getenv);
  Session session(env, json, connection.ok() ? *connection : ConnectionOptions());
  if (!connection.ok()) return session.UsageError(connection.status().message());
  if (!selected.run) {
    // A noun without a verb (`camfleet camera`): show what the verbs are.
    CLI::App* noun = DeepestParsed(app);
    *env.err << noun->help(noun == &app ? "" : app.get_name());
    return kExitUsage;
  }
  if (selected.needs_server) {
    if (absl::Status connected = session.Connect(); !connected.ok()) {
      return session.UsageError(connected.message());
    }
    if (connection->transport == Transport::kTls && operator_opt->count() > 0) {
      *env.err << "note: --operator is not sent with TLS; the server knows you as the name in "
                  "your certificate (see camfleet whoami)\n";
    }
  }
  return selected.run(session);
}

}  // namespace camfleet::cli
