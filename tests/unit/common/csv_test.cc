// common::CsvField: what a spreadsheet opening a report (`camfleet report --csv`, the web page's
// download) reads back, and that text from other operators cannot run as a formula.

#include "common/csv.h"

#include <gtest/gtest.h>

namespace camfleet::common {
namespace {

TEST(CsvFieldTest, PlainTextAndNumbersAsTheyAre) {
  EXPECT_EQ(CsvField("BWC4-000001", true), "BWC4-000001");
  EXPECT_EQ(CsvField("", true), "");
  EXPECT_EQ(CsvField("2026-11-23T08:00:00Z", false), "2026-11-23T08:00:00Z");
  EXPECT_EQ(CsvField("-5", false), "-5");  // a number stays a number
}

TEST(CsvFieldTest, CommasQuotesAndLineBreaksAreQuoted) {
  EXPECT_EQ(CsvField("Haddad, Amira", true), "\"Haddad, Amira\"");
  EXPECT_EQ(CsvField("the \"spare\" one", true), "\"the \"\"spare\"\" one\"");
  EXPECT_EQ(CsvField("line one\nline two", true), "\"line one\nline two\"");
  EXPECT_EQ(CsvField("cr\rhere", true), "\"cr\rhere\"");
}

TEST(CsvFieldTest, FormulasInTextAreDefused) {
  EXPECT_EQ(CsvField("=1+1", true), "'=1+1");
  EXPECT_EQ(CsvField("+44 20", true), "'+44 20");
  EXPECT_EQ(CsvField("-dropped", true), "'-dropped");
  EXPECT_EQ(CsvField("@SUM(A1)", true), "'@SUM(A1)");
  EXPECT_EQ(CsvField("\tx", true), "'\tx");
  EXPECT_EQ(CsvField("\rx", true), "\"'\rx\"");
  EXPECT_EQ(CsvField("=HYPERLINK(\"http://evil.example\",\"x\")", true),
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"");
  EXPECT_EQ(CsvField("a=b", true), "a=b");  // only a leading sign starts a formula
}

}  // namespace
}  // namespace camfleet::common
