// camfleet cert list|revoke, camfleet crl, camfleet supplier-ca add|list

#include <stdio.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/enum_names.h"
#include "cli/table.h"
#include "provisioning/file_io.h"

namespace camfleet::cli {
namespace {

using Stub = v1::ProvisioningService::Stub;

// A PEM certificate is a few kilobytes; anything bigger is the wrong file.
constexpr size_t kMaxPemFileBytes = 64 * 1024;

// The serial as the server keys it: lower-case hex without leading zeros. People paste it as
// openssl prints it too ("5F:3A:..." or with leading zeros).
std::string NormalizeSerial(absl::string_view text) {
  std::string serial;
  for (char c : text) {
    if (c != ':') serial.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  const size_t first = serial.find_first_not_of('0');
  if (first == std::string::npos) return serial.empty() ? serial : "0";
  return serial.substr(first);
}

void AddCertList(CLI::App* cert, Action* selected) {
  struct Args {
    std::string role;
    std::string identity;
    std::string subject;
    std::string relayed_by;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = cert->add_subcommand(
      "list", "List certificates the fleet CA issued, newest first (revoked ones with --all)");
  cmd->add_option("--role", args->role, "Only this role: " + RoleChoices())
      ->type_name("ROLE")
      ->check(RoleValidator(/*any_role=*/true));
  cmd->add_option("--identity", args->identity,
                  "Only this identity: operator name, dock id or camera serial")
      ->type_name("ID");
  cmd->add_option("--subject", args->subject,
                  "Only certificates whose subject CN is this (a camera serial, dock id or "
                  "operator name; factory certificates too)")
      ->type_name("CN");
  cmd->add_option("--relayed-by", args->relayed_by,
                  "Only camera certificates this dock relayed (e.g. to review a compromised dock)")
      ->type_name("DOCK");
  cmd->add_option("--limit", args->page.limit, "At most this many per page (1-1000; default 100)")
      ->type_name("N")
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--all", args->page.all, "Every certificate: revoked ones too, every page");
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListCertificatesRequest request;
    if (!args->role.empty()) {
      absl::StatusOr<v1::Role> role = ParseRole(args->role);
      if (!role.ok()) return s.UsageError(role.status().message());
      request.set_role(*role);
    }
    request.set_identity(args->identity);
    request.set_subject(args->subject);
    request.set_relayed_by(args->relayed_by);
    request.set_include_revoked(args->page.all);
    auto response = FetchPages<v1::ListCertificatesRequest, v1::ListCertificatesResponse>(
        request, args->page, [&](const v1::ListCertificatesRequest& r) {
          return s.client().Provisioning(&Stub::ListCertificates, r);
        });
    return Finish(s, response, [&](const v1::ListCertificatesResponse& r) {
      if (r.certificates().empty()) {
        s.out() << "no certificates match\n";
        return;
      }
      Table table({"SERIAL", "ROLE", "IDENTITY", "STATE", "NOT AFTER", "ISSUED BY"});
      for (const v1::Certificate& c : r.certificates()) {
        table.AddRow({c.serial(), RoleName(c.role()), c.identity(), CertificateState(c, s.Now()),
                      FormatTimestamp(c.not_after(), c.has_not_after()), c.issued_by()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "certificates");
    });
  });
}

void AddCertRevoke(CLI::App* cert, Action* selected) {
  struct Args {
    v1::RevokeCertificateRequest request;
    std::string reason;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = cert->add_subcommand("revoke", "Revoke one certificate by serial");
  cmd->footer(
      "To take away an operator or a dock altogether, use `operator revoke` or `dock revoke`:\n"
      "they revoke every certificate the holder has.");
  cmd->add_option("SERIAL", *args->request.mutable_serial(),
                  "Serial, hex as `cert list` shows it (colons and upper case are fine)")
      ->required();
  AddReasonOption(cmd, &args->reason);
  cmd->add_option("--note", *args->request.mutable_note(), "Note for the audit trail");
  SetAction(cmd, selected, [args](Session& s) {
    v1::RevokeCertificateRequest request = args->request;
    request.set_serial(NormalizeSerial(request.serial()));
    absl::StatusOr<v1::RevocationReason> reason = ParseRevocationReason(args->reason);
    if (!reason.ok()) return s.UsageError(reason.status().message());
    request.set_reason(*reason);
    return Finish(s, s.client().Provisioning(&Stub::RevokeCertificate, request),
                  [&](const v1::RevokeCertificateResponse& r) {
                    const v1::Certificate& c = r.certificate();
                    s.out() << "revoked certificate " << c.serial() << " (" << RoleName(c.role())
                            << " " << c.identity()
                            << "): " << RevocationReasonName(c.revocation_reason()) << "\n";
                  });
  });
}

// Replaces `path` with `contents` through a new file and rename(2): a dock or web server
// reading the CRL sees the old one or the new one, never half of one.
absl::Status ReplaceFile(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".new";
  ::remove(tmp.c_str());
  if (absl::Status s = provisioning::WriteNewFile(tmp, contents, 0644); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::remove(tmp.c_str());
    return absl::PermissionDeniedError(absl::StrCat("cannot replace ", path));
  }
  return absl::OkStatus();
}

void AddCrl(CLI::App& app, Action* selected) {
  struct Args {
    std::string out;
    bool pem = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("crl", "Fetch the fleet CA's current certificate revocation list (CRL)");
  cmd->add_option("--out", args->out, "Write the CRL (PEM) to this file, replacing it")
      ->type_name("FILE");
  cmd->add_flag("--pem", args->pem, "Print the CRL (PEM) on stdout; the summary goes to stderr");
  SetAction(cmd, selected, [args](Session& s) {
    absl::StatusOr<v1::GetCrlResponse> response =
        s.client().Provisioning(&Stub::GetCrl, v1::GetCrlRequest());
    if (!response.ok()) return s.RpcError(response.status());
    if (!args->out.empty()) {
      if (absl::Status written = ReplaceFile(args->out, response->crl_pem()); !written.ok()) {
        return s.UsageError(written.message());
      }
    }
    if (s.json()) return s.PrintJson(*response);
    std::ostream& summary = args->pem ? s.err() : s.out();
    summary << RenderRecord(
        {{"CRL number", absl::StrCat(response->crl_number())},
         {"this update", FormatTimestamp(response->this_update(), response->has_this_update())},
         {"next update", FormatTimestamp(response->next_update(), response->has_next_update())}});
    if (!args->out.empty()) summary << "wrote the CRL to " << args->out << "\n";
    if (args->pem) s.out() << response->crl_pem();
    return kExitOk;
  });
}

void AddSupplierCaAdd(CLI::App* supplier, Action* selected) {
  struct Args {
    std::string name;
    std::string cert;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = supplier->add_subcommand(
      "add", "Trust a supplier's CA for factory-issued camera certificates (camera commission)");
  cmd->add_option("NAME", args->name, "Name of the supplier, 1-64 characters")->required();
  cmd->add_option("--cert", args->cert, "The supplier's CA certificate, PEM")
      ->required()
      ->type_name("FILE");
  SetAction(cmd, selected, [args](Session& s) {
    absl::StatusOr<provisioning::FileContents> pem =
        provisioning::ReadSmallFile(args->cert, kMaxPemFileBytes);
    if (!pem.ok()) return s.UsageError(pem.status().message());
    v1::AddSupplierCaRequest request;
    request.set_name(args->name);
    request.set_certificate_pem(pem->data);
    return Finish(s, s.client().Provisioning(&Stub::AddSupplierCa, request),
                  [&](const v1::AddSupplierCaResponse& r) {
                    const v1::SupplierCa& ca = r.supplier_ca();
                    s.out() << "added supplier CA " << ca.name() << " (" << ca.subject()
                            << "), valid until "
                            << FormatTimestamp(ca.not_after(), ca.has_not_after()) << "\n";
                  });
  });
}

void AddSupplierCaList(CLI::App* supplier, Action* selected) {
  CLI::App* cmd = supplier->add_subcommand("list", "List trusted supplier CAs by name");
  SetAction(cmd, selected, [](Session& s) {
    // The server pages every list; a person wants the whole (short) list.
    auto response = FetchPages<v1::ListSupplierCasRequest, v1::ListSupplierCasResponse>(
        v1::ListSupplierCasRequest(), PageFlags{.limit = 0, .all = true},
        [&](const v1::ListSupplierCasRequest& r) {
          return s.client().Provisioning(&Stub::ListSupplierCas, r);
        });
    return Finish(s, response, [&](const v1::ListSupplierCasResponse& r) {
      if (r.supplier_cas().empty()) {
        s.out() << "no supplier CAs\n";
        return;
      }
      Table table({"NAME", "SUBJECT", "EXPIRES", "ADDED", "BY"});
      for (const v1::SupplierCa& ca : r.supplier_cas()) {
        table.AddRow({ca.name(), ca.subject(), FormatTimestamp(ca.not_after(), ca.has_not_after()),
                      FormatTimestamp(ca.create_time(), ca.has_create_time()), ca.created_by()});
      }
      s.out() << table.Render();
    });
  });
}

}  // namespace

void AddCertificateCommands(CLI::App& app, Action* selected) {
  CLI::App* cert = app.add_subcommand("cert", "Certificates the fleet CA issued");
  cert->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddCertList(cert, selected);
  AddCertRevoke(cert, selected);
  AddCrl(app, selected);
  CLI::App* supplier =
      app.add_subcommand("supplier-ca", "Supplier CAs trusted for factory camera certificates");
  supplier->require_subcommand(0, 1);
  AddSupplierCaAdd(supplier, selected);
  AddSupplierCaList(supplier, selected);
}

}  // namespace camfleet::cli
