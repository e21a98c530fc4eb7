// image_loader: PNG / JPEG / BMP files -> a normalised float tensor and the decoded image.
#include <opencv2/core.hpp>

#include "input_paths.h"
#include "loaders.h"
#include "lrpflow/image.h"

namespace lrpflow::loaders {
namespace {

const std::vector<std::string> kImageExtensions = {".png", ".jpg", ".jpeg", ".bmp"};

class ImageLoader final : public SourceStage {
 public:
  Status open(const StageContext& ctx) override {
    path_ = ctx.options.get_string("path");
    base_dir_ = ctx.base_dir;
    slot_ = ctx.options.get_string("slot");
    params_.resize_shorter = static_cast<int>(ctx.options.get_int("size"));
    params_.center_crop = static_cast<int>(ctx.options.get_int("crop"));
    params_.gray = ctx.options.get_string("color") == "gray";
    params_.mean = ctx.options.get_float_list("mean");
    params_.std = ctx.options.get_float_list("std");
    return validate_preprocess(params_);
  }

  Result<std::vector<ItemRef>> enumerate() override {
    auto files = expand_input_paths(path_, base_dir_, kImageExtensions, "image");
    if (!files) return files.status();
    return item_refs_for(files.value());
  }

  Status process(Item& item) override {
    auto image = decode_image_file(item.source());
    if (!image) return image.status();
    auto tensor = image_to_tensor(image.value(), params_);
    if (!tensor) return tensor.status().with_context(item.source());
    item.set(slot_, std::move(tensor).value());
    item.set("image", std::move(image).value());
    return Status::ok();
  }

 private:
  std::string path_;
  std::filesystem::path base_dir_;
  std::string slot_;
  ImagePreprocess params_;
};

}  // namespace

StageTypeInfo image_loader_type() {
  std::vector<OptionSpec> options = {
      {"path", OptionType::String, {}, "a folder, a glob like imgs/*.png, a list file *.txt or one file; relative to the pipeline file", true, {}},
      {"size", OptionType::Int, std::int64_t{0}, "resize so that the shorter side has this many pixels (0 = keep)", false, {}},
      {"crop", OptionType::Int, std::int64_t{0}, "square centre crop after resizing (0 = none)", false, {}},
      {"color", OptionType::String, std::string("rgb"), "channels of the tensor", false, {"rgb", "gray"}},
      {"mean", OptionType::FloatList, std::vector<double>{}, "per-channel mean subtracted after scaling to [0,1] (one value or one per channel)", false, {}},
      {"std", OptionType::FloatList, std::vector<double>{}, "per-channel std divided by after subtracting the mean", false, {}},
      {"slot", OptionType::String, std::string("input"), "slot for the 1xCxHxW float tensor", false, {}},
  };
  auto info = make_stage_type<ImageLoader>(
      "image_loader", "loads PNG/JPEG/BMP images as normalised 1xCxHxW tensors (and the decoded image)",
      std::move(options), [](const Options& o) {
        SlotDeclaration slots;
        slots.writes.push_back({o.get_string("slot"), SlotType::Tensor, "float32 1xCxHxW, RGB or gray, normalised", false});
        slots.writes.push_back({"image", SlotType::Image, "the image as decoded (8-bit BGR), for overlays", false});
        return slots;
      });
  info.reentrant = true;  // process() only reads what open() set up
  return info;
}

}  // namespace lrpflow::loaders
