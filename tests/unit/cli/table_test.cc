#include "cli/table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace camfleet::cli {
namespace {

TEST(TableTest, AlignsColumnsToTheWidestCell) {
  Table table({"SERIAL", "STATE"});
  table.AddRow({"CAM-000001", "ISSUED"});
  table.AddRow({"C1", "LOST"});
  EXPECT_EQ(table.Render(),
            "SERIAL      STATE\n"
            "CAM-000001  ISSUED\n"
            "C1          LOST\n");
}

TEST(TableTest, ShowsEmptyCellsAsDash) {
  Table table({"A", "B", "C"});
  table.AddRow({"x", "", "z"});
  EXPECT_EQ(table.Render(),
            "A  B  C\n"
            "x  -  z\n");
}

TEST(TableTest, PadsShortRowsWithDashes) {
  Table table({"A", "B"});
  table.AddRow({"x"});
  EXPECT_EQ(table.Render(),
            "A  B\n"
            "x  -\n");
}

TEST(TableTest, LeavesNoTrailingSpaces) {
  Table table({"NAME", "X"});
  table.AddRow({"a-long-name", "1"});
  for (absl::string_view line : {"NAME", "a-long-name"}) {
    EXPECT_THAT(table.Render(), ::testing::HasSubstr(std::string(line)));
  }
  EXPECT_THAT(table.Render(), ::testing::Not(::testing::HasSubstr(" \n")));
}

TEST(TableTest, RightAlignsChosenColumns) {
  Table table({"LINE", "PROBLEM"});
  table.AlignRight(0);
  table.AddRow({"7", "bad serial"});
  table.AddRow({"123", "bad model"});
  EXPECT_EQ(table.Render(),
            "LINE  PROBLEM\n"
            "   7  bad serial\n"
            " 123  bad model\n");
}

TEST(TableTest, ReplacesControlCharactersInCells) {
  Table table({"NOTE"});
  table.AddRow({"left in car\n\x1b[2Jgone"});
  EXPECT_EQ(table.Render(),
            "NOTE\n"
            "left in car  [2Jgone\n");
}

TEST(TableTest, CountsUtf8CodePointsAsOneColumn) {
  Table table({"NAME", "UNIT"});
  table.AddRow({"Jürgen", "K9"});
  table.AddRow({"Joe", "K9"});
  EXPECT_EQ(table.Render(),
            "NAME    UNIT\n"
            "Jürgen  K9\n"
            "Joe     K9\n");
}

TEST(TableTest, RendersHeaderAloneWhenThereAreNoRows) {
  Table table({"A", "B"});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "A  B\n");
}

TEST(RecordTest, AlignsValuesAfterTheLongestLabel) {
  EXPECT_EQ(RenderRecord({{"code", "POST-7"}, {"parent", ""}, {"created", "2026-11-22 20:15Z"}}),
            "code     POST-7\n"
            "parent   -\n"
            "created  2026-11-22 20:15Z\n");
}

TEST(DisplayWidthTest, CountsCodePointsNotBytes) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("Ελλάδα"), 6u);
  EXPECT_EQ(DisplayWidth(""), 0u);
}

}  // namespace
}  // namespace camfleet::cli
