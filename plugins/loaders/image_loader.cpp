// image_loader: PNG / JPEG / BMP files -> a normalised float tensor, the decoded image, the model's
// view of it and the geometry between the two (for heatmaps drawn where the model looked).
#include <any>
#include <limits>

#include <opencv2/core.hpp>

#include "input_paths.h"
#include "loaders.h"
#include "npy_input.h"
#include "lrpflow/image/image.h"

namespace lrpflow::loaders {
namespace {

// `size` and `crop` beyond this are typing errors, refused when the pipeline is read (max_pixels
// bounds the area of what is within).
constexpr std::int64_t kMaxImageSide = std::int64_t{1} << 16;

const std::vector<std::string> kImageExtensions = {".png", ".jpg", ".jpeg", ".bmp"};

bool is_npy(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".npy";
}

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
    params_.max_pixels = ctx.options.get_int("max_pixels");
    npy_ = ctx.options.get_bool("npy");
    return validate_preprocess(params_);
  }

  Result<std::vector<ItemRef>> enumerate() override {
    std::vector<std::string> extensions = kImageExtensions;
    if (npy_) extensions.push_back(".npy");
    auto files = expand_input_paths(path_, base_dir_, extensions, npy_ ? "image or .npy" : "image");
    if (!files) return files.status();
    return item_refs_for(files.value());
  }

  Status process(Item& item) override {
    if (npy_ && is_npy(item.source())) return load_npy_input(item, slot_);
    auto image = decode_image_file(item.source(), params_.max_pixels);
    if (!image) return image.status();
    auto preprocessed = preprocess_image(image.value(), params_);
    if (!preprocessed) return preprocessed.status().with_context(item.source());
    item.set(slot_, std::move(preprocessed.value().tensor));
    item.set(kModelViewSlot, std::move(preprocessed.value().model_view));
    item.set(kImageGeometrySlot, std::any(preprocessed.value().geometry));
    item.set("image", std::move(image).value());
    return Status::ok();
  }

 private:
  std::string path_;
  std::filesystem::path base_dir_;
  std::string slot_;
  ImagePreprocess params_;
  bool npy_ = false;
};

}  // namespace

StageTypeInfo image_loader_type() {
  std::vector<OptionSpec> options = {
      {"path", OptionType::String, {}, "a folder, a glob like imgs/*.png, a list file *.txt or one file; relative to the pipeline file", true, {}},
      OptionSpec{"size", OptionType::Int, std::int64_t{0}, "resize so that the shorter side has this many pixels (0 = keep)", false, {}}
          .int_range(0, kMaxImageSide),
      OptionSpec{"crop", OptionType::Int, std::int64_t{0}, "square centre crop after resizing (0 = none)", false, {}}
          .int_range(0, kMaxImageSide),
      OptionSpec{"max_pixels", OptionType::Int, kDefaultMaxImagePixels,
                 "most pixels (width x height) of an image, as decoded and after resizing; a larger one fails its item", false, {}}
          .int_range(1, std::numeric_limits<std::int64_t>::max()),
      {"color", OptionType::String, std::string("rgb"), "channels of the tensor", false, {"rgb", "gray"}},
      {"mean", OptionType::FloatList, std::vector<double>{}, "per-channel mean subtracted after scaling to [0,1] (one value or one per channel)", false, {}},
      {"std", OptionType::FloatList, std::vector<double>{}, "per-channel std divided by after subtracting the mean", false, {}},
      {"slot", OptionType::String, std::string("input"), "slot for the 1xCxHxW float tensor", false, {}},
      {"npy", OptionType::Bool, false, "also take .npy tensors (already preprocessed, read as npy_loader reads them) from `path`", false, {}},
  };
  auto info = make_stage_type<ImageLoader>(
      "image_loader", "loads PNG/JPEG/BMP images as normalised 1xCxHxW tensors (and the decoded image)",
      std::move(options), [](const Options& o) {
        SlotDeclaration slots;
        slots.writes.push_back({o.get_string("slot"), SlotType::Tensor, "float32 1xCxHxW, RGB or gray, normalised", false});
        slots.writes.push_back({"image", image_slot_type(), "the image as decoded (8-bit BGR), for overlays", false});
        slots.writes.push_back({kModelViewSlot, image_slot_type(), "what the model saw: the image after resizing and cropping (8-bit)", false});
        slots.writes.push_back({kImageGeometrySlot, SlotType::Any, "ImageGeometry: original size, resized size, crop rectangle", false});
        if (o.get_bool("npy")) slots.writes.push_back({"input_shape", SlotType::Tensor, ".npy inputs: the array's shape in the file", false});
        return slots;
      });
  info.reentrant = true;  // process() only reads what open() set up
  info.explain_roles = {"load_images"};
  return info;
}

}  // namespace lrpflow::loaders
