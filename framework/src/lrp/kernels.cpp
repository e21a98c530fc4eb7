#include "lrpflow/lrp/kernels.h"

#include <atomic>
#include <cmath>
#include <stdexcept>

#include <ATen/Parallel.h>

#include <ATen/ATen.h>

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

at::Tensor affine_forward(const Layer& layer, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (layer.kind == LayerKind::Conv2d)
    return at::conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups);
  if (layer.kind == LayerKind::Linear) return at::linear(x, weight, bias);
  throw std::logic_error("affine_forward on a " + std::string(layer_kind_name(layer.kind)) + " layer");
}

at::Tensor affine_transpose(const Layer& layer, const at::Tensor& s, const at::Tensor& x, const at::Tensor& weight) {
  if (layer.kind == LayerKind::Conv2d) {
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
