// ParseManifest: the delivery-manifest CSV, its header, quoting and per-row checks.

#include "services/fleet/manifest.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::fleet {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kHeader[] = "serial,model,hardware_revision,site\n";

std::string Csv(absl::string_view body) { return absl::StrCat(kHeader, body); }

std::vector<int64_t> ErrorLines(const ParsedManifest& m) {
  std::vector<int64_t> lines;
  for (const v1::ManifestRowError& e : m.errors) lines.push_back(e.line());
  return lines;
}

std::vector<std::string> Serials(const ParsedManifest& m) {
  std::vector<std::string> out;
  for (const ManifestRow& r : m.rows) out.push_back(r.serial);
  return out;
}

// ---------------------------------------------------------------------------- good input

TEST(ManifestTest, GoodFileGivesEveryRowWithItsLine) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,rev B,POST-1\nCAM-0002,BWC-9,,HQ_NORTH\n"));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(m->errors, IsEmpty());
  EXPECT_EQ(m->row_count, 2);
  ASSERT_THAT(m->rows, SizeIs(2));
  EXPECT_EQ(m->rows[0].line, 2);
  EXPECT_EQ(m->rows[0].serial, "CAM-0001");
  EXPECT_EQ(m->rows[0].model, "BWC-7");
  EXPECT_EQ(m->rows[0].hardware_revision, "rev B");
  EXPECT_EQ(m->rows[0].site, "POST-1");
  EXPECT_EQ(m->rows[1].line, 3);
  EXPECT_EQ(m->rows[1].serial, "CAM-0002");
  EXPECT_EQ(m->rows[1].hardware_revision, "");
  EXPECT_EQ(m->rows[1].site, "HQ_NORTH");
}

TEST(ManifestTest, LastLineWithoutNewlineIsRead) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(Csv("CAM-0001,BWC-7,A,POST-1"));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

TEST(ManifestTest, HeaderOnlyGivesNoRows) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(kHeader);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->row_count, 0);
  EXPECT_THAT(m->rows, IsEmpty());
  EXPECT_THAT(m->errors, IsEmpty());
}

TEST(ManifestTest, HeaderIsMatchedWithoutCaseOrSurroundingSpaces) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest("Serial, MODEL ,Hardware_Revision,site\nCAM-0001,BWC-7,A,POST-1\n");
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

TEST(ManifestTest, FieldsAreTrimmedOfSurroundingSpaces) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(Csv("  CAM-0001 , BWC-7 , A ,  POST-1 \n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->rows, SizeIs(1));
  EXPECT_EQ(m->rows[0].serial, "CAM-0001");
  EXPECT_EQ(m->rows[0].model, "BWC-7");
  EXPECT_EQ(m->rows[0].hardware_revision, "A");
  EXPECT_EQ(m->rows[0].site, "POST-1");
}

TEST(ManifestTest, QuotedFieldKeepsCommasAndDoubledQuotes) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,\"BWC-7\",\"rev \"\"B\"\", 1080p\",\"POST-1\"\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, IsEmpty());
  ASSERT_THAT(m->rows, SizeIs(1));
  EXPECT_EQ(m->rows[0].model, "BWC-7");
  EXPECT_EQ(m->rows[0].hardware_revision, "rev \"B\", 1080p");
  EXPECT_EQ(m->rows[0].site, "POST-1");
}

TEST(ManifestTest, EmptyQuotedFieldIsEmpty) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(Csv("CAM-0001,BWC-7,\"\",POST-1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->rows, SizeIs(1));
  EXPECT_EQ(m->rows[0].hardware_revision, "");
}

TEST(ManifestTest, QuotedFieldMaySpanLinesAndLaterLinesKeepTheirNumbers) {
  // Line 2 opens a quoted hardware revision that ends on line 3; the next record starts on
  // line 4.
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,\"B\nMk 2\",POST-1\nCAM-0002,BWC-7,A,POST-1\nbad\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->rows, SizeIs(2));
  EXPECT_EQ(m->rows[0].line, 2);
  EXPECT_EQ(m->rows[0].hardware_revision, "B\nMk 2");
  EXPECT_EQ(m->rows[1].line, 4);
  EXPECT_THAT(ErrorLines(*m), ElementsAre(5));
}

TEST(ManifestTest, CrlfLineEndingsAreAccepted) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(
      "serial,model,hardware_revision,site\r\nCAM-0001,BWC-7,A,POST-1\r\n"
      "CAM-0002,\"BWC-9\",B,POST-2\r\nCAM-0003,BWC-7,A\r\n");
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->rows, SizeIs(2));
  EXPECT_EQ(m->rows[0].site, "POST-1");
  EXPECT_EQ(m->rows[1].model, "BWC-9");
  EXPECT_EQ(m->rows[1].site, "POST-2");
  EXPECT_EQ(m->rows[1].line, 3);
  EXPECT_THAT(ErrorLines(*m), ElementsAre(4));
}

