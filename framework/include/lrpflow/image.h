// Images in and out of tensors: decoding files, the usual preprocessing (resize, centre crop,
// per-channel normalisation) and turning tensors back into 8-bit images for PNG output.
//
// Conventions: a cv::Mat is 8-bit BGR (or 8-bit gray), as OpenCV decodes and encodes it; a tensor
// image is float32 1xCxHxW in RGB (or 1-channel gray) order, like torchvision. All functions are
// pure and thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "lrpflow/status.h"

namespace lrpflow {

// Decodes a PNG, JPEG or BMP file to 8-bit BGR (gray and 16-bit files are converted). Errors name
// the file: missing, empty, or not decodable.
Result<cv::Mat> decode_image_file(const std::filesystem::path& path);

struct ImagePreprocess {
  int resize_shorter = 0;      // shorter side scaled to this many pixels, aspect kept; 0 = keep
  int center_crop = 0;         // square centre crop of this size after resizing; 0 = none
  bool gray = false;           // one luminance channel instead of RGB
  std::vector<double> mean;    // per channel (or one value for all); empty = 0
  std::vector<double> std;     // per channel (or one value for all); empty = 1
};

// Checks the preprocessing parameters (non-negative sizes, mean/std lengths of 0, 1 or the channel
// count, no zero std) so that a bad option is reported once, before any image is read.
Status validate_preprocess(const ImagePreprocess& params);

// Applies `params` to an 8-bit BGR or gray image, returning the float32 1xCxHxW tensor:
// resize the shorter side (area averaging when shrinking, bilinear when enlarging; the longer side
// becomes floor(long * size / short) like torchvision), centre crop (top-left offset
// round((H - crop) / 2)), scale to [0, 1], then (x - mean[c]) / std[c]. A crop larger than the
// resized image is an error giving both sizes.
Result<at::Tensor> image_to_tensor(const cv::Mat& image, const ImagePreprocess& params);

// Turns a tensor into an 8-bit image for writing: HxW (gray), CxHxW or 1xCxHxW with C = 1, 3 or 4
// (RGB[A] channel order), or HxWxC with C = 1, 3 or 4. uint8 tensors are taken as is; other dtypes
// are taken to be in [0, 1], scaled by 255, rounded and clamped. Returns BGR[A] / gray.
Result<cv::Mat> tensor_to_image(const at::Tensor& tensor);

// Scales a cv::Mat for writing as an 8-bit image: 8-bit mats are returned unchanged, float mats
// are taken to be in [0, 1]; 16-bit mats are scaled down by 257.
Result<cv::Mat> to_8bit_image(const cv::Mat& image);

}  // namespace lrpflow
