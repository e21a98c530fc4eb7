// idx_loader: records of (Fashion-)MNIST IDX files -> 1x1x28x28 tensors, gray images and labels.
//
// The whole file is read once in open() (the 10k test set is 7.8 MB); process() copies one record,
// so it is reentrant.
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>

#include "loaders.h"
#include "lrpflow/image.h"

namespace lrpflow::loaders {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

// Reads a whole file through zlib, which passes uncompressed files through unchanged.
Result<std::string> read_maybe_gzipped(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::error(path.string() + ": no such file");
  if (fs::is_directory(path, ec)) return Status::error(path.string() + ": is a directory, not an IDX file");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), &gzclose);
  if (!file) return Status::error(path.string() + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file.get(), buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      return Status::error(path.string() + ": corrupt gzip data (" + (message ? message : "unknown zlib error") + ")");
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  // gzread returns 0 both at the end and when the compressed stream is cut short.
  int code = Z_OK;
  const char* message = gzerror(file.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END)
    return Status::error(path.string() + ": corrupt gzip data (" + (message ? message : "unknown zlib error") + ")");
  return bytes;
}

std::uint32_t big_endian_u32(const std::string& bytes, std::size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

struct IdxImages {
  std::string bytes;  // the whole file; records start at kImagesHeader
  std::int64_t count = 0, rows = 0, cols = 0;
  static constexpr std::size_t kHeader = 16;
};

Result<IdxImages> load_images(const fs::path& path) {
  auto bytes = read_maybe_gzipped(path);
  if (!bytes) return bytes.status();
  IdxImages images;
  images.bytes = std::move(bytes).value();
  const std::string name = path.string();
  if (images.bytes.size() < IdxImages::kHeader)
    return Status::error(name + ": truncated IDX file (" + std::to_string(images.bytes.size()) +
                         " bytes, the header alone needs 16)");
  const std::uint32_t magic = big_endian_u32(images.bytes, 0);
  if (magic != kImagesMagic) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%08x", magic);
    return Status::error(name + ": bad magic number " + hex + " (an IDX image file starts with 0x00000803)");
  }
  images.count = big_endian_u32(images.bytes, 4);
  images.rows = big_endian_u32(images.bytes, 8);
  images.cols = big_endian_u32(images.bytes, 12);
  if (images.rows == 0 || images.cols == 0 || images.rows > 4096 || images.cols > 4096)
    return Status::error(name + ": implausible image size " + std::to_string(images.rows) + "x" + std::to_string(images.cols));
  const std::size_t needed = IdxImages::kHeader + static_cast<std::size_t>(images.count * images.rows * images.cols);
  if (images.bytes.size() < needed)
    return Status::error(name + ": truncated IDX file (header says " + std::to_string(images.count) + " images of " +
                         std::to_string(images.rows) + "x" + std::to_string(images.cols) + ", which needs " +
                         std::to_string(needed) + " bytes; the file has " + std::to_string(images.bytes.size()) + ")");
  return images;
}

Result<std::string> load_labels(const fs::path& path, std::int64_t expected_count) {
  auto bytes = read_maybe_gzipped(path);
  if (!bytes) return bytes.status();
  std::string labels = std::move(bytes).value();
  const std::string name = path.string();
  if (labels.size() < 8)
    return Status::error(name + ": truncated IDX file (" + std::to_string(labels.size()) + " bytes, the header alone needs 8)");
  const std::uint32_t magic = big_endian_u32(labels, 0);
  if (magic != kLabelsMagic) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%08x", magic);
    return Status::error(name + ": bad magic number " + hex + " (an IDX label file starts with 0x00000801)");
  }
  const std::int64_t count = big_endian_u32(labels, 4);
  if (count != expected_count)
    return Status::error(name + ": has " + std::to_string(count) + " labels but the image file has " +
                         std::to_string(expected_count) + " images");
  if (labels.size() < 8 + static_cast<std::size_t>(count))
    return Status::error(name + ": truncated IDX file (header says " + std::to_string(count) + " labels; the file has " +
                         std::to_string(labels.size() - 8) + ")");
  return labels.substr(8, static_cast<std::size_t>(count));
}

// "t10k-images-idx3-ubyte.gz" -> "t10k-labels-idx1-ubyte.gz"; empty when the name does not follow
// the MNIST naming.
fs::path matching_labels_file(const fs::path& images) {
  std::string name = images.filename().string();
  const auto at = name.find("images-idx3");
  if (at == std::string::npos) return {};
  name.replace(at, std::strlen("images-idx3"), "labels-idx1");
  return images.parent_path() / name;
}

// Item id prefix: the file name up to the first '-' or '.' ("t10k", "train").
std::string id_prefix(const fs::path& images) {
  const std::string name = images.filename().string();
  const auto end = name.find_first_of("-.");
  return end == std::string::npos || end == 0 ? name : name.substr(0, end);
}

