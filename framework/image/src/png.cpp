#include "lrpflow/image/png.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <string_view>
#include <vector>

#include "lrpflow/files.h"

namespace lrpflow {

Status write_png_atomic(const std::filesystem::path& path, const cv::Mat& image) {
  // Encoded in memory, then written by write_file_atomic, which checks every write: cv::imwrite
  // reports success on a full disk and would leave an empty PNG under the real name.
  std::vector<unsigned char> png;
  try {
    if (!cv::imencode(".png", image, png)) return Status::error("cannot encode " + path.string() + " as PNG");
  } catch (const cv::Exception& e) {
    return Status::error("cannot encode " + path.string() + " as PNG: " + e.what());
  }
  return write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

cv::Mat upscale_for_viewing(const cv::Mat& image, int min_side) {
  const int side = std::min(image.rows, image.cols);
  if (min_side <= 0 || side <= 0 || side >= min_side) return image;
  const int factor = (min_side + side - 1) / side;
  cv::Mat out;
  cv::resize(image, out, cv::Size(image.cols * factor, image.rows * factor), 0, 0, cv::INTER_NEAREST);
  return out;
}

}  // namespace lrpflow