TEST(ManifestTest, BlankLinesAreSkippedAndNotCounted) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("\nCAM-0001,BWC-7,A,POST-1\n   \n\nCAM-0002,BWC-7,A,POST-1\n\n"));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(m->errors, IsEmpty());
  EXPECT_EQ(m->row_count, 2);
  ASSERT_THAT(m->rows, SizeIs(2));
  EXPECT_EQ(m->rows[0].line, 3);
  EXPECT_EQ(m->rows[1].line, 6);
}

// ---------------------------------------------------------------------- refused wholesale

TEST(ManifestTest, MissingHeaderIsInvalidArgument) {
  EXPECT_THAT(ParseManifest("CAM-0001,BWC-7,A,POST-1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("header"), HasSubstr("CAM-0001"))));
}

TEST(ManifestTest, HeaderWithColumnsInAnotherOrderIsInvalidArgument) {
  EXPECT_THAT(ParseManifest("model,serial,hardware_revision,site\nBWC-7,CAM-0001,A,POST-1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header")));
}

TEST(ManifestTest, HeaderWithTooFewColumnsIsInvalidArgument) {
  EXPECT_THAT(ParseManifest("serial,model,site\nCAM-0001,BWC-7,POST-1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header")));
}

TEST(ManifestTest, HeaderWithExtraColumnIsInvalidArgument) {
  EXPECT_THAT(ParseManifest("serial,model,hardware_revision,site,notes\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header")));
}

