// Fuzzes image decoding through lrpflow's loader path: decode_image_file (PNG, JPEG, BMP via
// OpenCV), then preprocess_image with a resize and crop as the image loader applies them.
// Property: only data with a PNG, JPEG or BMP signature decodes.
#include <opencv2/core.hpp>

#include "fuzz_support.h"
#include "lrpflow/image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  const auto path = fuzz::write_scratch("image", fuzz::as_text(data, size));
  auto image = decode_image_file(path);
  if (!image) return 0;
  // Only the documented formats may decode (OpenCV alone would also take JPEG 2000, TIFF, PPM, ...).
  const std::string_view text = fuzz::as_text(data, size);
  if (text.rfind("\x89PNG\r\n\x1a\n", 0) != 0 && text.rfind("\xff\xd8\xff", 0) != 0 && text.rfind("BM", 0) != 0)
    fuzz::fail("decode_image_file decoded data that is not PNG, JPEG or BMP");
  const cv::Mat& mat = image.value();
  if (mat.empty() || mat.type() != CV_8UC3) fuzz::fail("decode_image_file returned an empty or non-BGR image");
  ImagePreprocess params;
  params.resize_shorter = 8;
  params.center_crop = 8;
  params.mean = {0.5};
  params.std = {0.25};
  auto pre = preprocess_image(mat, params);
  if (pre && (pre.value().tensor.dim() != 4 || pre.value().tensor.size(2) != 8 || pre.value().tensor.size(3) != 8))
    fuzz::fail("preprocess_image returned a tensor of the wrong shape");
  return 0;
}
