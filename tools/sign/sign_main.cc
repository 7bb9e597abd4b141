// camfleet-sign: offline firmware signing. Run it on the machine that holds the signing key,
// never on camfleetd's: the server, the docks and the cameras get only the public key.
//
//   camfleet-sign keygen --out DIR
//   camfleet-sign release IMAGE --key KEY --model M [--model M2] --version 2.1.0
//       [--min-battery 30] [--allow-downgrade] [--notes TEXT | --notes-file FILE]
//       [--manifest OUT] [--signature OUT]
//   camfleet-sign verify IMAGE --manifest M --signature S --public-key PUB [--public-key ...]
//   camfleet-sign key-id PUB
//
// Exit status: 0 done, 1 refused or failed (the message says why), 2 bad command line.

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "provisioning/file_io.h"
#include "provisioning/firmware_signing.h"
#include "tools/sign/release_signer.h"

namespace {

namespace sign = ::camfleet::sign;
namespace firmware = ::camfleet::firmware;
namespace provisioning = ::camfleet::provisioning;

int Fail(const absl::Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

absl::StatusOr<std::string> ReadText(const std::string& path, size_t max) {
  absl::StatusOr<provisioning::FileContents> f = provisioning::ReadSmallFile(path, max);
  if (!f.ok()) return f.status();
  return std::move(f->data);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("camfleet-sign: make firmware signing keys and sign releases, offline",
               "camfleet-sign");
  app.require_subcommand(1);
  app.footer(
      "The manifest is a fixed-order text (firmware/manifest.h) and the signature is Ed25519\n"
      "over its exact bytes. Keep the private key off camfleetd; give the server, docks and\n"
      "cameras the .pub file (camfleet firmware key add).");

  std::string out_dir;
  CLI::App* keygen = app.add_subcommand("keygen", "Make a signing key pair");
  keygen->add_option("--out", out_dir, "Directory for firmware-signing.key (0600) and .pub")
      ->required()
      ->type_name("DIR");

  sign::ReleaseSpec spec;
  std::string notes_file, manifest_out, signature_out;
  int min_battery = 0;
  CLI::App* release = app.add_subcommand("release", "Sign a firmware image");
  release->add_option("image", spec.image_path, "The image file")->required();
  release->add_option("--key", spec.key_path, "The private signing key")->required();
  release->add_option("--model", spec.models, "Camera model it is for (repeat for several)")
      ->required();
  release->add_option("--version", spec.version, "Its version, MAJOR.MINOR.PATCH")->required();
  release->add_option("--min-battery", min_battery, "Least battery % to install it (default 0)")
      ->check(CLI::Range(0, 100));
  release->add_flag("--allow-downgrade", spec.allow_downgrade,
                    "May replace a newer version (anti-rollback is off for this release)");
  auto* notes = release->add_option("--notes", spec.release_notes, "Release notes");
  release->add_option("--notes-file", notes_file, "Release notes from a file")->excludes(notes);
  release->add_option("--manifest", manifest_out, "Where to write the manifest (IMAGE.manifest)");
  release->add_option("--signature", signature_out, "Where to write the signature (IMAGE.sig)");

  std::string image, manifest_path, signature_path;
  std::vector<std::string> public_keys;
  CLI::App* verify = app.add_subcommand("verify", "Check a signed release as camfleetd would");
  verify->add_option("image", image, "The image file")->required();
  verify->add_option("--manifest", manifest_path, "The manifest")->required();
  verify->add_option("--signature", signature_path, "The signature file")->required();
  verify->add_option("--public-key", public_keys, "A trusted public key (repeatable)")->required();

  std::string pub;
  CLI::App* key_id = app.add_subcommand("key-id", "Print a public key's id");
  key_id->add_option("public_key", pub, "The .pub file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (*keygen) {
    absl::StatusOr<sign::KeyPairFiles> files = sign::GenerateKeyPair(out_dir);
    if (!files.ok()) return Fail(files.status());
    std::cout << "signing key   " << files->private_key_path << " (keep it offline)\n"
              << "public key    " << files->public_key_path << "\n"
              << "key id        " << files->key_id << "\n";
    return 0;
  }
  if (*release) {
    spec.min_battery_percent = static_cast<uint32_t>(min_battery);
    if (!notes_file.empty()) {
      absl::StatusOr<std::string> text = ReadText(notes_file, firmware::kMaxReleaseNotesBytes);
      if (!text.ok()) return Fail(text.status());
      spec.release_notes = *text;
    }
    if (manifest_out.empty()) manifest_out = spec.image_path + ".manifest";
    if (signature_out.empty()) signature_out = spec.image_path + ".sig";
    absl::StatusOr<sign::SignedRelease> signed_release = sign::SignRelease(spec);
    if (!signed_release.ok()) return Fail(signed_release.status());
    if (absl::Status s = sign::WriteRelease(*signed_release, manifest_out, signature_out);
        !s.ok()) {
      return Fail(s);
    }
    const firmware::Manifest& m = signed_release->manifest;
    std::cout << "signed " << absl::StrJoin(m.models, ",") << " "
              << firmware::FormatVersion(m.version) << " (" << m.image_size << " bytes, sha256 "
              << m.image_sha256 << ")\n"
              << "manifest   " << manifest_out << "\nsignature  " << signature_out << "\n";
    return 0;
  }
  if (*verify) {
    firmware::Trust trust;
    for (const std::string& path : public_keys) {
      absl::StatusOr<std::string> pem = ReadText(path, 64 * 1024);
      if (!pem.ok()) return Fail(pem.status());
      if (absl::Status s = trust.Add(*pem); !s.ok()) return Fail(s);
    }
    absl::StatusOr<std::string> manifest = ReadText(manifest_path, firmware::kMaxManifestBytes);
    if (!manifest.ok()) return Fail(manifest.status());
    absl::StatusOr<std::string> sig_text = ReadText(signature_path, 1024);
    if (!sig_text.ok()) return Fail(sig_text.status());
    absl::StatusOr<std::string> signature = firmware::ParseSignatureFile(*sig_text);
    if (!signature.ok()) return Fail(signature.status());
    absl::StatusOr<firmware::Manifest> m = trust.Verify(*manifest, *signature);
    if (!m.ok()) return Fail(m.status());
    absl::StatusOr<sign::FileDigest> digest = sign::DigestFile(image);
    if (!digest.ok()) return Fail(digest.status());
    if (absl::Status s = firmware::CheckImageDigest(*m, digest->size, digest->sha256); !s.ok()) {
      return Fail(s);
    }
    std::cout << "ok: " << absl::StrJoin(m->models, ",") << " "
              << firmware::FormatVersion(m->version) << " signed by " << m->signing_key_id << "\n";
    return 0;
  }
  absl::StatusOr<std::string> pem = ReadText(pub, 64 * 1024);
  if (!pem.ok()) return Fail(pem.status());
  absl::StatusOr<std::string> id = provisioning::FirmwarePublicKeyId(*pem);
  if (!id.ok()) return Fail(id.status());
  std::cout << *id << "\n";
  return 0;
}
