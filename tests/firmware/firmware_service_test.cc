// FirmwareService over the real wire: camfleetd's wiring on 127.0.0.1:0 with a real SQLite file
// and a real content store in a temp dir; releases signed by camfleet-sign's code.

#include <dirent.h>
#include <sys/stat.h>

#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "camfleet/v1/firmware.grpc.pb.h"
#include "firmware/delta.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/key.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/tls_test_server.h"

namespace camfleet::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kModel[] = "BWC-4";

// Every regular file under `dir`, recursively.
void ListFiles(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      ListFiles(path, out);
    } else if (S_ISREG(st.st_mode)) {
      out.push_back(path);
    }
  }
  ::closedir(d);
}

int CountFiles(const std::string& dir) {
  std::vector<std::string> files;
  ListFiles(dir, files);
  return static_cast<int>(files.size());
}

struct UploadResult {
  grpc::Status status;
  v1::UploadReleaseResponse response;
};

// Streams a release: the header, then `image` in chunks of `chunk` bytes.
UploadResult Upload(v1::FirmwareService::Stub& stub, const std::string& manifest,
                    const std::string& signature, const std::string& image,
                    size_t chunk = 64 * 1024,
                    std::unique_ptr<grpc::ClientContext> ctx = NewClientContext()) {
  UploadResult result;
  auto writer = stub.UploadRelease(ctx.get(), &result.response);
  v1::UploadReleaseRequest header;
  header.mutable_header()->set_manifest(manifest);
  header.mutable_header()->set_signature(signature);
  bool open = writer->Write(header);
  for (size_t at = 0; open && at < image.size(); at += chunk) {
    v1::UploadReleaseRequest req;
    req.set_chunk(image.substr(at, chunk));
    open = writer->Write(req);
  }
  if (open) writer->WritesDone();
  result.status = writer->Finish();
  return result;
}

class FirmwareServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start();
    ASSERT_THAT(server.status(), IsOk());
    server_ = *std::move(server);
    stub_ = v1::FirmwareService::NewStub(server_->channel());
    absl::StatusOr<TestSigningKey> key = MakeSigningKey(keys_.File("release"));
    ASSERT_THAT(key.status(), IsOk());
    key_ = *key;
    ASSERT_THAT(AddKey("release-2027", key_.public_pem), IsOk());
    v1::CreateSiteRequest site;
    site.set_code("POST-1");
    site.set_name("Post 1");
    v1::CreateSiteResponse site_resp;
    ASSERT_THAT(server_->fleet().CreateSite(TestServer::Context().get(), site, &site_resp), IsOk());
    v1::RegisterCameraRequest cam;
    cam.set_serial("CAM-0001");
    cam.set_model(kModel);
    cam.set_site_code("POST-1");
    v1::RegisterCameraResponse cam_resp;
    ASSERT_THAT(server_->fleet().RegisterCamera(TestServer::Context().get(), cam, &cam_resp),
                IsOk());
  }

  grpc::Status AddKey(const std::string& name, const std::string& pem) {
    v1::AddSigningKeyRequest req;
    req.set_name(name);
    req.set_public_key_pem(pem);
    v1::AddSigningKeyResponse resp;
    return stub_->AddSigningKey(TestServer::Context().get(), req, &resp);
  }

  ReleaseFiles Sign(const std::string& name, const std::string& image, const std::string& version,
                    bool downgrade = false, const TestSigningKey* key = nullptr,
                    std::vector<std::string> models = {kModel}) {
    absl::StatusOr<ReleaseFiles> r = SignImage(keys_.path(), name, image, key ? *key : key_,
                                               std::move(models), version, downgrade);
    EXPECT_THAT(r.status(), IsOk());
    return r.ok() ? *r : ReleaseFiles{};
  }

  UploadResult UploadRelease(const ReleaseFiles& r) {
    return Upload(*stub_, r.release.manifest_bytes, r.release.signature, r.image);
  }

  std::vector<v1::FirmwareRelease> List(const std::string& model = "", bool withdrawn = false) {
    v1::ListReleasesRequest req;
    req.set_model(model);
    req.set_include_withdrawn(withdrawn);
    v1::ListReleasesResponse resp;
    EXPECT_THAT(stub_->ListReleases(TestServer::Context().get(), req, &resp), IsOk());
    return {resp.releases().begin(), resp.releases().end()};
  }

  firmware_service::ImageStore& images() { return server_->server().firmware().images(); }
  std::string objects_dir() { return images().root() + "/objects"; }

  // Nothing from a refused upload is anywhere: no release, no object, no temporary file.
  void ExpectNothingKept() {
    EXPECT_THAT(List("", true), IsEmpty());
    EXPECT_EQ(CountFiles(objects_dir()), 0);
    EXPECT_EQ(images().TempFileCount(), 0);
  }

  TempDir keys_;
  TestSigningKey key_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::FirmwareService::Stub> stub_;
};

