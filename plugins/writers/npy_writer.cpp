// npy_writer: writes a tensor slot of every item as float32 .npy.
#include "output_path.h"
#include "writers.h"
#include "lrpflow/npy.h"

namespace lrpflow::writers {
namespace {

class NpyWriter final : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    auto naming = OutputNaming::from(ctx.options, ".npy");
    if (!naming) return naming.status();
    naming_ = std::move(naming).value();
    output_dir_ = ctx.output_dir;
    return Status::ok();
  }

  Status process(Item& item) override {
    auto tensor = item.tensor(naming_.slot);
    if (!tensor) return tensor.status();
    const std::filesystem::path relative = naming_.relative_path(item);
    LRPFLOW_RETURN_IF_ERROR(write_npy(output_dir_ / relative, tensor.value()));
    item.add_output(naming_.kind, relative.generic_string());
    return Status::ok();
  }

 private:
  OutputNaming naming_;
  std::filesystem::path output_dir_;
};

}  // namespace

StageTypeInfo npy_writer_type() {
  auto info = make_stage_type<NpyWriter>(
      "npy_writer", "writes a tensor slot as <item id>.<slot>.npy (float32)",
      writer_options(".npy", "tensor slot to write"), [](const Options& o) {
        SlotDeclaration slots;
        slots.reads.push_back({o.get_string("slot"), SlotType::Tensor, "written as float32 .npy", false});
        return slots;
      });
  info.reentrant = true;  // each item writes its own file
  return info;
}

}  // namespace lrpflow::writers
