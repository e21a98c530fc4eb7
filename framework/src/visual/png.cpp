#include "lrpflow/visual/png.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "lrpflow/files.h"

namespace lrpflow::visual {

Status write_png_atomic(const std::filesystem::path& path, const cv::Mat& image) {
  return write_file_atomic_with(path, [&](const std::filesystem::path& tmp) -> Status {
    if (!cv::imwrite(tmp.string(), image)) return Status::error("cannot write image " + path.string());
    return Status::ok();
  });
}

cv::Mat upscale_for_viewing(const cv::Mat& image, int min_side) {
  const int side = std::min(image.rows, image.cols);
  if (min_side <= 0 || side <= 0 || side >= min_side) return image;
  const int factor = (min_side + side - 1) / side;
  cv::Mat out;
  cv::resize(image, out, cv::Size(image.cols * factor, image.rows * factor), 0, 0, cv::INTER_NEAREST);
  return out;
}

}  // namespace lrpflow::visual