TEST_F(FirmwareServiceTest, UploadKeepsAVerifiedReleaseAndListsItPerModel) {
  ReleaseFiles r = Sign("a", RandomImage(300 * 1024, 1), "1.0.0");
  UploadResult up = UploadRelease(r);
  ASSERT_THAT(up.status, IsOk());
  EXPECT_FALSE(up.response.already_stored());
  const v1::FirmwareRelease& rel = up.response.release();
  EXPECT_EQ(rel.version(), "1.0.0");
  EXPECT_EQ(rel.image_sha256(), r.release.manifest.image_sha256);
  EXPECT_EQ(rel.manifest(), r.release.manifest_bytes);
  EXPECT_EQ(rel.uploaded_by(), kTestOperator);
  // Content-addressed on disk, not in SQLite.
  EXPECT_TRUE(images().Has(rel.image_sha256()));
  absl::StatusOr<std::string> stored = images().Read(rel.image_sha256(), 1 << 20);
  ASSERT_THAT(stored.status(), IsOk());
  EXPECT_EQ(*stored, r.image);
  EXPECT_THAT(List(kModel), SizeIs(1));
  EXPECT_THAT(List("BWC-9"), IsEmpty());
  EXPECT_EQ(images().TempFileCount(), 0);
}

TEST_F(FirmwareServiceTest, UploadingTheSameReleaseAgainIsHarmless) {
  ReleaseFiles r = Sign("a", RandomImage(100 * 1024, 1), "1.0.0");
  ASSERT_THAT(UploadRelease(r).status, IsOk());
  const int files = CountFiles(objects_dir());
  UploadResult again = UploadRelease(r);
  ASSERT_THAT(again.status, IsOk());
  EXPECT_TRUE(again.response.already_stored());
  EXPECT_EQ(again.response.release().release_id(), List()[0].release_id());
  EXPECT_THAT(List(), SizeIs(1));
  EXPECT_EQ(CountFiles(objects_dir()), files);
}

