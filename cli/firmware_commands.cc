// camfleet firmware upload|list|withdraw|export, camfleet firmware key add|list|retire

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "firmware/manifest.h"
#include "firmware/trust.h"
#include "provisioning/digest.h"
#include "provisioning/file_io.h"
#include "provisioning/firmware_signing.h"

namespace camfleet::cli {
namespace {

using Stub = v1::FirmwareService::Stub;

// Bounded chunks: small enough that a slow link shows progress, large enough to be cheap.
constexpr size_t kUploadChunkBytes = 256 * 1024;

std::string Mib(uint64_t bytes) {
  if (bytes < 1024 * 1024) {
    return absl::StrFormat("%.1f KiB", static_cast<double>(bytes) / 1024.0);
  }
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

// "[#########...........]  45%  12.0 MiB / 26.5 MiB", redrawn in place on stderr.
void DrawProgress(std::ostream& err, uint64_t sent, uint64_t total) {
  constexpr int kWidth = 30;
  const double fraction = total == 0 ? 1.0 : static_cast<double>(sent) / static_cast<double>(total);
  const int filled = static_cast<int>(fraction * kWidth);
  err << "\r[" << std::string(static_cast<size_t>(filled), '#')
      << std::string(static_cast<size_t>(kWidth - filled), '.') << "] "
      << absl::StrFormat("%3d%%  ", static_cast<int>(fraction * 100)) << Mib(sent) << " / "
      << Mib(total) << std::flush;
}

std::string ReleaseState(const v1::FirmwareRelease& r) {
  return r.has_withdraw_time() ? absl::StrCat("withdrawn by ", r.withdrawn_by()) : "available";
}

std::string DeltaSummary(const v1::FirmwareRelease& r) {
  std::vector<std::string> parts;
  for (const v1::FirmwareDelta& d : r.deltas()) {
    parts.push_back(absl::StrCat("from ", d.from_version(), ": ", Mib(d.size_bytes())));
  }
  return absl::StrJoin(parts, ", ");
}

void PrintRelease(Session& s, const v1::FirmwareRelease& r) {
  s.out() << RenderRecord({
      {"release", r.release_id()},
      {"models", absl::StrJoin(r.models(), ", ")},
      {"version", r.version()},
      {"image", absl::StrCat(r.image_size_bytes(), " bytes, sha256 ", r.image_sha256())},
      {"compressed", Mib(r.compressed_size_bytes())},
      {"deltas", DeltaSummary(r)},
      {"min battery", absl::StrCat(r.min_battery_percent(), "%")},
      {"downgrade", r.allow_downgrade() ? "allowed" : "no"},
      {"signed", absl::StrCat(FormatUtc(FromTimestamp(r.sign_time())), " by key ",
                              r.signing_key_id().substr(0, 16))},
      {"uploaded",
       absl::StrCat(FormatUtc(FromTimestamp(r.upload_time())), " by ", r.uploaded_by())},
      {"state", ReleaseState(r)},
      {"notes", r.release_notes()},
  });
}

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max) {
  absl::StatusOr<provisioning::FileContents> f = provisioning::ReadSmallFile(path, max);
  if (!f.ok()) return f.status();
  return std::move(f->data);
}

absl::Status CheckLocalImage(const std::string& path, const firmware::Manifest& manifest) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(std::strerror(errno));
  provisioning::Sha256Stream sha;
  uint64_t size = 0;
  std::string buffer(1 << 20, '\0');
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return absl::InternalError(std::strerror(errno));
    }
    if (n == 0) break;
    sha.Update(absl::string_view(buffer.data(), static_cast<size_t>(n)));
    size += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return firmware::CheckImageDigest(manifest, size, provisioning::ToHex(sha.Finish()));
}

