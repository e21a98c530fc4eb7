// A small line chart (MSE and SMAPE against k, one line per layer) drawn with OpenCV, so that a
// fidelity sweep can be looked at without any plotting package.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace lrpflow::stages {

struct Series {
  std::string name;
  std::vector<double> x;  // k, plotted on a log2 axis
  std::vector<double> y;
};

// Two panels side by side: `left` (e.g. MSE) and `right` (e.g. SMAPE), sharing the legend.
cv::Mat plot_two_panels(const std::string& left_title, const std::vector<Series>& left, const std::string& right_title,
                        const std::vector<Series>& right);

}  // namespace lrpflow::stages
