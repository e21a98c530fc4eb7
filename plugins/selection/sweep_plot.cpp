#include "sweep_plot.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace lrpflow::stages {
namespace {

const cv::Scalar kPalette[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44},  {40, 39, 214},  {189, 103, 148},
                               {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};

void draw_panel(cv::Mat& canvas, cv::Rect area, const std::string& title, const std::vector<Series>& series) {
  const int left = area.x + 60, right = area.x + area.width - 15, top = area.y + 35, bottom = area.y + area.height - 45;
  cv::rectangle(canvas, {left, top}, {right, bottom}, {0, 0, 0}, 1);
  cv::putText(canvas, title, {area.x + area.width / 2 - 40, area.y + 22}, cv::FONT_HERSHEY_SIMPLEX, 0.6, {0, 0, 0}, 1, cv::LINE_AA);
  double x_max = 1, y_min = std::numeric_limits<double>::infinity(), y_max = -y_min;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      x_max = std::max(x_max, s.x[i]);
      if (std::isfinite(s.y[i])) {
        y_min = std::min(y_min, s.y[i]);
        y_max = std::max(y_max, s.y[i]);
      }
    }
  if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
  y_min = std::min(0.0, y_min);
  if (y_max <= y_min) y_max = y_min + 1;
  const double lx_max = std::max(1.0, std::log2(x_max));
  auto px = [&](double x) { return left + static_cast<int>((std::log2(std::max(x, 1.0)) / lx_max) * (right - left)); };
  auto py = [&](double y) { return bottom - static_cast<int>((y - y_min) / (y_max - y_min) * (bottom - top)); };
  for (int t = 0; t <= 4; ++t) {
    const double y = y_min + (y_max - y_min) * t / 4.0;
    cv::putText(canvas, fmt::format("{:.3g}", y), {area.x + 4, py(y) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.35, {60, 60, 60}, 1, cv::LINE_AA);
    cv::line(canvas, {left, py(y)}, {right, py(y)}, {225, 225, 225}, 1);
  }
  for (double k = 1; k <= x_max * 1.0001; k *= 2) {
    cv::putText(canvas, fmt::format("{:g}", k), {px(k) - 6, bottom + 15}, cv::FONT_HERSHEY_SIMPLEX, 0.35, {60, 60, 60}, 1, cv::LINE_AA);
  }
  cv::putText(canvas, "k (neurons kept)", {(left + right) / 2 - 50, bottom + 35}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {0, 0, 0}, 1, cv::LINE_AA);
  for (size_t s = 0; s < series.size(); ++s) {
    const cv::Scalar color = kPalette[s % (sizeof(kPalette) / sizeof(kPalette[0]))];
    for (size_t i = 0; i < series[s].x.size(); ++i) {
      const cv::Point p{px(series[s].x[i]), py(series[s].y[i])};
      cv::circle(canvas, p, 3, color, cv::FILLED, cv::LINE_AA);
      if (i > 0) cv::line(canvas, {px(series[s].x[i - 1]), py(series[s].y[i - 1])}, p, color, 2, cv::LINE_AA);
    }
  }
}

}  // namespace

cv::Mat plot_two_panels(const std::string& left_title, const std::vector<Series>& left, const std::string& right_title,
                        const std::vector<Series>& right) {
  const int panel_w = 480, panel_h = 360;
  const int legend_h = 20 * static_cast<int>((std::max(left.size(), right.size()) + 2) / 3) + 10;
  cv::Mat canvas(panel_h + legend_h, 2 * panel_w, CV_8UC3, cv::Scalar(255, 255, 255));
  draw_panel(canvas, {0, 0, panel_w, panel_h}, left_title, left);
  draw_panel(canvas, {panel_w, 0, panel_w, panel_h}, right_title, right);
  const std::vector<Series>& names = left.size() >= right.size() ? left : right;
  for (size_t s = 0; s < names.size(); ++s) {
    const int x = 20 + static_cast<int>(s % 3) * 320, y = panel_h + 15 + static_cast<int>(s / 3) * 20;
    const cv::Scalar color = kPalette[s % (sizeof(kPalette) / sizeof(kPalette[0]))];
    cv::line(canvas, {x, y - 4}, {x + 25, y - 4}, color, 3, cv::LINE_AA);
    cv::putText(canvas, names[s].name, {x + 32, y}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {0, 0, 0}, 1, cv::LINE_AA);
  }
  return canvas;
}

}  // namespace lrpflow::stages
