#include "sweep_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "lrpflow/markup.h"
#include "lrpflow/utf8.h"

namespace lrpflow::stages {
namespace {

const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kPanelWidth = 480, kPanelHeight = 360;

const char* colour(size_t series) { return kPalette[series % (sizeof(kPalette) / sizeof(kPalette[0]))]; }

void text(std::string& svg, double x, double y, double size, const std::string& fill, const std::string& content,
          const char* anchor = "start") {
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{:g}\" fill=\"{}\" text-anchor=\"{}\">{}</text>\n", x, y,
                     size, fill, anchor, xml_text(content));
}

void draw_panel(std::string& svg, int x0, const std::string& title, const std::vector<Series>& series) {
  const double left = x0 + 60, right = x0 + kPanelWidth - 15, top = 35, bottom = kPanelHeight - 45;
  double x_max = 1, y_min = std::numeric_limits<double>::infinity(), y_max = -y_min;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (std::isfinite(s.x[i])) x_max = std::max(x_max, s.x[i]);
      if (std::isfinite(s.y[i])) y_min = std::min(y_min, s.y[i]), y_max = std::max(y_max, s.y[i]);
    }
  if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
  y_min = std::min(0.0, y_min);
  if (y_max <= y_min) y_max = y_min + 1;
  const double lx_max = std::max(1.0, std::log2(x_max));
  auto px = [&](double x) { return left + std::log2(std::max(x, 1.0)) / lx_max * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_min) / (y_max - y_min) * (bottom - top); };

  text(svg, x0 + kPanelWidth / 2.0, 22, 15, "#000", title, "middle");
  for (int t = 0; t <= 4; ++t) {
    const double y = y_min + (y_max - y_min) * t / 4.0;
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e1e1e1\"/>\n", left, py(y), right, py(y));
    text(svg, left - 4, py(y) + 4, 10, "#3c3c3c", fmt::format("{:.3g}", y), "end");
  }
  for (double k = 1; k <= x_max * 1.0001; k *= 2) text(svg, px(k), bottom + 15, 10, "#3c3c3c", fmt::format("{:g}", k), "middle");
  text(svg, (left + right) / 2, bottom + 35, 12, "#000", "k (neurons kept)", "middle");
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#000\"/>\n", left,
                     top, right - left, bottom - top);
  for (size_t s = 0; s < series.size(); ++s) {
    std::string points, dots;
    auto flush = [&] {
      if (!points.empty())
        svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", points, colour(s));
      points.clear();
    };
    for (size_t i = 0; i < series[s].x.size() && i < series[s].y.size(); ++i) {
      if (!std::isfinite(series[s].x[i]) || !std::isfinite(series[s].y[i])) {
        flush();  // a gap in the line where a value is not finite
        continue;
      }
      const double x = px(series[s].x[i]), y = py(series[s].y[i]);
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", x, y);
      dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", x, y, colour(s));
    }
    flush();
    svg += dots;
  }
}

}  // namespace

std::string plot_two_panels_svg(const std::string& left_title, const std::vector<Series>& left,
                                const std::string& right_title, const std::vector<Series>& right) {
  const std::vector<Series>& names = left.size() >= right.size() ? left : right;
  const int legend_height = 20 * static_cast<int>((names.size() + 2) / 3) + 10;
  const int width = 2 * kPanelWidth, height = kPanelHeight + legend_height;
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"#fff\"/>\n",
      width, height);
  draw_panel(svg, 0, left_title, left);
  draw_panel(svg, kPanelWidth, right_title, right);
  for (size_t s = 0; s < names.size(); ++s) {
    const int x = 20 + static_cast<int>(s % 3) * 320, y = kPanelHeight + 15 + static_cast<int>(s / 3) * 20;
    svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"3\"/>\n", x, y - 4, x + 25, y - 4,
                       colour(s));
    text(svg, x + 32, y, 12, "#000", names[s].name);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace lrpflow::stages
