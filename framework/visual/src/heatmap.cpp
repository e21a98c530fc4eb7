#include "lrpflow/visual/heatmap.h"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace lrpflow::visual {

Result<ChannelReduction> parse_channel_reduction(const std::string& name) {
  if (name == "sum") return ChannelReduction::Sum;
  if (name == "maxabs" || name == "max-abs" || name == "max_abs") return ChannelReduction::MaxAbs;
  return Status::error("unknown channel reduction '" + name + "' (valid: sum, maxabs)");
}

Result<at::Tensor> reduce_channels(const at::Tensor& relevance, ChannelReduction reduction) {
  at::Tensor r = relevance;
  if (r.dim() == 4 && r.size(0) == 1) r = r[0];
  if (r.dim() == 2) return r.to(at::kFloat);
  if (r.dim() != 3) return Status::error("a relevance map needs shape C x H x W, got " + std::to_string(r.dim()) + " dimensions");
  r = r.to(at::kFloat);
  if (reduction == ChannelReduction::Sum) return r.sum(0);
  const at::Tensor index = r.abs().argmax(0, /*keepdim=*/true);
  return r.gather(0, index).squeeze(0);
}

Result<at::Tensor> normalise_map(const at::Tensor& map, const NormaliseOptions& options) {
  if (map.dim() != 2) return Status::error("a map to normalise must be H x W");
  at::Tensor m = map.to(at::kDouble).contiguous();
  if (!at::isfinite(m).all().item<bool>()) return Status::error("the map holds NaN or Inf values");
  if (!(options.clip_percentile > 0 && options.clip_percentile <= 100))
    return Status::error("clip percentile must be in (0, 100]");
  if (options.symmetric) {
    const at::Tensor magnitude = m.abs().flatten();
    double bound = options.clip_percentile >= 100
                       ? magnitude.max().item<double>()
                       : at::quantile(magnitude, options.clip_percentile / 100.0).item<double>();
    if (bound <= 0) return at::full_like(m, 0.5).to(at::kFloat);
    return ((m.clamp(-bound, bound) / bound + 1.0) / 2.0).to(at::kFloat);
  }
  double lo = m.min().item<double>();
  double hi = m.max().item<double>();
  if (options.clip_percentile < 100) {
    const at::Tensor flat = m.flatten();
    lo = at::quantile(flat, 1.0 - options.clip_percentile / 100.0).item<double>();
    hi = at::quantile(flat, options.clip_percentile / 100.0).item<double>();
  }
  if (hi <= lo) return at::zeros_like(m).to(at::kFloat);
  return ((m.clamp(lo, hi) - lo) / (hi - lo)).to(at::kFloat);
}

cv::Mat apply_colormap(const at::Tensor& unit_map, const ColorLut& lut) {
  const at::Tensor indices = (unit_map.to(at::kFloat).clamp(0, 1) * 255.0).round().to(at::kByte).contiguous();
  const int rows = static_cast<int>(indices.size(0));
  const int cols = static_cast<int>(indices.size(1));
  cv::Mat out(rows, cols, CV_8UC3);
  const std::uint8_t* src = indices.data_ptr<std::uint8_t>();
  for (int y = 0; y < rows; ++y) {
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < cols; ++x) {
      const Rgb& c = lut[src[y * cols + x]];
      row[x] = cv::Vec3b(c.b, c.g, c.r);
    }
  }
  return out;
}

