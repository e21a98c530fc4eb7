// png_writer: writes an image slot (cv::Mat) or an image-shaped tensor of every item as PNG.
#include "output_path.h"
#include "writers.h"
#include "lrpflow/image/image.h"
#include "lrpflow/image/png.h"

namespace lrpflow::writers {
namespace {

class PngWriter final : public Stage {
 public:
  Status open(const StageContext& ctx) override {
    auto naming = OutputNaming::from(ctx, ".png");
    if (!naming) return naming.status();
    naming_ = std::move(naming).value();
    return Status::ok();
  }

  Status process(Item& item) override {
    auto image = image_of(item);
    if (!image) return image.status();
    const std::string relative = naming_.relative_path(item);
    auto path = naming_.files.absolute(relative);
    if (!path) return path.status();
    LRPFLOW_RETURN_IF_ERROR(write_png_atomic(path.value(), image.value()));
    item.add_output(naming_.kind, relative);
    return Status::ok();
  }

 private:
  Result<cv::Mat> image_of(const Item& item) const {
    if (auto mat = item.get<cv::Mat>(naming_.slot)) {
      auto image = to_8bit_image(*mat.value());
      if (!image) return image.status().with_context("slot '" + naming_.slot + "'");
      return image;
    }
    auto tensor = item.tensor(naming_.slot);
    if (!tensor) return tensor.status();
    auto image = tensor_to_image(tensor.value());
    if (!image) return image.status().with_context("slot '" + naming_.slot + "'");
    return image;
  }

  OutputNaming naming_;
};

}  // namespace

StageTypeInfo png_writer_type() {
  auto info = make_stage_type<PngWriter>(
      "png_writer", "writes an image slot, or a tensor in [0,1] or uint8, as <item id>.<slot>.png",
      writer_options(".png", "image (cv::Mat) or tensor slot to write: HxW, CxHxW, 1xCxHxW or HxWxC"),
      [](const Options& o) {
        SlotDeclaration slots;
        // Any: the stage takes a cv::Mat or a tensor.
        slots.reads.push_back({o.get_string("slot"), SlotType::Any, "an image (cv::Mat) or an image-shaped tensor", false});
        return slots;
      });
  info.reentrant = true;
  // The quickstart's `kind: input_image`: the photo beside the relevance (the heatmap stage's section).
  info.report_sections = {{"Input and relevance", {"input_image"}, false, 10}};
  return info;
}

}  // namespace lrpflow::writers
