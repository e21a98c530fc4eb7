#include "lrpflow/csv.h"

#include <algorithm>
#include <cstdlib>

namespace lrpflow {

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

std::string csv_line(const CsvRow& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_field(fields[i]);
  }
  return line + '\n';
}

std::string csv_text(const CsvRow& header, const std::vector<CsvRow>& rows) {
  std::string text = csv_line(header);
  for (const CsvRow& row : rows) text += csv_line(row);
  return text;
}

Result<std::vector<CsvRow>> parse_csv(std::string_view text, const std::string& origin) {
  std::vector<CsvRow> records;
  CsvRow record;
  std::string field;
  bool in_quotes = false;
  bool after_quote = false;   // a quoted field just closed: only a separator may follow
  bool record_started = false;
  std::size_t line = 1;
  std::size_t quote_line = 0;
  auto end_record = [&] {
    if (record_started) {
      record.push_back(std::move(field));
      records.push_back(std::move(record));
    }
    record.clear(), field.clear();
    record_started = after_quote = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"', ++i;
      } else if (c == '"') {
        in_quotes = false, after_quote = true;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      record_started = true, after_quote = false;
    } else if (c == '\n' || c == '\r') {
      end_record();
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
    } else if (after_quote) {
      return Status::error(origin + ":" + std::to_string(line) + ": text after a closing quote");
    } else if (c == '"' && field.empty()) {
      in_quotes = true, record_started = true, quote_line = line;
    } else {
      field += c;
      record_started = true;
    }
  }
  if (in_quotes) return Status::error(origin + ":" + std::to_string(quote_line) + ": a quoted field is not closed");
  end_record();
  return records;
}

Result<std::size_t> CsvTable::column(std::string_view name, const std::string& origin) const {
  auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) return Status::error(origin + ": no column '" + std::string(name) + "'");
  return static_cast<std::size_t>(it - header.begin());
}

Result<CsvTable> parse_csv_table(std::string_view text, const std::string& origin) {
  auto records = parse_csv(text, origin);
  if (!records) return records.status();
  if (records.value().empty()) return Status::error(origin + ": empty CSV (expected a header line)");
  CsvTable table;
  table.header = std::move(records.value().front());
  for (std::size_t r = 1; r < records.value().size(); ++r) {
    CsvRow& row = records.value()[r];
    if (row.size() != table.header.size())
      return Status::error(origin + ": row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                           " fields, the header has " + std::to_string(table.header.size()));
    table.rows.push_back(std::move(row));
  }
  return table;
}

Result<double> csv_number(const CsvTable& table, std::size_t row, std::size_t column, const std::string& origin) {
  const std::string& text = table.rows.at(row).at(column);
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size())
    return Status::error(origin + ": row " + std::to_string(row + 1) + ", column '" + table.header.at(column) + "': '" +
                         text.substr(0, 40) + "' is not a number");
  return value;
}

}  // namespace lrpflow
