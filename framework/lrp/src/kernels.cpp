#include "lrpflow/lrp/kernels.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace lrpflow::lrp {

at::Tensor stabilize(const at::Tensor& z, double eps) {
  // where(z >= 0, z + eps, z - eps) in one fused pass.
  return z + at::where(z >= 0, at::scalar_tensor(eps, z.options()), at::scalar_tensor(-eps, z.options()));
}

std::int64_t count_near_zero(const at::Tensor& z, double eps) { return (z.abs() < eps).sum().item<std::int64_t>(); }

at::Tensor stabilized_divide(const at::Tensor& relevance, const at::Tensor& z, double eps, std::int64_t* near_zero) {
  if (relevance.scalar_type() != at::kFloat || z.scalar_type() != at::kFloat || relevance.sizes() != z.sizes()) {
    if (near_zero) *near_zero += count_near_zero(z, eps);
    return relevance / stabilize(z, eps);
  }
  const at::Tensor r = relevance.contiguous();
  const at::Tensor d = z.contiguous();
  at::Tensor out = at::empty_like(d, at::MemoryFormat::Contiguous);
  const float* pr = r.data_ptr<float>();
  const float* pd = d.data_ptr<float>();
  float* po = out.data_ptr<float>();
  const float e = static_cast<float>(eps);
  std::atomic<std::int64_t> count{0};
  at::parallel_for(0, d.numel(), 1 << 15, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t local = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const float v = pd[i];
      local += std::fabs(v) < e;
      po[i] = pr[i] / (v >= 0.0f ? v + e : v - e);
    }
    count += local;
  });
  if (near_zero) *near_zero += count.load();
  return out;
}

namespace {

// LibTorch 1.13 runs a small convolution through oneDNN only for batches of more than one sample, and
// a Linear layer never (ConvUtils.h, use_mkldnn; Linear.cpp); otherwise it uses im2col and the system
// BLAS, which on Debian 12 is the reference BLAS: 5-10x slower for one small sample, 30x for a Linear
// layer over a batch of 40 (docs/performance.md). Those cases call oneDNN directly; batched convolutions keep
// ATen's dispatch, which already chooses oneDNN for them. Autograd, float64 and tensors that are not
// plain CPU float32 keep ATen's dispatch too.
bool onednn_applies(const at::Tensor& x, const at::Tensor& weight) {
  // LRPFLOW_NO_DIRECT_ONEDNN=1 restores ATen's own choice everywhere (for before/after benchmarks).
  static const bool off = [] {
    const char* value = std::getenv("LRPFLOW_NO_DIRECT_ONEDNN");
    return value != nullptr && *value != '\0' && std::string(value) != "0";
  }();
  if (off) return false;
  if (!at::hasMKLDNN()) return false;
  if (!x.device().is_cpu() || x.layout() != at::kStrided || weight.layout() != at::kStrided) return false;
  if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat) return false;
  return !(at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad()));
}

constexpr std::int64_t kMinOnednnLinearRows = 4;

c10::optional<at::Tensor> optional_bias(const at::Tensor& bias) {
  if (!bias.defined()) return c10::nullopt;
  return bias.scalar_type() == at::kFloat ? bias.contiguous() : bias.to(at::kFloat);
}

}  // namespace

at::Tensor affine_forward(const Layer& layer, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  // Rows that are one sample repeated (a view with stride 0 along the batch: the batched conditional
  // passes, engine.h) have one forward value: compute it once and repeat it the same way.
  if (x.dim() > 1 && x.size(0) > 1 && x.stride(0) == 0) {
    const at::Tensor once = affine_forward(layer, x.narrow(0, 0, 1), weight, bias);
    std::vector<std::int64_t> sizes = once.sizes().vec();
    sizes[0] = x.size(0);
    return once.expand(sizes);
  }
  if (layer.kind == LayerKind::Conv2d) {
    if (onednn_applies(x, weight) && x.dim() == 4 && x.size(0) == 1 && layer.padding.size() == 2 &&
        layer.dilation.size() == 2)
      return at::mkldnn_convolution(x.contiguous(), weight.contiguous(), optional_bias(bias), layer.padding, layer.stride,
                                    layer.dilation, layer.groups);
    return at::conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups);
  }
  if (layer.kind == LayerKind::Linear) {
    // oneDNN reorders the weight on every call, which costs about three rows of the reference BLAS's
    // product (VGG16's 25088x4096 layer: 290 ms against 90 ms for one row, 366 ms for four).
    if (onednn_applies(x, weight) && x.dim() == 2 && x.size(0) >= kMinOnednnLinearRows)
      return at::mkldnn_linear(x.contiguous().to_mkldnn(), weight.contiguous(), optional_bias(bias)).to_dense();
    return at::linear(x, weight, bias);
  }
  throw std::logic_error("affine_forward on a " + std::string(layer_kind_name(layer.kind)) + " layer");
}

