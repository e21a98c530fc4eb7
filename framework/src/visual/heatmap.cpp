#include "lrpflow/visual/heatmap.h"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

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

Result<cv::Mat> overlay(const cv::Mat& heat, const cv::Mat& background, double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) return Status::error("alpha must be in [0, 1]");
  if (heat.empty()) return Status::error("empty heatmap");
  if (background.empty()) return heat.clone();
  cv::Mat bg;
  if (background.channels() == 1) {
    cv::cvtColor(background, bg, cv::COLOR_GRAY2BGR);
  } else if (background.channels() == 4) {
    cv::cvtColor(background, bg, cv::COLOR_BGRA2BGR);
  } else {
    bg = background;
  }
  if (bg.depth() != CV_8U) bg.convertTo(bg, CV_8U);
  cv::Mat resized;
  cv::resize(heat, resized, bg.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat out;
  cv::addWeighted(resized, alpha, bg, 1.0 - alpha, 0.0, out);
  return out;
}

at::Tensor upsample_bilinear(const at::Tensor& map, int64_t height, int64_t width) {
  const at::Tensor batched = map.to(at::kFloat).unsqueeze(0).unsqueeze(0);
  return at::upsample_bilinear2d(batched, {height, width}, /*align_corners=*/false).squeeze(0).squeeze(0);
}

}  // namespace lrpflow::visual
