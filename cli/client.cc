#include "cli/client.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace camfleet::cli {

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options) {
  return grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::string FormatRpcError(const absl::Status& status, const ConnectionOptions& options) {
  std::string text =
      absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ", status.message());
  if (status.code() == absl::StatusCode::kUnavailable) {
    absl::StrAppend(&text, "\nhint: is camfleetd running at ", options.server,
                    "? Set --server or CAMFLEET_SERVER.");
  } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    absl::StrAppend(&text, "\nhint: no answer from ", options.server, " within ",
                    absl::FormatDuration(options.timeout), "; raise --timeout if it is busy.");
  }
  return text;
}

Client::Client(ConnectionOptions options)
    : options_(std::move(options)),
      channel_(MakeChannel(options_)),
      fleet_(v1::FleetService::NewStub(channel_)),
      audit_(v1::AuditService::NewStub(channel_)) {}

void Client::Prepare(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.timeout));
  if (!options_.operator_name.empty()) {
    context.AddMetadata(kOperatorMetadata, options_.operator_name);
  }
}

}  // namespace camfleet::cli
