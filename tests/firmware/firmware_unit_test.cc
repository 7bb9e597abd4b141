// The pieces every party shares: the canonical manifest, Ed25519 signing, the trust checks,
// zstd deltas with their fallback, and camfleet-sign's key and release files.

#include <sys/stat.h>

#include "absl/strings/str_replace.h"
#include "firmware/delta.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "provisioning/firmware_signing.h"
#include "tests/firmware/signed_release.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::firmware {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class FirmwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestSigningKey> key = testing::MakeSigningKey(dir_.File("key"));
    ASSERT_THAT(key.status(), IsOk());
    key_ = *key;
    ASSERT_THAT(trust_.Add(key_.public_pem), IsOk());
  }

  testing::ReleaseFiles Sign(const std::string& name, const std::string& image,
                             const std::string& version, bool downgrade = false,
                             std::vector<std::string> models = {"BWC-4"}) {
    absl::StatusOr<testing::ReleaseFiles> r =
        testing::SignImage(dir_.path(), name, image, key_, std::move(models), version, downgrade);
    EXPECT_THAT(r.status(), IsOk());
    return r.ok() ? *r : testing::ReleaseFiles{};
  }

  testing::TempDir dir_;
  testing::TestSigningKey key_;
  Trust trust_;
};

TEST_F(FirmwareTest, ManifestRoundTripsThroughItsCanonicalText) {
  testing::ReleaseFiles r =
      Sign("a", testing::RandomImage(4096, 1), "2.10.0", false, {"BWC-4X", "BWC-4"});
  absl::StatusOr<Manifest> m = ParseManifest(r.release.manifest_bytes);
  ASSERT_THAT(m.status(), IsOk());
  EXPECT_EQ(m->models, (std::vector<std::string>{"BWC-4", "BWC-4X"}));
  EXPECT_EQ(FormatVersion(m->version), "2.10.0");
  EXPECT_EQ(m->image_size, 4096u);
  EXPECT_EQ(m->release_notes, "Release 2.10.0\n- fixes");
  EXPECT_EQ(EncodeManifest(*m), r.release.manifest_bytes);
  EXPECT_THAT(r.release.manifest_bytes, HasSubstr("\nmodels BWC-4 BWC-4X\n"));
  EXPECT_THAT(r.release.manifest_bytes, HasSubstr("\nrelease-notes Release 2.10.0\\n- fixes\n"));
}

TEST_F(FirmwareTest, ParseRefusesEveryOtherSpellingOfTheSameManifest) {
  const std::string good = Sign("a", testing::RandomImage(4096, 1), "2.1.0").release.manifest_bytes;
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"version 2.1.0", "version 2.01.0"},
           {"allow-downgrade no", "allow-downgrade false"},
           {"models BWC-4", "models  BWC-4"},
           {"image-size 4096", "image-size 04096"},
           {"\n", "\r\n"}}) {
    const std::string variant = absl::StrReplaceAll(good, {{from, to}});
    ASSERT_NE(variant, good);
    EXPECT_THAT(ParseManifest(variant).status(), StatusIs(absl::StatusCode::kInvalidArgument))
        << from << " -> " << to;
  }
  EXPECT_THAT(ParseManifest(good + "extra\n").status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// The models line separates names by spaces, so a name never holds one; the registry refuses
// camera models by this same rule (fleet_api_test), so that every camera can be named by a
// release.
TEST_F(FirmwareTest, AManifestRefusesAModelNameItsModelsLineCouldNotCarry) {
  Manifest m;
  m.version = {2, 1, 0};
  m.image_size = 4096;
  m.image_sha256 = std::string(64, 'a');
  m.signed_at = absl::FromUnixSeconds(1'800'000'000);
  m.signing_key_id = std::string(64, 'b');
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"BWC 4", "a space at position 4"},
      {"BWC/4", "'/' at position 4"},
      {"BWC-\xc3\xa9", "'\xc3\xa9' at position 5"},
      {"BWC-\xff", "byte 0xff at position 5"},
      {std::string(65, 'M'), "65 bytes"},
      {"", "models is required"}};
  for (const auto& [model, says] : refused) {
    m.models = {"BWC-4", model};
    EXPECT_THAT(NormalizeManifest(m), StatusIs(absl::StatusCode::kInvalidArgument,
                                               AllOf(HasSubstr("models"), HasSubstr(says))))
        << model;
  }
  m.models = {"Axon_Body-4.1", "BWC-4"};
  EXPECT_THAT(NormalizeManifest(m), IsOk());
  EXPECT_THAT(ValidateModelName("model", "Axon_Body-4.1"), IsOk());
}

