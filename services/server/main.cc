// camfleetd: the camfleet control plane.

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "provisioning/audit_checkpoint.h"
#include "provisioning/certificate_authority.h"
#include "services/server/backup.h"
#include "services/server/home.h"
#include "services/server/server.h"
#include "services/server/server_certificate.h"

namespace {

// Writes `value` and a newline to `path` atomically (a reader never sees half a line).
bool WritePortFile(const std::string& path, int value) {
  std::ofstream out(path + ".tmp");
  out << value << "\n";
  out.close();
  return out && std::rename((path + ".tmp").c_str(), path.c_str()) == 0;
}

int Serve(camfleet::server::ServerOptions options, const std::string& port_file,
          const std::string& metrics_port_file, const std::string& web_port_file) {
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
  if ((*server)->metrics_port() != 0) {
    const std::string& address = options.metrics_listen;
    camfleet::common::LogInfo("metrics at http://", address.substr(0, address.rfind(':')), ":",
                              (*server)->metrics_port(), "/metrics");
  }
  if (!metrics_port_file.empty() && !WritePortFile(metrics_port_file, (*server)->metrics_port())) {
    camfleet::common::LogError("could not write --metrics-port-file ", metrics_port_file);
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) {
    camfleet::common::LogError("could not write --port-file ", port_file);
    return 1;
  }
  if (!web_port_file.empty() && !WritePortFile(web_port_file, (*server)->web_port())) {
    camfleet::common::LogError("could not write --web-port-file ", web_port_file);
    return 1;
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
      "Create the fleet's root CA and issuing CA, the server's TLS credentials, the store and "
      "the first admin's credentials in HOME (refuses to overwrite an existing CA); then move "
      "the root key off the server with `camfleetd ca export-root`");
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
  std::string metrics_port_file;
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
  serve
      ->add_option("--web-listen", options.web_listen,
                   "Serve the web page over HTTPS (the server's certificate) on this address, "
                   "e.g. 0.0.0.0:7444; off unless given. Operators sign in with `camfleet web`")
      ->envname("CAMFLEET_WEB_LISTEN");
  serve->add_option("--web-url", options.web_public_url,
                    "Where browsers reach the web page, for sign-in links (default "
                    "https://HOST:PORT of --web-listen), e.g. https://camfleet.hq.example:7444");
  std::string web_port_file;
  serve->add_option("--web-port-file", web_port_file,
                    "Write the web page's bound port to this file once serving");
  serve->add_option("--port-file", port_file,
                    "Write the bound TCP port to this file once serving (for scripts and tests)");
  serve
      ->add_option("--metrics-listen", options.metrics_listen,
                   "Serve Prometheus metrics over plain HTTP at http://ADDR/metrics, e.g. "
                   "127.0.0.1:9464 (port 0 picks a free one). Default: off. Not authenticated: "
                   "keep it on loopback or a monitoring network (it shows method names, status "
                   "counts and dock ids, nothing about cameras or people)")
      ->envname("CAMFLEET_METRICS_LISTEN");
  serve->add_option("--metrics-port-file", metrics_port_file,
                    "With --metrics-listen: write the bound metrics port to this file once "
                    "serving (for scripts and tests)");

  struct BackupArgs {
    std::string home;
    std::string db;
    std::string audit_dir;
    std::string path;
  };
  BackupArgs backup_args;
  CLI::App* backup = app.add_subcommand(
      "backup",
      "Copy the store consistently while camfleetd runs (writes go on), sign an audit "
      "checkpoint of the copy into DEST.checkpoint.json, and check the copy (integrity_check, "
      "audit chain against the checkpoint) before reporting success");
  BackupArgs restore_args;
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Put a backup made by `camfleetd backup` in place of the store (camfleetd must be "
      "stopped): checks it against SRC.checkpoint.json, gives it a new database generation so "
      "docks resend what it lacks, and moves the replaced database aside");
  for (auto [cmd, args, name, what] :
       {std::tuple{backup, &backup_args, "DEST", "Backup file to create (never overwritten)"},
        std::tuple{restore, &restore_args, "SRC", "Backup file made by `camfleetd backup`"}}) {
    cmd->add_option(name, args->path, what)->required();
    cmd->add_option("--home", args->home, "Home directory made by `camfleetd init`")
        ->envname("CAMFLEET_HOME");
    cmd->add_option("--db", args->db, "The store (default HOME/fleet.db)")->envname("CAMFLEET_DB");
    cmd->add_option("--audit-dir", args->audit_dir,
                    "Directory holding the audit checkpoint key (default HOME/audit)");
  }
  auto resolve = [](BackupArgs& args) -> bool {
    const camfleet::server::HomePaths paths{args.home};
    if (args.db.empty() && !args.home.empty()) args.db = paths.Database();
    if (args.audit_dir.empty() && !args.home.empty()) args.audit_dir = paths.AuditDir();
    if (args.db.empty() || args.audit_dir.empty()) {
      camfleet::common::LogError("give --home HOME (or both --db and --audit-dir)");
      return false;
    }
    return true;
  };

  std::string renew_home;
  CLI::App* renew = app.add_subcommand(
      "renew-server-cert",
      "Renew camfleetd's own serving certificate now, for the same names, whether or not it is "
      "due (a running camfleetd renews it by itself from 2/3 of its validity, and serves a new "
      "one to new connections within a minute, without dropping open ones)");
  renew->add_option("--home", renew_home, "Home directory made by `camfleetd init`")
      ->envname("CAMFLEET_HOME")
      ->required();

  // The offline root's ceremonies (provisioning/README.md, "The offline root").
  CLI::App* ca = app.add_subcommand(
      "ca", "The offline root's ceremonies: export the root key, replace the issuing CA");
  ca->require_subcommand(1);
  struct CaArgs {
    std::string home;
    std::string out;
    std::string root_key;
    std::string passphrase_file;
    bool compromised = false;
    std::string serial;
  };
  CaArgs ca_args;
  CLI::App* export_root = ca->add_subcommand(
      "export-root",
      "Write the root CA's key to FILE encrypted with a passphrase (PKCS#8, AES-256, scrypt), "
      "check that it opens, and delete it from HOME: keep FILE and the passphrase off the server");
  CLI::App* rotate = ca->add_subcommand(
      "rotate-intermediate",
      "Replace the issuing CA with a new one signed by the root (camfleetd must be stopped): "
      "docks and cameras trust the root and keep working; their certificates are reissued from "
      "the new issuing CA when they renew. The serving certificate is renewed at once");
  CLI::App* revoke_ca = ca->add_subcommand(
      "revoke-intermediate",
      "Put a retired issuing CA on the root's CRL once every device has renewed from the new one "
      "(camfleetd must be stopped): whatever it issued is refused from then on");
  for (CLI::App* cmd : {export_root, rotate, revoke_ca}) {
    cmd->add_option("--home", ca_args.home, "Home directory made by `camfleetd init`")
        ->envname("CAMFLEET_HOME")
        ->required();
    cmd->add_option("--passphrase-file", ca_args.passphrase_file,
                    "File whose first line is the root key's passphrase (at least 12 "
                    "characters); '-' reads it from standard input")
        ->required();
  }
  export_root->add_option("--out", ca_args.out, "Encrypted key file to create (never overwritten)")
      ->required();
  for (CLI::App* cmd : {rotate, revoke_ca}) {
    cmd->add_option("--root-key", ca_args.root_key,
                    "The root key file written by `camfleetd ca export-root`")
        ->required();
  }
  rotate->add_flag("--compromised", ca_args.compromised,
                   "The old issuing CA's key leaked: revoke it at once on the root's CRL "
                   "instead of retiring it. What it issued is refused for everything but one "
                   "renewal onto the new issuing CA, and only if camfleetd recorded that "
                   "certificate: docks renew by themselves (and their docked cameras), operators "
                   "run `camfleet operator renew`");
  revoke_ca->add_option("serial", ca_args.serial, "Serial (hex) of the retired issuing CA")
      ->required();

  CLI11_PARSE(app, argc, argv);
  if (ca->parsed()) {
    std::string passphrase;
    {
      std::ifstream file;
      std::istream* in = &std::cin;
      if (ca_args.passphrase_file != "-") {
        file.open(ca_args.passphrase_file);
        in = &file;
      }
      if (!*in || !std::getline(*in, passphrase)) {
        camfleet::common::LogError("camfleetd ca: cannot read a passphrase from ",
                                   ca_args.passphrase_file);
        return 2;
      }
      if (!passphrase.empty() && passphrase.back() == '\r') passphrase.pop_back();
    }
    const camfleet::server::HomePaths paths{ca_args.home};
    if (export_root->parsed()) {
      absl::Status s =
          camfleet::provisioning::ExportRootKey(paths.CaDir(), ca_args.out, passphrase);
      if (!s.ok()) {
        camfleet::common::LogError("camfleetd ca export-root: ", s.message());
        return 1;
      }
      std::printf(
          "the root key is in %s, encrypted, and no longer in %s\n"
          "move it (and keep the passphrase) off this machine; it is needed only to replace the "
          "issuing CA (camfleetd ca rotate-intermediate)\n",
          ca_args.out.c_str(), paths.CaDir().c_str());
      return 0;
    }
    camfleet::server::RotateOptions rotate_options;
    rotate_options.home = ca_args.home;
    rotate_options.root_key_path = ca_args.root_key;
    rotate_options.passphrase = passphrase;
    rotate_options.revoke_old = ca_args.compromised;
    if (rotate->parsed()) {
      absl::StatusOr<camfleet::server::IntermediateRotation> done =
          camfleet::server::RotateIntermediateInHome(rotate_options);
      if (!done.ok()) {
        camfleet::common::LogError("camfleetd ca rotate-intermediate: ", done.status().message());
        return 1;
      }
      std::printf(
          "new issuing CA '%s' (serial %s) signed by the root; the old one '%s' (serial %s) is %s\n"
          "serving certificate renewed from it: serial %s\n"
          "start camfleetd again; %s\n",
          done->rotation.new_ca.subject_cn.c_str(), done->rotation.new_ca.serial_hex.c_str(),
          done->rotation.old_ca.subject_cn.c_str(), done->rotation.old_ca.serial_hex.c_str(),
          done->rotation.old_revoked ? "revoked on the root's CRL" : "retired (still trusted)",
          done->server_certificate_serial.c_str(),
          done->rotation.old_revoked
              ? "certificates from the old one are refused for everything but one renewal onto "
                "the new one: docks renew at their next pass (and their docked cameras), "
                "operators run `camfleet operator renew`"
              : absl::StrCat("docks and cameras renew onto the new issuing CA as they come due; "
                             "then revoke the old one: camfleetd ca revoke-intermediate ",
                             done->rotation.old_ca.serial_hex)
                    .c_str());
      return 0;
    }
    if (absl::Status s = camfleet::server::RevokeIntermediateInHome(rotate_options, ca_args.serial);
        !s.ok()) {
      camfleet::common::LogError("camfleetd ca revoke-intermediate: ", s.message());
      return 1;
    }
    std::printf("issuing CA %s is on the root's CRL; start camfleetd again\n",
                ca_args.serial.c_str());
    return 0;
  }
  if (backup->parsed()) {
    if (!resolve(backup_args)) return 2;
    absl::StatusOr<camfleet::server::BackupResult> result = camfleet::server::Backup(
        {.db_path = backup_args.db, .audit_dir = backup_args.audit_dir, .dest = backup_args.path});
    if (!result.ok()) {
      camfleet::common::LogError("camfleetd backup: ", result.status().message());
      return 1;
    }
    std::printf(
        "backed up %s to %s (%lld bytes, copied in %s; integrity_check ok, %lld audit events "
        "verified)\ncheckpoint of audit event %lld written to %s\n",
        backup_args.db.c_str(), backup_args.path.c_str(), static_cast<long long>(result->bytes),
        absl::FormatDuration(result->copy_time).c_str(),
        static_cast<long long>(result->events_checked),
        static_cast<long long>(result->checkpoint.sequence()), result->checkpoint_path.c_str());
    return 0;
  }
  if (restore->parsed()) {
    if (!resolve(restore_args)) return 2;
    absl::StatusOr<camfleet::server::RestoreResult> result =
        camfleet::server::Restore({.source = restore_args.path,
                                   .db_path = restore_args.db,
                                   .audit_dir = restore_args.audit_dir});
    if (!result.ok()) {
      camfleet::common::LogError("camfleetd restore: ", result.status().message());
      return 1;
    }
    std::printf(
        "restored %s from %s (%lld audit events verified against its checkpoint)\n"
        "new database generation %s (was %s): docks will resend what this copy lacks\n",
        restore_args.db.c_str(), restore_args.path.c_str(),
        static_cast<long long>(result->events_checked), result->generation.c_str(),
        result->previous_generation.c_str());
    if (!result->moved_aside.empty()) {
      std::printf("the database it replaced was moved to %s\n", result->moved_aside.c_str());
    }
    return 0;
  }
  if (renew->parsed()) {
    absl::StatusOr<camfleet::provisioning::IssuedCertificate> cert =
        camfleet::server::RenewServerCertificateInHome(renew_home, absl::Now());
    if (!cert.ok()) {
      camfleet::common::LogError("camfleetd renew-server-cert: ", cert.status().message());
      return 1;
    }
    std::printf(
        "renewed camfleetd's serving certificate: serial %s, valid until %s\n"
        "a running camfleetd serves it to new connections within a minute\n",
        cert->info.serial_hex.c_str(),
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", cert->info.not_after, absl::UTCTimeZone()).c_str());
    return 0;
  }
  if (init->parsed()) {
    absl::Status s = camfleet::server::InitHome(init_options);
    if (!s.ok()) {
      camfleet::common::LogError("camfleetd init: ", s.message());
      return 1;
    }
    const camfleet::server::HomePaths paths{init_options.home};
    std::printf(
        "created the fleet root CA, issuing CA, server credentials and store in %s\n"
        "move the root key off this machine: camfleetd ca export-root --home %s --out FILE "
        "--passphrase-file -\n"
        "first admin's credentials: %s\n"
        "  move them to the admin's machine, then delete them here; use them with\n"
        "  camfleet --credentials DIR ...\n"
        "start the server with: camfleetd serve --home %s --listen 0.0.0.0:7443\n",
        init_options.home.c_str(), init_options.home.c_str(),
        paths.AdminCredentials(init_options.admin_name).c_str(), init_options.home.c_str());
    absl::StatusOr<camfleet::provisioning::CheckpointSigner> signer =
        camfleet::provisioning::CheckpointSigner::LoadOrCreate(paths.AuditDir());
    if (signer.ok()) {
      std::printf(
          "audit checkpoint public key: %s/%s (key id %s)\n"
          "  give it to your auditors to pin (camfleet audit verify --checkpoint-key), and read\n"
          "  them the key id over another channel\n",
          paths.AuditDir().c_str(), camfleet::provisioning::kCheckpointPublicKeyFile,
          signer->key_id().c_str());
    }
    return 0;
  }
  if (serve->parsed()) {
    // A production server runs on the database `init` made: a mistyped --db or --home must
    // not start an empty fleet beside the real one. A plaintext dev server makes its own.
    options.store.must_exist = !options.insecure_dev;
    return Serve(options, port_file, metrics_port_file, web_port_file);
  }
  return 0;
}
