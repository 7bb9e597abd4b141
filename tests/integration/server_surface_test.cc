// The standard services camfleetd offers besides its own API: gRPC health checking and server
// reflection (what grpcurl, buf curl and load balancers rely on).
//
// Debian's libgrpc++-dev ships neither grpc::ProtoReflectionDescriptorDatabase (it lives in
// gRPC's test/cpp/util) nor reflection.proto or its generated header, only the server side
// (<grpcpp/ext/proto_server_reflection_plugin.h>). So the client below speaks the reflection
// protocol itself: the wire messages are described by the public grpc.reflection.v1alpha
// protocol's field numbers, built at run time into a private descriptor pool, and the stream
// runs over grpc::GenericStub.

#include <unistd.h>

#include <atomic>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/fleet_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace camfleet::testing {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

constexpr char kReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// The messages of grpc.reflection.v1alpha as they travel on the wire, as a FileDescriptorProto
// (protoc's .proto parser ships in libprotoc-dev, which the project does not depend on).
constexpr char kReflectionWireSchema[] = R"pb(
  name: "reflection_wire.proto"
  package: "grpc.reflection.v1alpha"
  syntax: "proto3"
  message_type {
    name: "ServerReflectionRequest"
    field { name: "host" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "file_by_filename"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
    }
    field {
      name: "file_containing_symbol"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
    }
    field { name: "list_services" number: 7 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
    oneof_decl { name: "message_request" }
  }
  message_type {
    name: "ServerReflectionResponse"
    field { name: "valid_host" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field {
      name: "original_request"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.v1alpha.ServerReflectionRequest"
    }
    field {
      name: "file_descriptor_response"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.v1alpha.FileDescriptorResponse"
      oneof_index: 0
    }
    field {
      name: "list_services_response"
      number: 6
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.v1alpha.ListServiceResponse"
      oneof_index: 0
    }
    field {
      name: "error_response"
      number: 7
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.v1alpha.ErrorResponse"
      oneof_index: 0
    }
    oneof_decl { name: "message_response" }
  }
  message_type {
    name: "FileDescriptorResponse"
    field { name: "file_descriptor_proto" number: 1 label: LABEL_REPEATED type: TYPE_BYTES }
  }
  message_type {
    name: "ListServiceResponse"
    field {
      name: "service"
      number: 1
      label: LABEL_REPEATED
      type: TYPE_MESSAGE
      type_name: ".grpc.reflection.v1alpha.ServiceResponse"
    }
  }
  message_type {
    name: "ServiceResponse"
    field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  message_type {
    name: "ErrorResponse"
    field { name: "error_code" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field { name: "error_message" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
)pb";

// One request, one response on a fresh ServerReflectionInfo stream.
class OneExchange final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  OneExchange(grpc::GenericStub& stub, const std::string& request) {
    grpc::Slice slice(request);
    request_ = grpc::ByteBuffer(&slice, 1);
    ctx_ = NewClientContext();
    stub.PrepareBidiStreamingCall(ctx_.get(), kReflectionMethod, grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override { got_response_ = ok; }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }

  // The serialized response once the stream has ended.
  absl::StatusOr<std::string> Await() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    if (!status_.ok()) return ToAbsl(status_);
    if (!got_response_) return absl::DataLossError("the reflection stream ended without a reply");
    std::vector<grpc::Slice> slices;
    if (!response_.Dump(&slices).ok()) return absl::DataLossError("unreadable reply");
    std::string out;
    for (const grpc::Slice& s : slices) {
      out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return out;
  }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  bool got_response_ = false;  // written before OnDone, read after it
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel) : stub_(std::move(channel)) {
    google::protobuf::FileDescriptorProto file;
    if (google::protobuf::TextFormat::ParseFromString(kReflectionWireSchema, &file)) {
      pool_.BuildFile(file);
    }
    request_type_ = pool_.FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
    response_type_ =
        pool_.FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  }

  bool ready() const { return request_type_ != nullptr && response_type_ != nullptr; }

  // Full names of the services the server offers.
  absl::StatusOr<std::vector<std::string>> ListServices() {
    absl::StatusOr<std::unique_ptr<Message>> resp = Exchange("list_services", "*");
    if (!resp.ok()) return resp.status();
    const Message& list = Sub(**resp, "list_services_response");
    std::vector<std::string> names;
    const FieldDescriptor* service = list.GetDescriptor()->FindFieldByName("service");
    for (int i = 0; i < list.GetReflection()->FieldSize(list, service); ++i) {
      const Message& s = list.GetReflection()->GetRepeatedMessage(list, service, i);
      names.push_back(s.GetReflection()->GetString(s, s.GetDescriptor()->FindFieldByName("name")));
    }
    return names;
  }

  // The file that defines `symbol` and the files it depends on.
  absl::StatusOr<std::vector<google::protobuf::FileDescriptorProto>> FileContainingSymbol(
      const std::string& symbol) {
    absl::StatusOr<std::unique_ptr<Message>> resp = Exchange("file_containing_symbol", symbol);
    if (!resp.ok()) return resp.status();
    const Message& files = Sub(**resp, "file_descriptor_response");
    const FieldDescriptor* field = files.GetDescriptor()->FindFieldByName("file_descriptor_proto");
    std::vector<google::protobuf::FileDescriptorProto> out;
    for (int i = 0; i < files.GetReflection()->FieldSize(files, field); ++i) {
      google::protobuf::FileDescriptorProto proto;
      if (!proto.ParseFromString(files.GetReflection()->GetRepeatedString(files, field, i))) {
        return absl::DataLossError("a file_descriptor_proto does not parse");
      }
      out.push_back(std::move(proto));
    }
    if (out.empty()) return absl::NotFoundError(absl::StrCat("no file for ", symbol));
    return out;
  }

 private:
  static const Message& Sub(const Message& m, const std::string& field) {
    return m.GetReflection()->GetMessage(m, m.GetDescriptor()->FindFieldByName(field));
  }

  absl::StatusOr<std::unique_ptr<Message>> Exchange(const std::string& field,
                                                    const std::string& value) {
    std::unique_ptr<Message> req(factory_.GetPrototype(request_type_)->New());
    req->GetReflection()->SetString(req.get(), request_type_->FindFieldByName(field), value);
    auto exchange = std::make_unique<OneExchange>(stub_, req->SerializeAsString());
    absl::StatusOr<std::string> raw = exchange->Await();
    if (!raw.ok()) return raw.status();
    std::unique_ptr<Message> resp(factory_.GetPrototype(response_type_)->New());
    if (!resp->ParseFromString(*raw)) return absl::DataLossError("the reply does not parse");
    const Message& error = Sub(*resp, "error_response");
    const FieldDescriptor* error_field = response_type_->FindFieldByName("error_response");
    if (resp->GetReflection()->HasField(*resp, error_field)) {
      return absl::Status(static_cast<absl::StatusCode>(error.GetReflection()->GetInt32(
                              error, error.GetDescriptor()->FindFieldByName("error_code"))),
                          error.GetReflection()->GetString(
                              error, error.GetDescriptor()->FindFieldByName("error_message")));
    }
    return resp;
  }

  grpc::GenericStub stub_;
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_;
  const Descriptor* request_type_ = nullptr;
  const Descriptor* response_type_ = nullptr;
};

// A pool built only from what the server sent, as a client without the .proto files has.
struct RemoteSchema {
  google::protobuf::SimpleDescriptorDatabase db;
  std::unique_ptr<google::protobuf::DescriptorPool> pool;
};

absl::StatusOr<std::unique_ptr<RemoteSchema>> FetchSchema(ReflectionClient& client,
                                                          const std::string& symbol) {
  absl::StatusOr<std::vector<google::protobuf::FileDescriptorProto>> files =
      client.FileContainingSymbol(symbol);
  if (!files.ok()) return files.status();
  auto schema = std::make_unique<RemoteSchema>();
  for (const google::protobuf::FileDescriptorProto& f : *files) {
    if (!schema->db.Add(f)) return absl::InternalError(absl::StrCat("bad file ", f.name()));
  }
  schema->pool = std::make_unique<google::protobuf::DescriptorPool>(&schema->db);
  return schema;
}

class ServerSurfaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start();
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
  }
  std::unique_ptr<TestServer> server_;
};

TEST_F(ServerSurfaceTest, HealthCheckAnswersServing) {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(server_->channel());
  grpc::health::v1::HealthCheckRequest req;  // "" asks about the server as a whole
  grpc::health::v1::HealthCheckResponse resp;
  std::unique_ptr<grpc::ClientContext> ctx = NewClientContext();
  ASSERT_THAT(health->Check(ctx.get(), req, &resp), IsOk());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(ServerHealthTest, FailedWalSyncTurnsTheServerNotServing) {
  // A disk that starts failing fsync once the server is up.
  auto failing = std::make_shared<std::atomic<bool>>(false);
  TestServerOptions options;
  options.store.sync_wal = [failing](int fd) -> absl::Status {
    if (failing->load()) return absl::UnavailableError("injected EIO");
    return ::fdatasync(fd) == 0 ? absl::OkStatus() : absl::InternalError("fdatasync failed");
  };
  absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start(options);
  ASSERT_THAT(started, IsOk());
  TestServer& server = **started;
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(server.channel());
  auto status = [&]() {
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    std::unique_ptr<grpc::ClientContext> ctx = NewClientContext();
    EXPECT_THAT(health->Check(ctx.get(), req, &resp), IsOk());
    return resp.status();
  };
  ASSERT_EQ(status(), grpc::health::v1::HealthCheckResponse::SERVING);

  failing->store(true);
  v1::CreateSiteRequest req;
  req.set_code("HQ");
  req.set_name("Headquarters");
  v1::CreateSiteResponse resp;
  std::unique_ptr<grpc::ClientContext> ctx = NewClientContext();
  EXPECT_EQ(server.fleet().CreateSite(ctx.get(), req, &resp).error_code(),
            grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_THAT(server.server().store().health(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("injected EIO")));
}

TEST_F(ServerSurfaceTest, ReflectionListsFleetAndAuditServices) {
  ReflectionClient client(server_->channel());
  ASSERT_TRUE(client.ready()) << "the reflection wire schema did not parse";
  absl::StatusOr<std::vector<std::string>> services = client.ListServices();
  ASSERT_THAT(services, IsOk());
  EXPECT_THAT(*services, IsSupersetOf({"camfleet.v1.FleetService", "camfleet.v1.AuditService",
                                       "grpc.reflection.v1alpha.ServerReflection"}));
}

TEST_F(ServerSurfaceTest, ReflectionResolvesIssueCameraInputType) {
  ReflectionClient client(server_->channel());
  ASSERT_TRUE(client.ready());
  absl::StatusOr<std::unique_ptr<RemoteSchema>> schema =
      FetchSchema(client, "camfleet.v1.FleetService");
  ASSERT_THAT(schema, IsOk());
  const google::protobuf::ServiceDescriptor* fleet =
      (*schema)->pool->FindServiceByName("camfleet.v1.FleetService");
  ASSERT_NE(fleet, nullptr);
  const google::protobuf::MethodDescriptor* issue = fleet->FindMethodByName("IssueCamera");
  ASSERT_NE(issue, nullptr);
  const Descriptor* input = issue->input_type();
  EXPECT_EQ(input->full_name(), "camfleet.v1.IssueCameraRequest");
  const FieldDescriptor* due = input->FindFieldByName("due_back_time");
  ASSERT_NE(due, nullptr);
  ASSERT_EQ(due->type(), FieldDescriptor::TYPE_MESSAGE);
  EXPECT_EQ(due->message_type()->full_name(), "google.protobuf.Timestamp");
  EXPECT_EQ(issue->output_type()->full_name(), "camfleet.v1.IssueCameraResponse");
}

TEST_F(ServerSurfaceTest, ReflectionResolvesAuditService) {
  ReflectionClient client(server_->channel());
  ASSERT_TRUE(client.ready());
  absl::StatusOr<std::unique_ptr<RemoteSchema>> schema =
      FetchSchema(client, "camfleet.v1.AuditService");
  ASSERT_THAT(schema, IsOk());
  const google::protobuf::ServiceDescriptor* audit =
      (*schema)->pool->FindServiceByName("camfleet.v1.AuditService");
  ASSERT_NE(audit, nullptr);
  const google::protobuf::MethodDescriptor* verify = audit->FindMethodByName("VerifyAuditChain");
  ASSERT_NE(verify, nullptr);
  EXPECT_EQ(verify->output_type()->full_name(), "camfleet.v1.VerifyAuditChainResponse");
}

TEST_F(ServerSurfaceTest, ReflectionDescribesTheHealthService) {
  ReflectionClient client(server_->channel());
  ASSERT_TRUE(client.ready());
  absl::StatusOr<std::vector<std::string>> services = client.ListServices();
  ASSERT_THAT(services, IsOk());
  EXPECT_THAT(*services, Contains("grpc.health.v1.Health"));
  absl::StatusOr<std::unique_ptr<RemoteSchema>> schema =
      FetchSchema(client, "grpc.health.v1.Health");
  ASSERT_THAT(schema, IsOk());
  const google::protobuf::ServiceDescriptor* health =
      (*schema)->pool->FindServiceByName("grpc.health.v1.Health");
  ASSERT_NE(health, nullptr);
  ASSERT_NE(health->FindMethodByName("Check"), nullptr);
  EXPECT_EQ(health->FindMethodByName("Check")->input_type()->full_name(),
            "grpc.health.v1.HealthCheckRequest");
}

TEST_F(ServerSurfaceTest, ReflectionRefusesUnknownSymbol) {
  ReflectionClient client(server_->channel());
  ASSERT_TRUE(client.ready());
  EXPECT_THAT(client.FileContainingSymbol("camfleet.v1.NoSuchService"),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace camfleet::testing
