// camfleet whoami, camfleet operator add|list|revoke|renew
//
// Keys are made here, on the machine that will hold them; only CSRs go to the server
// (provisioning/key.h). `operator add` makes the new operator's key on the admin's machine and
// writes it into a bundle directory that the admin hands over.

#include <google/protobuf/struct.pb.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/enum_names.h"
#include "cli/table.h"
#include "provisioning/certificate.h"
#include "provisioning/certificate_profile.h"
#include "provisioning/credential_bundle.h"
#include "provisioning/csr.h"
#include "provisioning/file_io.h"
#include "provisioning/key.h"
#include "provisioning/role.h"

namespace camfleet::cli {
namespace {

using Stub = v1::ProvisioningService::Stub;

// What `whoami` and `operator renew` read from the bundle in --credentials.
struct LocalIdentity {
  provisioning::CertificateInfo info;
  std::string key_description;
};

// Loads the bundle and checks that its key belongs to its certificate (a renewal cut short
// between writing the two would leave a pair that fails every handshake).
// Errors: LoadCredentialBundle's and ParseCertificate's, prefixed with the directory;
// FAILED_PRECONDITION if the key does not belong to the certificate.
absl::StatusOr<LocalIdentity> ReadLocalIdentity(const std::string& dir) {
  auto in_dir = [&dir](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("credentials in ", dir, ": ", s.message()));
  };
  absl::StatusOr<provisioning::CredentialBundle> bundle = provisioning::LoadCredentialBundle(dir);
  if (!bundle.ok()) return in_dir(bundle.status());
  absl::StatusOr<provisioning::CertificateInfo> info =
      provisioning::ParseCertificate(bundle->cert_pem);
  if (!info.ok()) return in_dir(info.status());
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::FromPem(bundle->key_pem);
  if (!key.ok()) return in_dir(key.status());
  absl::StatusOr<std::string> fingerprint = key->PublicKeyFingerprint();
  if (!fingerprint.ok()) return in_dir(fingerprint.status());
  if (*fingerprint != info->key_fingerprint) {
    return in_dir(absl::FailedPreconditionError(
        "key.pem does not belong to cert.pem (was a renewal interrupted?); run `camfleet "
        "operator renew` with a working bundle, or ask an admin for new credentials"));
  }
  return LocalIdentity{*std::move(info), key->Description()};
}

// The directory `whoami` and `operator renew` work on: --credentials, whatever the transport.
std::optional<std::string> CredentialsDir(Session& s, absl::string_view command) {
  if (!s.connection().credentials_dir.empty()) return s.connection().credentials_dir;
  s.UsageError(absl::StrCat(command,
                            " needs your credentials: pass --credentials DIR (or set "
                            "CAMFLEET_CREDENTIALS, or `credentials` in the config file)"));
  return std::nullopt;
}

// "9d4h left", "expired 2d ago".
std::string Remaining(absl::Time not_after, absl::Time now) {
  if (not_after > now) return absl::StrCat(HumanizeDuration(not_after - now), " left");
  return absl::StrCat("expired ", HumanizeDuration(now - not_after), " ago");
}

// "2026-12-01T08:00:00Z", as the proto3 JSON mapping writes timestamps elsewhere.
std::string Rfc3339Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Whole days until `not_after`, 0 once it has passed.
int64_t DaysLeft(absl::Time not_after, absl::Time now) {
  if (not_after <= now) return 0;
  return absl::ToInt64Hours(not_after - now) / 24;
}

// The warning `whoami` prints on stderr about a certificate's age, or "" while all is well.
std::string ValidityWarning(const provisioning::CertificateInfo& info, absl::Time now) {
  const bool person = provisioning::IsOperator(info.role);
  const std::string renew = person ? "renew with `camfleet operator renew`" : "renew it";
  if (now < info.not_before) {
    return absl::StrCat("warning: this certificate is not valid until ", FormatUtc(info.not_before),
                        "; is this machine's clock right?");
  }
  if (now >= info.not_after) {
    const absl::Time renewable_until =
        info.not_after + provisioning::ProfileFor(info.role).renewal_grace;
    if (now < renewable_until) {
      return absl::StrCat("warning: this certificate expired ",
                          HumanizeDuration(now - info.not_after),
                          " ago; the server accepts it only to renew, until ",
                          FormatUtc(renewable_until), ": ", renew, " now");
    }
    return absl::StrCat("warning: this certificate expired ",
                        HumanizeDuration(now - info.not_after),
                        " ago and can no longer be renewed; ask an admin for new credentials");
  }
  if (now >= provisioning::RenewalDueAt(info.not_before, info.not_after)) {
    return absl::StrCat("warning: this certificate is past 2/3 of its validity and expires ",
                        RelativeTo(info.not_after, now), " (", FormatUtc(info.not_after), "); ",
                        renew);
  }
  return "";
}

void AddWhoami(CLI::App& app, Action* selected) {
  CLI::App* cmd = app.add_subcommand(
      "whoami", "Show the identity in your credentials (--credentials): role, serial, validity");
  cmd->footer(
      "Reads only the local files; nothing is sent. Warns once the certificate is past 2/3 of\n"
      "its validity, when it is time to run `camfleet operator renew`.");
  SetLocalAction(cmd, selected, [](Session& s) {
    std::optional<std::string> dir = CredentialsDir(s, "whoami");
    if (!dir.has_value()) return kExitUsage;
    absl::StatusOr<LocalIdentity> local = ReadLocalIdentity(*dir);
    if (!local.ok()) return s.UsageError(local.status().message());
    const provisioning::CertificateInfo& info = local->info;
    const absl::Time now = s.Now();
    const absl::Time renew_from = provisioning::RenewalDueAt(info.not_before, info.not_after);
    const std::string warning = ValidityWarning(info, now);
    if (s.json()) {
      google::protobuf::Struct doc;
      auto& fields = *doc.mutable_fields();
      fields["identity"].set_string_value(info.identity);
      fields["role"].set_string_value(std::string(provisioning::RoleName(info.role)));
      fields["serial"].set_string_value(info.serial_hex);
      fields["issuer"].set_string_value(info.issuer_cn);
      fields["not_before"].set_string_value(Rfc3339Utc(info.not_before));
      fields["not_after"].set_string_value(Rfc3339Utc(info.not_after));
      fields["renew_after"].set_string_value(Rfc3339Utc(renew_from));
      fields["days_left"].set_number_value(static_cast<double>(DaysLeft(info.not_after, now)));
      fields["expired"].set_bool_value(now >= info.not_after);
      fields["renewal_due"].set_bool_value(now >= renew_from);
      fields["key_fingerprint"].set_string_value(info.key_fingerprint);
      fields["credentials"].set_string_value(*dir);
      if (!warning.empty()) s.err() << warning << "\n";
      return s.PrintJson(doc);
    }
    s.out() << RenderRecord({{"identity", info.identity},
                             {"role", std::string(provisioning::RoleName(info.role))},
                             {"serial", info.serial_hex},
                             {"issuer", info.issuer_cn},
                             {"valid from", FormatUtc(info.not_before)},
                             {"valid until", absl::StrCat(FormatUtc(info.not_after), " (",
                                                          Remaining(info.not_after, now), ")")},
                             {"days left", absl::StrCat(DaysLeft(info.not_after, now))},
                             {"renew from", FormatUtc(renew_from)},
                             {"key", absl::StrCat(local->key_description, ", SHA-256 ",
                                                  info.key_fingerprint.substr(0, 16), "...")},
                             {"credentials", *dir}});
    if (!warning.empty()) s.err() << warning << "\n";
    return kExitOk;
  });
}

// A fresh EC P-256 key and a CSR for it with CN = name. INVALID_ARGUMENT if the name is not a
// valid identity.
struct KeyAndCsr {
  provisioning::PrivateKey key;
  std::string csr_pem;
};
absl::StatusOr<KeyAndCsr> NewKeyAndCsr(const std::string& name) {
  absl::StatusOr<provisioning::PrivateKey> key = provisioning::PrivateKey::GenerateEcP256();
  if (!key.ok()) return key.status();
  absl::StatusOr<provisioning::CertificateRequest> csr =
      provisioning::CertificateRequest::Make(*key, name);
  if (!csr.ok()) return csr.status();
  absl::StatusOr<std::string> pem = csr->ToPem();
  if (!pem.ok()) return pem.status();
  return KeyAndCsr{*std::move(key), *std::move(pem)};
}

void AddAdd(CLI::App* op, Action* selected) {
  struct Args {
    std::string name;
    std::string role;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = op->add_subcommand(
      "add", "Add an operator: make their key here, get it certified, write their credentials");
  cmd->footer(
      "The key is made on this machine and never sent; only a CSR goes to the server. The\n"
      "bundle in --out (key.pem, cert.pem, ca.pem) is the new operator's login: hand it over by a\n"
      "safe route. Adding an existing operator with the same role gives them another "
      "certificate.");
  cmd->add_option("NAME", args->name, "Operator name: 1-64 of a-z, 0-9, '.', '_', '-'")->required();
  cmd->add_option("--role", args->role, "Their role: " + OperatorRoleChoices())
      ->required()
      ->type_name("ROLE")
      ->check(RoleValidator(/*any_role=*/false));
  cmd->add_option("--out", args->out,
                  "Directory to write the credentials to (made 0700; must not hold a bundle)")
      ->required()
      ->type_name("DIR");
  SetAction(cmd, selected, [args](Session& s) {
    absl::StatusOr<v1::Role> role = ParseOperatorRole(args->role);
    if (!role.ok()) return s.UsageError(role.status().message());
    // Checked before asking the server: a certificate whose key cannot be saved is of no use
    // to anyone and would have to be revoked.
    for (const char* file : {provisioning::kBundleKeyFile, provisioning::kBundleCertFile,
                             provisioning::kBundleCaFile}) {
      if (provisioning::PathExists(provisioning::JoinPath(args->out, file))) {
        return s.UsageError(absl::StrCat(args->out, " already holds credentials (", file,
                                         "); choose a new directory"));
      }
    }
    absl::StatusOr<KeyAndCsr> made = NewKeyAndCsr(args->name);
    if (!made.ok()) return s.UsageError(made.status().message());
    v1::IssueOperatorCertificateRequest request;
    request.set_name(args->name);
    request.set_role(*role);
    request.set_csr_pem(made->csr_pem);
    absl::StatusOr<v1::IssueOperatorCertificateResponse> response =
        s.client().Provisioning(&Stub::IssueOperatorCertificate, request);
    if (!response.ok()) return s.RpcError(response.status());
    const v1::Certificate& cert = response->certificate();
    if (absl::Status written = provisioning::WriteCredentialBundle(
            args->out, made->key, cert.certificate_pem(), response->ca_certificate_pem());
        !written.ok()) {
      s.err() << "error: " << absl::StatusCodeToString(written.code()) << ": certificate "
              << cert.serial() << " for " << args->name
              << " was issued but the credentials could not be written: " << written.message()
              << "\nhint: revoke it with `camfleet cert revoke " << cert.serial()
              << " --reason superseded` and run `operator add` again with another --out.\n";
      return kExitRpcError;
    }
    const absl::Time not_after = FromTimestamp(cert.not_after());
    std::ostream& info = s.json() ? s.err() : s.out();
    info << "issued certificate " << cert.serial() << " to " << args->name << " ("
         << RoleName(cert.role()) << "), valid until " << FormatUtc(not_after) << " ("
         << RelativeTo(not_after, s.Now()) << ")\n"
         << "wrote " << args->name << "'s credentials to " << args->out
         << " (key.pem, cert.pem, ca.pem)\n";
    s.err() << "the key was made here and sent nowhere; hand " << args->out << " to " << args->name
            << " by a safe route. They use it with: camfleet --credentials DIR ...\n";
    if (s.json()) return s.PrintJson(*response);
    return kExitOk;
  });
}

// "active", "revoked 2026-11-22 20:15Z", or "expired" when no certificate is valid any more.
std::string OperatorState(const v1::Operator& op, absl::Time now) {
  if (op.has_revoke_time()) {
    return absl::StrCat("revoked ", FormatUtc(FromTimestamp(op.revoke_time())));
  }
  for (const v1::Certificate& c : op.certificates()) {
    if (CertificateState(c, now) == "valid") return "active";
  }
  return "expired";
}

void AddList(CLI::App* op, Action* selected) {
  auto all = std::make_shared<bool>(false);
  CLI::App* cmd = op->add_subcommand("list", "List operators by name, with their certificates");
  cmd->add_flag("--all", *all, "Include revoked operators");
  SetAction(cmd, selected, [all](Session& s) {
    v1::ListOperatorsRequest request;
    request.set_include_revoked(*all);
    auto response = FetchPages<v1::ListOperatorsRequest, v1::ListOperatorsResponse>(
        request, PageFlags{.limit = 0, .all = true}, [&](const v1::ListOperatorsRequest& r) {
          return s.client().Provisioning(&Stub::ListOperators, r);
        });
    return Finish(s, response, [&](const v1::ListOperatorsResponse& r) {
      if (r.operators().empty()) {
        s.out() << "no operators\n";
        return;
      }
      const absl::Time now = s.Now();
      Table table({"NAME", "ROLE", "STATE", "VALID CERTS", "EXPIRES", "CREATED"});
      table.AlignRight(3);
      for (const v1::Operator& o : r.operators()) {
        int valid = 0;
        absl::Time expires = absl::InfinitePast();
        for (const v1::Certificate& c : o.certificates()) {
          if (CertificateState(c, now) != "valid") continue;
          ++valid;
          expires = std::max(expires, FromTimestamp(c.not_after()));
        }
        table.AddRow({o.name(), RoleName(o.role()), OperatorState(o, now), absl::StrCat(valid),
                      valid > 0 ? FormatUtc(expires) : "",
                      FormatTimestamp(o.create_time(), o.has_create_time())});
      }
      s.out() << table.Render();
    });
  });
}

void AddRevoke(CLI::App* op, Action* selected) {
  struct Args {
    v1::RevokeOperatorRequest request;
    std::string reason;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = op->add_subcommand(
      "revoke",
      "Revoke an operator and every certificate they hold (refused from their next call)");
  cmd->add_option("NAME", *args->request.mutable_name(), "Operator name")->required();
  AddReasonOption(cmd, &args->reason);
  cmd->add_option("--note", *args->request.mutable_note(), "Note for the audit trail");
  SetAction(cmd, selected, [args](Session& s) {
    v1::RevokeOperatorRequest request = args->request;
    absl::StatusOr<v1::RevocationReason> reason = ParseRevocationReason(args->reason);
    if (!reason.ok()) return s.UsageError(reason.status().message());
    request.set_reason(*reason);
    return Finish(s, s.client().Provisioning(&Stub::RevokeOperator, request),
                  [&](const v1::RevokeOperatorResponse& r) {
                    // The response's operator may come without its certificates; the
                    // server revokes all of them either way.
                    s.out() << "revoked operator " << r.operator_().name() << " ("
                            << RoleName(r.operator_().role())
                            << ") and every certificate they held: "
                            << RevocationReasonName(*reason) << "\n";
                  });
  });
}

void AddRenew(CLI::App* op, Action* selected) {
  CLI::App* cmd = op->add_subcommand(
      "renew", "Renew your own certificate: a new key here, a new certificate, same name and role");
  cmd->footer(
      "Replaces key.pem, cert.pem and ca.pem in --credentials. Works while the certificate is\n"
      "valid and for 30 days after it expired. The previous certificate stays valid until it\n"
      "expires.");
  SetAction(cmd, selected, [](Session& s) {
    if (s.connection().transport != Transport::kTls) {
      return s.UsageError("operator renew needs your credentials and TLS: pass --credentials DIR");
    }
    const std::string dir = s.connection().credentials_dir;
    absl::StatusOr<LocalIdentity> local = ReadLocalIdentity(dir);
    if (!local.ok()) return s.UsageError(local.status().message());
    absl::StatusOr<KeyAndCsr> made = NewKeyAndCsr(local->info.identity);
    if (!made.ok()) return s.UsageError(made.status().message());
    v1::RenewOperatorCertificateRequest request;
    request.set_csr_pem(made->csr_pem);
    absl::StatusOr<v1::RenewOperatorCertificateResponse> response =
        s.client().Provisioning(&Stub::RenewOperatorCertificate, request);
    if (!response.ok()) return s.RpcError(response.status());
    const v1::Certificate& cert = response->certificate();
    if (absl::Status replaced = provisioning::ReplaceCredentialBundle(
            dir, made->key, cert.certificate_pem(), response->ca_certificate_pem());
        !replaced.ok()) {
      s.err() << "error: " << absl::StatusCodeToString(replaced.code()) << ": certificate "
              << cert.serial() << " was issued but " << dir
              << " could not be updated: " << replaced.message() << "\n";
      return kExitRpcError;
    }
    const absl::Time not_after = FromTimestamp(cert.not_after());
    std::ostream& info = s.json() ? s.err() : s.out();
    info << "renewed " << local->info.identity << " (" << RoleName(cert.role()) << "): certificate "
         << cert.serial() << " valid until " << FormatUtc(not_after) << " ("
         << RelativeTo(not_after, s.Now()) << "), written to " << dir << "\n"
         << "the previous certificate " << local->info.serial_hex << " stays valid until "
         << FormatUtc(local->info.not_after) << "\n";
    if (s.json()) return s.PrintJson(*response);
    return kExitOk;
  });
}

}  // namespace

void AddOperatorCommands(CLI::App& app, Action* selected) {
  AddWhoami(app, selected);
  CLI::App* op = app.add_subcommand("operator", "Operators: the people who use camfleet");
  op->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddAdd(op, selected);
  AddList(op, selected);
  AddRevoke(op, selected);
  AddRenew(op, selected);
}

}  // namespace camfleet::cli
