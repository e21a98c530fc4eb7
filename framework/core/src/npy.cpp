#include "lrpflow/npy.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include <ATen/ATen.h>

#include "lrpflow/files.h"

namespace lrpflow {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// numpy pads the header so that the data starts on a 64-byte boundary (for memory mapping).
constexpr std::size_t kHeaderAlignment = 64;
constexpr std::int64_t kMaxDimension = std::int64_t{1} << 40;

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

struct DtypeInfo {
  at::ScalarType type;
  std::size_t item_size;
};

std::optional<DtypeInfo> dtype_from_code(char kind, int size) {
  switch (kind) {
    case 'f':
      if (size == 2) return DtypeInfo{at::kHalf, 2};
      if (size == 4) return DtypeInfo{at::kFloat, 4};
      if (size == 8) return DtypeInfo{at::kDouble, 8};
      break;
    case 'i':
      if (size == 1) return DtypeInfo{at::kChar, 1};
      if (size == 2) return DtypeInfo{at::kShort, 2};
      if (size == 4) return DtypeInfo{at::kInt, 4};
      if (size == 8) return DtypeInfo{at::kLong, 8};
      break;
    // uint16/32/64 have no ATen type in 1.13: they are widened to int64 (uint64 above 2^63 wraps,
    // which float32 could not represent exactly anyway).
    case 'u':
      if (size == 1) return DtypeInfo{at::kByte, 1};
      if (size == 2 || size == 4 || size == 8) return DtypeInfo{at::kLong, static_cast<std::size_t>(size)};
      break;
    case 'b':
      if (size == 1) return DtypeInfo{at::kBool, 1};
      break;
  }
  return std::nullopt;
}

// A tiny reader for the Python-literal dict numpy writes, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  Result<NpyHeader> parse() {
    NpyHeader header;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    if (!consume('{')) return fail("expected '{'");
    while (true) {
      skip_space();
      if (consume('}')) break;
      auto key = parse_string();
      if (!key) return fail("expected a quoted key");
      skip_space();
      if (!consume(':')) return fail("expected ':' after '" + *key + "'");
      skip_space();
      if (*key == "descr") {
        auto value = parse_string();
        if (!value) return fail("'descr' is not a string (structured dtypes are not supported)");
        header.descr = *value;
        have_descr = true;
      } else if (*key == "fortran_order") {
        if (consume_word("True")) header.fortran_order = true;
        else if (consume_word("False")) header.fortran_order = false;
        else return fail("'fortran_order' is not True or False");
        have_order = true;
      } else if (*key == "shape") {
        auto shape = parse_shape();
        if (!shape) return fail("'shape' is not a tuple of non-negative integers");
        header.shape = std::move(*shape);
        have_shape = true;
      } else {
        return fail("unexpected key '" + *key + "'");
      }
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume('}')) break;
      return fail("expected ',' or '}'");
    }
    if (!have_descr || !have_order || !have_shape)
      return fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    return header;
  }

 private:
  Status fail(const std::string& what) const {
    return Status::error("bad header (" + what + " at offset " + std::to_string(pos_) + ")");
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }
  std::optional<std::string> parse_string() {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return std::nullopt;
    const char quote = text_[pos_++];
    const std::size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }
  std::optional<std::vector<std::int64_t>> parse_shape() {
    if (!consume('(')) return std::nullopt;
    std::vector<std::int64_t> shape;
    while (true) {
      skip_space();
      if (consume(')')) return shape;
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) return std::nullopt;
      std::int64_t dim = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (dim > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return std::nullopt;
        dim = dim * 10 + (text_[pos_++] - '0');
      }
      consume('L');  // Python 2 longs, still found in old files
      shape.push_back(dim);
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume(')')) return shape;
      return std::nullopt;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::uint32_t read_le(const unsigned char* p, int bytes) {
  std::uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Widens unsigned 16/32/64-bit little-endian data, which has no ATen dtype, into int64.
at::Tensor widen_unsigned(const unsigned char* data, std::int64_t count, std::size_t item_size,
                          const std::vector<std::int64_t>& shape) {
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(at::kLong));
  std::int64_t* dst = out.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint64_t value = 0;
    for (int b = static_cast<int>(item_size) - 1; b >= 0; --b) value = (value << 8) | data[i * item_size + b];
    dst[i] = static_cast<std::int64_t>(value);
  }
  return out;
}

}  // namespace

