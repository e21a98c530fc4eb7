// Baseline attribution stages: gradient and gradient x input against the Zennit fixtures, integrated
// gradients' completeness, SmoothGrad's limits and seeding, Grad-CAM against a hand computation.
#include <gtest/gtest.h>

#include <cmath>

#include "eval_test_support.h"
#include "fixture_support.h"

namespace lrpflow::eval {
namespace {

using testing::linear_model;
using testing::open_stage;

Item item_with(const at::Tensor& input, std::int64_t index = 0) {
  Item item(index, "item" + std::to_string(index), "test");
  item.set("input", input);
  return item;
}

at::Tensor run(testing::OpenedStage& stage, Item& item) {
  EXPECT_TRUE(stage.open_status) << stage.open_status.message();
  if (!stage.open_status) return {};
  const Status status = stage->process(item);
  EXPECT_TRUE(status) << status.message();
  if (!status) return {};
  return item.tensor("relevance").value();
}

// --- gradient, gradient_x_input: the fixtures' keys, both target sets, every case ---------------

class GradientFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientFixture, MatchesZennitGradientKeys) {
  const std::string case_name = GetParam();
  const auto& ref = lrp::testing::load_case(case_name);
  auto model = lrp::testing::load_fixture_model(case_name, "scripted");
  ASSERT_TRUE(model) << model.status().message();
  const at::Tensor& input = ref.at("input");
  for (const std::string target_set : {"argmax", "fixed"}) {
    const bool fixed = target_set == std::string("fixed");
    for (const std::string method : {"gradient", "gradient_x_input"}) {
      // The tolerance of tests/lrp's gradient test: 10x the reference's own float32-vs-float64 noise.
      const double tolerance = std::max(1e-4, 10.0 * ref.at("f64dev/" + method).item<double>());
      auto stage = open_stage(method, model.value(), {{"target", std::string(fixed ? "slot:label" : "argmax")}});
      Item item = item_with(input);
      item.set("label", ref.at("target_fixed"));
      const at::Tensor mine = run(stage, item);
      ASSERT_TRUE(mine.defined());
      const std::string key = method + (fixed ? "@fixed" : "") + "/input";
      EXPECT_LE(lrp::testing::relative_deviation(mine, ref.at(key)), tolerance) << case_name << " " << key;
      const at::Tensor explained = item.tensor("target").value();
      EXPECT_TRUE(at::equal(explained, ref.at(fixed ? "target_fixed" : "target").to(at::kLong))) << key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GradientFixture, ::testing::Values("tiny_cnn", "vgg16_narrow", "resnet_tiny"));

// --- integrated gradients ------------------------------------------------------------------------

TEST(IntegratedGradients, EqualsGradientTimesInputOnALinearModel) {
  // On a linear model the gradient is constant along the path, so IG = x * W[t] for any step count.
  const at::Tensor weight = at::randn({3, 2 * 3 * 3}, at::TensorOptions().dtype(at::kFloat));
  auto model = linear_model(weight, at::randn({3}), {2, 3, 3});
  const at::Tensor x = at::randn({2, 2, 3, 3});
  for (std::int64_t steps : {1, 7, 64}) {
    auto ig = open_stage("integrated_gradients", model, {{"steps", steps}, {"batch", std::int64_t{5}}, {"target", std::string("1")}});
    Item a = item_with(x);
    const at::Tensor mine = run(ig, a);
    ASSERT_TRUE(mine.defined());
    const at::Tensor expected = x * weight[1].view({1, 2, 3, 3});
    EXPECT_TRUE(at::allclose(mine, expected, 1e-5, 1e-6)) << "steps " << steps;
    auto gxi = open_stage("gradient_x_input", model, {{"target", std::string("1")}});
    Item b = item_with(x);
    EXPECT_TRUE(at::allclose(mine, run(gxi, b), 1e-5, 1e-6));
  }
}

TEST(IntegratedGradients, CompletenessOnAReluNetwork) {
  // sum_i IG_i = f_t(x) - f_t(0) up to the quadrature error, which shrinks with the step count.
  const auto& ref = lrp::testing::load_case("tiny_cnn");
  auto model = lrp::testing::load_fixture_model("tiny_cnn", "scripted");
  ASSERT_TRUE(model) << model.status().message();
  const at::Tensor x = ref.at("input").narrow(0, 0, 1);
  auto stage = open_stage("integrated_gradients", model.value(), {{"steps", std::int64_t{256}}, {"batch", std::int64_t{64}}});
  Item item = item_with(x);
  const at::Tensor ig = run(stage, item);
  ASSERT_TRUE(ig.defined());
  const std::int64_t t = item.tensor("target").value()[0].item<std::int64_t>();
  at::NoGradGuard no_grad;
  const double f_x = model.value()->forward(x).value().logits[0][t].item<double>();
  const double f_0 = model.value()->forward(at::zeros_like(x)).value().logits[0][t].item<double>();
  const double difference = f_x - f_0;
  EXPECT_NEAR(ig.sum().item<double>(), difference, 0.01 * std::abs(difference) + 1e-4);
}

TEST(IntegratedGradients, RejectsBadSteps) {
  auto model = linear_model(at::ones({2, 4}), at::zeros({2}), {1, 2, 2});
  auto stage = open_stage("integrated_gradients", model, {{"steps", std::int64_t{0}}});
  ASSERT_FALSE(stage.open_status);
  EXPECT_NE(stage.open_status.message().find("option steps"), std::string::npos) << stage.open_status.message();
}

// --- smoothgrad ------------------------------------------------------------------------------------

TEST(SmoothGrad, IsTheGradientOnALinearModelAndWithoutNoise) {
  const at::Tensor weight = at::randn({3, 8});
  auto model = linear_model(weight, at::zeros({3}), {2, 2, 2});
  const at::Tensor x = at::randn({1, 2, 2, 2});
  auto stage = open_stage("smoothgrad", model, {{"samples", std::int64_t{5}}, {"noise", 0.5}, {"target", std::string("2")}});
  Item item = item_with(x);
  EXPECT_TRUE(at::allclose(run(stage, item), weight[2].view({1, 2, 2, 2}), 1e-5, 1e-6));

  auto cnn = lrp::testing::load_fixture_model("tiny_cnn", "scripted");
  ASSERT_TRUE(cnn);
  const at::Tensor image = lrp::testing::load_case("tiny_cnn").at("input").narrow(0, 0, 1);
  auto quiet = open_stage("smoothgrad", cnn.value(), {{"samples", std::int64_t{3}}, {"noise", 0.0}});
  auto plain = open_stage("gradient", cnn.value(), {});
  Item a = item_with(image), b = item_with(image);
  EXPECT_TRUE(at::allclose(run(quiet, a), run(plain, b), 1e-5, 1e-7));
}

TEST(SmoothGrad, SeededPerItem) {
  auto cnn = lrp::testing::load_fixture_model("tiny_cnn", "scripted");
  ASSERT_TRUE(cnn);
  const at::Tensor image = lrp::testing::load_case("tiny_cnn").at("input").narrow(0, 0, 1);
  const std::map<std::string, OptionValue> options{{"samples", std::int64_t{4}}, {"noise", 0.2}, {"batch", std::int64_t{3}}};
  auto first = open_stage("smoothgrad", cnn.value(), options);
  auto second = open_stage("smoothgrad", cnn.value(), options);
  Item a = item_with(image, 3), b = item_with(image, 3), c = item_with(image, 4);
  const at::Tensor ra = run(first, a), rb = run(second, b), rc = run(first, c);
  EXPECT_TRUE(at::equal(ra, rb)) << "same seed and item index must give the same noise";
  EXPECT_FALSE(at::equal(ra, rc)) << "another item index draws other noise";
  auto bad = open_stage("smoothgrad", cnn.value(), {{"noise", -0.1}});
  EXPECT_FALSE(bad.open_status);
}

// --- gradcam ----------------------------------------------------------------------------------------

// input [1, 2, 4, 4] -> conv (2 -> 2 channels, 2x2 kernel, stride 2) -> flatten -> fc (8 -> 2)
std::shared_ptr<const lrp::Model> tiny_cam_model(const at::Tensor& conv_weight, const at::Tensor& fc_weight, bool relu) {
  std::vector<lrp::Layer> layers;
  lrp::Layer conv;
  conv.name = "conv";
  conv.kind = lrp::LayerKind::Conv2d;
  conv.inputs = {lrp::kModelInput};
  conv.weight = conv_weight;
  conv.bias = at::zeros({2});
  conv.kernel_size = {2, 2};
  conv.stride = {2, 2};
  conv.padding = {0, 0};
  layers.push_back(conv);
  if (relu) {
    lrp::Layer r;
    r.name = "relu";
    r.kind = lrp::LayerKind::ReLU;
    r.inputs = {0};
    layers.push_back(r);
  }
  lrp::Layer flatten;
  flatten.name = "flatten";
  flatten.kind = lrp::LayerKind::Flatten;
  flatten.inputs = {static_cast<int>(layers.size()) - 1};
  layers.push_back(flatten);
  lrp::Layer fc;
  fc.name = "fc";
  fc.kind = lrp::LayerKind::Linear;
  fc.inputs = {static_cast<int>(layers.size()) - 1};
  fc.weight = fc_weight;
  fc.bias = at::zeros({2});
  layers.push_back(fc);
  auto model = lrp::Model::create(layers, {2, 4, 4}, "gradcam test model");
  if (!model) ADD_FAILURE() << model.status().message();
  return model ? model.value() : nullptr;
}

TEST(GradCam, MatchesAHandComputation) {
  // Channel 0 of the conv sums channel 0 of the input over its 2x2 block, channel 1 sums input channel 1.
  at::Tensor conv_weight = at::zeros({2, 2, 2, 2});
  conv_weight[0][0].fill_(1.0);
  conv_weight[1][1].fill_(1.0);
  // Class 0 reads the feature maps with weights v (flatten order: channel, row, column).
  const at::Tensor v = at::tensor({1.0f, 2.0f, 3.0f, 2.0f, /* channel 1: */ -1.0f, 0.0f, 0.0f, -1.0f});
  const at::Tensor fc_weight = at::stack({v, at::zeros({8})});
  auto model = tiny_cam_model(conv_weight, fc_weight, /*relu=*/false);
  ASSERT_TRUE(model);
  const at::Tensor x = at::arange(32, at::kFloat).view({1, 2, 4, 4}) / 8.0;
  auto stage = open_stage("gradcam", model, {{"target", std::string("0")}});
  Item item = item_with(x);
  const at::Tensor cam = run(stage, item);
  ASSERT_TRUE(cam.defined());

  // By hand: A_k[i][j] = sum of the 2x2 block (i, j) of input channel k; dy/dA_k = v_k, so
  // alpha_0 = mean(1, 2, 3, 2) = 2, alpha_1 = mean(-1, 0, 0, -1) = -0.5.
  const at::Tensor blocks = x.view({2, 2, 2, 2, 2}).sum({2, 4});  // [channel, i, j]
  const at::Tensor map = at::relu(2.0 * blocks[0] - 0.5 * blocks[1]);
  // Bilinear 2 -> 4 without corner alignment: source row of output row o is (o + 0.5) / 2 - 0.5,
  // clamped at 0, i.e. rows 0 | 0.25 | 0.75 | 1 (interpolation weights below).
  const at::Tensor up = at::tensor({1.0f, 0.0f, 0.75f, 0.25f, 0.25f, 0.75f, 0.0f, 1.0f}).view({4, 2});
  const at::Tensor expected = at::matmul(at::matmul(up, map), up.t());
  EXPECT_TRUE(at::allclose(cam[0][0], expected, 1e-5, 1e-6)) << cam[0][0] << expected;
  EXPECT_TRUE(at::equal(cam[0][0], cam[0][1])) << "the map is repeated over the input channels";
}

TEST(GradCam, DefaultLayerIsTheLastConvAfterItsRelu) {
  const at::Tensor conv_weight = at::randn({2, 2, 2, 2});
  const at::Tensor fc_weight = at::randn({2, 8});
  auto model = tiny_cam_model(conv_weight, fc_weight, /*relu=*/true);
  const at::Tensor x = at::randn({1, 2, 4, 4});
  auto by_default = open_stage("gradcam", model, {});
  auto at_relu = open_stage("gradcam", model, {{"layer", std::string("relu")}});
  Item a = item_with(x), b = item_with(x);
  EXPECT_TRUE(at::allclose(run(by_default, a), run(at_relu, b)));

  auto unknown = open_stage("gradcam", model, {{"layer", std::string("conv9")}});
  ASSERT_FALSE(unknown.open_status);
  EXPECT_NE(unknown.open_status.message().find("'conv9' is not a layer"), std::string::npos) << unknown.open_status.message();
  auto output = open_stage("gradcam", model, {{"layer", std::string("fc")}});
  EXPECT_FALSE(output.open_status);
}

TEST(Baselines, BadTargetsAreErrors) {
  auto model = linear_model(at::ones({2, 4}), at::zeros({2}), {1, 2, 2});
  auto word = open_stage("gradient", model, {{"target", std::string("biggest")}});
  ASSERT_FALSE(word.open_status);
  EXPECT_NE(word.open_status.message().find("'biggest'"), std::string::npos);
  auto out_of_range = open_stage("gradient", model, {{"target", std::string("5")}});
  ASSERT_TRUE(out_of_range.open_status);
  Item item = item_with(at::ones({1, 1, 2, 2}));
  const Status status = out_of_range->process(item);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("out of range"), std::string::npos) << status.message();
  Item no_input(0, "x", "test");
  EXPECT_FALSE(out_of_range->process(no_input));
}

TEST(Baselines, EveryTypeNamesAMissingSlotResourceOrOption) {
  auto model = linear_model(at::ones({2, 4}), at::zeros({2}), {1, 2, 2});
  for (const std::string type : {"gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "gradcam"}) {
    auto net = open_stage(type, model, {{"model", std::string("net")}});
    ASSERT_FALSE(net.open_status) << type;
    EXPECT_NE(net.open_status.message().find("no resource named 'net'"), std::string::npos) << type << ": " << net.open_status.message();
    auto unknown = open_stage(type, model, {{"outptu", std::string("r")}});
    ASSERT_FALSE(unknown.open_status) << type;
    EXPECT_NE(unknown.open_status.message().find("unknown option 'outptu' (did you mean 'output'?)"), std::string::npos)
        << type << ": " << unknown.open_status.message();
    if (type == "gradcam") continue;  // the linear model has no conv layer
    auto stage = open_stage(type, model, {{"input", std::string("x")}});
    ASSERT_TRUE(stage.open_status) << type << ": " << stage.open_status.message();
    Item no_input(0, "item0", "test");
    no_input.set("input", at::ones({1, 1, 2, 2}));  // not the slot it reads
    EXPECT_FALSE(stage->process(no_input)) << type;
    ASSERT_TRUE(no_input.failed()) << type;
    EXPECT_EQ(no_input.error()->stage, type);
    EXPECT_NE(no_input.error()->message.find("slot 'x' is empty"), std::string::npos) << type << ": " << no_input.error()->message;
    EXPECT_FALSE(no_input.has("relevance")) << type;
  }
}

}  // namespace
}  // namespace lrpflow::eval
