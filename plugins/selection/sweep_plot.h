// A small line chart (MSE and SMAPE against k, one line per layer) written as SVG text, so that a
// fidelity sweep can be looked at without any plotting package. SVG rather than PNG: the chart is a
// few lines and labels, which as SVG cost microseconds to write and stay sharp at any zoom, where a
// 960x410 PNG took 4-5 ms per item to encode (docs/performance.md).
#pragma once

#include <string>
#include <vector>

namespace lrpflow::stages {

struct Series {
  std::string name;       // from the model (a layer name): escaped before it enters the SVG
  std::vector<double> x;  // k, plotted on a log2 axis
  std::vector<double> y;  // points that are not finite are left out
};

// Two panels side by side: `left` (e.g. MSE) and `right` (e.g. SMAPE), sharing the legend. A
// complete, self-contained SVG document; no links, no scripts.
std::string plot_two_panels_svg(const std::string& left_title, const std::vector<Series>& left,
                                const std::string& right_title, const std::vector<Series>& right);

}  // namespace lrpflow::stages
