// Writing 8-bit images atomically.
#pragma once

#include <filesystem>

#include <opencv2/core/mat.hpp>

#include "lrpflow/status.h"

namespace lrpflow {

Status write_png_atomic(const std::filesystem::path& path, const cv::Mat& image);

// Nearest-neighbour upscaling so that a tiny map (7x7, 28x28) stays readable: the smaller side
// becomes at least `min_side` pixels. 0 keeps the size.
cv::Mat upscale_for_viewing(const cv::Mat& image, int min_side);

}  // namespace lrpflow
