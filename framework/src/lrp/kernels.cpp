#include "lrpflow/lrp/kernels.h"

#include <stdexcept>

#include <ATen/ATen.h>

namespace lrpflow::lrp {

at::Tensor stabilize(const at::Tensor& z, double eps) {
  // where(z >= 0, z + eps, z - eps) in one fused pass.
  return z + at::where(z >= 0, at::scalar_tensor(eps, z.options()), at::scalar_tensor(-eps, z.options()));
}

std::int64_t count_near_zero(const at::Tensor& z, double eps) { return (z.abs() < eps).sum().item<std::int64_t>(); }

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

}  // namespace lrpflow::lrp