namespace {

// For stride 1 the input gradient of a convolution is itself a convolution: of the output signal
// with the kernel flipped in space and its in/out channels swapped (per group), padded by
// dilation * (kernel - 1) - padding on each side.
bool transpose_is_convolution(const Layer& layer, const at::Tensor& weight) {
  if (weight.dim() != 4 || layer.stride.size() != 2 || layer.padding.size() != 2 || layer.dilation.size() != 2) return false;
  for (int d = 0; d < 2; ++d) {
    if (layer.stride[d] != 1) return false;
    if (layer.dilation[d] * (weight.size(2 + d) - 1) < layer.padding[d]) return false;
  }
  return true;
}

at::Tensor transposed_kernel(const at::Tensor& weight, std::int64_t groups) {
  const std::int64_t out = weight.size(0), in_per_group = weight.size(1);
  return weight.flip({2, 3})
      .reshape({groups, out / groups, in_per_group, weight.size(2), weight.size(3)})
      .transpose(1, 2)
      .reshape({groups * in_per_group, out / groups, weight.size(2), weight.size(3)})
      .contiguous();
}

}  // namespace

at::Tensor affine_transpose(const Layer& layer, const at::Tensor& s, const at::Tensor& x, const at::Tensor& weight) {
  if (layer.kind == LayerKind::Conv2d) {
    if (onednn_applies(s, weight) && s.dim() == 4 && s.size(0) == 1 && transpose_is_convolution(layer, weight)) {
      const std::vector<std::int64_t> padding = {layer.dilation[0] * (weight.size(2) - 1) - layer.padding[0],
                                                 layer.dilation[1] * (weight.size(3) - 1) - layer.padding[1]};
      at::Tensor input_gradient = at::mkldnn_convolution(s.contiguous(), transposed_kernel(weight, layer.groups),
                                                         c10::nullopt, padding, {1, 1}, layer.dilation, layer.groups);
      if (input_gradient.sizes() == x.sizes()) return input_gradient;
    }
    // convolution_backward with only the input gradient requested runs at forward speed
    // (conv_transpose2d does not, in this LibTorch).
    auto grads = at::convolution_backward(s, x, weight, c10::nullopt, layer.stride, layer.padding, layer.dilation,
                                          /*transposed=*/false, /*output_padding=*/{0, 0}, layer.groups,
                                          {true, false, false});
    return std::get<0>(grads);
  }
  if (layer.kind == LayerKind::Linear) return at::matmul(s, weight);
  throw std::logic_error("affine_transpose on a " + std::string(layer_kind_name(layer.kind)) + " layer");
}

at::Tensor pool_transpose(const Layer& layer, const at::Tensor& s, const at::Tensor& x, const at::Tensor* indices) {
  switch (layer.kind) {
    case LayerKind::MaxPool2d:
      if (!indices || !indices->defined()) throw std::logic_error("max-pool relevance needs the forward indices");
      return at::max_pool2d_with_indices_backward(s, x, layer.kernel_size, layer.stride, layer.padding,
                                                  layer.dilation, layer.ceil_mode, *indices);
    case LayerKind::AvgPool2d:
      return at::avg_pool2d_backward(s, x, layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                                     layer.count_include_pad,
                                     layer.divisor_override ? c10::optional<int64_t>(*layer.divisor_override) : c10::nullopt);
    case LayerKind::AdaptiveAvgPool2d:
      return at::_adaptive_avg_pool2d_backward(s, x);
    default:
      throw std::logic_error("pool_transpose on a " + std::string(layer_kind_name(layer.kind)) + " layer");
  }
}

at::Tensor leading_rows(const at::Tensor& t, std::int64_t rows) {
  return t.defined() && t.dim() > 0 && t.size(0) > rows ? t.narrow(0, 0, rows) : t;
}

at::Tensor add_leading_rows(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  if (a.size(0) == b.size(0)) return a + b;
  const at::Tensor& longer = a.size(0) > b.size(0) ? a : b;
  const at::Tensor& shorter = a.size(0) > b.size(0) ? b : a;
  at::Tensor sum = longer.clone();
  sum.narrow(0, 0, shorter.size(0)).add_(shorter);
  return sum;
}

at::Tensor pad_rows(const at::Tensor& t, std::int64_t rows) {
  if (!t.defined() || t.dim() == 0 || t.size(0) >= rows) return t;
  std::vector<std::int64_t> missing(t.sizes().begin(), t.sizes().end());
  missing[0] = rows - t.size(0);
  return at::cat({t, at::zeros(missing, t.options())}, 0);
}

}  // namespace lrpflow::lrp
