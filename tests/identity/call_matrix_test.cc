// Every method of every camfleet service, called by every role with an empty request, against
// the one access table (services/rpc/authorization.cc): PERMISSION_DENIED exactly where the
// table leaves the role out. Methods are enumerated from the generated descriptors, so a new
// RPC is covered (and must have a rule) without anyone touching this file.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "camfleet/v1/audit.pb.h"
#include "camfleet/v1/firmware.pb.h"
#include "camfleet/v1/fleet.pb.h"
#include "camfleet/v1/monitoring.pb.h"
#include "camfleet/v1/provisioning.pb.h"
#include "camfleet/v1/rollout.pb.h"
#include "camfleet/v1/web.pb.h"
#include "camfleet/v1/report.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "provisioning/role.h"
#include "services/rpc/authorization.h"
#include "tests/identity/tls_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using provisioning::Role;
using ::testing::HasSubstr;

constexpr const char* kServices[] = {
    "camfleet.v1.FleetService",
    "camfleet.v1.AuditService",
    "camfleet.v1.ProvisioningService",
    "camfleet.v1.DockService",
    "camfleet.v1.MonitoringService",
    "camfleet.v1.FirmwareService",
    "camfleet.v1.RolloutService",
    "camfleet.v1.WebService",
    "camfleet.v1.ReportService",
};

// The .proto files of the API: every service they define must be in kServices.
constexpr const char* kApiFiles[] = {
    "camfleet/v1/fleet.proto",
    "camfleet/v1/audit.proto",
    "camfleet/v1/provisioning.proto",
    "camfleet/v1/monitoring.proto",
    "camfleet/v1/firmware.proto",
    "camfleet/v1/rollout.proto",
    "camfleet/v1/web.proto",
    "camfleet/v1/report.proto",
};

const google::protobuf::DescriptorPool& Pool() {
  // Touch one message of each file so its descriptors are linked in and registered.
  (void)v1::CreateSiteRequest::descriptor();
  (void)v1::ListAuditEventsRequest::descriptor();
  (void)v1::GetCrlRequest::descriptor();
  (void)v1::ListAlertsRequest::descriptor();
  (void)v1::ListReleasesRequest::descriptor();
  (void)v1::ListRolloutsRequest::descriptor();
  (void)v1::CreateSignInLinkRequest::descriptor();
  (void)v1::RunReportRequest::descriptor();
  return *google::protobuf::DescriptorPool::generated_pool();
}

// "camfleet.v1.FleetService/CreateSite" for every method of kServices.
std::vector<std::string> AllMethods() {
  std::vector<std::string> out;
  for (const char* name : kServices) {
    const google::protobuf::ServiceDescriptor* service = Pool().FindServiceByName(name);
    if (service == nullptr) {
      ADD_FAILURE() << "no descriptor for " << name;
      continue;
    }
    for (int i = 0; i < service->method_count(); ++i) {
      out.push_back(absl::StrCat(service->full_name(), "/", service->method(i)->name()));
    }
  }
  return out;
}

bool RoleAllowed(const rpc::MethodRule& rule, Role role) {
  return rule.without_certificate ||
         std::find(rule.roles.begin(), rule.roles.end(), role) != rule.roles.end();
}

// `method` ("pkg.Service/Method") called with an empty request through a generic stub.
grpc::Status CallEmpty(const std::shared_ptr<grpc::Channel>& channel, const std::string& method) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTlsCallDeadline));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&ctx, absl::StrCat("/", method), grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  // The deadline bounds the call; the margin covers the callback's own scheduling.
  if (!done.WaitForNotificationWithTimeout(kTlsCallDeadline + absl::Seconds(5))) {
    ctx.TryCancel();
    done.WaitForNotification();
  }
  return status;
}

TEST(CallMatrixRulesTest, EveryMethodOfEveryServiceHasARule) {
  const std::vector<std::string> methods = AllMethods();
  ASSERT_GT(methods.size(), 30u);
  for (const std::string& method : methods) {
    EXPECT_NE(rpc::FindRule(method), nullptr) << method << " has no rule in authorization.cc";
  }
}

TEST(CallMatrixRulesTest, EveryRuleNamesAMethodThatExists) {
  const std::vector<std::string> methods = AllMethods();
  for (const rpc::MethodRule& rule : rpc::AllRules()) {
    EXPECT_NE(std::find(methods.begin(), methods.end(), rule.method), methods.end())
        << "rule for " << rule.method << " names no method of the API";
  }
}

TEST(CallMatrixRulesTest, EveryServiceOfTheApiIsInTheMatrix) {
  for (const char* file_name : kApiFiles) {
    const google::protobuf::FileDescriptor* file = Pool().FindFileByName(file_name);
    ASSERT_NE(file, nullptr) << file_name;
    for (int i = 0; i < file->service_count(); ++i) {
      const std::string& name = file->service(i)->full_name();
      EXPECT_NE(std::find(std::begin(kServices), std::end(kServices), name), std::end(kServices))
          << name << " is served but not covered by the call matrix";
    }
  }
}