TEST(ManifestTest, EmptyTextIsInvalidArgument) {
  EXPECT_THAT(ParseManifest(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(ManifestTest, WhitespaceOnlyTextIsInvalidArgument) {
  EXPECT_THAT(ParseManifest("\n \r\n\t\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(ManifestTest, TextOverEightMibIsInvalidArgument) {
  std::string csv = Csv("CAM-0001,BWC-7,A,POST-1");
  csv.append(kMaxManifestBytes + 1 - csv.size(), ' ');
  ASSERT_EQ(csv.size(), size_t{8 * 1024 * 1024 + 1});
  EXPECT_THAT(ParseManifest(csv), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bytes")));
}

TEST(ManifestTest, TextOfExactlyEightMibIsAccepted) {
  // Trailing spaces on the last field are trimmed, so the size is the only thing tested.
  std::string csv = Csv("CAM-0001,BWC-7,A,POST-1");
  csv.append(size_t{8 * 1024 * 1024} - csv.size(), ' ');
  absl::StatusOr<ParsedManifest> m = ParseManifest(csv);
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

// ------------------------------------------------------------------------------ bad rows

TEST(ManifestTest, TooFewColumnsIsReportedWithTheLine) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-7,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 3);
  EXPECT_THAT(m->errors[0].message(),
              AllOf(HasSubstr("line 3"), HasSubstr("4 columns"), HasSubstr("found 3")));
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
  EXPECT_EQ(m->row_count, 2);
}

TEST(ManifestTest, TooManyColumnsIsReportedWithTheLine) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(Csv("CAM-0002,BWC-7,A,POST-1,extra\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 2);
  EXPECT_THAT(m->errors[0].message(), AllOf(HasSubstr("line 2"), HasSubstr("found 5")));
  EXPECT_THAT(m->rows, IsEmpty());
}

TEST(ManifestTest, UnterminatedQuoteIsReportedOnTheLineWhereItOpened) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(
      Csv("CAM-0001,BWC-7,A,POST-1\nCAM-0002,\"BWC-7,A,POST-1\nCAM-0003,BWC-7,A,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 3);
  EXPECT_THAT(m->errors[0].message(), AllOf(HasSubstr("line 3"), HasSubstr("never closed")));
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

TEST(ManifestTest, QuoteInsideUnquotedFieldIsReportedWithTheLineAndColumn) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,A,POST-1\nCAM-0002,BW\"C,A,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 3);
  EXPECT_THAT(m->errors[0].message(), AllOf(HasSubstr("line 3"), HasSubstr("unquoted column 2")));
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

TEST(ManifestTest, TextAfterClosingQuoteIsReportedWithTheLineAndColumn) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0002,\"BWC\"-7,A,POST-1\nCAM-0003,BWC-7,A,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 2);
  EXPECT_THAT(m->errors[0].message(), AllOf(HasSubstr("line 2"), HasSubstr("after a closing quote"),
                                            HasSubstr("column 2")));
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0003"));
}

TEST(ManifestTest, DuplicateSerialWithinTheFileNamesBothLines) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(
      Csv("CAM-0001,BWC-7,A,POST-1\nCAM-0002,BWC-7,A,POST-1\nCAM-0001,BWC-9,B,POST-2\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 4);
  EXPECT_EQ(m->errors[0].column(), "serial");
  EXPECT_THAT(m->errors[0].message(),
              AllOf(HasSubstr("line 4"), HasSubstr("line 2"), HasSubstr("CAM-0001")));
  // The first occurrence stands; the repeat is dropped.
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001", "CAM-0002"));
  EXPECT_EQ(m->rows[0].model, "BWC-7");
}

TEST(ManifestTest, DuplicateSerialIsReportedEvenWhenItsFirstRowIsBadElsewhere) {
  // Line 2 has a bad site, line 3 repeats its serial. One pass must show both problems;
  // otherwise a partial import takes line 3, and fixing line 2 later gives "already registered".
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,A,post one\nCAM-0001,BWC-7,A,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(ErrorLines(*m), ElementsAre(2, 3));
}

struct BadSerialCase {
  std::string name;
  std::string serial;
  std::string message_part;
};

class ManifestBadSerialTest : public ::testing::TestWithParam<BadSerialCase> {};

TEST_P(ManifestBadSerialTest, IsReportedInTheSerialColumnWithTheLine) {
  const BadSerialCase& c = GetParam();
  absl::StatusOr<ParsedManifest> m = ParseManifest(
      Csv(absl::StrCat("CAM-0001,BWC-7,A,POST-1\n\"", c.serial, "\",BWC-7,A,POST-1\n")));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(1));
  EXPECT_EQ(m->errors[0].line(), 3);
  EXPECT_EQ(m->errors[0].column(), "serial");
  EXPECT_THAT(m->errors[0].message(), AllOf(HasSubstr("line 3"), HasSubstr(c.message_part)));
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

INSTANTIATE_TEST_SUITE_P(
    Serials, ManifestBadSerialTest,
    ::testing::Values(BadSerialCase{"Empty", "", "required"},
                      BadSerialCase{"TooShort", "CAM", "3 characters"},
                      BadSerialCase{"TooLong", std::string(33, 'A'), "33 characters"},
                      BadSerialCase{"Underscore", "CAM_0001", "'_'"},
                      BadSerialCase{"Space", "CAM 0001", "a space"},
                      BadSerialCase{"LeadingDash", "-CAM0001", "starts or ends with '-'"},
                      BadSerialCase{"TrailingDash", "CAM0001-", "starts or ends with '-'"}),
    [](const ::testing::TestParamInfo<BadSerialCase>& param_info) {
      return param_info.param.name;
    });

TEST(ManifestTest, BadModelAndSiteAreReportedInTheirColumns) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(Csv("CAM-0001,,A,post 1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->errors, SizeIs(2));
  EXPECT_EQ(m->errors[0].column(), "model");
  EXPECT_THAT(m->errors[0].message(), HasSubstr("model"));
  EXPECT_EQ(m->errors[1].column(), "site");
  EXPECT_THAT(m->errors[1].message(), HasSubstr("site"));
  EXPECT_THAT(m->rows, IsEmpty());
}

TEST(ManifestTest, CodesInAnyCaseAreReadInUpperCase) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("cam-0001,BWC-7,A,batken-post-01\n"
                        "Cam-0002,bwc-7,a,Batken-Post-01\n"));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(m->errors, IsEmpty());
  ASSERT_THAT(m->rows, SizeIs(2));
  EXPECT_EQ(m->rows[0].serial, "CAM-0001");
  EXPECT_EQ(m->rows[0].site, "BATKEN-POST-01");
  EXPECT_EQ(m->rows[1].serial, "CAM-0002");
  EXPECT_EQ(m->rows[1].site, "BATKEN-POST-01");
  // A model is free text, not a code: kept as written.
  EXPECT_EQ(m->rows[1].model, "bwc-7");
}

TEST(ManifestTest, TheSameSerialInTwoCasesIsARepeat) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,A,POST-1\n"
                        "cam-0001,BWC-7,A,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(ErrorLines(*m), ElementsAre(3));
}

TEST(ManifestTest, SeveralBadRowsAreAllReportedInOnePass) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,BWC-7,A,POST-1\n"     // 2 good
                        "CAM_0002,BWC-7,A,POST-1\n"     // 3 '_' in the serial
                        "CAM-0003,BWC-7,POST-1\n"       // 4 three columns
                        "CAM-0004,BWC-7,A,POST-1\n"     // 5 good
                        "CAM-0005,B\"WC,A,POST-1\n"     // 6 stray quote
                        "CAM-0006,BWC-7,A,bad site\n"   // 7 bad site code
                        "CAM-0001,BWC-7,A,POST-1\n"     // 8 repeats line 2
                        "CAM-0008,BWC-7,A,POST-1\n"));  // 9 good
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(ErrorLines(*m), ElementsAre(3, 4, 6, 7, 8));
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001", "CAM-0004", "CAM-0008"));
  EXPECT_EQ(m->row_count, 8);
}

// ------------------------------------------------------- byte order marks, CRs, long lists

TEST(ManifestTest, ByteOrderMarkAloneIsAnEmptyManifest) {
  EXPECT_THAT(ParseManifest("\xEF\xBB\xBF"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("csv is empty")));
}

TEST(ManifestTest, ByteOrderMarkFollowedByBlankLinesIsAnEmptyManifest) {
  EXPECT_THAT(ParseManifest("\xEF\xBB\xBF\r\n \n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("csv is empty")));
}

TEST(ManifestTest, ByteOrderMarkBeforeTheHeaderIsSkipped) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(absl::StrCat("\xEF\xBB\xBF", Csv("CAM-0001,BWC-7,A,POST-1\n")));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(m->errors, IsEmpty());
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001"));
}

TEST(ManifestTest, BareCarriageReturnsEndLines) {
  absl::StatusOr<ParsedManifest> m = ParseManifest(
      "serial,model,hardware_revision,site\rCAM-0001,BWC-7,A,POST-1\rCAM-0002,BWC-7,A\r"
      "CAM-0003,BWC-7,A,POST-1");
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(Serials(*m), ElementsAre("CAM-0001", "CAM-0003"));
  EXPECT_THAT(ErrorLines(*m), ElementsAre(3));
  EXPECT_EQ(m->rows[1].line, 4);
}

TEST(ManifestTest, BareCarriageReturnInsideAQuotedFieldCountsAsALine) {
  absl::StatusOr<ParsedManifest> m =
      ParseManifest(Csv("CAM-0001,\"BWC\r7\",A,POST-1\nCAM-0002,BWC-7,A,POST-1\n"));
  ASSERT_THAT(m, IsOk());
  ASSERT_THAT(m->rows, SizeIs(1));  // a model with a CR in it is not printable text
  EXPECT_EQ(m->rows[0].line, 4);
}

TEST(ManifestTest, ErrorListIsCappedAndTheRestAreCounted) {
  std::string body;
  for (int i = 0; i < 1500; ++i) absl::StrAppend(&body, "bad serial,BWC-7,A,bad site\n");
  absl::StatusOr<ParsedManifest> m = ParseManifest(Csv(body));
  ASSERT_THAT(m, IsOk());
  EXPECT_THAT(m->errors, SizeIs(kMaxListedManifestErrors));
  EXPECT_EQ(m->unlisted_errors, 2 * 1500 - static_cast<int64_t>(kMaxListedManifestErrors));
  EXPECT_EQ(m->bad_lines.size(), 1500u);
  EXPECT_EQ(m->row_count, 1500);
  EXPECT_EQ(m->errors.front().line(), 2);
}

}  // namespace
}  // namespace camfleet::fleet
