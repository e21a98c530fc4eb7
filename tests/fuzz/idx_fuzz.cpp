// Fuzzes IDX reading through the idx_loader stage of the loaders plugin (open reads the header and
// the records, enumerate lists them, process copies one): the input is the images file, and the
// part after a line "LABELS\n" (when there is one) the labels file. max_bytes is kept small so that
// a header announcing many records fails on the limit instead of allocating.
#include <map>
#include <variant>

#include "fuzz_support.h"
#include "lrpflow/item.h"
#include "lrpflow/stage.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  const std::string_view text = fuzz::as_text(data, size);
  const std::size_t split = text.find("LABELS\n");
  const auto images = fuzz::write_scratch("fuzz-images-idx3-ubyte", text.substr(0, split));
  const bool has_labels = split != std::string_view::npos;
  if (has_labels) fuzz::write_scratch("fuzz-labels-idx1-ubyte", text.substr(split + 7));

  const StageTypeInfo* type = fuzz::built_plugins().find_stage("idx_loader");
  if (!type) fuzz::fail("no idx_loader stage in the built plugins");
  std::map<std::string, OptionValue> values;
  for (const OptionSpec& spec : type->options)
    if (!std::holds_alternative<std::monostate>(spec.default_value)) values[spec.name] = spec.default_value;
  values["images"] = images.string();
  values["labels"] = has_labels ? (fuzz::scratch_dir() / "fuzz-labels-idx1-ubyte").string() : std::string("none");
  values["max_bytes"] = std::int64_t{1} << 20;
  StageContext ctx;
  ctx.stage_id = "fuzz_idx";
  ctx.stage_type = "idx_loader";
  ctx.options = Options(std::move(values));
  ctx.base_dir = fuzz::scratch_dir();
  auto stage = type->create();
  if (!stage->open(ctx)) return 0;
  if (!stage->is_source()) fuzz::fail("idx_loader is not a source stage");
  auto refs = stage->enumerate();
  if (!refs) return 0;
  // The first and the last record: enough to reach both ends of the loaded data.
  for (std::size_t k : {std::size_t{0}, refs.value().size() - 1}) {
    if (k >= refs.value().size()) continue;
    const ItemRef& ref = refs.value()[k];
    Item item(static_cast<std::int64_t>(k), ref.id, ref.source);
    (void)stage->process(item);
  }
  return 0;
}
