// Deconvolution through tiny models, checked against reconstructions worked out by hand.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "lrpflow/visual/deconv.h"

namespace lrpflow::visual {
namespace {

using lrp::Layer;
using lrp::LayerKind;

Layer conv(const std::string& name, at::Tensor weight, std::vector<int> inputs) {
  Layer l;
  l.name = name;
  l.kind = LayerKind::Conv2d;
  l.inputs = std::move(inputs);
  l.bias = at::zeros({weight.size(0)});
  l.weight = std::move(weight);
  l.stride = {1, 1};
  l.padding = {0, 0};
  l.dilation = {1, 1};
  return l;
}

Layer simple(const std::string& name, LayerKind kind, std::vector<int> inputs) {
  Layer l;
  l.name = name;
  l.kind = kind;
  l.inputs = std::move(inputs);
  return l;
}

std::shared_ptr<lrp::Model> one_conv_model() {
  // conv 1->1, 2x2 kernel [[1, 2], [3, 4]], no bias, then ReLU.
  std::vector<Layer> layers{conv("conv", at::tensor({1.f, 2.f, 3.f, 4.f}).reshape({1, 1, 2, 2}), {lrp::kModelInput}),
                            simple("relu", LayerKind::ReLU, {0})};
  auto model = lrp::Model::create(std::move(layers), {1, 3, 3}, "test");
  EXPECT_TRUE(model) << model.status().message();
  return model.value();
}

TEST(Deconv, OneConvLayerMatchesHandComputation) {
  auto model = one_conv_model();
  // x = identity 3x3: feature map z = [[5, 3], [2, 5]] (all positive, so ReLU keeps it).
  const at::Tensor x = at::eye(3).reshape({1, 1, 3, 3});
  auto acts = model->forward(x);
  ASSERT_TRUE(acts) << acts.status().message();
  auto r = deconvolve(*model, acts.value(), 0, "conv", 0, {});
  ASSERT_TRUE(r) << r.status().message();
  // Transposed convolution of z with the kernel: sum over positions o of z[o] * W placed at o.
  const at::Tensor expected = at::tensor({5.f, 13.f, 6.f, 17.f, 38.f, 22.f, 6.f, 23.f, 20.f}).reshape({1, 3, 3});
  EXPECT_TRUE(at::allclose(r.value(), expected)) << r.value();

  DeconvOptions strongest;
  strongest.strongest_position_only = true;  // z[0,0] = 5 (first of the two maxima): 5 * W at the top left
  auto s = deconvolve(*model, acts.value(), 0, "conv", 0, strongest);
  ASSERT_TRUE(s);
  EXPECT_TRUE(at::allclose(s.value(), at::tensor({5.f, 10.f, 0.f, 15.f, 20.f, 0.f, 0.f, 0.f, 0.f}).reshape({1, 3, 3})));
}

TEST(Deconv, UnpoolsThroughTheSwitches) {
  // conv1 (1x1, w=1) -> ReLU -> MaxPool 2x2 -> conv2 (1x1, w=2) -> ReLU.
  std::vector<Layer> layers{conv("conv1", at::ones({1, 1, 1, 1}), {lrp::kModelInput}), simple("relu1", LayerKind::ReLU, {0}),
                            simple("pool", LayerKind::MaxPool2d, {1}), conv("conv2", at::full({1, 1, 1, 1}, 2.f), {2}),
                            simple("relu2", LayerKind::ReLU, {3})};
  layers[2].kernel_size = {2, 2};
  layers[2].stride = {2, 2};
  layers[2].padding = {0, 0};
  auto model = lrp::Model::create(std::move(layers), {1, 2, 2}, "test");
  ASSERT_TRUE(model) << model.status().message();
  // x = [[1, 3], [2, -1]]: the pool picks 3 at (0, 1); conv2 gives 6.
  const at::Tensor x = at::tensor({1.f, 3.f, 2.f, -1.f}).reshape({1, 1, 2, 2});
  auto acts = model.value()->forward(x);
  ASSERT_TRUE(acts);
  // The switches are the max-pool indices: position 1 of the flattened 2x2 window.
  EXPECT_EQ(acts.value().pool_indices[2].item<int64_t>(), 1);
  auto r = deconvolve(*model.value(), acts.value(), 0, "conv2", 0, {});
  ASSERT_TRUE(r) << r.status().message();
  // 6 through conv2^T (x2) = 12, unpooled to (0, 1), rectified, through conv1^T (x1).
  EXPECT_TRUE(at::allclose(r.value(), at::tensor({0.f, 12.f, 0.f, 0.f}).reshape({1, 2, 2}))) << r.value();
}

TEST(Deconv, GuidedBackpropMasksByTheForwardSign) {
  // conv1 (1x1, w=1) -> ReLU -> conv2 (1x2 kernel [1, 1], padding (0, 1)) -> ReLU.
  std::vector<Layer> layers{conv("conv1", at::ones({1, 1, 1, 1}), {lrp::kModelInput}), simple("relu1", LayerKind::ReLU, {0}),
                            conv("conv2", at::ones({1, 1, 1, 2}), {1}), simple("relu2", LayerKind::ReLU, {2})};
  layers[2].padding = {0, 1};
  auto model = lrp::Model::create(std::move(layers), {1, 1, 2}, "test");
  ASSERT_TRUE(model) << model.status().message();
  // x = [-2, 3]: relu1 = [0, 3]; conv2 = [0, 3, 3]. conv2^T of [0, 3, 3] = [0 + 3, 3 + 3] = [3, 6].
  const at::Tensor x = at::tensor({-2.f, 3.f}).reshape({1, 1, 1, 2});
  auto acts = model.value()->forward(x);
  ASSERT_TRUE(acts);
  // Deconvnet rectifies the backward signal only: [3, 6] stays.
  auto plain = deconvolve(*model.value(), acts.value(), 0, "conv2", 0, {});
  ASSERT_TRUE(plain) << plain.status().message();
  EXPECT_TRUE(at::allclose(plain.value(), at::tensor({3.f, 6.f}).reshape({1, 1, 2}))) << plain.value();
  // Guided backprop also zeroes where relu1's forward input (-2, 3) was not positive.
  DeconvOptions guided;
  guided.guided = true;
  auto g = deconvolve(*model.value(), acts.value(), 0, "conv2", 0, guided);
  ASSERT_TRUE(g);
  EXPECT_TRUE(at::allclose(g.value(), at::tensor({0.f, 6.f}).reshape({1, 1, 2}))) << g.value();

  EXPECT_FALSE(deconvolve(*model.value(), acts.value(), 0, "relu1", 0, {}));  // not a conv/linear layer
  EXPECT_FALSE(deconvolve(*model.value(), acts.value(), 0, "conv1", 4, {}));  // neuron out of range
  EXPECT_FALSE(deconvolve(*model.value(), acts.value(), 3, "conv1", 0, {}));  // sample out of range
  EXPECT_FALSE(deconvolve(*model.value(), acts.value(), 0, "nope", 0, {}));
}

TEST(Deconv, ImagesAndGrid) {
  auto image = reconstruction_to_image(at::tensor({-2.f, 0.f, 2.f, 1.f}).reshape({1, 2, 2}));
  ASSERT_TRUE(image);
  EXPECT_EQ(image.value().at<std::uint8_t>(0, 0), 0);
  EXPECT_EQ(image.value().at<std::uint8_t>(0, 1), 128);  // zero is mid-grey
  EXPECT_EQ(image.value().at<std::uint8_t>(1, 0), 255);
  auto grid = make_grid({image.value(), image.value(), image.value()}, 0, 1);
  ASSERT_TRUE(grid);
  EXPECT_EQ(grid.value().cols, 2 * 2 + 1);
  EXPECT_EQ(grid.value().rows, 2 * 2 + 1);
}

}  // namespace
}  // namespace lrpflow::visual