TEST_F(FirmwareServiceTest, UploadRefusesABadSignature) {
  ReleaseFiles r = Sign("a", RandomImage(100 * 1024, 1), "1.0.0");
  std::string bad = r.release.signature;
  bad[10] ^= 1;
  UploadResult up = Upload(*stub_, r.release.manifest_bytes, bad, r.image);
  EXPECT_THAT(up.status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad signature")));
  ExpectNothingKept();
}

TEST_F(FirmwareServiceTest, UploadRefusesATamperedImage) {
  ReleaseFiles r = Sign("a", RandomImage(100 * 1024, 1), "1.0.0");
  std::string tampered = r.image;
  tampered[5000] ^= 1;
  UploadResult up = Upload(*stub_, r.release.manifest_bytes, r.release.signature, tampered);
  EXPECT_THAT(up.status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SHA-256")));
  ExpectNothingKept();
}

TEST_F(FirmwareServiceTest, UploadCutsOffBytesPastTheSignedSize) {
  ReleaseFiles r = Sign("a", RandomImage(100 * 1024, 1), "1.0.0");
  UploadResult up =
      Upload(*stub_, r.release.manifest_bytes, r.release.signature, r.image + std::string(10, 'x'));
  EXPECT_THAT(up.status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signed size")));
  ExpectNothingKept();
}

TEST_F(FirmwareServiceTest, UploadRefusesAReleaseForAModelTheFleetDoesNotHave) {
  ReleaseFiles r = Sign("a", RandomImage(4096, 1), "1.0.0", false, nullptr, {"BWC-9"});
  UploadResult up = UploadRelease(r);
  EXPECT_THAT(up.status, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("BWC-9")));
  ExpectNothingKept();
}

TEST_F(FirmwareServiceTest, UploadRefusesAnUnsignedDowngradeButTakesASignedOne) {
  ASSERT_THAT(UploadRelease(Sign("new", RandomImage(4096, 1), "2.0.0")).status, IsOk());
  UploadResult down = UploadRelease(Sign("old", RandomImage(4096, 2), "1.5.0"));
  EXPECT_THAT(down.status,
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("allowed downgrade")));
  EXPECT_THAT(List(), SizeIs(1));
  UploadResult allowed = UploadRelease(Sign("old-ok", RandomImage(4096, 3), "1.5.1", true));
  ASSERT_THAT(allowed.status, IsOk());
  EXPECT_TRUE(allowed.response.release().allow_downgrade());
}

TEST_F(FirmwareServiceTest, UploadRefusesAnotherBuildUnderAVersionAlreadyHeld) {
  ASSERT_THAT(UploadRelease(Sign("a", RandomImage(4096, 1), "1.0.0")).status, IsOk());
  UploadResult other = UploadRelease(Sign("b", RandomImage(4096, 2), "1.0.0"));
  EXPECT_THAT(other.status, StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("new version")));
}

