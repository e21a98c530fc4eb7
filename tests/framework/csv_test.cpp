// The run's CSV reader and writer: text from a model (layer and class names) cannot add columns or
// rows, and what is written reads back as written.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "lrpflow/csv.h"

namespace lrpflow {
namespace {

TEST(Csv, FieldsThatNeedQuotesAreQuotedAndReadBack) {
  const CsvRow hostile = {"plain", "a,b", "say \"hi\"", "two\nlines", "cr\rhere", "", "\"", ",,,"};
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  const std::string text = csv_text({"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"}, {hostile, hostile});
  auto table = parse_csv_table(text, "t.csv");
  ASSERT_TRUE(table) << table.status().message();
  ASSERT_EQ(table.value().rows.size(), 2u);
  EXPECT_EQ(table.value().rows[0], hostile);
  EXPECT_EQ(table.value().rows[1], hostile);
}

TEST(Csv, CrlfAndEmptyLinesAndATrailingEmptyField) {
  auto records = parse_csv("a,b\r\n\r\n1,\r\n", "t.csv");
  ASSERT_TRUE(records) << records.status().message();
  ASSERT_EQ(records.value().size(), 2u);
  EXPECT_EQ(records.value()[1], (CsvRow{"1", ""}));
}

TEST(Csv, MalformedTextIsAnErrorNamingTheFileAndLine) {
  auto unclosed = parse_csv("a,b\n1,\"open\n2,3\n", "f.csv");
  ASSERT_FALSE(unclosed);
  EXPECT_EQ(unclosed.status().message(), "f.csv:2: a quoted field is not closed");
  auto after_quote = parse_csv("a\n\"x\"y\n", "f.csv");
  ASSERT_FALSE(after_quote);
  EXPECT_EQ(after_quote.status().message(), "f.csv:2: text after a closing quote");
  auto narrow = parse_csv_table("a,b\n1\n", "f.csv");
  ASSERT_FALSE(narrow);
  EXPECT_EQ(narrow.status().message(), "f.csv: row 1 has 1 fields, the header has 2");
  auto empty = parse_csv_table("", "f.csv");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.status().message().find("f.csv: empty CSV"), std::string::npos);
}

TEST(Csv, NumbersReadBackExactlyAndNonNumbersAreNamed) {
  const double values[] = {0.1, 1.0 / 3.0, 1.9e-17, 4.9e-324, -2.5e300, 123456789.123456789};
  CsvRow row;
  for (double v : values) row.push_back(fmt::format("{}", v));
  row.push_back("12x");
  CsvRow header = {"a", "b", "c", "d", "e", "f", "g"};
  auto table = parse_csv_table(csv_text(header, {row}), "n.csv");
  ASSERT_TRUE(table) << table.status().message();
  for (std::size_t c = 0; c < 6; ++c) {
    auto v = csv_number(table.value(), 0, c, "n.csv");
    ASSERT_TRUE(v) << v.status().message();
    EXPECT_EQ(v.value(), values[c]) << "bit-exact round trip of column " << c;
  }
  auto bad = csv_number(table.value(), 0, 6, "n.csv");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().message(), "n.csv: row 1, column 'g': '12x' is not a number");
  auto missing = table.value().column("zz", "n.csv");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().message(), "n.csv: no column 'zz'");
}

}  // namespace
}  // namespace lrpflow
