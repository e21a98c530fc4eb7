// CSV as RFC 4180 writes it: the one reader and writer of the run's CSV files.
//
// A field holding a comma, a double quote, CR or LF is quoted, with its quotes doubled, so that a
// layer or class name taken from a model cannot add columns or rows. Numbers are written by the
// caller (the shortest text that reads back as the same double: fmt's "{}").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow {

using CsvRow = std::vector<std::string>;

// `text` as one CSV field: unchanged, or quoted when it must be.
std::string csv_field(std::string_view text);
// The fields joined by commas, ending in "\n".
std::string csv_line(const CsvRow& fields);
// A header line and the rows, each ending in "\n".
std::string csv_text(const CsvRow& header, const std::vector<CsvRow>& rows);

// Every record of `text` (the header first), quotes undone. Empty lines are skipped. An unclosed
// quote, or text after a closing quote, is an error naming `origin` and the line.
Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& origin);

// A CSV file parsed, with the index of each of the header's columns.
struct CsvTable {
  CsvRow header;
  std::vector<CsvRow> rows;
  // The column called `name`; the error names `origin` and the column.
  Result<std::size_t> column(std::string_view name, const std::string& origin) const;
};
// parse_csv() plus the checks every reader wants: a header, and every row as wide as the header.
Result<CsvTable> parse_csv_table(std::string_view text, const std::string& origin);

// The number in a CSV field; the error names origin, the row (1 = the first after the header) and the column.
Result<double> csv_number(const CsvTable& table, std::size_t row, std::size_t column, const std::string& origin);

}  // namespace lrpflow
