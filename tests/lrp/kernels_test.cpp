// The affine kernels (kernels.h) against an independent float64 reference: ATen's own convolution
// and its autograd input gradient, in double precision, which never takes the direct oneDNN path.
// One sample and several, so both the direct oneDNN calls and ATen's dispatch are covered.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <string>

#include "lrpflow/lrp/kernels.h"

namespace lrpflow::lrp {
namespace {

struct ConvCase {
  std::string name;
  std::int64_t in, out, kernel, stride, padding, dilation, groups, size;
};

Layer conv_layer(const ConvCase& c) {
  Layer layer;
  layer.name = c.name;
  layer.kind = LayerKind::Conv2d;
  layer.weight = at::randn({c.out, c.in / c.groups, c.kernel, c.kernel});
  layer.bias = at::randn({c.out});
  layer.kernel_size = {c.kernel, c.kernel};
  layer.stride = {c.stride, c.stride};
  layer.padding = {c.padding, c.padding};
  layer.dilation = {c.dilation, c.dilation};
  layer.groups = c.groups;
  return layer;
}

// max |a - b| relative to max |b|.
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b).abs().max().item<double>() / std::max(1e-30, b.abs().max().item<double>());
}

class ConvKernels : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvKernels, ForwardAndTransposeMatchAFloat64Reference) {
  torch::manual_seed(7);
  const ConvCase& c = GetParam();
  const Layer layer = conv_layer(c);
  for (std::int64_t batch : {1, 3}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const at::Tensor x = at::randn({batch, c.in, c.size, c.size});
    const at::Tensor expected = at::conv2d(x.to(at::kDouble), layer.weight.to(at::kDouble), layer.bias.to(at::kDouble),
                                           layer.stride, layer.padding, layer.dilation, layer.groups);
    const at::Tensor z = affine_forward(layer, x, layer.weight, layer.bias);
    ASSERT_EQ(z.sizes(), expected.sizes());
    EXPECT_EQ(z.scalar_type(), at::kFloat);
    EXPECT_LT(relative_error(z, expected), 1e-5);

    // T(W, s) = d/dx sum(s * conv(x; W)), by autograd in float64.
    const at::Tensor s = at::randn(expected.sizes());
    const at::Tensor x64 = x.to(at::kDouble).set_requires_grad(true);
    const at::Tensor out = at::conv2d(x64, layer.weight.to(at::kDouble), {}, layer.stride, layer.padding, layer.dilation,
                                      layer.groups);
    const at::Tensor gradient = torch::autograd::grad({(out * s.to(at::kDouble)).sum()}, {x64})[0];
    const at::Tensor t = affine_transpose(layer, s, x, layer.weight);
    ASSERT_EQ(t.sizes(), x.sizes());
    EXPECT_LT(relative_error(t, gradient), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvKernels,
    ::testing::Values(ConvCase{"k3_p1", 16, 32, 3, 1, 1, 1, 1, 14}, ConvCase{"k1_p0", 8, 4, 1, 1, 0, 1, 1, 9},
                      ConvCase{"k5_p0_first_layer", 3, 8, 5, 1, 0, 1, 1, 11},
                      ConvCase{"k3_dilation2", 4, 6, 3, 1, 2, 2, 1, 12}, ConvCase{"k3_groups2", 8, 6, 3, 1, 1, 1, 2, 10},
                      ConvCase{"depthwise", 6, 6, 3, 1, 1, 1, 6, 10}, ConvCase{"k3_stride2", 4, 8, 3, 2, 1, 1, 1, 13},
                      ConvCase{"k7_stride2_p3", 3, 4, 7, 2, 3, 1, 1, 20}, ConvCase{"one_pixel", 5, 7, 3, 1, 1, 1, 1, 1}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

TEST(LinearKernels, ForwardAndTransposeMatchAFloat64Reference) {
  torch::manual_seed(11);
  Layer layer;
  layer.name = "fc";
  layer.kind = LayerKind::Linear;
  layer.weight = at::randn({10, 300});
  layer.bias = at::randn({10});
  for (std::int64_t batch : {1, 3, 4, 40}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const at::Tensor x = at::randn({batch, 300});
    const at::Tensor expected = at::linear(x.to(at::kDouble), layer.weight.to(at::kDouble), layer.bias.to(at::kDouble));
    const at::Tensor z = affine_forward(layer, x, layer.weight, layer.bias);
    ASSERT_EQ(z.sizes(), expected.sizes());
    EXPECT_LT(relative_error(z, expected), 1e-5);
    const at::Tensor no_bias = affine_forward(layer, x, layer.weight, at::Tensor());
    EXPECT_LT(relative_error(no_bias, at::linear(x.to(at::kDouble), layer.weight.to(at::kDouble))), 1e-5);
    const at::Tensor s = at::randn({batch, 10});
    EXPECT_LT(relative_error(affine_transpose(layer, s, x, layer.weight), at::matmul(s.to(at::kDouble), layer.weight.to(at::kDouble))),
              1e-5);
  }
}

TEST(AffineKernels, AutogradAndFloat64KeepWorking) {
  torch::manual_seed(3);
  const Layer layer = conv_layer({"k3", 2, 3, 3, 1, 1, 1, 1, 6});
  // Under autograd the result must carry a gradient (ATen's dispatch, not a oneDNN-only op).
  const at::Tensor x = at::randn({1, 2, 6, 6}).set_requires_grad(true);
  const at::Tensor z = affine_forward(layer, x, layer.weight, layer.bias);
  ASSERT_TRUE(z.requires_grad());
  const at::Tensor g = torch::autograd::grad({z.sum()}, {x})[0];
  EXPECT_EQ(g.sizes(), x.sizes());
  // float64 inputs stay float64.
  const Layer layer64 = [&] {
    Layer l = layer;
    l.weight = l.weight.to(at::kDouble);
    l.bias = l.bias.to(at::kDouble);
    return l;
  }();
  const at::Tensor x64 = at::randn({1, 2, 6, 6}, at::kDouble);
  EXPECT_EQ(affine_forward(layer64, x64, layer64.weight, layer64.bias).scalar_type(), at::kDouble);
  EXPECT_EQ(affine_transpose(layer64, at::randn({1, 3, 6, 6}, at::kDouble), x64, layer64.weight).scalar_type(), at::kDouble);
}

}  // namespace
}  // namespace lrpflow::lrp