TEST_F(FirmwareTest, VersionsCompareNumerically) {
  EXPECT_LT(*ParseVersion("v", "1.9.0"), *ParseVersion("v", "1.10.0"));
  EXPECT_THAT(ParseVersion("version", "1.2").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version")));
}

TEST_F(FirmwareTest, SignedAtTakesEveryWholeSecondUpToTheYear9999) {
  Manifest m;
  m.models = {"BWC-4"};
  m.version = {2, 1, 0};
  m.image_size = 4096;
  m.image_sha256 = std::string(64, 'a');
  m.signing_key_id = std::string(64, 'b');
  // Past 2262-04-11 a time no longer fits in int64 nanoseconds; the range check must not
  // depend on that.
  m.signed_at = absl::FromUnixSeconds(253402300799);  // 9999-12-31T23:59:59Z
  ASSERT_THAT(NormalizeManifest(m), IsOk());
  const std::string bytes = EncodeManifest(m);
  EXPECT_THAT(bytes, HasSubstr("\nsigned-at 9999-12-31T23:59:59Z\n"));
  absl::StatusOr<Manifest> parsed = ParseManifest(bytes);
  ASSERT_THAT(parsed.status(), IsOk());
  EXPECT_EQ(parsed->signed_at, m.signed_at);

  for (absl::Time refused : {absl::FromUnixSeconds(253402300800), absl::FromUnixSeconds(-1),
                             absl::FromUnixSeconds(1796517000) + absl::Milliseconds(500)}) {
    m.signed_at = refused;
    EXPECT_THAT(NormalizeManifest(m),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signed at")))
        << refused;
  }
}

TEST_F(FirmwareTest, TrustAcceptsItsOwnSignature) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  absl::StatusOr<Manifest> m = trust_.Verify(r.release.manifest_bytes, r.release.signature);
  ASSERT_THAT(m.status(), IsOk());
  EXPECT_THAT(CheckImage(*m, r.image), IsOk());
}

TEST_F(FirmwareTest, TrustRefusesAnAlteredManifest) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  const std::string altered = absl::StrReplaceAll(
      r.release.manifest_bytes, {{"min-battery-percent 20", "min-battery-percent 5"}});
  EXPECT_THAT(trust_.Verify(altered, r.release.signature).status(),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("bad signature")));
}

TEST_F(FirmwareTest, TrustRefusesAKeyItDoesNotHold) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  absl::StatusOr<testing::TestSigningKey> other = testing::MakeSigningKey(dir_.File("other"));
  ASSERT_THAT(other.status(), IsOk());
  Trust only_other;
  ASSERT_THAT(only_other.Add(other->public_pem), IsOk());
  EXPECT_THAT(only_other.Verify(r.release.manifest_bytes, r.release.signature).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("not trusted")));
}

TEST_F(FirmwareTest, TrustRefusesARetiredKey) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  ASSERT_THAT(trust_.Retire(key_.files.key_id), IsOk());
  EXPECT_THAT(trust_.Verify(r.release.manifest_bytes, r.release.signature).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("retired")));
}

