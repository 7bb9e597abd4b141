#include "services/fleet/manifest.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "firmware/manifest.h"
#include "services/rpc/canonical_codes.h"
#include "services/rpc/validation.h"

namespace camfleet::fleet {
namespace {

constexpr const char* kColumns[] = {"serial", "model", "hardware_revision", "site"};
constexpr size_t kColumnCount = 4;

struct Record {
  int64_t line = 0;  // physical line the record starts on
  std::vector<std::string> fields;
  std::string quoting_error;  // set when the record's quoting is broken
};

// Whether text[i] ends a physical line: LF, or a CR not followed by LF (a CR LF pair ends its
// line at the LF).
bool IsLineEnd(absl::string_view text, size_t i) {
  if (text[i] == '\n') return true;
  return text[i] == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n');
}

// Splits CSV text into records. A quoted field may span lines; an unterminated quote ends the
// input with an error on the record where it opened.
std::vector<Record> SplitRecords(absl::string_view text) {
  std::vector<Record> records;
  size_t i = 0;
  int64_t line = 1;
  while (i < text.size()) {
    Record rec;
    rec.line = line;
    std::string field;
    bool record_done = false;
    bool field_quoted = false;
    bool after_quote = false;  // just closed a quoted field
    while (!record_done) {
      if (i >= text.size()) {
        rec.fields.push_back(std::move(field));
        break;
      }
      char c = text[i];
      if (c == '"' && field.empty() && !field_quoted && !after_quote) {
        // Opening quote: read to the closing one.
        field_quoted = true;
        ++i;
        bool closed = false;
        while (i < text.size()) {
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (IsLineEnd(text, i)) ++line;
          field.push_back(text[i]);
          ++i;
        }
        if (!closed) {
          rec.quoting_error = "a quoted field is never closed; add the closing '\"'";
          rec.fields.push_back(std::move(field));
          records.push_back(std::move(rec));
          return records;
        }
        after_quote = true;
        continue;
      }
      if (c == ',') {
        rec.fields.push_back(std::move(field));
        field.clear();
        field_quoted = false;
        after_quote = false;
        ++i;
        continue;
      }
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
        continue;
      }
      if (c == '\n' || c == '\r') {  // a bare CR ends a line too (old Mac-style files)
        rec.fields.push_back(std::move(field));
        ++i;
        ++line;
        record_done = true;
        continue;
      }
      if (after_quote) {
        if (rec.quoting_error.empty()) {
          rec.quoting_error = absl::StrCat("text after a closing quote in column ",
                                           rec.fields.size() + 1,
                                           "; put the whole field in quotes");
        }
      } else if (c == '"') {
        if (rec.quoting_error.empty()) {
          rec.quoting_error = absl::StrCat("a '\"' inside unquoted column ", rec.fields.size() + 1,
                                           "; quote the field and double the inner quote");
        }
      }
      field.push_back(c);
      ++i;
    }
    records.push_back(std::move(rec));
  }
  return records;
}

bool IsBlank(const Record& r) {
  return r.quoting_error.empty() && r.fields.size() == 1 &&
         absl::StripAsciiWhitespace(r.fields[0]).empty();
}

void AddError(ParsedManifest& out, int64_t line, absl::string_view column,
              absl::string_view message) {
  out.bad_lines.insert(line);
  if (out.errors.size() >= kMaxListedManifestErrors) {
    ++out.unlisted_errors;
    return;
  }
  v1::ManifestRowError& e = out.errors.emplace_back();
  e.set_line(line);
  e.set_column(std::string(column));
  e.set_message(absl::StrCat("line ", line, ": ", message));
}

}  // namespace

absl::StatusOr<ParsedManifest> ParseManifest(absl::string_view csv) {
  if (csv.size() > kMaxManifestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("csv is ", csv.size(), " bytes; split the manifest into files of at most ",
                     kMaxManifestBytes, " bytes"));
  }
  // Spreadsheet programs often save CSV with a UTF-8 byte order mark; a file that is nothing
  // but one is empty.
  if (absl::StartsWith(csv, "\xEF\xBB\xBF")) csv.remove_prefix(3);
  const std::vector<Record> records = SplitRecords(csv);
  if (absl::StripAsciiWhitespace(csv).empty() || records.empty()) {
    return absl::InvalidArgumentError(
        "csv is empty; give the manifest with the header serial,model,hardware_revision,site");
  }
  const Record& header = records.front();
  std::vector<std::string> names;
  for (const std::string& f : header.fields) {
    names.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(f)));
  }
  if (!header.quoting_error.empty() || names.size() != kColumnCount ||
      !std::equal(names.begin(), names.end(), std::begin(kColumns))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "csv line 1 must be the header 'serial,model,hardware_revision,site', found '",
        absl::StrJoin(header.fields, ","), "'"));
  }

  ParsedManifest out;
  absl::flat_hash_map<std::string, int64_t> first_line_of_serial;
  for (size_t r = 1; r < records.size(); ++r) {
    const Record& rec = records[r];
    if (IsBlank(rec)) continue;
    ++out.row_count;
    if (!rec.quoting_error.empty()) {
      AddError(out, rec.line, "", rec.quoting_error);
      continue;
    }
    if (rec.fields.size() != kColumnCount) {
      AddError(out, rec.line, "",
               absl::StrCat("expected 4 columns (serial,model,hardware_revision,site), found ",
                            rec.fields.size()));
      continue;
    }
    ManifestRow row;
    row.line = rec.line;
    // Codes in any case, stored in one (a manifest typed with `batken-post-01` names the site
    // BATKEN-POST-01).
    row.serial = rpc::CanonicalCode(absl::StripAsciiWhitespace(rec.fields[0]));
    row.model = std::string(absl::StripAsciiWhitespace(rec.fields[1]));
    row.hardware_revision = std::string(absl::StripAsciiWhitespace(rec.fields[2]));
    row.site = rpc::CanonicalCode(absl::StripAsciiWhitespace(rec.fields[3]));
    bool good = true;
    auto check = [&](absl::string_view column, const absl::Status& s) {
      if (!s.ok()) {
        AddError(out, rec.line, column, s.message());
        good = false;
      }
    };
    const absl::Status serial_ok = rpc::ValidateSerial("serial", row.serial);
    check("serial", serial_ok);
    check("model", firmware::ValidateModelName("model", row.model));
    check("hardware_revision", rpc::ValidateText("hardware_revision", row.hardware_revision, 0, 32));
    check("site", rpc::ValidateSiteCode("site", row.site));
    // A serial counts as seen even when another column of its row is bad, so that a partial
    // import cannot take a later copy of it.
    if (serial_ok.ok()) {
      auto [it, inserted] = first_line_of_serial.emplace(row.serial, rec.line);
      if (!inserted) {
        AddError(out, rec.line, "serial",
                 absl::StrCat("serial '", row.serial, "' is also on line ", it->second,
                              "; each camera appears once"));
        good = false;
      }
    }
    if (good) out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace camfleet::fleet
