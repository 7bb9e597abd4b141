// camfleet audit list|verify|checkpoint

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/audit_checkpoint.h"
#include "provisioning/file_io.h"

namespace camfleet::cli {
namespace {

using Stub = v1::AuditService::Stub;

void AddList(CLI::App* audit, Action* selected) {
  struct Args {
    v1::ListAuditEventsRequest request;
    std::string since;
    std::string until;
    PageFlags page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = audit->add_subcommand("list", "List audit events in sequence order");
  cmd->add_option("--object", *args->request.mutable_object_id(),
                  "Only events on this object: camera serial, site code or badge");
  cmd->add_option("--actor", *args->request.mutable_actor(), "Only events by this operator");
  cmd->add_option("--action", *args->request.mutable_action(),
                  "Only this action, e.g. camera.issue, site.create");
  cmd->add_option("--since", args->since, "Only events at or after: 7d, 12h (ago) or RFC3339")
      ->type_name("7d|TIME")
      ->check(TimeArgValidator());
  cmd->add_option("--until", args->until, "Only events before: 7d, 12h (ago) or RFC3339")
      ->type_name("7d|TIME")
      ->check(TimeArgValidator());
  AddPageFlags(cmd, &args->page);
  SetAction(cmd, selected, [args](Session& s) {
    v1::ListAuditEventsRequest request = args->request;
    if (!args->since.empty()) {
      absl::StatusOr<absl::Time> t = ParseTimeArg(args->since, s.Now(), Relative::kPast);
      if (!t.ok()) return s.UsageError(t.status().message());
      *request.mutable_start_time() = ToTimestamp(*t);
    }
    if (!args->until.empty()) {
      absl::StatusOr<absl::Time> t = ParseTimeArg(args->until, s.Now(), Relative::kPast);
      if (!t.ok()) return s.UsageError(t.status().message());
      *request.mutable_end_time() = ToTimestamp(*t);
    }
    auto response = FetchPages<v1::ListAuditEventsRequest, v1::ListAuditEventsResponse>(
        request, args->page, [&](const v1::ListAuditEventsRequest& r) {
          return s.client().Audit(&Stub::ListAuditEvents, r);
        });
    return Finish(s, response, [&](const v1::ListAuditEventsResponse& r) {
      if (r.events().empty()) {
        s.out() << "no audit events match\n";
        return;
      }
      Table table({"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "DETAILS"});
      table.AlignRight(0);
      for (const v1::AuditEvent& e : r.events()) {
        table.AddRow({absl::StrCat(e.sequence()), FormatUtcSeconds(FromTimestamp(e.time())),
                      e.actor(), e.action(), absl::StrCat(e.object_type(), " ", e.object_id()),
                      e.details_json()});
      }
      s.out() << table.Render();
      PrintMoreHint(s, r.next_page_token(), "events");
    });
  });
}

// Reads a checkpoint file and checks its signature with the pinned public key: the check that
// does not trust the server.
absl::StatusOr<v1::AuditCheckpoint> ReadPinnedCheckpoint(const std::string& file,
                                                         const std::string& key_file) {
  absl::StatusOr<provisioning::FileContents> text = provisioning::ReadSmallFile(file, 64 * 1024);
  if (!text.ok()) return text.status();
  v1::AuditCheckpoint checkpoint;
  if (!google::protobuf::util::JsonStringToMessage(text->data, &checkpoint).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, " is not an audit checkpoint (write one with `camfleet audit checkpoint -o FILE`)"));
  }
  absl::StatusOr<provisioning::FileContents> key = provisioning::ReadSmallFile(key_file, 64 * 1024);
  if (!key.ok()) return key.status();
  provisioning::CheckpointFacts facts;
  facts.sequence = checkpoint.sequence();
  facts.head_hash_hex = checkpoint.head_hash();
  facts.time_us = google::protobuf::util::TimeUtil::TimestampToMicroseconds(checkpoint.time());
  facts.database_generation = checkpoint.database_generation();
  absl::Status signature =
      provisioning::VerifyCheckpointSignature(key->data, facts, checkpoint.signature());
  if (!signature.ok()) {
    return absl::Status(signature.code(), absl::StrCat(file, ": ", signature.message(), " (",
                                                       key_file, ")"));
  }
  return checkpoint;
}

void AddCheckpoint(CLI::App* audit, Action* selected) {
  auto file = std::make_shared<std::string>();
  CLI::App* cmd = audit->add_subcommand(
      "checkpoint",
      "Have the server sign the head of the audit chain and save it: keep the file off the "
      "server, and check the chain against it later with `audit verify --checkpoint FILE`");
  cmd->add_option("-o,--output", *file, "File to write the checkpoint to (JSON)")->required();
  SetAction(cmd, selected, [file](Session& s) {
    absl::StatusOr<v1::CreateAuditCheckpointResponse> response =
        s.client().Audit(&Stub::CreateAuditCheckpoint, v1::CreateAuditCheckpointRequest());
    if (!response.ok()) return s.RpcError(response.status());
    const v1::AuditCheckpoint& c = response->checkpoint();
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(c, &json, options);
    std::ofstream out(*file, std::ios::binary | std::ios::trunc);
    out << json;
    out.close();
    if (!out) return s.UsageError(absl::StrCat("cannot write ", *file));
    if (s.json()) {
      s.PrintJson(c);
      return kExitOk;
    }
    s.out() << "checkpoint of audit event " << c.sequence() << " (hash " << c.head_hash()
            << ") signed by key " << c.key_id() << " written to " << *file
            << "\nkeep it off the server; verify with: camfleet audit verify --checkpoint "
            << *file << " --checkpoint-key checkpoint.pub\n";
    return kExitOk;
  });
}

void AddVerify(CLI::App* audit, Action* selected) {
  struct Args {
    std::string checkpoint;
    std::string key;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = audit->add_subcommand(
      "verify",
      "Recompute the audit hash chain; exit 0 if intact, 3 naming the first broken event");
  cmd->add_option("--checkpoint", args->checkpoint,
                  "Also check the chain against this checkpoint (from `audit checkpoint`): a cut "
                  "tail or a database replaced by an older copy is found too");
  cmd->add_option("--checkpoint-key", args->key,
                  "The server's checkpoint public key you pinned (HOME/audit/checkpoint.pub, "
                  "handed over out of band); needed with --checkpoint")
      ->envname("CAMFLEET_CHECKPOINT_KEY");
  cmd->footer(
      "The checkpoint's signature is checked here with the key you give, not with one the "
      "server sends: get checkpoint.pub from the fleet admin once (it is made by `camfleetd "
      "init`, which prints its key id) and compare the key id over a second channel.");
  SetAction(cmd, selected, [args](Session& s) {
    v1::VerifyAuditChainRequest request;
    if (!args->checkpoint.empty()) {
      if (args->key.empty()) {
        return s.UsageError(
            "--checkpoint needs --checkpoint-key PUBKEY.pem: the server's checkpoint public "
            "key as you pinned it (HOME/audit/checkpoint.pub)");
      }
      absl::StatusOr<v1::AuditCheckpoint> checkpoint =
          ReadPinnedCheckpoint(args->checkpoint, args->key);
      if (absl::IsUnauthenticated(checkpoint.status())) {
        if (s.json()) {
          v1::VerifyAuditChainResponse r;
          r.set_problem(std::string(checkpoint.status().message()));
          s.PrintJson(r);
        } else {
          s.out() << "audit checkpoint REFUSED: " << checkpoint.status().message() << "\n";
        }
        return kExitAuditBroken;
      }
      if (!checkpoint.ok()) return s.UsageError(checkpoint.status().message());
      *request.mutable_checkpoint() = *std::move(checkpoint);
    }
    absl::StatusOr<v1::VerifyAuditChainResponse> response =
        s.client().Audit(&Stub::VerifyAuditChain, request);
    if (!response.ok()) return s.RpcError(response.status());
    const v1::VerifyAuditChainResponse& r = *response;
    const int exit_code = r.intact() ? kExitOk : kExitAuditBroken;
    if (s.json()) {
      s.PrintJson(r);
      return exit_code;
    }
    if (r.intact()) {
      s.out() << "audit chain intact: " << r.events_checked() << " events, head "
              << r.head_sequence() << " " << r.head_hash() << "\n";
      if (r.checkpoint_matched()) {
        s.out() << "matches the checkpoint of event " << request.checkpoint().sequence();
        if (request.checkpoint().database_generation() != r.database_generation()) {
          s.out() << " (made on database generation "
                  << request.checkpoint().database_generation() << "; this database is "
                  << r.database_generation() << ": restored from a backup since)";
        }
        s.out() << "\n";
      }
    } else {
      s.out() << "audit chain BROKEN at event " << r.first_broken_sequence() << ": "
              << SanitizeCell(r.problem()) << "\n";
    }
    return exit_code;
  });
}

}  // namespace

void AddAuditCommands(CLI::App& app, Action* selected) {
  CLI::App* audit = app.add_subcommand("audit", "The audit trail: who did what, and its integrity");
  audit->require_subcommand(0, 1);  // alone, it prints its help (app.cc)
  AddList(audit, selected);
  AddVerify(audit, selected);
  AddCheckpoint(audit, selected);
}

}  // namespace camfleet::cli
