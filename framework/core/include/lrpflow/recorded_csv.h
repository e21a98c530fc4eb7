// Reading back, at close(), a CSV file that an ok item recorded: how stages compute their run-level
// files from every item of the run, resumed sessions included (stage.h, CloseContext::visit_ok_items).
//
// The recorded path comes from a manifest, which lrpflow does not trust: it is resolved inside the
// output folder first (files.h, resolve_inside), and every error names the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lrpflow/csv.h"
#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow {

struct RecordedCsv {
  std::string origin;                // the file, for messages
  CsvTable table;
  std::vector<std::size_t> columns;  // the wanted columns' positions, in the order asked for
};

// The CSV `item` recorded as output `kind`, with the positions of `columns` (each must be there);
// nullopt when the item recorded no such output.
Result<std::optional<RecordedCsv>> read_recorded_csv(const std::filesystem::path& output_dir, const RecordedItem& item,
                                                     std::string_view kind, const std::vector<std::string>& columns);

}  // namespace lrpflow