TEST_F(FirmwareTest, CheckImageRefusesATamperedImage) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  std::string tampered = r.image;
  tampered[100] ^= 1;
  EXPECT_THAT(CheckImage(r.release.manifest, tampered),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SHA-256")));
  EXPECT_THAT(CheckImage(r.release.manifest, r.image + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4097 bytes")));
}

TEST_F(FirmwareTest, InstallableOnlyOnItsModelAndNeverBackwardsUnlessSigned) {
  const Manifest m = Sign("a", testing::RandomImage(4096, 1), "1.1.0").release.manifest;
  EXPECT_THAT(CheckInstallable(m, "BWC-4", "1.0.0"), IsOk());
  EXPECT_THAT(CheckInstallable(m, "BWC-5", "1.0.0"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("BWC-5")));
  EXPECT_THAT(CheckInstallable(m, "BWC-4", "1.2.0"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("allowed downgrade")));
  EXPECT_THAT(CheckInstallable(m, "BWC-4", "1.1.0"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  const Manifest down = Sign("b", testing::RandomImage(4096, 2), "1.0.5", true).release.manifest;
  EXPECT_THAT(CheckInstallable(down, "BWC-4", "1.2.0"), IsOk());
}

TEST_F(FirmwareTest, DeltaRebuildsTheNewImageAndIsSmallerThanTheFullImage) {
  const std::string old_image = testing::RandomImage(1 << 20, 1);
  const std::string new_image = testing::EditedImage(old_image, 2);
  absl::StatusOr<std::string> delta = MakeDelta(old_image, new_image);
  ASSERT_THAT(delta.status(), IsOk());
  absl::StatusOr<std::string> full = Compress(new_image);
  ASSERT_THAT(full.status(), IsOk());
  EXPECT_LT(delta->size() * 20, full->size()) << delta->size() << " vs " << full->size();
  absl::StatusOr<std::string> rebuilt = ApplyDelta(old_image, *delta, new_image.size());
  ASSERT_THAT(rebuilt.status(), IsOk());
  EXPECT_EQ(*rebuilt, new_image);
}

TEST_F(FirmwareTest, DecompressNeverGoesPastTheSignedSize) {
  const std::string image(1 << 16, 'a');
  absl::StatusOr<std::string> full = Compress(image);
  ASSERT_THAT(full.status(), IsOk());
  EXPECT_THAT(Decompress(*full, image.size() - 1).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signed size")));
}

TEST_F(FirmwareTest, RebuildFromAGoodDeltaUsesTheDelta) {
  const std::string old_image = testing::RandomImage(1 << 18, 1);
  testing::ReleaseFiles r = Sign("new", testing::EditedImage(old_image, 2), "1.1.0");
  absl::StatusOr<std::string> delta = MakeDelta(old_image, r.image);
  ASSERT_THAT(delta.status(), IsOk());
  int full_fetches = 0;
  absl::StatusOr<RebuiltImage> rebuilt =
      RebuildImage(trust_, r.release.manifest_bytes, r.release.signature, old_image, *delta, [&] {
        ++full_fetches;
        return Compress(r.image);
      });
  ASSERT_THAT(rebuilt.status(), IsOk());
  EXPECT_TRUE(rebuilt->from_delta);
  EXPECT_EQ(rebuilt->image, r.image);
  EXPECT_EQ(full_fetches, 0);
}

TEST_F(FirmwareTest, CorruptedDeltaFallsBackToTheFullImage) {
  const std::string old_image = testing::RandomImage(1 << 18, 1);
  testing::ReleaseFiles r = Sign("new", testing::EditedImage(old_image, 2), "1.1.0");
  absl::StatusOr<std::string> delta = MakeDelta(old_image, r.image);
  ASSERT_THAT(delta.status(), IsOk());
  std::string corrupted = *delta;
  corrupted[corrupted.size() / 2] ^= 0x5a;
  int full_fetches = 0;
  absl::StatusOr<RebuiltImage> rebuilt = RebuildImage(
      trust_, r.release.manifest_bytes, r.release.signature, old_image, corrupted, [&] {
        ++full_fetches;
        return Compress(r.image);
      });
  ASSERT_THAT(rebuilt.status(), IsOk());
  EXPECT_FALSE(rebuilt->from_delta);
  EXPECT_EQ(rebuilt->image, r.image);
  EXPECT_EQ(full_fetches, 1);
  EXPECT_THAT(rebuilt->fallback_reason, HasSubstr("delta not used"));
}

TEST_F(FirmwareTest, DeltaAgainstTheWrongOldImageFallsBackToTheFullImage) {
  const std::string old_image = testing::RandomImage(1 << 18, 1);
  testing::ReleaseFiles r = Sign("new", testing::EditedImage(old_image, 2), "1.1.0");
  absl::StatusOr<std::string> delta = MakeDelta(old_image, r.image);
  ASSERT_THAT(delta.status(), IsOk());
  const std::string other_old = testing::EditedImage(old_image, 9);
  absl::StatusOr<RebuiltImage> rebuilt =
      RebuildImage(trust_, r.release.manifest_bytes, r.release.signature, other_old, *delta,
                   [&] { return Compress(r.image); });
  ASSERT_THAT(rebuilt.status(), IsOk());
  EXPECT_FALSE(rebuilt->from_delta);
  EXPECT_EQ(rebuilt->image, r.image);
}

TEST_F(FirmwareTest, RebuildRefusesWhenTheFullImageIsTamperedToo) {
  const std::string old_image = testing::RandomImage(1 << 16, 1);
  testing::ReleaseFiles r = Sign("new", testing::EditedImage(old_image, 2), "1.1.0");
  std::string tampered = r.image;
  tampered[7] ^= 1;
  absl::StatusOr<RebuiltImage> rebuilt =
      RebuildImage(trust_, r.release.manifest_bytes, r.release.signature, old_image, "garbage",
                   [&] { return Compress(tampered); });
  EXPECT_THAT(rebuilt.status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SHA-256")));
}

TEST_F(FirmwareTest, KeygenWritesAPrivateKeyOnlyItsOwnerReadsAndNeverOverwrites) {
  struct stat st {};
  ASSERT_EQ(::stat(key_.files.private_key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(sign::GenerateKeyPair(dir_.File("key")).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));
  absl::StatusOr<std::string> id = provisioning::FirmwarePublicKeyId(key_.public_pem);
  ASSERT_THAT(id.status(), IsOk());
  EXPECT_EQ(*id, key_.files.key_id);
}

TEST_F(FirmwareTest, SignedFilesVerifyAfterWritingAndReadingBack) {
  testing::ReleaseFiles r = Sign("a", testing::RandomImage(4096, 1), "1.1.0");
  ASSERT_THAT(sign::WriteRelease(r.release, dir_.File("a.manifest"), dir_.File("a.sig")), IsOk());
  absl::StatusOr<provisioning::FileContents> sig =
      provisioning::ReadSmallFile(dir_.File("a.sig"), 1024);
  ASSERT_THAT(sig.status(), IsOk());
  absl::StatusOr<std::string> raw = ParseSignatureFile(sig->data);
  ASSERT_THAT(raw.status(), IsOk());
  EXPECT_EQ(*raw, r.release.signature);
  EXPECT_THAT(sign::WriteRelease(r.release, dir_.File("a.manifest"), dir_.File("b.sig")),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

}  // namespace
}  // namespace camfleet::firmware
