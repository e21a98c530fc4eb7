// idx_loader: records of (Fashion-)MNIST IDX files -> 1x1x28x28 tensors, gray images and labels.
//
// The records the run needs (first + count of them) are read once in open(), within the max_bytes
// limit (the 10k test set is 7.8 MB); process() copies one record, so it is reentrant.
#include <zlib.h>

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>

#include "loaders.h"
#include "lrpflow/image/image.h"

namespace lrpflow::loaders {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

// Decoded bytes one loader may hold by default: the whole Fashion-MNIST training set is 47 MB.
constexpr std::int64_t kDefaultMaxBytes = std::int64_t{1} << 30;

// An IDX file opened through zlib, which passes uncompressed files through unchanged. Reads are
// exact and stop where asked: a small gzip file that inflates to gigabytes is never inflated
// further than the records the run needs.
class IdxFile {
 public:
  static Result<IdxFile> open(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return Status::error(path.string() + ": no such file");
    if (!fs::is_regular_file(path, ec)) return Status::error(path.string() + ": not a regular file, not an IDX file");
    IdxFile file;
    file.name_ = path.string();
    file.file_.reset(gzopen(path.c_str(), "rb"));
    if (!file.file_) return Status::error(path.string() + ": cannot open: " + std::strerror(errno));
    return file;
  }

  // Exactly `size` bytes, or an error saying how many the file had (`what` names them).
  Result<std::string> read(std::size_t size, const std::string& what) {
    std::string bytes(size, '\0');
    std::size_t done = 0;
    while (done < size) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, 1 << 20));
      const int n = gzread(file_.get(), bytes.data() + done, chunk);
      if (n < 0) return corrupt();
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (done < size) {
      // gzread returns 0 both at the end and when the compressed stream is cut short.
      int code = Z_OK;
      gzerror(file_.get(), &code);
      if (code != Z_OK && code != Z_STREAM_END) return corrupt();
      return Status::error(name_ + ": truncated IDX file (" + what + " needs " + std::to_string(size) +
                           " bytes; the file has " + std::to_string(done) + ")");
    }
    return bytes;
  }

 private:
  Status corrupt() const {
    int code = 0;
    const char* message = gzerror(file_.get(), &code);
    return Status::error(name_ + ": corrupt gzip data (" + (message ? message : "unknown zlib error") + ")");
  }

  std::string name_;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file_{nullptr, &gzclose};
};

