// NumPy .npy files: the exchange format for tensors (inputs, relevances, reference fixtures).
//
// Reading accepts format versions 1.0, 2.0 and 3.0, little-endian (or byte-order-free) data in C
// order, of dtype float16/32/64, int8/16/32/64, uint8/16/32/64 or bool; the result is always a
// float32 CPU tensor of the stored shape. Anything else (Fortran order, big-endian data, another
// dtype, a header that does not parse, data shorter or longer than the shape says) is an error that
// names the file and what is wrong.
//
// Writing always produces float32, little-endian, C order, format 1.0 (2.0 when the header does
// not fit 1.0's 16-bit length), and goes through write_file_atomic: a crash never leaves a
// half-written .npy under the real name.
//
// All functions are thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <ATen/core/Tensor.h>

#include "lrpflow/status.h"

namespace lrpflow {

// Parses the bytes of a .npy file; `name` (usually the file path) prefixes every error message.
Result<at::Tensor> parse_npy(std::string_view bytes, const std::string& name);

// Reads a .npy file as a float32 tensor.
Result<at::Tensor> read_npy(const std::filesystem::path& path);

// The bytes of a .npy file holding `tensor` converted to float32 (any device, any layout).
// An undefined tensor, or one whose dtype cannot convert to float (complex), is an error.
Result<std::string> encode_npy(const at::Tensor& tensor);

// Writes `tensor` as float32 .npy at `path`, atomically, creating parent directories.
Status write_npy(const std::filesystem::path& path, const at::Tensor& tensor);

}  // namespace lrpflow
