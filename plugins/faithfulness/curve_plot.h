// Perturbation curves (model score against the perturbation step, one line per ordering) drawn
// with OpenCV, so a faithfulness run can be looked at without a plotting package. Linear axes; the
// selection plugin's sweep plot has a log2 k axis and two panels, which does not fit here.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace lrpflow::eval {

struct Curve {
  std::string name;
  std::vector<double> y;  // y[k] at step k = 0..K
};

// A BGR image: title on top, x axis "step", y axis `y_label`, a legend with each curve's name.
cv::Mat plot_curves(const std::string& title, const std::string& y_label, const std::vector<Curve>& curves);

}  // namespace lrpflow::eval
