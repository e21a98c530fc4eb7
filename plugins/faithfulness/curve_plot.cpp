#include "curve_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace lrpflow::eval {

cv::Mat plot_curves(const std::string& title, const std::string& y_label, const std::vector<Curve>& curves) {
  const int width = 640, height = 420, left = 70, right = 20, top = 40, bottom = 50;
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  size_t points = 0;
  for (const Curve& c : curves)
    for (double v : c.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v), points = std::max(points, c.y.size());
  if (points < 2 || !std::isfinite(lo)) lo = 0, hi = 1, points = 2;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  const int plot_w = width - left - right, plot_h = height - top - bottom;
  auto to_px = [&](double step, double value) {
    return cv::Point(left + static_cast<int>(std::lround(step / static_cast<double>(points - 1) * plot_w)),
                     top + static_cast<int>(std::lround((hi - value) / (hi - lo) * plot_h)));
  };
  const cv::Scalar black(0, 0, 0), grey(200, 200, 200);
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  for (int tick = 0; tick <= 4; ++tick) {
    double value = lo + (hi - lo) * tick / 4.0;
    if (std::abs(value) < 1e-3 * (hi - lo)) value = 0;  // print 0, not -4.6e-05
    const cv::Point at = to_px(0, value);
    cv::line(canvas, at, cv::Point(left + plot_w, at.y), grey, 1);
    cv::putText(canvas, fmt::format("{:.3g}", value), cv::Point(4, at.y + 4), font, 0.4, black, 1, cv::LINE_AA);
  }
  const size_t x_ticks = std::min<size_t>(points - 1, 8);
  for (size_t tick = 0; tick <= x_ticks; ++tick) {
    const double step = std::round(static_cast<double>(tick) * static_cast<double>(points - 1) / x_ticks);
    const cv::Point at = to_px(step, lo);
    cv::line(canvas, at, cv::Point(at.x, at.y + 4), black, 1);
    cv::putText(canvas, fmt::format("{:g}", step), cv::Point(at.x - 6, at.y + 18), font, 0.4, black, 1, cv::LINE_AA);
  }
  cv::rectangle(canvas, cv::Point(left, top), cv::Point(left + plot_w, top + plot_h), black, 1);
  cv::putText(canvas, title, cv::Point(left, 25), font, 0.55, black, 1, cv::LINE_AA);
  cv::putText(canvas, "perturbation step", cv::Point(left + plot_w / 2 - 60, height - 10), font, 0.45, black, 1, cv::LINE_AA);
  cv::putText(canvas, y_label, cv::Point(4, top - 8), font, 0.4, cv::Scalar(90, 90, 90), 1, cv::LINE_AA);
  // Legend on a white box so that curves passing under it stay readable around it.
  cv::rectangle(canvas, cv::Point(left + plot_w - 136, top + 6),
                cv::Point(left + plot_w - 4, top + 12 + 18 * static_cast<int>(curves.size())), cv::Scalar(255, 255, 255),
                cv::FILLED);
  static const cv::Scalar palette[] = {{40, 40, 220}, {200, 90, 30}, {120, 120, 120}, {40, 160, 40}, {160, 40, 160}};
  for (size_t i = 0; i < curves.size(); ++i) {
    const cv::Scalar color = palette[i % 5];
    const Curve& c = curves[i];
    for (size_t k = 1; k < c.y.size(); ++k)
      if (std::isfinite(c.y[k - 1]) && std::isfinite(c.y[k]))
        cv::line(canvas, to_px(static_cast<double>(k - 1), c.y[k - 1]), to_px(static_cast<double>(k), c.y[k]), color, 2,
                 cv::LINE_AA);
    const cv::Point legend(left + plot_w - 130, top + 18 + 18 * static_cast<int>(i));
    cv::line(canvas, legend, cv::Point(legend.x + 20, legend.y), color, 2, cv::LINE_AA);
    cv::putText(canvas, c.name, cv::Point(legend.x + 26, legend.y + 4), font, 0.45, black, 1, cv::LINE_AA);
  }
  return canvas;
}

}  // namespace lrpflow::eval