class IdxLoader final : public SourceStage {
 public:
  Status open(const StageContext& ctx) override {
    const std::string images_option = ctx.options.get_string("images");
    images_path_ = resolve(images_option, ctx.base_dir);
    std::error_code ec;
    if (images_option == kDefaultImages && !fs::exists(images_path_, ec))
      return Status::error(images_path_.string() +
                           ": no such file; install the Debian package dataset-fashion-mnist "
                           "(sudo apt-get install dataset-fashion-mnist) or set the `images` option");
    auto images = load_images(images_path_);
    if (!images) return images.status();
    images_ = std::move(images).value();

    const std::string labels_option = ctx.options.get_string("labels");
    if (labels_option != "none") {
      fs::path labels_path;
      if (labels_option.empty()) {
        // The default: the matching labels file, when there is one beside the images.
        labels_path = matching_labels_file(images_path_);
        if (!labels_path.empty() && !fs::exists(labels_path, ec)) labels_path.clear();
      } else {
        labels_path = resolve(labels_option, ctx.base_dir);
      }
      if (!labels_path.empty()) {
        auto labels = load_labels(labels_path, images_.count);
        if (!labels) return labels.status();
        labels_ = std::move(labels).value();
        has_labels_ = true;
      }
    }

    first_ = ctx.options.get_int("first");
    count_ = ctx.options.get_int("count");
    if (first_ < 0) return Status::error("first must be >= 0, got " + std::to_string(first_));
    if (count_ < 0) return Status::error("count must be >= 0 (0 = all), got " + std::to_string(count_));
    if (first_ >= images_.count)
      return Status::error("first is " + std::to_string(first_) + " but " + images_path_.string() + " has only " +
                           std::to_string(images_.count) + " images");
    if (count_ == 0 || first_ + count_ > images_.count) count_ = images_.count - first_;

    params_.gray = true;
    params_.mean = ctx.options.get_float_list("mean");
    params_.std = ctx.options.get_float_list("std");
    prefix_ = id_prefix(images_path_);
    return validate_preprocess(params_);
  }

  Result<std::vector<ItemRef>> enumerate() override {
    std::vector<ItemRef> refs;
    refs.reserve(static_cast<std::size_t>(count_));
    for (std::int64_t record = first_; record < first_ + count_; ++record) {
      char number[16];
      std::snprintf(number, sizeof(number), "%05lld", static_cast<long long>(record));
      refs.push_back({prefix_ + "-" + number, images_path_.string() + "#" + std::to_string(record)});
    }
    return refs;
  }

  Status process(Item& item) override {
    // The record number is what follows the last '#' of the source set by enumerate().
    const auto hash = item.source().rfind('#');
    if (hash == std::string::npos) return Status::error("item source '" + item.source() + "' names no record");
    const std::int64_t record = std::stoll(item.source().substr(hash + 1));
    if (record < 0 || record >= images_.count)
      return Status::error(item.source() + ": record out of range (the file has " + std::to_string(images_.count) + ")");
    const std::size_t pixels = static_cast<std::size_t>(images_.rows * images_.cols);
    const char* data = images_.bytes.data() + IdxImages::kHeader + static_cast<std::size_t>(record) * pixels;
    cv::Mat image = cv::Mat(static_cast<int>(images_.rows), static_cast<int>(images_.cols), CV_8UC1,
                            const_cast<char*>(data)).clone();
    auto tensor = image_to_tensor(image, params_);
    if (!tensor) return tensor.status().with_context(item.source());
    item.set("input", std::move(tensor).value());
    item.set("image", std::move(image));
    if (has_labels_) {
      const auto label = static_cast<unsigned char>(labels_[static_cast<std::size_t>(record)]);
      item.set("label", at::full({1}, static_cast<std::int64_t>(label), at::TensorOptions().dtype(at::kLong)));
    }
    return Status::ok();
  }

 private:
  static fs::path resolve(const std::string& path, const fs::path& base_dir) {
    return fs::path(path).is_absolute() ? fs::path(path) : (base_dir / path).lexically_normal();
  }

  fs::path images_path_;
  IdxImages images_;
  std::string labels_;
  bool has_labels_ = false;
  std::int64_t first_ = 0, count_ = 0;
  ImagePreprocess params_;
  std::string prefix_;
};

}  // namespace

StageTypeInfo idx_loader_type() {
  std::vector<OptionSpec> options = {
      {"images", OptionType::String, std::string(kDefaultImages), "IDX image file (gzipped or not)", false, {}},
      {"labels", OptionType::String, std::string(""), "IDX label file; empty = the matching *-labels-idx1-* file beside the images if present; 'none' = no labels", false, {}},
      {"first", OptionType::Int, std::int64_t{0}, "first record to load", false, {}},
      {"count", OptionType::Int, std::int64_t{0}, "number of records (0 = all from `first`)", false, {}},
      {"mean", OptionType::FloatList, std::vector<double>{}, "mean subtracted after scaling to [0,1]", false, {}},
      {"std", OptionType::FloatList, std::vector<double>{}, "std divided by after subtracting the mean", false, {}},
  };
  auto info = make_stage_type<IdxLoader>(
      "idx_loader", "loads (Fashion-)MNIST IDX records as 1x1xHxW tensors with their labels", std::move(options),
      [](const Options& o) {
        SlotDeclaration slots;
        slots.writes.push_back({"input", SlotType::Tensor, "float32 1x1xHxW in [0,1], then normalised", false});
        slots.writes.push_back({"image", SlotType::Image, "the record as an 8-bit gray image", false});
        if (o.get_string("labels") != "none")
          slots.writes.push_back({"label", SlotType::Tensor, "int64 tensor of one element (when labels exist)", false});
        return slots;
      });
  info.reentrant = true;
  return info;
}

}  // namespace lrpflow::loaders
