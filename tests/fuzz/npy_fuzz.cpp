// Fuzzes .npy parsing (parse_npy). Property: a parsed tensor is float32 with as many elements as its
// shape says, and encoding it again gives bytes that parse to an equal tensor.
#include <ATen/ATen.h>

#include <cstring>

#include "fuzz_support.h"
#include "lrpflow/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lrpflow;
  auto tensor = parse_npy(fuzz::as_text(data, size), "fuzz.npy");
  if (!tensor) return 0;
  const at::Tensor& t = tensor.value();
  if (t.scalar_type() != at::kFloat) fuzz::fail("parse_npy returned a non-float32 tensor");
  auto encoded = encode_npy(t);
  if (!encoded) fuzz::fail("encode_npy of a parsed tensor failed: " + encoded.status().message());
  auto again = parse_npy(encoded.value(), "fuzz.npy (encoded again)");
  if (!again) fuzz::fail("the re-encoded tensor does not parse: " + again.status().message());
  if (again.value().sizes() != t.sizes() || !at::equal(again.value(), t)) {
    // NaN != NaN: compare the bytes instead of the values.
    const at::Tensor a = t.contiguous(), b = again.value().contiguous();
    if (a.sizes() != b.sizes() || std::memcmp(a.data_ptr(), b.data_ptr(), a.numel() * sizeof(float)) != 0)
      fuzz::fail("the re-encoded tensor differs");
  }
  return 0;
}
