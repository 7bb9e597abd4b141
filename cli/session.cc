#include "cli/session.h"

#include <google/protobuf/util/json_util.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace camfleet::cli {

Session::Session(Environment env, bool json, ConnectionOptions connection)
    : env_(std::move(env)), json_(json), connection_(std::move(connection)) {}

absl::Status Session::Connect() {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(connection_);
  absl::Status status = channel.status();
  client_ = std::make_unique<Client>(connection_, std::move(channel));
  return status;
}

const Client& Session::client() {
  if (client_ == nullptr) Connect().IgnoreError();
  return *client_;
}

int Session::RpcError(const absl::Status& status) {
  err() << FormatRpcError(status, connection_) << "\n";
  return kExitRpcError;
}

int Session::UsageError(absl::string_view message) {
  err() << "error: " << message << "\n";
  return kExitUsage;
}

int Session::PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  // Scripts must see zero values (imported: 0, intact: false) rather than missing keys.
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    // Only a message that cannot be represented in JSON gets here: a broken invariant.
    err() << "error: INTERNAL: cannot print the answer as JSON: " << status.ToString() << "\n";
    return kExitRpcError;
  }
  out() << json;
  if (json.empty() || json.back() != '\n') out() << "\n";
  return kExitOk;
}

}  // namespace camfleet::cli