namespace {

// 8-bit BGR, whatever the background's channels and depth.
cv::Mat as_bgr8(const cv::Mat& background) {
  cv::Mat bg;
  if (background.channels() == 1) {
    cv::cvtColor(background, bg, cv::COLOR_GRAY2BGR);
  } else if (background.channels() == 4) {
    cv::cvtColor(background, bg, cv::COLOR_BGRA2BGR);
  } else {
    bg = background;
  }
  if (bg.depth() != CV_8U) bg.convertTo(bg, CV_8U);
  return bg;
}

// Part of each original pixel inside the region the model saw, in [0, 1] (CV_32FC3).
cv::Mat seen_coverage(const ImageGeometry& geometry) {
  const cv::Rect2d region = geometry.seen_region();
  auto overlap = [](double from, double to, int pixel) {
    return static_cast<float>(std::clamp(std::min(to, pixel + 1.0) - std::max(from, double(pixel)), 0.0, 1.0));
  };
  cv::Mat coverage(geometry.original_height, geometry.original_width, CV_32FC3);
  std::vector<float> columns(static_cast<size_t>(geometry.original_width));
  for (int x = 0; x < geometry.original_width; ++x) columns[static_cast<size_t>(x)] = overlap(region.x, region.x + region.width, x);
  for (int y = 0; y < geometry.original_height; ++y) {
    const float row = overlap(region.y, region.y + region.height, y);
    auto* out = coverage.ptr<cv::Vec3f>(y);
    for (int x = 0; x < geometry.original_width; ++x) out[x] = cv::Vec3f::all(row * columns[static_cast<size_t>(x)]);
  }
  return coverage;
}

Status check_geometry(const cv::Mat& heat, const ImageGeometry& g) {
  if (heat.empty() || heat.type() != CV_8UC3) return Status::error("the heatmap must be a non-empty 8-bit BGR image");
  if (g.original_height <= 0 || g.original_width <= 0 || g.resized_height <= 0 || g.resized_width <= 0 ||
      g.crop_height <= 0 || g.crop_width <= 0 || g.crop_top < 0 || g.crop_left < 0 ||
      g.crop_top + g.crop_height > g.resized_height || g.crop_left + g.crop_width > g.resized_width)
    return Status::error("invalid image geometry (crop outside the resized image, or an empty size)");
  return Status::ok();
}

// `heat` resampled into the original frame; beyond the crop's edge pixels the edge continues
// (the coverage decides how much of it is shown).
cv::Mat warp_to_original(const cv::Mat& heat, const ImageGeometry& geometry) {
  cv::Mat source = heat;
  if (heat.rows != geometry.crop_height || heat.cols != geometry.crop_width)
    cv::resize(heat, source, cv::Size(geometry.crop_width, geometry.crop_height), 0, 0, cv::INTER_LINEAR);
  cv::Mat out;
  cv::warpAffine(source, out, cv::Mat(geometry.model_to_original()),
                 cv::Size(geometry.original_width, geometry.original_height), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return out;
}

// coverage * inside + (1 - coverage) * outside, all CV_32FC3, as 8-bit BGR (rounded, saturated).
cv::Mat blend_by_coverage(const cv::Mat& inside, const cv::Mat& outside, const cv::Mat& coverage) {
  const cv::Mat ones(coverage.size(), CV_32FC3, cv::Scalar::all(1.0));
  const cv::Mat blended = inside.mul(coverage) + outside.mul(ones - coverage);
  cv::Mat out;
  blended.convertTo(out, CV_8UC3);
  return out;
}

cv::Mat as_float(const cv::Mat& image) {
  cv::Mat out;
  image.convertTo(out, CV_32FC3);
  return out;
}
}  // namespace

Result<cv::Mat> overlay(const cv::Mat& heat, const cv::Mat& background, double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) return Status::error("alpha must be in [0, 1]");
  if (heat.empty()) return Status::error("empty heatmap");
  if (background.empty()) return heat.clone();
  const cv::Mat bg = as_bgr8(background);
  cv::Mat resized;
  cv::resize(heat, resized, bg.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat out;
  cv::addWeighted(resized, alpha, bg, 1.0 - alpha, 0.0, out);
  return out;
}

Result<cv::Mat> to_original_frame(const cv::Mat& heat, const ImageGeometry& geometry, const cv::Scalar& outside) {
  LRPFLOW_RETURN_IF_ERROR(check_geometry(heat, geometry));
  const cv::Mat coverage = seen_coverage(geometry);
  const cv::Mat fill(coverage.size(), CV_32FC3, outside);
  return blend_by_coverage(as_float(warp_to_original(heat, geometry)), fill, coverage);
}

Result<cv::Mat> overlay_seen_region(const cv::Mat& heat, const cv::Mat& photo, const ImageGeometry& geometry, double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) return Status::error("alpha must be in [0, 1]");
  LRPFLOW_RETURN_IF_ERROR(check_geometry(heat, geometry));
  if (photo.empty()) return Status::error("empty image");
  const cv::Mat bg = as_float(as_bgr8(photo));
  if (bg.size() != cv::Size(geometry.original_width, geometry.original_height))
    return Status::error("the image is " + std::to_string(bg.cols) + "x" + std::to_string(bg.rows) +
                         " pixels, the recorded geometry says " + std::to_string(geometry.original_width) + "x" +
                         std::to_string(geometry.original_height));
  const cv::Mat inside = as_float(warp_to_original(heat, geometry)) * alpha + bg * (1.0 - alpha);
  return blend_by_coverage(inside, bg * kOutsideBrightness, seen_coverage(geometry));
}

ImageGeometry whole_image_geometry(cv::Size map_size, cv::Size image_size) {
  ImageGeometry g;
  g.original_height = image_size.height;
  g.original_width = image_size.width;
  g.resized_height = g.crop_height = map_size.height;
  g.resized_width = g.crop_width = map_size.width;
  return g;
}

at::Tensor upsample_bilinear(const at::Tensor& map, int64_t height, int64_t width) {
  const at::Tensor batched = map.to(at::kFloat).unsqueeze(0).unsqueeze(0);
  return at::upsample_bilinear2d(batched, {height, width}, /*align_corners=*/false).squeeze(0).squeeze(0);
}

}  // namespace lrpflow::visual
