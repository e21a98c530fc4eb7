// Images in and out of tensors: decoding files, the usual preprocessing (resize, centre crop,
// per-channel normalisation) and turning tensors back into 8-bit images for PNG output.
//
// Conventions: a cv::Mat is 8-bit BGR (or 8-bit gray), as OpenCV decodes and encodes it; a tensor
// image is float32 1xCxHxW in RGB (or 1-channel gray) order, like torchvision. All functions are
// pure and thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "lrpflow/item.h"
#include "lrpflow/status.h"

namespace lrpflow {

// The slot type of an 8-bit image (cv::Mat) in an item: loaders write it, writers and overlays read it.
inline const SlotType& image_slot_type() {
  static const SlotType type = SlotType::of<cv::Mat>("image");
  return type;
}

// The most pixels (width x height) an image may have by default, decoded or after resizing: a
// 64-megapixel image takes ~200 MB per 8-bit copy and ~800 MB as a float tensor, so that several
// items in flight fit a 24 GB machine. A small compressed file can declare a huge image.
inline constexpr std::int64_t kDefaultMaxImagePixels = std::int64_t{1} << 26;

// Width and height from the header of an encoded PNG, JPEG or BMP image, without decoding it
// (OpenCV 4.6 has no public call for this). An error when the bytes are none of the three.
Result<cv::Size> encoded_image_size(std::string_view bytes);

// Decodes a PNG, JPEG or BMP file to 8-bit BGR (gray and 16-bit files are converted). Errors name
// the file: missing, empty, not decodable, or larger than `max_pixels` (checked in the header,
// before anything is decoded).
Result<cv::Mat> decode_image_file(const std::filesystem::path& path,
                                  std::int64_t max_pixels = kDefaultMaxImagePixels);

struct ImagePreprocess {
  int resize_shorter = 0;      // shorter side scaled to this many pixels, aspect kept; 0 = keep
  int center_crop = 0;         // square centre crop of this size after resizing; 0 = none
  bool gray = false;           // one luminance channel instead of RGB
  std::vector<double> mean;    // per channel (or one value for all); empty = 0
  std::vector<double> std;     // per channel (or one value for all); empty = 1
  std::int64_t max_pixels = kDefaultMaxImagePixels;  // most pixels of the resized image
};

// Checks the preprocessing parameters (non-negative sizes, mean/std lengths of 0, 1 or the channel
// count, no zero std) so that a bad option is reported once, before any image is read.
Status validate_preprocess(const ImagePreprocess& params);

// Where the model's input lies in the decoded image: the decoded image (original_*) was resized to
// resized_* and the crop rectangle (in resized pixels) cut out of it. Without resizing the sizes
// are equal; without cropping the crop is the whole resized image.
struct ImageGeometry {
  int original_height = 0, original_width = 0;
  int resized_height = 0, resized_width = 0;
  int crop_top = 0, crop_left = 0, crop_height = 0, crop_width = 0;

  // The affine map from the model input's pixel coordinates (x, y) to the original image's, with
  // pixel centres mapped as cv::resize maps them: x_orig = (x + crop_left + 0.5) * W_orig / W_resized - 0.5.
  cv::Matx23d model_to_original() const;
  // The rectangle of the original image the model saw, in original pixels (outer edges).
  cv::Rect2d seen_region() const;
};

// Slots the image loader fills next to the tensor: the geometry (std::any holding an
// ImageGeometry) and the model's view of the input (cv::Mat, 8-bit BGR or gray, after resizing and
// cropping, before normalisation).
inline constexpr const char* kImageGeometrySlot = "image_geometry";
inline constexpr const char* kModelViewSlot = "model_view";

struct PreprocessedImage {
  at::Tensor tensor;      // float32 1xCxHxW, normalised
  cv::Mat model_view;     // what the tensor shows, as an 8-bit BGR (or gray) image
  ImageGeometry geometry;
};

// Applies `params` to an 8-bit BGR or gray image, returning the float32 1xCxHxW tensor:
// resize the shorter side (area averaging when shrinking, bilinear when enlarging; the longer side
// becomes floor(long * size / short) like torchvision), centre crop (top-left offset
// round((H - crop) / 2)), scale to [0, 1], then (x - mean[c]) / std[c]. A crop larger than the
// resized image is an error giving both sizes; so is a resized image of more than max_pixels.
Result<at::Tensor> image_to_tensor(const cv::Mat& image, const ImagePreprocess& params);
// The same tensor, with the model's view and the geometry that produced it.
Result<PreprocessedImage> preprocess_image(const cv::Mat& image, const ImagePreprocess& params);

// Turns a tensor into an 8-bit image for writing: HxW (gray), CxHxW or 1xCxHxW with C = 1, 3 or 4
// (RGB[A] channel order), or HxWxC with C = 1, 3 or 4. uint8 tensors are taken as is; other dtypes
// are taken to be in [0, 1], scaled by 255, rounded and clamped. Returns BGR[A] / gray.
Result<cv::Mat> tensor_to_image(const at::Tensor& tensor);

// Scales a cv::Mat for writing as an 8-bit image: 8-bit mats are returned unchanged, float mats
// are taken to be in [0, 1]; 16-bit mats are scaled down by 257.
Result<cv::Mat> to_8bit_image(const cv::Mat& image);

}  // namespace lrpflow
