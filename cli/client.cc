#include "cli/client.h"

#include <chrono>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "provisioning/credential_bundle.h"

namespace camfleet::cli {
namespace {

// gRPC reports a failed TLS handshake as UNAVAILABLE, like an unreachable server; only the
// message tells them apart: "Ssl handshake failed: ...", or "Peer name X is not in peer
// certificate" when the certificate does not name the host dialled.
bool IsTlsFailure(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  const std::string message = absl::AsciiStrToLower(status.message());
  return absl::StrContains(message, "handshake") || absl::StrContains(message, "peer name");
}

// The host a TLS client checks the server's certificate against.
std::string NameChecked(const ConnectionOptions& options) {
  if (!options.server_name.empty()) return options.server_name;
  absl::string_view host = options.server;
  if (size_t colon = host.rfind(':'); colon != absl::string_view::npos)
    host = host.substr(0, colon);
  return std::string(host);
}

std::string TlsHint(const absl::Status& status, const ConnectionOptions& options) {
  const std::string message = absl::AsciiStrToLower(status.message());
  if (absl::StrContains(message, "peer name")) {
    return absl::StrCat("hint: the server's certificate does not name '", NameChecked(options),
                        "'. Dial it by a name its certificate carries (camfleetd init --dns/--ip "
                        "chose them), or give that name with --server-name.");
  }
  if (absl::StrContains(message, "wrong version number")) {
    return absl::StrCat("hint: ", options.server,
                        " did not answer in TLS. Is it a development server (camfleetd serve "
                        "--insecure-dev)? Then pass --insecure instead of --credentials.");
  }
  return absl::StrCat(
      "hint: the TLS handshake with ", options.server,
      " failed. Check --server (and --server-name if the certificate names another host), that "
      "ca.pem in ",
      options.credentials_dir.empty() ? "your credentials" : options.credentials_dir,
      " is this server's fleet CA, and that your certificate has not expired (`camfleet whoami` "
      "shows it).");
}

}  // namespace

absl::Status CheckTextFields(const google::protobuf::Message& request) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection& reflection = *request.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(request, &fields);
  auto bad_text = [](const FieldDescriptor& field, const std::string& value) -> absl::Status {
    const std::optional<size_t> bad = common::FirstInvalidUtf8(value);
    if (!bad.has_value()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not UTF-8 text (byte %d is 0x%02x); the server takes text as UTF-8: run the "
        "command in a UTF-8 terminal (e.g. LANG=C.UTF-8) or convert the file it came from",
        field.name(), *bad + 1, static_cast<unsigned char>(value[*bad])));
  };
  auto nested = [](const FieldDescriptor& field, const absl::Status& inner) {
    return absl::InvalidArgumentError(absl::StrCat(field.name(), ".", inner.message()));
  };
  for (const FieldDescriptor* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(request, field); ++i) {
          RETURN_IF_ERROR(bad_text(*field, reflection.GetRepeatedString(request, field, i)));
        }
      } else {
        RETURN_IF_ERROR(bad_text(*field, reflection.GetString(request, field)));
      }
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(request, field); ++i) {
          absl::Status inner = CheckTextFields(reflection.GetRepeatedMessage(request, field, i));
          if (!inner.ok()) return nested(*field, inner);
        }
      } else {
        absl::Status inner = CheckTextFields(reflection.GetMessage(request, field));
        if (!inner.ok()) return nested(*field, inner);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionOptions& options) {
  switch (options.transport) {
    case Transport::kUnset:
      return absl::FailedPreconditionError(
          "no credentials: pass --credentials DIR (your key.pem, cert.pem and ca.pem), or "
          "--insecure for a development server (camfleetd serve --insecure-dev)");
    case Transport::kInsecure:
      return grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials());
    case Transport::kTls:
      break;
  }
  absl::StatusOr<provisioning::CredentialBundle> bundle =
      provisioning::LoadCredentialBundle(options.credentials_dir);
  if (!bundle.ok()) {
    return absl::Status(bundle.status().code(),
                        absl::StrCat("cannot use the credentials in ", options.credentials_dir,
                                     ": ", bundle.status().message()));
  }
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = bundle->ca_pem;
  tls.pem_private_key = bundle->key_pem;
  tls.pem_cert_chain = bundle->cert_pem;
  grpc::ChannelArguments arguments;
  if (!options.server_name.empty()) {
    arguments.SetSslTargetNameOverride(options.server_name);
  }
  return grpc::CreateCustomChannel(options.server, grpc::SslCredentials(tls), arguments);
}

std::string FormatRpcError(const absl::Status& status, const ConnectionOptions& options) {
  std::string text =
      absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ", status.message());
  // gRPC answers a method the server does not serve with no message at all.
  if (status.code() == absl::StatusCode::kUnimplemented && status.message().empty()) {
    absl::StrAppend(&text, "the server does not serve this call");
  }
  if (options.transport == Transport::kTls && IsTlsFailure(status)) {
    absl::StrAppend(&text, "\n", TlsHint(status, options));
  } else if (status.code() == absl::StatusCode::kUnavailable) {
    absl::StrAppend(&text, "\nhint: is camfleetd running at ", options.server,
                    "? Set --server or CAMFLEET_SERVER.");
    if (options.transport == Transport::kInsecure) {
      absl::StrAppend(&text,
                      " A server with mutual TLS closes plaintext connections: pass "
                      "--credentials DIR instead of --insecure.");
    }
  } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    absl::StrAppend(&text, "\nhint: no answer from ", options.server, " within ",
                    absl::FormatDuration(options.timeout), "; raise --timeout if it is busy.");
  } else if (status.code() == absl::StatusCode::kUnauthenticated &&
             options.transport == Transport::kTls) {
    absl::StrAppend(&text,
                    "\nhint: `camfleet whoami` shows your certificate. An expired one can be "
                    "renewed with `camfleet operator renew` for 30 days after it expires; a "
                    "revoked one cannot: ask an admin for new credentials.");
  } else if (status.code() == absl::StatusCode::kUnimplemented &&
             options.transport == Transport::kInsecure) {
    absl::StrAppend(&text,
                    "\nhint: a development server (--insecure-dev) serves no identity "
                    "commands; they need camfleetd serve --home and --credentials DIR.");
  }
  return text;
}

Client::Client(ConnectionOptions options, absl::StatusOr<std::shared_ptr<grpc::Channel>> channel)
    : options_(std::move(options)), channel_status_(channel.status()) {
  if (!channel.ok()) return;
  channel_ = *std::move(channel);
  fleet_ = v1::FleetService::NewStub(channel_);
  audit_ = v1::AuditService::NewStub(channel_);
  provisioning_ = v1::ProvisioningService::NewStub(channel_);
  monitoring_ = v1::MonitoringService::NewStub(channel_);
  web_ = v1::WebService::NewStub(channel_);
  firmware_ = v1::FirmwareService::NewStub(channel_);
  rollout_ = v1::RolloutService::NewStub(channel_);
}

void Client::PrepareContext(grpc::ClientContext& context, absl::Duration timeout) const {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  // With TLS the server reads who we are from the certificate; a header would only mislead
  // someone reading the traffic into thinking it counts.
  if (options_.transport == Transport::kInsecure && !options_.operator_name.empty()) {
    context.AddMetadata(kOperatorMetadata, options_.operator_name);
  }
}

}  // namespace camfleet::cli
