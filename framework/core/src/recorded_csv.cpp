#include "lrpflow/recorded_csv.h"

#include "lrpflow/files.h"

namespace lrpflow {

Result<std::optional<RecordedCsv>> read_recorded_csv(const std::filesystem::path& output_dir, const RecordedItem& item,
                                                     std::string_view kind, const std::vector<std::string>& columns) {
  const std::string recorded = item.output(kind);
  if (recorded.empty()) return std::optional<RecordedCsv>();
  auto path = resolve_inside(output_dir, recorded);
  if (!path)
    return Status::error("item '" + item.id + "': its " + std::string(kind) + " '" + recorded + "': " + path.status().message());
  RecordedCsv csv;
  csv.origin = path.value().string();
  auto text = read_file(path.value());
  if (!text) return text.status();
  auto table = parse_csv_table(text.value(), csv.origin);
  if (!table) return table.status();
  csv.table = std::move(table).value();
  for (const std::string& name : columns) {
    auto c = csv.table.column(name, csv.origin);
    if (!c) return c.status();
    csv.columns.push_back(c.value());
  }
  return std::optional<RecordedCsv>(std::move(csv));
}

}  // namespace lrpflow