TEST_F(FirmwareServiceTest, UploadRefusesAKeyTheServerDoesNotTrust) {
  absl::StatusOr<TestSigningKey> stranger = MakeSigningKey(keys_.File("stranger"));
  ASSERT_THAT(stranger.status(), IsOk());
  UploadResult up = UploadRelease(Sign("a", RandomImage(4096, 1), "1.0.0", false, &*stranger));
  EXPECT_THAT(up.status, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not trusted")));
  ExpectNothingKept();
}

TEST_F(FirmwareServiceTest, UploadRefusesARetiredKeyWhileItsSuccessorWorks) {
  absl::StatusOr<TestSigningKey> next = MakeSigningKey(keys_.File("next"));
  ASSERT_THAT(next.status(), IsOk());
  ASSERT_THAT(AddKey("release-2028", next->public_pem), IsOk());
  v1::RetireSigningKeyRequest retire;
  retire.set_key_id(key_.files.key_id.substr(0, 12));
  retire.set_reason("rotated to release-2028");
  v1::RetireSigningKeyResponse retired;
  ASSERT_THAT(stub_->RetireSigningKey(TestServer::Context().get(), retire, &retired), IsOk());
  EXPECT_TRUE(retired.signing_key().has_retire_time());

  UploadResult old_key = UploadRelease(Sign("a", RandomImage(4096, 1), "1.0.0"));
  EXPECT_THAT(old_key.status, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("retired")));
  UploadResult new_key = UploadRelease(Sign("b", RandomImage(4096, 2), "1.0.1", false, &*next));
  EXPECT_THAT(new_key.status, IsOk());
  EXPECT_THAT(stub_->RetireSigningKey(TestServer::Context().get(), retire, &retired),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FirmwareServiceTest, AddSigningKeyRefusesAPrivateKeyOrAnotherKeyType) {
  absl::StatusOr<provisioning::FileContents> private_pem =
      provisioning::ReadSmallFile(key_.files.private_key_path, 4096);
  ASSERT_THAT(private_pem.status(), IsOk());
  EXPECT_THAT(AddKey("oops", private_pem->data), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AddKey("release-2027", key_.public_pem), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(FirmwareServiceTest, AnInterruptedUploadLeavesNothingBehind) {
  ReleaseFiles r = Sign("a", RandomImage(1 << 20, 1), "1.0.0");
  auto ctx = NewClientContext();
  v1::UploadReleaseResponse resp;
  auto writer = stub_->UploadRelease(ctx.get(), &resp);
  v1::UploadReleaseRequest header;
  header.mutable_header()->set_manifest(r.release.manifest_bytes);
  header.mutable_header()->set_signature(r.release.signature);
  ASSERT_TRUE(writer->Write(header));
  for (size_t at = 0; at < r.image.size() / 2; at += 64 * 1024) {
    v1::UploadReleaseRequest req;
    req.set_chunk(r.image.substr(at, 64 * 1024));
    ASSERT_TRUE(writer->Write(req));
  }
  // The server has started a temporary file for it by now.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (images().TempFileCount() == 0 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(images().TempFileCount(), 1);
  ctx->TryCancel();
  EXPECT_THAT(writer->Finish(), StatusIs(absl::StatusCode::kCancelled));
  while (images().TempFileCount() != 0 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(5));
  ExpectNothingKept();
}

TEST_F(FirmwareServiceTest, ALaterReleaseKeepsADeltaAndTheSmallerDownloadIsOffered) {
  const std::string base = RandomImage(1 << 20, 1);
  ReleaseFiles v1_0 = Sign("v100", base, "1.0.0");
  ReleaseFiles v1_1 = Sign("v110", EditedImage(base, 2), "1.1.0");
  ASSERT_THAT(UploadRelease(v1_0).status, IsOk());
  UploadResult up = UploadRelease(v1_1);
  ASSERT_THAT(up.status, IsOk());
  const v1::FirmwareRelease& rel = up.response.release();
  ASSERT_THAT(rel.deltas(), SizeIs(1));
  EXPECT_EQ(rel.deltas(0).from_version(), "1.0.0");
  EXPECT_LT(rel.deltas(0).size_bytes() * 20, rel.compressed_size_bytes());

  firmware_service::FirmwareManager& manager = server_->server().firmware();
  absl::StatusOr<firmware_service::FirmwareManager::Offer> with_old =
      manager.ChooseDelivery(rel.release_id(), v1_0.release.manifest.image_sha256);
  ASSERT_THAT(with_old.status(), IsOk());
  EXPECT_TRUE(with_old->delta);
  EXPECT_EQ(with_old->size_bytes, rel.deltas(0).size_bytes());
  absl::StatusOr<firmware_service::FirmwareManager::Offer> without =
      manager.ChooseDelivery(rel.release_id(), "");
  ASSERT_THAT(without.status(), IsOk());
  EXPECT_FALSE(without->delta);
  EXPECT_EQ(without->size_bytes, rel.compressed_size_bytes());

  // What a dock would do with what is offered: rebuild, and check as for a full download.
  absl::StatusOr<std::string> delta = images().Read(with_old->object_sha256, 1 << 20);
  ASSERT_THAT(delta.status(), IsOk());
  absl::StatusOr<firmware::Trust> trust = manager.LoadTrust();
  ASSERT_THAT(trust.status(), IsOk());
  absl::StatusOr<firmware::RebuiltImage> rebuilt =
      firmware::RebuildImage(*trust, rel.manifest(), rel.signature(), v1_0.image, *delta,
                             [&] { return images().Read(without->object_sha256, 2 << 20); });
  ASSERT_THAT(rebuilt.status(), IsOk());
  EXPECT_TRUE(rebuilt->from_delta);
  EXPECT_EQ(rebuilt->image, v1_1.image);
}

TEST_F(FirmwareServiceTest, WithdrawHidesTheReleaseAndIsAudited) {
  UploadResult up = UploadRelease(Sign("a", RandomImage(4096, 1), "1.0.0"));
  ASSERT_THAT(up.status, IsOk());
  v1::WithdrawReleaseRequest req;
  req.set_release_id(up.response.release().release_id().substr(0, 10));
  req.set_reason("drains the battery");
  v1::WithdrawReleaseResponse resp;
  ASSERT_THAT(stub_->WithdrawRelease(TestServer::Context().get(), req, &resp), IsOk());
  EXPECT_EQ(resp.release().withdrawn_by(), kTestOperator);
  EXPECT_THAT(List(kModel), IsEmpty());
  EXPECT_THAT(List(kModel, true), SizeIs(1));
  EXPECT_THAT(stub_->WithdrawRelease(TestServer::Context().get(), req, &resp),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("withdrawn already")));
  req.clear_reason();
  EXPECT_THAT(stub_->WithdrawRelease(TestServer::Context().get(), req, &resp),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));

  v1::ListAuditEventsRequest audit;
  audit.set_object_id(up.response.release().release_id());
  v1::ListAuditEventsResponse events;
  ASSERT_THAT(server_->audit().ListAuditEvents(TestServer::Context().get(), audit, &events),
              IsOk());
  std::vector<std::string> actions;
  for (const v1::AuditEvent& e : events.events()) actions.push_back(e.action());
  EXPECT_THAT(actions, ::testing::ElementsAre("firmware.upload", "firmware.withdraw"));
}

TEST_F(FirmwareServiceTest, ListReleasesPagesWithAStableCursor) {
  std::vector<std::string> ids;
  for (int minor = 0; minor < 5; ++minor) {
    UploadResult up = UploadRelease(Sign(absl::StrCat("r", minor), RandomImage(4096, minor + 1),
                                         absl::StrCat("1.", minor, ".0")));
    ASSERT_THAT(up.status, IsOk());
    ids.push_back(up.response.release().release_id());
  }
  auto page = [&](int32_t size, const std::string& token, const std::string& model = "",
                  v1::ListReleasesResponse* out = nullptr) {
    v1::ListReleasesRequest req;
    req.set_page_size(size);
    req.set_page_token(token);
    req.set_model(model);
    v1::ListReleasesResponse resp;
    grpc::Status s = stub_->ListReleases(TestServer::Context().get(), req, &resp);
    if (out != nullptr) *out = resp;
    return s;
  };
  auto versions = [](const v1::ListReleasesResponse& r) {
    std::vector<std::string> out;
    for (const v1::FirmwareRelease& rel : r.releases()) out.push_back(rel.version());
    return out;
  };
  using ::testing::ElementsAre;
  v1::ListReleasesResponse first, second, third;
  ASSERT_THAT(page(2, "", "", &first), IsOk());
  EXPECT_THAT(versions(first), ElementsAre("1.4.0", "1.3.0"));
  ASSERT_FALSE(first.next_page_token().empty());
  // A newer release uploaded between pages sorts before the cursor: the next page neither
  // repeats nor skips anything.
  ASSERT_THAT(UploadRelease(Sign("r9", RandomImage(4096, 9), "1.9.0")).status, IsOk());
  ASSERT_THAT(page(2, first.next_page_token(), "", &second), IsOk());
  EXPECT_THAT(versions(second), ElementsAre("1.2.0", "1.1.0"));
  ASSERT_THAT(page(2, second.next_page_token(), "", &third), IsOk());
  EXPECT_THAT(versions(third), ElementsAre("1.0.0"));
  EXPECT_THAT(third.next_page_token(), IsEmpty());
  // The default page holds them all, without a token.
  v1::ListReleasesResponse all;
  ASSERT_THAT(page(0, "", "", &all), IsOk());
  EXPECT_THAT(all.releases(), SizeIs(6));
  EXPECT_THAT(all.next_page_token(), IsEmpty());

  // Bad paging is refused, naming the field.
  EXPECT_THAT(page(-1, ""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  // Over the maximum is capped (at 1,000) like every other list, not refused.
  v1::ListReleasesResponse capped;
  ASSERT_THAT(page(1001, "", "", &capped), IsOk());
  EXPECT_THAT(capped.releases(), SizeIs(6));
  EXPECT_THAT(page(2, "not-a-token!"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  std::string altered = first.next_page_token();
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_THAT(page(2, altered),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  // A token belongs to its filter: not valid for another model's list.
  EXPECT_THAT(page(2, first.next_page_token(), kModel),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
}

// The production wiring: a home made by `camfleetd init`, mutual TLS, real roles.
class FirmwareTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TlsTestServer>> server = TlsTestServer::Start();
    ASSERT_THAT(server.status(), IsOk());
    server_ = *std::move(server);
    admin_ = v1::FirmwareService::NewStub(server_->AdminChannel());
  }
  std::unique_ptr<grpc::ClientContext> Context() { return TlsContext(); }

  TempDir keys_;
  std::unique_ptr<TlsTestServer> server_;
  std::unique_ptr<v1::FirmwareService::Stub> admin_;
};

TEST_F(FirmwareTlsTest, OnlyAdminsUploadAndEveryReaderLists) {
  absl::StatusOr<ClientCredentials> qm =
      server_->IssueOperator("qm-fw", provisioning::Role::kQuartermaster);
  ASSERT_THAT(qm.status(), IsOk());
  auto qm_stub = v1::FirmwareService::NewStub(server_->Channel(qm->bundle));
  absl::StatusOr<TestSigningKey> key = MakeSigningKey(keys_.File("k"));
  ASSERT_THAT(key.status(), IsOk());
  absl::StatusOr<ReleaseFiles> r =
      SignImage(keys_.path(), "a", RandomImage(4096, 1), *key, {kModel}, "1.0.0");
  ASSERT_THAT(r.status(), IsOk());
  UploadResult up = Upload(*qm_stub, r->release.manifest_bytes, r->release.signature, r->image,
                           64 * 1024, TlsContext());
  EXPECT_THAT(up.status, StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admin")));
  v1::ListReleasesResponse list;
  EXPECT_THAT(qm_stub->ListReleases(Context().get(), v1::ListReleasesRequest(), &list), IsOk());
  v1::AddSigningKeyRequest add;
  add.set_name("k");
  add.set_public_key_pem(key->public_pem);
  v1::AddSigningKeyResponse added;
  EXPECT_THAT(qm_stub->AddSigningKey(Context().get(), add, &added),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(FirmwareTlsTest, TheServersHomeHoldsNoPrivateFirmwareKey) {
  absl::StatusOr<TestSigningKey> key = MakeSigningKey(keys_.File("k"));
  ASSERT_THAT(key.status(), IsOk());
  ASSERT_THAT(server_->CreateSite("POST-1"), IsOk());
  v1::RegisterCameraRequest cam;
  cam.set_serial("CAM-0001");
  cam.set_model(kModel);
  cam.set_site_code("POST-1");
  v1::RegisterCameraResponse cam_resp;
  ASSERT_THAT(v1::FleetService::NewStub(server_->AdminChannel())
                  ->RegisterCamera(Context().get(), cam, &cam_resp),
              IsOk());
  v1::AddSigningKeyRequest add;
  add.set_name("release-2027");
  add.set_public_key_pem(key->public_pem);
  v1::AddSigningKeyResponse added;
  ASSERT_THAT(admin_->AddSigningKey(Context().get(), add, &added), IsOk());
  absl::StatusOr<ReleaseFiles> r =
      SignImage(keys_.path(), "a", RandomImage(64 * 1024, 1), *key, {kModel}, "1.0.0");
  ASSERT_THAT(r.status(), IsOk());
  ASSERT_THAT(Upload(*admin_, r->release.manifest_bytes, r->release.signature, r->image, 64 * 1024,
                     TlsContext())
                  .status,
              IsOk());
  server_->Shutdown();

  absl::StatusOr<provisioning::FileContents> secret =
      provisioning::ReadSmallFile(key->files.private_key_path, 4096);
  ASSERT_THAT(secret.status(), IsOk());
  std::vector<std::string> files;
  ListFiles(server_->home(), files);
  ASSERT_THAT(files, ::testing::Not(IsEmpty()));
  for (const std::string& path : files) {
    absl::StatusOr<provisioning::FileContents> f = provisioning::ReadSmallFile(path, 256 << 20);
    ASSERT_THAT(f.status(), IsOk()) << path;
    EXPECT_FALSE(absl::StrContains(f->data, secret->data)) << path;
    if (!absl::StrContains(f->data, "PRIVATE KEY")) continue;
    // The CA's and the server's own keys are there, and the audit checkpoint key (Ed25519,
    // HOME/audit); none of them is the firmware key.
    absl::StatusOr<provisioning::PrivateKey> k = provisioning::PrivateKey::FromPem(f->data);
    ASSERT_THAT(k.status(), IsOk()) << path;
    EXPECT_NE(k->PublicKeyFingerprint().value_or(""), key->files.key_id) << path;
  }
}

}  // namespace
}  // namespace camfleet::testing
