#include "services/storage/audit_log.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "provisioning/audit_checkpoint.h"
#include "provisioning/digest.h"
#include "services/storage/audit_hash.h"

namespace camfleet::storage {
namespace {

constexpr int kHashSize = 32;

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutBytes(std::string& out, absl::string_view bytes) {
  PutU64(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

}  // namespace

std::string ChainHash(absl::string_view prev_hash, absl::string_view canonical) {
  provisioning::Sha256Digest d = provisioning::Sha256(absl::StrCat(prev_hash, canonical));
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string CanonicalEncoding(int64_t seq, int64_t time_us, const AuditRecord& record) {
  std::string out = "camfleet.audit.v1";
  PutU64(out, static_cast<uint64_t>(seq));
  PutU64(out, static_cast<uint64_t>(time_us));
  PutBytes(out, record.actor);
  PutBytes(out, record.action);
  PutBytes(out, record.object_type);
  PutBytes(out, record.object_id);
  PutBytes(out, record.details_json);
  return out;
}

absl::StatusOr<int64_t> AppendAudit(WriteTx& tx, const AuditRecord& record) {
  common::Database& db = tx.db();
  int64_t prev_seq = 0;
  std::string prev_hash(kHashSize, '\0');
  int64_t latest_time_us = std::numeric_limits<int64_t>::min();
  AuditChainHead* const cached = tx.audit_head();
  if (cached != nullptr && cached->known) {
    // The store keeps the head in step with the table (store.h): no read of the table.
    prev_seq = cached->seq;
    prev_hash.assign(cached->hash.data(), cached->hash.size());
    latest_time_us = cached->latest_time_us;
  } else {
    ASSIGN_OR_RETURN(common::Statement head,
                     db.Prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool row, head.Step());
    if (row) {
      prev_seq = head.ColumnInt(0);
      prev_hash = head.ColumnBlob(1);
      // The last entry of audit_by_time: one seek.
      ASSIGN_OR_RETURN(common::Statement latest,
                       db.Prepare("SELECT max(time_us) FROM audit_events"));
      ASSIGN_OR_RETURN(bool found, latest.Step());
      if (found && !latest.ColumnIsNull(0)) latest_time_us = latest.ColumnInt(0);
    }
  }
  const int64_t seq = prev_seq + 1;
  const int64_t time_us = common::ToMicros(tx.now());
  std::string hash = ChainHash(prev_hash, CanonicalEncoding(seq, time_us, record));
  ASSIGN_OR_RETURN(common::Statement insert,
                   db.Prepare("INSERT INTO audit_events (seq, time_us, actor, action, "
                              "object_type, object_id, details, prev_hash, hash) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, seq)
      .Bind(2, time_us)
      .Bind(3, record.actor)
      .Bind(4, record.action)
      .Bind(5, record.object_type)
      .Bind(6, record.object_id)
      .Bind(7, record.details_json)
      .BindBlob(8, prev_hash)
      .BindBlob(9, hash);
  RETURN_IF_ERROR(insert.Run());
  if (time_us < latest_time_us) {
    // The clock stepped back: the audit list must not read a window holding this event as if
    // the chain were in time order (ListAuditSql).
    ASSIGN_OR_RETURN(common::Statement late,
                     db.Prepare("INSERT INTO audit_late_events (seq, time_us) VALUES (?, ?)"));
    late.Bind(1, seq).Bind(2, time_us);
    RETURN_IF_ERROR(late.Run());
  }
  if (cached != nullptr && hash.size() == cached->hash.size()) {
    cached->known = true;
    cached->seq = seq;
    std::copy(hash.begin(), hash.end(), cached->hash.begin());
    cached->latest_time_us = std::max(latest_time_us, time_us);
  }
  return seq;
}

absl::Status Audit(WriteTx& tx, std::string actor, std::string action, std::string object_type,
                   std::string object_id, const AuditDetails& details) {
  return AppendAudit(tx, {std::move(actor), std::move(action), std::move(object_type),
                          std::move(object_id), JsonObject(details)})
      .status();
}

namespace {

constexpr char kSelectEvent[] =
    "SELECT seq, time_us, actor, action, object_type, object_id, details, prev_hash, hash "
    "FROM audit_events ";

v1::AuditEvent EventFromRow(const common::Statement& s) {
  v1::AuditEvent e;
  e.set_sequence(s.ColumnInt(0));
  *e.mutable_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(s.ColumnInt(1));
  e.set_actor(s.ColumnText(2));
  e.set_action(s.ColumnText(3));
  e.set_object_type(s.ColumnText(4));
  e.set_object_id(s.ColumnText(5));
  e.set_details_json(s.ColumnText(6));
  e.set_previous_hash(provisioning::ToHex(s.ColumnBlob(7)));
  e.set_hash(provisioning::ToHex(s.ColumnBlob(8)));
  return e;
}

// The SQL ListAudit runs for `filter`. For a time window alone it depends on whether the
// window's events are in time order along the chain (no event of audit_late_events at or after
// the window's start), which ListAudit reads first.
std::string ListAuditSql(const AuditFilter& filter, bool window_in_chain_order) {
  // Only the filters given go into the SQL, so that SQLite can seek on the index of the one it
  // picks (audit_by_object/actor/action are (col, seq), which also gives the order); the old
  // "(? = '' OR col = ?)" form could only walk the whole table by seq. One prepared statement
  // per shape, a few dozen at most.
  // With an object, actor or action their (col, seq) index is the seek and gives the order.
  // A time window alone: while no late event (audit_late_events, migration 0014) falls in it,
  // its events are in time order along the chain, so its first event is the first entry of
  // audit_by_time at its start and its last the last entry before its end: one seek each, then
  // a page read by seq between them (cost: the page, whatever the window holds). The late events
  // before the window that lie between them are skipped by the time test. Otherwise (the clock
  // stepped back into the window) the window is read through audit_by_time and sorted by seq,
  // which is exact whatever the order (cost: the window).
  const bool timed = filter.start_us.has_value() || filter.end_us.has_value();
  const bool by_column =
      !filter.object_id.empty() || !filter.actor.empty() || !filter.action.empty();
  std::string sql;
  if (timed && !by_column && window_in_chain_order) {
    sql = absl::StrCat(kSelectEvent, "WHERE seq > ",
                       filter.start_us.has_value()
                           ? "max(?1, (SELECT seq - 1 FROM audit_events INDEXED BY audit_by_time "
                             "WHERE time_us >= ?5 ORDER BY time_us, seq LIMIT 1))"
                           : "?1",
                       filter.end_us.has_value()
                           ? " AND seq <= (SELECT seq FROM audit_events INDEXED BY audit_by_time "
                             "WHERE time_us < ?6 ORDER BY time_us DESC, seq DESC LIMIT 1)"
                           : "");
  } else if (filter.start_us.has_value() && !by_column) {
    // Walking the chain by seq from the cursor and testing each event's time would read every
    // event before the window.
    sql = absl::StrCat(kSelectEvent, "INDEXED BY audit_by_time WHERE +seq > ?1");
  } else {
    // An end alone (its events are the first the walk by seq meets), or a column's index.
    sql = absl::StrCat(kSelectEvent, "WHERE seq > ?1");
  }
  if (!filter.object_id.empty()) absl::StrAppend(&sql, " AND object_id = ?2");
  if (!filter.actor.empty()) absl::StrAppend(&sql, " AND actor = ?3");
  if (!filter.action.empty()) absl::StrAppend(&sql, " AND action = ?4");
  if (filter.start_us.has_value()) absl::StrAppend(&sql, " AND time_us >= ?5");
  if (filter.end_us.has_value()) absl::StrAppend(&sql, " AND time_us < ?6");
  absl::StrAppend(&sql, " ORDER BY seq LIMIT ?7");
  return sql;
}

}  // namespace

absl::StatusOr<std::vector<v1::AuditEvent>> ListAudit(common::Database& db,
                                                      const AuditFilter& filter) {
  bool in_chain_order = true;
  if ((filter.start_us.has_value() || filter.end_us.has_value()) && filter.object_id.empty() &&
      filter.actor.empty() && filter.action.empty()) {
    // A late event at or after the window's start (any, for a window with only an end).
    ASSIGN_OR_RETURN(common::Statement late,
                     db.Prepare("SELECT EXISTS (SELECT 1 FROM audit_late_events "
                                "WHERE time_us >= ?)"));
    late.Bind(1, filter.start_us.value_or(std::numeric_limits<int64_t>::min()));
    ASSIGN_OR_RETURN(bool row, late.Step());
    in_chain_order = !row || late.ColumnInt(0) == 0;
  }
  ASSIGN_OR_RETURN(common::Statement s, db.Prepare(ListAuditSql(filter, in_chain_order)));
  s.Bind(1, filter.after_seq);
  if (!filter.object_id.empty()) s.Bind(2, filter.object_id);
  if (!filter.actor.empty()) s.Bind(3, filter.actor);
  if (!filter.action.empty()) s.Bind(4, filter.action);
  if (filter.start_us.has_value()) s.Bind(5, *filter.start_us);
  if (filter.end_us.has_value()) s.Bind(6, *filter.end_us);
  s.Bind(7, int64_t{filter.limit});
  std::vector<v1::AuditEvent> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(EventFromRow(s));
  }
  return out;
}

absl::Status VerifyAuditPiece(common::Database& db, int64_t last_seq, int max_events,
                              AuditVerifyCursor& cursor, v1::VerifyAuditChainResponse& result) {
  if (cursor.done) return absl::OkStatus();
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare(absl::StrCat(kSelectEvent,
                                           "WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3")));
  s.Bind(1, cursor.next_seq).Bind(2, last_seq).Bind(3, int64_t{max_events});
  if (cursor.prev_hash.empty()) cursor.prev_hash.assign(kHashSize, '\0');
  auto broken = [&](int64_t seq, std::string problem) {
    result.set_intact(false);
    result.set_first_broken_sequence(seq);
    result.set_problem(std::move(problem));
    cursor.done = true;
  };
  int rows = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ++rows;
    const int64_t seq = s.ColumnInt(0);
    const int64_t expected_seq = cursor.next_seq;
    AuditRecord record{s.ColumnText(2), s.ColumnText(3), s.ColumnText(4), s.ColumnText(5),
                       s.ColumnText(6)};
    const std::string prev_hash = s.ColumnBlob(7);
    const std::string hash = s.ColumnBlob(8);
    result.set_events_checked(result.events_checked() + 1);
    if (seq != expected_seq) {
      broken(expected_seq, absl::StrCat("event ", expected_seq, " is missing (next is ", seq,
                                        "): events were deleted"));
      return absl::OkStatus();
    }
    if (prev_hash != cursor.prev_hash) {
      broken(seq, absl::StrCat("event ", seq,
                               " does not link to the event before it: its previous hash ",
                               provisioning::ToHex(prev_hash), " should be ",
                               provisioning::ToHex(cursor.prev_hash)));
      return absl::OkStatus();
    }
    const std::string recomputed =
        ChainHash(prev_hash, CanonicalEncoding(seq, s.ColumnInt(1), record));
    if (recomputed != hash) {
      broken(seq,
             absl::StrCat("event ", seq, " was altered: its contents no longer match its hash"));
      return absl::OkStatus();
    }
    cursor.prev_hash = hash;
    cursor.next_seq = seq + 1;
    result.set_head_sequence(seq);
    result.set_head_hash(provisioning::ToHex(hash));
  }
  if (rows < max_events || cursor.next_seq > last_seq) cursor.done = true;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> AuditHeadSequence(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT COALESCE(MAX(seq), 0) FROM audit_events"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.ColumnInt(0) : 0;
}

absl::StatusOr<AuditHead> ReadAuditHead(common::Database& db) {
  ASSIGN_OR_RETURN(common::Statement s,
                   db.Prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  AuditHead head;
  if (row) {
    head.sequence = s.ColumnInt(0);
    head.hash_hex = provisioning::ToHex(s.ColumnBlob(1));
  } else {
    head.hash_hex = std::string(2 * kHashSize, '0');
  }
  return head;
}

absl::Status CheckAuditCheckpoint(common::Database& db, const v1::AuditCheckpoint& checkpoint,
                                  absl::string_view public_key_pem,
                                  v1::VerifyAuditChainResponse& result) {
  if (!result.intact()) return absl::OkStatus();  // the first break is the news
  if (checkpoint.sequence() < 0 || checkpoint.head_hash().size() != 2 * kHashSize) {
    return absl::InvalidArgumentError(
        "checkpoint is malformed: it needs a sequence >= 0 and a 64-digit hex head_hash; give "
        "the file `camfleet audit checkpoint` wrote");
  }
  auto broken = [&](int64_t seq, std::string problem) {
    result.set_intact(false);
    result.set_first_broken_sequence(seq);
    result.set_problem(std::move(problem));
    return absl::OkStatus();
  };
  provisioning::CheckpointFacts facts;
  facts.sequence = checkpoint.sequence();
  facts.head_hash_hex = checkpoint.head_hash();
  facts.time_us = google::protobuf::util::TimeUtil::TimestampToMicroseconds(checkpoint.time());
  facts.database_generation = checkpoint.database_generation();
  absl::Status signature =
      provisioning::VerifyCheckpointSignature(public_key_pem, facts, checkpoint.signature());
  if (absl::IsUnauthenticated(signature)) {
    return broken(checkpoint.sequence(),
                  absl::StrCat("the checkpoint's signature does not verify with this server's "
                               "checkpoint key (the checkpoint names key ",
                               checkpoint.key_id(),
                               "): the checkpoint was altered or made by another server"));
  }
  RETURN_IF_ERROR(signature);
  const std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", common::FromMicros(facts.time_us),
                                            absl::UTCTimeZone());
  ASSIGN_OR_RETURN(AuditHead head, ReadAuditHead(db));
  if (head.sequence < checkpoint.sequence()) {
    return broken(
        head.sequence + 1,
        absl::StrCat("the chain ends at event ", head.sequence, " but the checkpoint signed at ",
                     when, " vouches for event ", checkpoint.sequence(), ": events ",
                     head.sequence + 1, "-", checkpoint.sequence(),
                     " were cut, or the database was replaced by an older copy"));
  }
  if (checkpoint.sequence() > 0) {
    ASSIGN_OR_RETURN(common::Statement s,
                     db.Prepare("SELECT hash FROM audit_events WHERE seq = ?"));
    s.Bind(1, checkpoint.sequence());
    ASSIGN_OR_RETURN(bool row, s.Step());
    const std::string hash = row ? provisioning::ToHex(s.ColumnBlob(0)) : "";
    if (hash != absl::AsciiStrToLower(checkpoint.head_hash())) {
      return broken(
          checkpoint.sequence(),
          absl::StrCat("event ", checkpoint.sequence(), " has hash ", hash,
                       " but the checkpoint signed at ", when, " says ", checkpoint.head_hash(),
                       ": the chain was rewritten, or the database replaced by another "
                       "one"));
    }
  }
  result.set_checkpoint_matched(true);
  return absl::OkStatus();
}

absl::StatusOr<v1::VerifyAuditChainResponse> VerifyAudit(common::Database& db) {
  v1::VerifyAuditChainResponse result;
  result.set_intact(true);
  AuditVerifyCursor cursor;
  RETURN_IF_ERROR(VerifyAuditPiece(db, std::numeric_limits<int64_t>::max(),
                                   std::numeric_limits<int>::max(), cursor, result));
  return result;
}

std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& fields) {
  auto escape = [](absl::string_view in) {
    std::string out;
    for (char c : in) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
          } else {
            out.push_back(c);
          }
      }
    }
    return out;
  };
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, "\"", escape(fields[i].first), "\":\"", escape(fields[i].second), "\"");
  }
  out += "}";
  return out;
}

}  // namespace camfleet::storage
