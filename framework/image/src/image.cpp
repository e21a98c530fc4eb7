#include "lrpflow/image/image.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "lrpflow/files.h"

namespace lrpflow {
namespace {

std::string size_string(int height, int width) { return std::to_string(height) + "x" + std::to_string(width); }

double channel_value(const std::vector<double>& values, int channel, double fallback) {
  if (values.empty()) return fallback;
  return values.size() == 1 ? values[0] : values[static_cast<std::size_t>(channel)];
}

std::uint32_t big_endian(std::string_view bytes, std::size_t at, int length) {
  std::uint32_t value = 0;
  for (int i = 0; i < length; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

std::uint32_t little_endian(std::string_view bytes, std::size_t at, int length) {
  std::uint32_t value = 0;
  for (int i = length - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// A JPEG's size is in its first start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC); the
// segments before it are skipped by their lengths.
std::optional<cv::Size> jpeg_size(std::string_view bytes) {
  std::size_t at = 2;  // after SOI
  while (at + 4 <= bytes.size()) {
    if (static_cast<unsigned char>(bytes[at]) != 0xFF) return std::nullopt;
    const unsigned marker = static_cast<unsigned char>(bytes[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no length field
      at += 2;
      continue;
    }
    const std::size_t length = big_endian(bytes, at + 2, 2);
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (at + 9 > bytes.size()) return std::nullopt;
      return cv::Size(static_cast<int>(big_endian(bytes, at + 7, 2)), static_cast<int>(big_endian(bytes, at + 5, 2)));
    }
    if (marker == 0xDA || marker == 0xD9 || length < 2) return std::nullopt;  // scan or end before any frame
    at += 2 + length;
  }
  return std::nullopt;
}

}  // namespace

Result<cv::Size> encoded_image_size(std::string_view bytes) {
  static constexpr std::string_view kPng("\x89PNG\r\n\x1a\n", 8);
  if (bytes.size() >= 24 && bytes.substr(0, 8) == kPng && bytes.substr(12, 4) == "IHDR") {
    const std::uint32_t width = big_endian(bytes, 16, 4), height = big_endian(bytes, 20, 4);
    // PNG allows up to 2^31 - 1 per side; OpenCV's cv::Size is int.
    if (width > 0x7FFFFFFFu || height > 0x7FFFFFFFu) return Status::error("PNG header with a size beyond 2^31");
    return cv::Size(static_cast<int>(width), static_cast<int>(height));
  }
  if (bytes.size() >= 4 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8) {
    if (auto size = jpeg_size(bytes)) return *size;
    return Status::error("a JPEG file without a readable frame header");
  }
  if (bytes.size() >= 26 && bytes.substr(0, 2) == "BM") {
    const std::uint32_t header = little_endian(bytes, 14, 4);
    if (header == 12) {  // BITMAPCOREHEADER: 16-bit sizes
      return cv::Size(static_cast<int>(little_endian(bytes, 18, 2)), static_cast<int>(little_endian(bytes, 20, 2)));
    }
    const auto width = static_cast<std::int32_t>(little_endian(bytes, 18, 4));
    const auto height = static_cast<std::int32_t>(little_endian(bytes, 22, 4));  // negative: stored top-down
    if (width < 0 || height == std::numeric_limits<std::int32_t>::min()) return Status::error("BMP header with a bad size");
    return cv::Size(width, std::abs(height));
  }
  return Status::error("not a PNG, JPEG or BMP file");
}

Result<cv::Mat> decode_image_file(const std::filesystem::path& path, std::int64_t max_pixels) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.status();
  if (bytes.value().empty()) return Status::error(path.string() + ": empty file, not an image");
  // The header says how much decoding would allocate: refuse before OpenCV does it.
  auto size = encoded_image_size(bytes.value());
  if (!size) return Status::error(path.string() + ": cannot decode image (" + size.status().message() + ")");
  const std::int64_t pixels = static_cast<std::int64_t>(size.value().width) * size.value().height;
  if (pixels > max_pixels) {
    return Status::error(path.string() + ": the image is " + std::to_string(size.value().width) + "x" +
                         std::to_string(size.value().height) + " (" + std::to_string(pixels) +
                         " pixels), more than max_pixels = " + std::to_string(max_pixels));
  }
  // imdecode on the bytes (not imread on the path) so that a read error and a decode error are
  // told apart, and no OpenCV path handling is involved.
  const cv::Mat buffer(1, static_cast<int>(bytes.value().size()), CV_8UC1,
                       const_cast<char*>(bytes.value().data()));
  cv::Mat image;
  try {
    image = cv::imdecode(buffer, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return Status::error(path.string() + ": cannot decode image: " + e.what());
  }
  if (image.empty())
    return Status::error(path.string() + ": cannot decode image (corrupt, or not a PNG, JPEG or BMP file)");
  return image;
}

Status validate_preprocess(const ImagePreprocess& params) {
  if (params.resize_shorter < 0) return Status::error("size must be >= 0, got " + std::to_string(params.resize_shorter));
  if (params.center_crop < 0) return Status::error("crop must be >= 0, got " + std::to_string(params.center_crop));
  if (params.max_pixels < 1) return Status::error("max_pixels must be >= 1, got " + std::to_string(params.max_pixels));
  const std::size_t channels = params.gray ? 1 : 3;
  auto check_length = [&](const std::vector<double>& values, const char* what) -> Status {
    if (values.empty() || values.size() == 1 || values.size() == channels) return Status::ok();
    return Status::error(std::string(what) + " has " + std::to_string(values.size()) + " values; need 1 or " +
                         std::to_string(channels) + " (one per channel)");
  };
  LRPFLOW_RETURN_IF_ERROR(check_length(params.mean, "mean"));
  LRPFLOW_RETURN_IF_ERROR(check_length(params.std, "std"));
  for (double s : params.std)
    if (s == 0.0 || !std::isfinite(s)) return Status::error("std values must be finite and non-zero");
  return Status::ok();
}

cv::Matx23d ImageGeometry::model_to_original() const {
  const double sx = static_cast<double>(original_width) / resized_width;
  const double sy = static_cast<double>(original_height) / resized_height;
  return cv::Matx23d(sx, 0, (crop_left + 0.5) * sx - 0.5, 0, sy, (crop_top + 0.5) * sy - 0.5);
}

cv::Rect2d ImageGeometry::seen_region() const {
  const double sx = static_cast<double>(original_width) / resized_width;
  const double sy = static_cast<double>(original_height) / resized_height;
  return cv::Rect2d(crop_left * sx, crop_top * sy, crop_width * sx, crop_height * sy);
}

Result<PreprocessedImage> preprocess_image(const cv::Mat& image, const ImagePreprocess& params) {
  LRPFLOW_RETURN_IF_ERROR(validate_preprocess(params));
  if (image.empty()) return Status::error("empty image");
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
    return Status::error("expected an 8-bit gray or BGR image");

  PreprocessedImage out;
  ImageGeometry& geometry = out.geometry;
  geometry.original_height = image.rows;
  geometry.original_width = image.cols;

  cv::Mat converted;
  if (params.gray) {
    if (image.channels() == 3) cv::cvtColor(image, converted, cv::COLOR_BGR2GRAY);
    else converted = image;
  } else {
    cv::cvtColor(image, converted, image.channels() == 3 ? cv::COLOR_BGR2RGB : cv::COLOR_GRAY2RGB);
  }

  if (params.resize_shorter > 0) {
    const int height = converted.rows, width = converted.cols;
    const int shorter = std::min(height, width);
    if (shorter != params.resize_shorter) {
      const double scale = static_cast<double>(params.resize_shorter) / shorter;
      const double longer = std::floor(std::max(height, width) * scale);
      // The tensor, not only the decoded image, must fit: `size` can enlarge a small image.
      if (longer * params.resize_shorter > static_cast<double>(params.max_pixels) ||
          longer > std::numeric_limits<int>::max()) {
        return Status::error("resizing the " + size_string(height, width) + " image to a shorter side of " +
                             std::to_string(params.resize_shorter) + " gives " +
                             std::to_string(static_cast<std::int64_t>(longer) * params.resize_shorter) +
                             " pixels, more than max_pixels = " + std::to_string(params.max_pixels));
      }
      const int new_height = height <= width ? params.resize_shorter : static_cast<int>(height * scale);
      const int new_width = height <= width ? static_cast<int>(width * scale) : params.resize_shorter;
      cv::Mat resized;
      cv::resize(converted, resized, cv::Size(std::max(new_width, 1), std::max(new_height, 1)), 0, 0,
                 scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
      converted = resized;
    }
  }
  geometry.resized_height = converted.rows;
  geometry.resized_width = converted.cols;
  geometry.crop_height = converted.rows;
  geometry.crop_width = converted.cols;

  if (params.center_crop > 0) {
    const int crop = params.center_crop;
    if (crop > converted.rows || crop > converted.cols)
      return Status::error("crop " + std::to_string(crop) + " is larger than the image (" +
                           size_string(converted.rows, converted.cols) + " after resizing)");
    geometry.crop_top = static_cast<int>(std::lround((converted.rows - crop) / 2.0));
    geometry.crop_left = static_cast<int>(std::lround((converted.cols - crop) / 2.0));
    geometry.crop_height = geometry.crop_width = crop;
    converted = converted(cv::Rect(geometry.crop_left, geometry.crop_top, crop, crop));
  }

  const int channels = converted.channels();
  const cv::Mat contiguous = converted.isContinuous() ? converted : converted.clone();
  if (channels == 3) cv::cvtColor(contiguous, out.model_view, cv::COLOR_RGB2BGR);
  else out.model_view = contiguous.clone();
  // HxWxC uint8 -> 1xCxHxW float: from_blob views the Mat, the permute+to copies out of it.
  at::Tensor hwc = at::from_blob(const_cast<unsigned char*>(contiguous.ptr<unsigned char>()),
                                 {contiguous.rows, contiguous.cols, channels}, at::TensorOptions().dtype(at::kByte));
  at::Tensor chw = hwc.permute({2, 0, 1}).to(at::kFloat).div_(255.0f).contiguous();
  for (int c = 0; c < channels; ++c) {
    const double mean = channel_value(params.mean, c, 0.0);
    const double std = channel_value(params.std, c, 1.0);
    if (mean != 0.0 || std != 1.0) chw[c].sub_(mean).div_(std);
  }
  out.tensor = chw.unsqueeze(0);
  return out;
}

Result<at::Tensor> image_to_tensor(const cv::Mat& image, const ImagePreprocess& params) {
  auto preprocessed = preprocess_image(image, params);
  if (!preprocessed) return preprocessed.status();
  return std::move(preprocessed.value().tensor);
}

Result<cv::Mat> tensor_to_image(const at::Tensor& tensor) {
  if (!tensor.defined()) return Status::error("undefined tensor");
  at::Tensor t = tensor.detach().to(at::kCPU);
  auto is_channels = [](std::int64_t n) { return n == 1 || n == 3 || n == 4; };
  if (t.dim() == 4 && t.size(0) == 1) t = t.squeeze(0);
  if (t.dim() == 2) {
    t = t.unsqueeze(2);
  } else if (t.dim() == 3 && is_channels(t.size(0))) {
    t = t.permute({1, 2, 0});
  } else if (!(t.dim() == 3 && is_channels(t.size(2)))) {
    std::string shape;
    for (auto s : t.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(s);
    return Status::error("cannot make an image of a tensor of shape " + shape +
                         " (expected HxW, CxHxW, 1xCxHxW or HxWxC with C = 1, 3 or 4)");
  }
  if (t.scalar_type() != at::kByte) {
    if (t.is_complex()) return Status::error("cannot make an image of a complex tensor");
    t = t.to(at::kFloat).mul(255.0f).round_().clamp_(0.0f, 255.0f).to(at::kByte);
  }
  t = t.contiguous();
  const int height = static_cast<int>(t.size(0)), width = static_cast<int>(t.size(1));
  const int channels = static_cast<int>(t.size(2));
  cv::Mat view(height, width, CV_8UC(channels), t.data_ptr<unsigned char>());
  cv::Mat out;
  if (channels == 3) cv::cvtColor(view, out, cv::COLOR_RGB2BGR);
  else if (channels == 4) cv::cvtColor(view, out, cv::COLOR_RGBA2BGRA);
  else out = view.clone();
  return out;
}

Result<cv::Mat> to_8bit_image(const cv::Mat& image) {
  if (image.empty()) return Status::error("empty image");
  const int channels = image.channels();
  if (channels != 1 && channels != 3 && channels != 4)
    return Status::error("an image needs 1, 3 or 4 channels, this one has " + std::to_string(channels));
  switch (image.depth()) {
    case CV_8U: return image;
    case CV_16U: {
      cv::Mat out;
      image.convertTo(out, CV_8U, 1.0 / 257.0);
      return out;
    }
    case CV_32F:
    case CV_64F: {
      cv::Mat out;
      image.convertTo(out, CV_8U, 255.0);  // convertTo rounds and saturates
      return out;
    }
    default:
      return Status::error("unsupported image depth (need 8-bit, 16-bit or float)");
  }
}

}  // namespace lrpflow