std::uint32_t big_endian_u32(const std::string& bytes, std::size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

Status check_magic(const std::string& header, std::uint32_t expected, const std::string& name, const char* kind) {
  const std::uint32_t magic = big_endian_u32(header, 0);
  if (magic == expected) return Status::ok();
  char hex[16], want[16];
  std::snprintf(hex, sizeof(hex), "0x%08x", magic);
  std::snprintf(want, sizeof(want), "0x%08x", expected);
  return Status::error(name + ": bad magic number " + hex + " (an IDX " + kind + " file starts with " + want + ")");
}

Status over_limit(const std::string& name, std::int64_t records, std::int64_t bytes, std::int64_t max_bytes) {
  return Status::error(name + ": the " + std::to_string(records) + " records to load need " + std::to_string(bytes) +
                       " bytes, over the limit max_bytes = " + std::to_string(max_bytes) +
                       " (raise the option, or load fewer with first/count)");
}

struct IdxImages {
  std::string records;  // records [0, loaded) one after another, rows * cols bytes each
  std::int64_t count = 0, rows = 0, cols = 0;  // count: as the header says
  std::int64_t loaded = 0;
};

// Reads the header, then records [0, wanted(count)) only.
Result<IdxImages> load_images(const fs::path& path, const std::function<std::int64_t(std::int64_t)>& wanted,
                              std::int64_t max_bytes) {
  auto file = IdxFile::open(path);
  if (!file) return file.status();
  const std::string name = path.string();
  auto header = file.value().read(16, "the header");
  if (!header) return header.status();
  LRPFLOW_RETURN_IF_ERROR(check_magic(header.value(), kImagesMagic, name, "image"));
  IdxImages images;
  images.count = big_endian_u32(header.value(), 4);
  images.rows = big_endian_u32(header.value(), 8);
  images.cols = big_endian_u32(header.value(), 12);
  if (images.rows == 0 || images.cols == 0 || images.rows > 4096 || images.cols > 4096)
    return Status::error(name + ": implausible image size " + std::to_string(images.rows) + "x" + std::to_string(images.cols));
  images.loaded = std::min(images.count, wanted(images.count));
  const std::int64_t bytes = images.loaded * images.rows * images.cols;
  if (bytes > max_bytes) return over_limit(name, images.loaded, bytes, max_bytes);
  auto records = file.value().read(static_cast<std::size_t>(bytes),
                                   std::to_string(images.loaded) + " images of " + std::to_string(images.rows) + "x" +
                                       std::to_string(images.cols));
  if (!records) return records.status();
  images.records = std::move(records).value();
  return images;
}

// The labels of records [0, loaded); the file must list as many labels as the image file has images.
Result<std::string> load_labels(const fs::path& path, std::int64_t image_count, std::int64_t loaded) {
  auto file = IdxFile::open(path);
  if (!file) return file.status();
  const std::string name = path.string();
  auto header = file.value().read(8, "the header");
  if (!header) return header.status();
  LRPFLOW_RETURN_IF_ERROR(check_magic(header.value(), kLabelsMagic, name, "label"));
  const std::int64_t count = big_endian_u32(header.value(), 4);
  if (count != image_count)
    return Status::error(name + ": has " + std::to_string(count) + " labels but the image file has " +
                         std::to_string(image_count) + " images");
  return file.value().read(static_cast<std::size_t>(loaded), std::to_string(loaded) + " labels");
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
    first_ = ctx.options.get_int("first");
    count_ = ctx.options.get_int("count");
    const std::int64_t max_bytes = ctx.options.get_int("max_bytes");
    if (first_ < 0) return Status::error("first must be >= 0, got " + std::to_string(first_));
    if (count_ < 0) return Status::error("count must be >= 0 (0 = all), got " + std::to_string(count_));
    if (max_bytes <= 0) return Status::error("max_bytes must be > 0, got " + std::to_string(max_bytes));
    const std::int64_t first = first_, count = count_;
    auto images = load_images(
        images_path_, [&](std::int64_t total) { return count == 0 ? total : std::min(total, first + count); },
        max_bytes);
    if (!images) return images.status();
    images_ = std::move(images).value();
    if (first_ >= images_.count)
      return Status::error("first is " + std::to_string(first_) + " but " + images_path_.string() + " has only " +
                           std::to_string(images_.count) + " images");
    count_ = images_.loaded - first_;

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
        auto labels = load_labels(labels_path, images_.count, images_.loaded);
        if (!labels) return labels.status();
        labels_ = std::move(labels).value();
        has_labels_ = true;
      }
    }

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
    if (record < 0 || record >= images_.loaded)
      return Status::error(item.source() + ": record out of range (loaded " + std::to_string(images_.loaded) + ")");
    const std::size_t pixels = static_cast<std::size_t>(images_.rows * images_.cols);
    const char* data = images_.records.data() + static_cast<std::size_t>(record) * pixels;
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
      OptionSpec{"max_bytes", OptionType::Int, kDefaultMaxBytes, "most decoded image bytes to hold (records first..first+count); more is an error naming the limit", false, {}}
          .int_range(1, std::numeric_limits<std::int64_t>::max()),
      {"mean", OptionType::FloatList, std::vector<double>{}, "mean subtracted after scaling to [0,1]", false, {}},
      {"std", OptionType::FloatList, std::vector<double>{}, "std divided by after subtracting the mean", false, {}},
  };
  auto info = make_stage_type<IdxLoader>(
      "idx_loader", "loads (Fashion-)MNIST IDX records as 1x1xHxW tensors with their labels", std::move(options),
      [](const Options& o) {
        SlotDeclaration slots;
        slots.writes.push_back({"input", SlotType::Tensor, "float32 1x1xHxW in [0,1], then normalised", false});
        slots.writes.push_back({"image", image_slot_type(), "the record as an 8-bit gray image", false});
        if (o.get_string("labels") != "none")
          slots.writes.push_back({"label", SlotType::Tensor, "int64 tensor of one element (when labels exist)", false});
        return slots;
      });
  info.reentrant = true;
  return info;
}

}  // namespace lrpflow::loaders