Result<at::Tensor> parse_npy(std::string_view bytes, const std::string& name) {
  auto error = [&](const std::string& what) { return Status::error(name + ": " + what); };
  const auto* raw = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kMagicSize + 2 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
    return error("not a .npy file (missing the \\x93NUMPY magic)");
  const int major = raw[kMagicSize];
  const int minor = raw[kMagicSize + 1];
  if (major < 1 || major > 3)
    return error("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  const int length_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicSize + 2 + length_bytes;
  if (bytes.size() < prefix) return error("truncated (file ends inside the header length)");
  const std::size_t header_length = read_le(raw + kMagicSize + 2, length_bytes);
  if (bytes.size() < prefix + header_length)
    return error("truncated (header says " + std::to_string(header_length) + " bytes, file has " +
                 std::to_string(bytes.size() - prefix) + ")");

  auto parsed = HeaderParser(bytes.substr(prefix, header_length)).parse();
  if (!parsed) return error(parsed.status().message());
  const NpyHeader& header = parsed.value();

  if (header.fortran_order)
    return error("Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  if (header.descr.size() < 3) return error("unsupported dtype '" + header.descr + "'");
  const char order = header.descr[0];
  const char kind = header.descr[1];
  const std::string size_text = header.descr.substr(2);
  if (size_text.size() > 2 || size_text.find_first_not_of("0123456789") != std::string::npos)
    return error("unsupported dtype '" + header.descr + "'");
  const int size = std::stoi(size_text);
  // '>' only matters for multi-byte types; '=' is native, which is little-endian on every
  // platform lrpflow builds for.
  if (order == '>' && size > 1)
    return error("big-endian data ('" + header.descr + "') is not supported; save with dtype '<" + kind + size_text + "'");
  if (order != '<' && order != '|' && order != '=' && order != '>')
    return error("unsupported dtype '" + header.descr + "'");
  const auto dtype = dtype_from_code(kind, size);
  if (!dtype)
    return error("unsupported dtype '" + header.descr +
                 "' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)");

  // The shape is judged without its dtype, so that a shape accepted for one dtype is accepted for
  // every other (the product of its non-zero dimensions in 8-byte elements fits in 64 bits). With a
  // zero elsewhere in the shape any dimension fits the data, but LibTorch cannot hold sizes past
  // 2^62 (SymInt) and no real axis comes near 2^40.
  constexpr std::int64_t kMaxElements = std::numeric_limits<std::int64_t>::max() / 8;
  std::int64_t nonzero_product = 1;
  bool empty = false;
  for (std::int64_t dim : header.shape) {
    if (dim > kMaxDimension)
      return error("shape " + shape_string(header.shape) + " has a dimension over " + std::to_string(kMaxDimension));
    if (dim == 0) {
      empty = true;
      continue;
    }
    if (nonzero_product > kMaxElements / dim) return error("shape " + shape_string(header.shape) + " is too large");
    nonzero_product *= dim;
  }
  const std::int64_t count = empty ? 0 : nonzero_product;
  const std::size_t data_bytes = static_cast<std::size_t>(count) * dtype->item_size;
  const std::size_t available = bytes.size() - prefix - header_length;
  if (available < data_bytes)
    return error("truncated (shape " + shape_string(header.shape) + " of " + header.descr + " needs " +
                 std::to_string(data_bytes) + " data bytes, file has " + std::to_string(available) + ")");
  if (available > data_bytes)
    return error(std::to_string(available - data_bytes) + " unexpected bytes after the data of shape " +
                 shape_string(header.shape));

  const unsigned char* data = raw + prefix + header_length;
  try {
    at::Tensor typed;
    if (kind == 'u' && size > 1) {
      typed = widen_unsigned(data, count, dtype->item_size, header.shape);
    } else {
      // Copy into a tensor of the stored dtype first: the data in the file buffer need not be
      // aligned for its type.
      typed = at::empty(header.shape, at::TensorOptions().dtype(dtype->type));
      if (data_bytes) std::memcpy(typed.data_ptr(), data, data_bytes);
    }
    return typed.to(at::kFloat);
  } catch (const std::exception& e) {
    return error("cannot hold shape " + shape_string(header.shape) + " as a tensor: " + exception_message(e));
  }
}

Result<at::Tensor> read_npy(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.status();
  return parse_npy(bytes.value(), path.string());
}

Result<std::string> encode_npy(const at::Tensor& tensor) {
  if (!tensor.defined()) return Status::error("cannot write an undefined tensor as .npy");
  if (tensor.is_complex()) return Status::error("cannot write a complex tensor as float32 .npy");
  const at::Tensor data = tensor.detach().to(at::kCPU).to(at::kFloat).contiguous();

  std::vector<std::int64_t> shape(data.sizes().begin(), data.sizes().end());
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
  // Pad with spaces and end with '\n' so that magic + version + length + header is aligned.
  auto padded_for = [&](std::size_t length_bytes) {
    const std::size_t unpadded = kMagicSize + 2 + length_bytes + header.size() + 1;
    return header + std::string((kHeaderAlignment - unpadded % kHeaderAlignment) % kHeaderAlignment, ' ') + "\n";
  };
  std::string text = padded_for(2);
  int major = 1;
  if (text.size() > 0xFFFF) {
    text = padded_for(4);
    major = 2;
  }

  const std::size_t data_bytes = static_cast<std::size_t>(data.numel()) * sizeof(float);
  std::string out;
  out.reserve(kMagicSize + 6 + text.size() + data_bytes);
  out.append(kMagic, kMagicSize);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  const std::uint32_t length = static_cast<std::uint32_t>(text.size());
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
  out += text;
  // float32 is stored little-endian, which is the host order on every platform lrpflow builds for.
  if (data_bytes) out.append(reinterpret_cast<const char*>(data.data_ptr<float>()), data_bytes);
  return out;
}

Status write_npy(const std::filesystem::path& path, const at::Tensor& tensor) {
  auto bytes = encode_npy(tensor);
  if (!bytes) return bytes.status().with_context(path.string());
  return write_file_atomic(path, bytes.value());
}

}  // namespace lrpflow