TEST(CallMatrixRulesTest, OnlyEnrollDockNeedsNoCertificate) {
  std::vector<std::string> open;
  for (const rpc::MethodRule& rule : rpc::AllRules()) {
    if (rule.without_certificate) open.push_back(rule.method);
  }
  EXPECT_THAT(open, ::testing::ElementsAre("camfleet.v1.DockService/EnrollDock"));
}

// One server for the whole matrix: every call carries an empty request, which every handler
// refuses or answers without changing anything the other calls depend on.
class CallMatrixTest : public ::testing::TestWithParam<Role> {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = server->release();
    ASSERT_THAT(server_->CreateSite("POST-1"), IsOk());
    absl::StatusOr<ClientCredentials> qm =
        server_->IssueOperator("qm-matrix", Role::kQuartermaster);
    ASSERT_THAT(qm, IsOk());
    absl::StatusOr<ClientCredentials> auditor =
        server_->IssueOperator("aud-matrix", Role::kAuditor);
    ASSERT_THAT(auditor, IsOk());
    absl::StatusOr<EnrolledDock> dock = server_->EnrollDock("POST-1", "post-1-dock-1");
    ASSERT_THAT(dock, IsOk());
    // A camera certificate, to show a camera may call nothing.
    TlsClient admin(server_->AdminChannel());
    ASSERT_THAT(admin.RegisterCamera("CAM-0001", "POST-1"), IsOk());
    TlsClient dock_client(server_->Channel(dock->credentials.bundle));
    std::string camera_key;
    absl::StatusOr<v1::EnrollCameraResponse> camera =
        dock_client.EnrollNewCamera("CAM-0001", &camera_key);
    ASSERT_THAT(camera, IsOk());

    channels_ = new std::vector<std::pair<Role, std::shared_ptr<grpc::Channel>>>{
        {Role::kAdmin, server_->AdminChannel()},
        {Role::kQuartermaster, server_->Channel(qm->bundle)},
        {Role::kAuditor, server_->Channel(auditor->bundle)},
        {Role::kDock, server_->Channel(dock->credentials.bundle)},
        {Role::kCamera,
         server_->Channel({camera_key, camera->certificate().certificate_pem(), ""})},
    };
  }
  static void TearDownTestSuite() {
    delete channels_;
    channels_ = nullptr;
    delete server_;
    server_ = nullptr;
  }

  static std::shared_ptr<grpc::Channel> ChannelFor(Role role) {
    for (const auto& [r, channel] : *channels_) {
      if (r == role) return channel;
    }
    return nullptr;
  }

  static TlsTestServer* server_;
  static std::vector<std::pair<Role, std::shared_ptr<grpc::Channel>>>* channels_;
};

TlsTestServer* CallMatrixTest::server_ = nullptr;
std::vector<std::pair<Role, std::shared_ptr<grpc::Channel>>>* CallMatrixTest::channels_ = nullptr;

TEST_P(CallMatrixTest, PermissionDeniedExactlyWhereTheTableLeavesTheRoleOut) {
  ASSERT_NE(server_, nullptr);
  const Role role = GetParam();
  std::shared_ptr<grpc::Channel> channel = ChannelFor(role);
  ASSERT_NE(channel, nullptr);
  for (const std::string& method : AllMethods()) {
    SCOPED_TRACE(absl::StrCat(provisioning::RoleName(role), " calls ", method));
    const rpc::MethodRule* rule = rpc::FindRule(method);
    ASSERT_NE(rule, nullptr) << "no rule";
    const grpc::Status status = CallEmpty(channel, method);
    if (RoleAllowed(*rule, role)) {
      // Allowed: the empty request reaches the handler, which answers or refuses the input.
      EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
      EXPECT_NE(status.error_code(), grpc::StatusCode::INTERNAL) << status.error_message();
    } else {
      EXPECT_THAT(status,
                  StatusIs(absl::StatusCode::kPermissionDenied,
                           HasSubstr(absl::StrCat(" needs role ",
                                                  provisioning::RoleName(rule->roles.front())))));
      EXPECT_THAT(status.error_message(),
                  HasSubstr(absl::StrCat("has role ", provisioning::RoleName(role))));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Roles, CallMatrixTest,
                         ::testing::Values(Role::kAdmin, Role::kQuartermaster, Role::kAuditor,
                                           Role::kDock, Role::kCamera),
                         [](const ::testing::TestParamInfo<Role>& role_info) {
                           return std::string(provisioning::RoleName(role_info.param));
                         });

TEST_F(CallMatrixTest, WithoutCertificateOnlyEnrollDockIsReached) {
  ASSERT_NE(server_, nullptr);
  std::shared_ptr<grpc::Channel> anonymous = server_->ChannelWithoutCertificate();
  for (const std::string& method : AllMethods()) {
    SCOPED_TRACE(absl::StrCat("no certificate calls ", method));
    const rpc::MethodRule* rule = rpc::FindRule(method);
    ASSERT_NE(rule, nullptr);
    const grpc::Status status = CallEmpty(anonymous, method);
    if (rule->without_certificate) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    } else {
      EXPECT_THAT(status,
                  StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("no client certificate")));
    }
  }
}

}  // namespace
}  // namespace camfleet::testing
