// Turning relevance and activation maps into images.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "lrpflow/image/image.h"
#include "lrpflow/status.h"
#include "lrpflow/visual/colormap.h"

namespace lrpflow::visual {

enum class ChannelReduction { Sum, MaxAbs };
Result<ChannelReduction> parse_channel_reduction(const std::string& name);

// C x H x W (or 1 x C x H x W) relevance -> H x W float map: the sum over channels, or per pixel
// the channel value of largest magnitude (sign kept).
Result<at::Tensor> reduce_channels(const at::Tensor& relevance, ChannelReduction reduction);

struct NormaliseOptions {
  bool symmetric = true;        // map [-m, m] to [0, 1] (zero -> 0.5); else [min, max] -> [0, 1]
  double clip_percentile = 100; // m is this percentile of |map| (100: the maximum); values beyond saturate
};

// H x W map -> H x W float in [0, 1]. A map holding NaN or Inf is an error. An all-zero map gives
// 0.5 everywhere (symmetric) or 0 (otherwise): drawable, and visibly empty.
Result<at::Tensor> normalise_map(const at::Tensor& map, const NormaliseOptions& options);

// [0, 1] map -> 8-bit BGR image through the lookup table (OpenCV's channel order).
cv::Mat apply_colormap(const at::Tensor& unit_map, const ColorLut& lut);

// Resizes `heat` (BGR) bilinearly to the size of `background` and blends: alpha*heat + (1-alpha)*bg.
// A grayscale background is converted to BGR. alpha in [0, 1].
Result<cv::Mat> overlay(const cv::Mat& heat, const cv::Mat& background, double alpha);

// Maps are made at the model input's resolution; these draw them where the model looked in the
// original image (docs/report.md, "Where the maps are drawn"). `heat` is BGR at the model input's
// size (another size is first scaled to the crop); it is resampled once, bilinearly, through the
// inverse of resize-then-crop. A pixel of the original partly inside the region the model saw is
// blended by the part inside.
//
// The map in the original image's frame; pixels the model did not see get `outside`.
Result<cv::Mat> to_original_frame(const cv::Mat& heat, const ImageGeometry& geometry, const cv::Scalar& outside);
// The map over `photo` (of the original's size): alpha*map + (1-alpha)*photo where the model
// looked, the photo dimmed to kOutsideBrightness elsewhere.
inline constexpr double kOutsideBrightness = 0.4;
Result<cv::Mat> overlay_seen_region(const cv::Mat& heat, const cv::Mat& photo, const ImageGeometry& geometry, double alpha);
// The geometry of a map of `map_size` laid over the whole of an image of `image_size` (stretched):
// for inputs without a recorded preprocessing whose map has another size than the image.
ImageGeometry whole_image_geometry(cv::Size map_size, cv::Size image_size);

// Upsamples an H x W map bilinearly to height x width (for activation maps of deep layers).
at::Tensor upsample_bilinear(const at::Tensor& map, int64_t height, int64_t width);

}  // namespace lrpflow::visual
