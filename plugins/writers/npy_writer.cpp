// npy_writer: writes a tensor slot of every item as float32 .npy.
#include "output_path.h"
#include "writers.h"
#include "lrpflow/npy.h"

namespace lrpflow::writers {
namespace {

class NpyWriter final : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    auto naming = OutputNaming::from(ctx, ".npy");
    if (!naming) return naming.status();
    naming_ = std::move(naming).value();
    shape_like_ = ctx.options.get_string("shape_like");
    return Status::ok();
  }

  Status process(Item& item) override {
    auto tensor = item.tensor(naming_.slot);
    if (!tensor) return tensor.status();
    at::Tensor out = tensor.value();
    if (!shape_like_.empty() && item.has(shape_like_)) {
      // Written in the shape the input had in its file (a CxHxW input gets CxHxW relevance).
      auto shape = item.tensor(shape_like_);
      if (!shape) return shape.status();
      const at::Tensor dims = shape.value().to(at::kLong).contiguous();
      std::vector<int64_t> sizes(dims.data_ptr<int64_t>(), dims.data_ptr<int64_t>() + dims.numel());
      int64_t numel = 1;
      for (int64_t d : sizes) numel *= d;
      if (numel != out.numel())
        return Status::error("slot '" + naming_.slot + "' has " + std::to_string(out.numel()) + " values, slot '" + shape_like_ +
                             "' asks for " + std::to_string(numel));
      out = out.reshape(sizes);
    }
    const std::string relative = naming_.relative_path(item);
    auto path = naming_.files.absolute(relative);
    if (!path) return path.status();
    LRPFLOW_RETURN_IF_ERROR(write_npy(path.value(), out));
    item.add_output(naming_.kind, relative);
    return Status::ok();
  }

 private:
  OutputNaming naming_;
  std::string shape_like_;
};

}  // namespace

StageTypeInfo npy_writer_type() {
  auto info = make_stage_type<NpyWriter>(
      "npy_writer", "writes a tensor slot as <item id>.<slot>.npy (float32)",
      [] {
        auto options = writer_options(".npy", "tensor slot to write");
        options.push_back({"shape_like", OptionType::String, std::string(""),
                           "reshape to the shape held in this slot when it is present (e.g. input_shape from npy_loader)", false, {}});
        return options;
      }(),
      [](const Options& o) {
        SlotDeclaration slots;
        slots.reads.push_back({o.get_string("slot"), SlotType::Tensor, "written as float32 .npy", false});
        if (!o.get_string("shape_like").empty())
          slots.reads.push_back({o.get_string("shape_like"), SlotType::Tensor, "target shape (int64)", true});
        return slots;
      });
  info.reentrant = true;  // each item writes its own file
  info.explain_roles = {"write_tensor"};
  return info;
}

}  // namespace lrpflow::writers