int Upload(Session& s, const std::string& image_path, const std::string& manifest_path,
           const std::string& signature_path) {
  absl::StatusOr<std::string> manifest = ReadFile(manifest_path, firmware::kMaxManifestBytes);
  if (!manifest.ok())
    return s.UsageError(absl::StrCat("--manifest: ", manifest.status().message()));
  absl::StatusOr<firmware::Manifest> parsed = firmware::ParseManifest(*manifest);
  if (!parsed.ok()) return s.UsageError(absl::StrCat("--manifest: ", parsed.status().message()));
  absl::StatusOr<std::string> sig_text = ReadFile(signature_path, 1024);
  if (!sig_text.ok())
    return s.UsageError(absl::StrCat("--signature: ", sig_text.status().message()));
  absl::StatusOr<std::string> signature = firmware::ParseSignatureFile(*sig_text);
  if (!signature.ok())
    return s.UsageError(absl::StrCat("--signature: ", signature.status().message()));
  // The file is checked against its manifest here first: a wrong or damaged file is caught
  // before a byte crosses the link (the server checks again, whatever the client says).
  absl::Status matches = CheckLocalImage(image_path, *parsed);
  if (!matches.ok()) {
    return s.UsageError(absl::StrCat(image_path, " does not match its signed manifest: ",
                                     matches.message(), "; nothing was sent"));
  }
  const int fd = ::open(image_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s.UsageError(absl::StrCat(image_path, ": ", std::strerror(errno)));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.client().channel();
  if (!channel.ok()) {
    ::close(fd);
    return s.RpcError(channel.status());
  }
  std::unique_ptr<Stub> stub = v1::FirmwareService::NewStub(*channel);
  grpc::ClientContext ctx;
  // The server verifies and compresses the image after the last byte: allow for the transfer
  // and that work on top of the usual timeout (2 s per MiB is a slow link).
  const uint64_t total = parsed->image_size;
  s.client().PrepareContext(
      ctx, s.connection().timeout + absl::Seconds(2 * static_cast<int64_t>(total >> 20) + 10));
  v1::UploadReleaseResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadReleaseRequest>> writer =
      stub->UploadRelease(&ctx, &response);
  v1::UploadReleaseRequest first;
  first.mutable_header()->set_manifest(*manifest);
  first.mutable_header()->set_signature(*signature);
  bool open = writer->Write(first);
  uint64_t sent = 0;
  std::string buffer(kUploadChunkBytes, '\0');
  const bool progress = !s.json();
  while (open) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ctx.TryCancel();
      return s.UsageError(absl::StrCat(image_path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    v1::UploadReleaseRequest chunk;
    chunk.set_chunk(buffer.data(), static_cast<size_t>(n));
    open = writer->Write(chunk);
    sent += static_cast<uint64_t>(n);
    if (progress) DrawProgress(s.err(), std::min(sent, total), total);
  }
  ::close(fd);
  if (open) writer->WritesDone();
  if (progress) s.err() << (sent > 0 ? "\n" : "") << "verifying on the server...\n";
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return s.RpcError(FromGrpcStatus(status));
  if (s.json()) return s.PrintJson(response);
  s.out() << (response.already_stored() ? "the server already holds this release; nothing changed\n"
                                        : "uploaded and verified\n");
  PrintRelease(s, response.release());
  return kExitOk;
}

void AddUpload(CLI::App* firmware, Action* selected) {
  struct Args {
    std::string image, manifest, signature;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = firmware->add_subcommand("upload", "Upload a release signed with camfleet-sign");
  cmd->footer(
      "The server checks the signature (a trusted key, not retired), the models, the version\n"
      "(no downgrade unless signed as allowed) and the image's size and SHA-256 before it keeps\n"
      "anything. Uploading the same release again changes nothing.");
  cmd->add_option("image", args->image, "The image file")->required();
  cmd->add_option("--manifest", args->manifest, "The manifest camfleet-sign wrote")->required();
  cmd->add_option("--signature", args->signature, "The signature file camfleet-sign wrote")
      ->required();
  SetAction(cmd, selected,
            [args](Session& s) { return Upload(s, args->image, args->manifest, args->signature); });
}

// Writes the bundle to OUTPUT.partial and renames it to OUTPUT once complete, so an
// interrupted export never leaves a file that looks like a bundle.
int Export(Session& s, const std::string& release_id, const std::string& output) {
  if (provisioning::PathExists(output)) {
    return s.UsageError(absl::StrCat("-o: ", output, " exists; choose another file"));
  }
  const std::string partial = output + ".partial";
  const int fd = ::open(partial.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return s.UsageError(absl::StrCat("-o: ", partial, ": ", std::strerror(errno)));
  auto fail = [&](int code) {
    ::close(fd);
    ::unlink(partial.c_str());
    return code;
  };
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.client().channel();
  if (!channel.ok()) return fail(s.RpcError(channel.status()));
  std::unique_ptr<Stub> stub = v1::FirmwareService::NewStub(*channel);
  grpc::ClientContext ctx;
  // A release is up to 2 GiB: allow 2 s per MiB of the largest on top of the usual timeout.
  s.client().PrepareContext(ctx, s.connection().timeout + absl::Hours(1));
  v1::ExportReleaseRequest req;
  req.set_release_id(release_id);
  std::unique_ptr<grpc::ClientReader<v1::ExportReleaseResponse>> reader =
      stub->ExportRelease(&ctx, req);
  v1::ExportReleaseResponse msg;
  uint64_t total = 0;
  uint64_t written = 0;
  const bool progress = !s.json();
  while (reader->Read(&msg)) {
    if (msg.bundle_size() > 0) total = msg.bundle_size();
    const std::string& chunk = msg.chunk();
    if (written + chunk.size() > total) {
      ctx.TryCancel();
      (void)reader->Finish();
      return fail(s.RpcError(absl::DataLossError(
          "the server sent more than the bundle size it announced; nothing was kept")));
    }
    size_t done = 0;
    while (done < chunk.size()) {
      const ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ctx.TryCancel();
        (void)reader->Finish();
        return fail(s.UsageError(absl::StrCat(partial, ": ", std::strerror(errno))));
      }
      done += static_cast<size_t>(n);
    }
    written += chunk.size();
    if (progress && total > 0) DrawProgress(s.err(), written, total);
  }
  const grpc::Status status = reader->Finish();
  if (progress && written > 0) s.err() << "\n";
  if (!status.ok()) return fail(s.RpcError(FromGrpcStatus(status)));
  if (written != total || total == 0) {
    return fail(s.RpcError(absl::DataLossError(absl::StrCat(
        "the export ended at byte ", written, " of ", total, "; nothing was kept, try again"))));
  }
  if (::fsync(fd) != 0) return fail(s.UsageError(absl::StrCat(partial, ": fsync failed")));
  ::close(fd);
  if (::rename(partial.c_str(), output.c_str()) != 0) {
    ::unlink(partial.c_str());
    return s.UsageError(absl::StrCat(output, ": ", std::strerror(errno)));
  }
  if (s.json()) {
    s.out() << "{\"file\": \"" << output << "\", \"bytes\": " << written << "}\n";
    return kExitOk;
  }
  s.out() << "wrote release bundle " << output << " (" << Mib(written)
          << "); carry it to the dock and run: camfleet-dock import-release --dir DIR " << output
          << "\n";
  return kExitOk;
}

void AddExport(CLI::App* firmware, Action* selected) {
  struct Args {
    std::string release_id, output;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = firmware->add_subcommand(
      "export", "Write a signed release bundle (manifest, signature, image) to a file");
  cmd->footer(
      "For a post the network does not reach: the dock verifies the bundle with its own trusted\n"
      "keys exactly as a download (camfleet-dock import-release). The bundle adds no trust.");
  cmd->add_option("release", args->release_id, "Release id, or its first 8+ hex digits")
      ->required();
  cmd->add_option("-o,--output", args->output, "The bundle file to write (must not exist)")
      ->required();
  SetAction(cmd, selected, [args](Session& s) { return Export(s, args->release_id, args->output); });
}

void AddList(CLI::App* firmware, Action* selected) {
  auto request = std::make_shared<v1::ListReleasesRequest>();
  CLI::App* cmd = firmware->add_subcommand("list", "List releases, newest version first");
  cmd->add_option("--model", *request->mutable_model(), "Only releases for this model");
  cmd->add_flag_function(
      "--withdrawn", [request](int64_t) { request->set_include_withdrawn(true); },
      "Include withdrawn releases");
  auto page_size = std::make_shared<int32_t>(0);
  cmd->add_option("--page-size", *page_size,
                  "Releases fetched per request (1-1000; default 100); all pages are listed");
  SetAction(cmd, selected, [request, page_size](Session& s) {
    // Every page, merged: a model's history is short enough to show whole.
    absl::StatusOr<v1::ListReleasesResponse> all = v1::ListReleasesResponse();
    v1::ListReleasesRequest next = *request;
    next.set_page_size(*page_size);
    while (true) {
      absl::StatusOr<v1::ListReleasesResponse> page =
          s.client().Firmware(&Stub::ListReleases, next);
      if (!page.ok()) {
        all = page.status();
        break;
      }
      for (v1::FirmwareRelease& rel : *page->mutable_releases()) {
        *all->add_releases() = std::move(rel);
      }
      if (page->next_page_token().empty()) break;
      next.set_page_token(page->next_page_token());
    }
    return Finish(s, all,
                  [&](const v1::ListReleasesResponse& r) {
                    if (r.releases().empty()) {
                      s.out() << "no releases\n";
                      return;
                    }
                    Table table({"RELEASE", "MODELS", "VERSION", "SIZE", "COMPRESSED", "DELTAS",
                                 "MIN BATT", "DOWNGRADE", "SIGNED", "STATE"});
                    for (const v1::FirmwareRelease& rel : r.releases()) {
                      table.AddRow({rel.release_id().substr(0, 12),
                                    absl::StrJoin(rel.models(), ","), rel.version(),
                                    Mib(rel.image_size_bytes()), Mib(rel.compressed_size_bytes()),
                                    DeltaSummary(rel), absl::StrCat(rel.min_battery_percent(), "%"),
                                    rel.allow_downgrade() ? "allowed" : "",
                                    FormatUtc(FromTimestamp(rel.sign_time())), ReleaseState(rel)});
                    }
                    s.out() << table.Render();
                  });
  });
}

void AddWithdraw(CLI::App* firmware, Action* selected) {
  auto request = std::make_shared<v1::WithdrawReleaseRequest>();
  CLI::App* cmd = firmware->add_subcommand(
      "withdraw", "Withdraw a release: docks stop installing it (recorded in the audit log)");
  cmd->add_option("release", *request->mutable_release_id(),
                  "Release id, or its first 8+ hex digits (see firmware list)")
      ->required();
  cmd->add_option("--reason", *request->mutable_reason(), "Why, for the audit log")->required();
  SetAction(cmd, selected, [request](Session& s) {
    return Finish(s, s.client().Firmware(&Stub::WithdrawRelease, *request),
                  [&](const v1::WithdrawReleaseResponse& r) {
                    s.out() << "withdrawn\n";
                    PrintRelease(s, r.release());
                  });
  });
}

void PrintKeys(Session& s, const google::protobuf::RepeatedPtrField<v1::SigningKey>& keys) {
  Table table({"KEY ID", "NAME", "ADDED", "STATE"});
  for (const v1::SigningKey& k : keys) {
    table.AddRow({k.key_id().substr(0, 16), k.name(),
                  absl::StrCat(FormatUtc(FromTimestamp(k.add_time())), " by ", k.added_by()),
                  k.has_retire_time()
                      ? absl::StrCat("retired ", FormatUtc(FromTimestamp(k.retire_time())), ": ",
                                     k.retire_reason())
                      : "trusted"});
  }
  s.out() << table.Render();
}

void AddKeyCommands(CLI::App* firmware, Action* selected) {
  CLI::App* key = firmware->add_subcommand("key", "Signing keys the server trusts (public only)");
  key->require_subcommand(1);

  struct AddArgs {
    v1::AddSigningKeyRequest request;
    std::string file;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* add = key->add_subcommand("add", "Trust a public key made by camfleet-sign keygen");
  add->add_option("name", *add_args->request.mutable_name(), "A name for it, e.g. release-2027")
      ->required();
  add->add_option("public_key", add_args->file, "The .pub file")->required();
  SetAction(add, selected, [add_args](Session& s) {
    absl::StatusOr<std::string> pem = ReadFile(add_args->file, 64 * 1024);
    if (!pem.ok()) return s.UsageError(pem.status().message());
    v1::AddSigningKeyRequest request = add_args->request;
    request.set_public_key_pem(*pem);
    return Finish(s, s.client().Firmware(&Stub::AddSigningKey, request),
                  [&](const v1::AddSigningKeyResponse& r) {
                    s.out() << "trusted signing key " << r.signing_key().key_id() << " ("
                            << r.signing_key().name() << ")\n";
                  });
  });

  CLI::App* list = key->add_subcommand("list", "List signing keys, trusted and retired");
  SetAction(list, selected, [](Session& s) {
    return Finish(s, s.client().Firmware(&Stub::ListSigningKeys, v1::ListSigningKeysRequest()),
                  [&](const v1::ListSigningKeysResponse& r) {
                    if (r.signing_keys().empty()) {
                      s.out() << "no signing keys; add one with: camfleet firmware key add\n";
                      return;
                    }
                    PrintKeys(s, r.signing_keys());
                  });
  });

  auto retire = std::make_shared<v1::RetireSigningKeyRequest>();
  CLI::App* ret = key->add_subcommand("retire", "Stop trusting a key: its releases are refused");
  ret->add_option("key_id", *retire->mutable_key_id(), "Key id, or its first 8+ hex digits")
      ->required();
  ret->add_option("--reason", *retire->mutable_reason(), "Why, for the audit log")->required();
  SetAction(ret, selected, [retire](Session& s) {
    return Finish(s, s.client().Firmware(&Stub::RetireSigningKey, *retire),
                  [&](const v1::RetireSigningKeyResponse& r) {
                    s.out() << "retired signing key " << r.signing_key().key_id() << " ("
                            << r.signing_key().name() << ")\n";
                  });
  });
}

}  // namespace

void AddFirmwareCommands(CLI::App& app, Action* selected) {
  CLI::App* firmware = app.add_subcommand("firmware", "Signed firmware releases and signing keys");
  firmware->require_subcommand(1);
  AddUpload(firmware, selected);
  AddList(firmware, selected);
  AddWithdraw(firmware, selected);
  AddExport(firmware, selected);
  AddKeyCommands(firmware, selected);
}

}  // namespace camfleet::cli
