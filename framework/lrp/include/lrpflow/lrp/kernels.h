// Numerical building blocks shared by the LRP rules and the engine.
//
// All functions are pure (no state) and thread-safe. For a Conv2d/Linear layer with forward
// f(x; W, b), transpose(s) is the transposed linear map T(W, s) = d/dx sum(s * f(x; W, .)).
// Plain CPU float32 tensors outside autograd go straight to LibTorch's oneDNN kernels, whatever the
// batch size (for a stride-1 convolution T is itself a convolution); anything else, and strided
// convolutions' T (at::convolution_backward, input gradient only), uses ATen's own dispatch.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/graph.h"

namespace lrpflow::lrp {

// zennit's stabiliser: z + eps * sign(z), sign(0) = +1.
at::Tensor stabilize(const at::Tensor& z, double eps);
// Entries with |z| < eps (counted as near-zero denominators in the diagnostics).
std::int64_t count_near_zero(const at::Tensor& z, double eps);
// relevance / stabilize(z, eps), adding the count of |z| < eps to *near_zero (may be null). One
// fused pass when both are float32 of the same shape (the common case: the element-wise work of an
// LRP step is memory-bound and comparable to the convolutions at high resolution); broadcasting
// denominators take the unfused path. Same float arithmetic as the unfused path.
at::Tensor stabilized_divide(const at::Tensor& relevance, const at::Tensor& z, double eps, std::int64_t* near_zero);

// f(x; W, b) with the hyper-parameters of `layer` (Conv2d or Linear); `bias` may be undefined.
at::Tensor affine_forward(const Layer& layer, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);
// T(W, s) for an input shaped like `x` (x provides only the shape).
at::Tensor affine_transpose(const Layer& layer, const at::Tensor& s, const at::Tensor& x, const at::Tensor& weight);

// The plain gradient through MaxPool2d / AvgPool2d / AdaptiveAvgPool2d for an input shaped like `x`.
at::Tensor pool_transpose(const Layer& layer, const at::Tensor& s, const at::Tensor& x, const at::Tensor* indices);

// Batched conditional passes order their rows by the layer where each starts, highest first, so
// the rows under way at any layer are a prefix of the batch and a layer's step runs on those rows
// only. These combine tensors of such prefixes.
// The first `rows` rows of t (t itself when it has no more, or is undefined or a scalar).
at::Tensor leading_rows(const at::Tensor& t, std::int64_t rows);
// a + b where one may have fewer (leading) rows: the rows it lacks count as zero. Either may be
// undefined.
at::Tensor add_leading_rows(const at::Tensor& a, const at::Tensor& b);
// t with zero rows appended up to `rows` (t itself when it has that many).
at::Tensor pad_rows(const at::Tensor& t, std::int64_t rows);

}  // namespace lrpflow::lrp
