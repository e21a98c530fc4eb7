// hello_plugin: the smallest complete lrpflow plugin. It provides one stage type, `hello_scale`,
// which multiplies a tensor slot by a factor:
//
//   stages:
//     - id: double_it
//       type: hello_scale
//       options: {slot: input, factor: 2.0}
//
// Read it top to bottom: the stage class, its type description (options, slots), then the
// plugin's descriptor and entry point. docs/writing-plugins.md explains each part.
#include <cmath>

#include <lrpflow/plugin_api.h>

namespace {

// A stage is a class derived from lrpflow::Stage. The host creates one instance per `stages:`
// entry, calls open() once, process() once per item, close() once at the end.
class HelloScale final : public lrpflow::Stage {
 public:
  // open(): read the validated options (every declared option has a value: given or default) and
  // check them. A failed open stops the run before any item is read, so bad settings are
  // reported once and early.
  lrpflow::Status open(const lrpflow::StageContext& ctx) override {
    slot_ = ctx.options.get_string("slot");
    factor_ = ctx.options.get_float("factor");
    if (!std::isfinite(factor_)) return lrpflow::Status::error("factor must be a finite number");
    return lrpflow::Status::ok();
  }

  // process(): one item. Errors are values: return Status::error(...) and the host marks this item
  // as failed (naming this stage) while the other items go on. Never throw on purpose; an
  // exception that escapes anyway is caught by the wrapper make_stage_type() puts around us.
  lrpflow::Status process(lrpflow::Item& item) override {
    auto tensor = item.tensor(slot_);  // an error naming the slot if it is empty or not a tensor
    if (!tensor) return tensor.status();
    // Slots hold values: multiplying makes a new tensor, the previous one is not modified in place
    // (another stage may still look at it).
    item.set(slot_, tensor.value().mul(factor_));
    return lrpflow::Status::ok();
  }

 private:
  // Set in open(), only read in process(): that is what makes the stage safe to declare reentrant.
  std::string slot_;
  double factor_ = 1.0;
};

// The stage type: its YAML name, a one-line description (shown by `lrpflow plugins` and
// `lrpflow inspect`), the options schema, and which slots an instance reads and writes.
lrpflow::StageTypeInfo hello_scale_type() {
  std::vector<lrpflow::OptionSpec> options = {
      // name, type, default, help, required, choices
      {"slot", lrpflow::OptionType::String, std::string("input"), "tensor slot to scale in place", false, {}},
      {"factor", lrpflow::OptionType::Float, 2.0, "multiplier", false, {}},
  };
  auto info = lrpflow::make_stage_type<HelloScale>(
      "hello_scale", "multiplies a tensor slot by a factor (the example plugin)", std::move(options),
      [](const lrpflow::Options& o) {
        // The host checks before the run that some earlier stage writes what we read.
        lrpflow::SlotDeclaration slots;
        slots.reads.push_back({o.get_string("slot"), lrpflow::SlotType::Tensor, "the tensor to scale", false});
        slots.writes.push_back({o.get_string("slot"), lrpflow::SlotType::Tensor, "the scaled tensor", false});
        return slots;
      });
  // process() only reads members set in open(): the host may run it on several items at once.
  info.reentrant = true;
  return info;
}

// The descriptor lists everything the plugin provides. It is built once, on first use, and lives
// as long as the process (plugins are never unloaded).
const lrpflow::PluginDescriptor& describe() {
  static const lrpflow::PluginDescriptor descriptor{
      "hello_plugin", "1.0.0", {hello_scale_type()}, /*resources=*/{}, /*rules=*/{}};
  return descriptor;
}

}  // namespace

// The one entry point: exports `lrpflow_plugin_info`, whose first field is the plugin API version
// this file was compiled against. The host checks it before calling anything else.
LRPFLOW_PLUGIN("hello_plugin", "1.0.0", describe)
