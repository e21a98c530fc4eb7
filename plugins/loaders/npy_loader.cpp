// npy_loader: .npy files -> a float32 NxCxHxW tensor.
#include "input_paths.h"
#include "loaders.h"
#include "npy_input.h"
#include "lrpflow/npy.h"

#include <ATen/ATen.h>

namespace lrpflow::loaders {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s;
  for (auto d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "a scalar" : s;
}

class NpyLoader final : public SourceStage {
 public:
  Status open(const StageContext& ctx) override {
    path_ = ctx.options.get_string("path");
    base_dir_ = ctx.base_dir;
    slot_ = ctx.options.get_string("slot");
    return Status::ok();
  }

  Result<std::vector<ItemRef>> enumerate() override {
    auto files = expand_input_paths(path_, base_dir_, {".npy"}, ".npy");
    if (!files) return files.status();
    return item_refs_for(files.value());
  }

  Status process(Item& item) override { return load_npy_input(item, slot_); }

 private:
  std::string path_;
  std::filesystem::path base_dir_;
  std::string slot_;
};

}  // namespace

Status load_npy_input(Item& item, const std::string& slot) {
  auto tensor = read_npy(item.source());
  if (!tensor) return tensor.status();
  at::Tensor t = std::move(tensor).value();
  // The file's own shape, so that a writer can give results back in it (explain: CxHxW in, CxHxW out).
  item.set("input_shape", at::tensor(t.sizes().vec(), at::kLong));
  // Models take a batch: a single CxHxW input gets a batch dimension of 1.
  if (t.dim() == 3) t = t.unsqueeze(0);
  else if (t.dim() != 4)
    return Status::error(item.source() + ": expected a CxHxW or NxCxHxW array, got shape " + shape_of(t));
  // A zero-sized dimension (an empty batch) would reach the model and fail there, deep in LibTorch.
  if (t.numel() == 0) return Status::error(item.source() + ": the array is empty (shape " + shape_of(t) + ")");
  item.set(slot, std::move(t));
  return Status::ok();
}

StageTypeInfo npy_loader_type() {
  std::vector<OptionSpec> options = {
      {"path", OptionType::String, {}, "a folder, a glob like data/*.npy, a list file *.txt or one file; relative to the pipeline file", true, {}},
      {"slot", OptionType::String, std::string("input"), "slot for the float32 tensor", false, {}},
  };
  auto info = make_stage_type<NpyLoader>(
      "npy_loader", "loads .npy arrays (CxHxW or NxCxHxW, any numeric dtype) as float32 NxCxHxW tensors",
      std::move(options), [](const Options& o) {
        SlotDeclaration slots;
        slots.writes.push_back({o.get_string("slot"), SlotType::Tensor, "float32 NxCxHxW", false});
        slots.writes.push_back({"input_shape", SlotType::Tensor, "the array's shape in the file (int64)", false});
        return slots;
      });
  info.reentrant = true;
  info.explain_roles = {"load_npy"};
  return info;
}

}  // namespace lrpflow::loaders
