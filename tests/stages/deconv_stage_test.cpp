// The deconv stage alone (StageRunner) on the tiny CNN: the image of a neuron of the first conv
// layer is its rectified feature map (the TorchScript module's own conv, masked to that channel or
// its strongest position) taken back through the transposed convolution, computed here with ATen;
// the files per neuron and the grid; and its errors.
#include <gtest/gtest.h>

#include <torch/script.h>
#include <opencv2/core.hpp>

#include <map>
#include <string>
#include <vector>

#include "lrpflow/image/image.h"
#include "lrpflow/visual/deconv.h"
#include "stage_test_support.h"

namespace lrpflow {
namespace {
using lrp::testing::fixture_dir;
using lrp::testing::load_case;
using lrp::testing::load_fixture_model;
using testing::layer_selection;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;
using testing::tiny_cnn;

at::Tensor input() { return load_case("tiny_cnn").at("input").slice(0, 0, 1); }

// The module's first conv ("0"): its output on the input, and its weight.
struct FirstConv {
  at::Tensor output, weight;
};
FirstConv first_conv() {
  torch::jit::Module module = torch::jit::load(fixture_dir() + "/tiny_cnn/model_scripted.pt");
  module.eval();
  at::NoGradGuard no_grad;
  FirstConv conv;
  for (const auto& child : module.named_children()) {
    if (child.name != "0") continue;
    torch::jit::Module m = child.value;
    conv.output = m.forward({input()}).toTensor();
    conv.weight = m.attr("weight").toTensor();
  }
  EXPECT_TRUE(conv.output.defined() && conv.weight.defined());
  return conv;
}

// Deconvnet image of neuron `neuron` of the first conv layer: its rectified map, masked, through
// the transposed convolution (no bias), as an 8-bit image.
cv::Mat expected_image(int64_t neuron, bool strongest_only) {
  const FirstConv conv = first_conv();
  const lrp::Layer& layer = tiny_cnn()->layer(tiny_cnn()->find("0"));
  at::Tensor map = at::relu(conv.output);
  at::Tensor kept = at::zeros_like(map);
  at::Tensor channel = map[0][neuron];
  if (strongest_only) {
    at::Tensor flat = at::zeros_like(channel).reshape({-1});
    const int64_t where = channel.reshape({-1}).argmax().item<int64_t>();
    flat[where] = channel.reshape({-1})[where];
    channel = flat.reshape(channel.sizes());
  }
  kept[0][neuron].copy_(channel);
  std::vector<int64_t> output_padding;
  for (size_t d = 0; d < 2; ++d) {
    const int64_t kernel = conv.weight.size(static_cast<int64_t>(2 + d));
    const int64_t size = (map.size(static_cast<int64_t>(2 + d)) - 1) * layer.stride.at(d) - 2 * layer.padding.at(d) +
                         layer.dilation.at(d) * (kernel - 1) + 1;
    output_padding.push_back(input().size(static_cast<int64_t>(2 + d)) - size);
  }
  const at::Tensor back = at::conv_transpose2d(kept, conv.weight, {}, layer.stride, layer.padding, output_padding, 1, layer.dilation);
  auto image = visual::reconstruction_to_image(back[0]);
  EXPECT_TRUE(image) << image.status().message();
  return image ? image.value() : cv::Mat();
}

void expect_same_image(const cv::Mat& actual, const cv::Mat& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  ASSERT_EQ(actual.type(), expected.type()) << what;
  cv::Mat diff;
  cv::absdiff(actual, expected, diff);
  double largest = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &largest);
  EXPECT_LE(largest, 1.0) << what;  // one step of 8-bit rounding
}

Item selected_item(const Selection& selection) {
  Item item(0, "a", "a.npy");
  testing::set_activations(item, testing::forward_pass(*tiny_cnn(), input()));
  item.set("selection", selection);
  return item;
}

std::map<std::string, std::vector<std::string>> outputs_by_kind(const Item& item) {
  std::map<std::string, std::vector<std::string>> files;
  for (const OutputFile& f : item.outputs()) files[f.kind].push_back(f.path);
  return files;
}

TEST(DeconvStage, ImagesOfTheTopNeuronsAreTheirMapsThroughTheTransposedConv) {
  const int64_t channels = tiny_cnn()->layer(tiny_cnn()->find("0")).weight.size(0);
  ASSERT_GE(channels, 3);
  Selection selection;
  selection.layers = {layer_selection("0", channels, {2, 0, 1})};
  for (const bool strongest : {false, true}) {
    testing::TempDir out;
    auto stage = open_stage(std::string("type: deconv\noptions: {top_k: 2, keep: ") + (strongest ? "strongest" : "channel") + "}\n",
                            resources_for(tiny_cnn()), out.path());
    ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
    Item item = selected_item(selection);
    const Status status = stage->process(item);
    ASSERT_TRUE(status.is_ok()) << status.message();
    auto files = outputs_by_kind(item);
    ASSERT_EQ(files["deconv"].size(), 2u);  // top_k of the three selected
    EXPECT_EQ(files["deconv_grid"].size(), 1u);
    EXPECT_EQ(files["deconv"][0], "a.deconv.0.2.png");
    EXPECT_EQ(files["deconv"][1], "a.deconv.0.0.png");
    for (size_t k = 0; k < 2; ++k) {
      auto png = decode_image_file(out.path() / files["deconv"][k]);
      ASSERT_TRUE(png) << png.status().message();
      expect_same_image(png.value(), expected_image(selection.layers[0].neurons[k], strongest), files["deconv"][k]);
    }
    auto grid = decode_image_file(out.path() / files["deconv_grid"].at(0));
    ASSERT_TRUE(grid) << grid.status().message();
    EXPECT_GE(grid.value().cols, 2 * 32);  // both tiles side by side
  }
}

TEST(DeconvStage, GuidedEqualsDeconvnetWithoutAReluBelowTheLayer) {
  const int64_t channels = tiny_cnn()->layer(tiny_cnn()->find("0")).weight.size(0);
  Selection selection;
  selection.layers = {layer_selection("0", channels, {1})};
  testing::TempDir out;
  auto stage = open_stage("type: deconv\noptions: {method: guided}\n", resources_for(tiny_cnn()), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = selected_item(selection);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto png = decode_image_file(out.path() / outputs_by_kind(item)["deconv"].at(0));
  ASSERT_TRUE(png) << png.status().message();
  expect_same_image(png.value(), expected_image(1, false), "guided");
}

TEST(DeconvStage, ErrorsNameTheSlotTheLayerTheNeuronAndTheOption) {
  const std::string method = open_error("type: deconv\noptions: {method: lrp}\n", resources_for(tiny_cnn()));
  EXPECT_NE(method.find("'method'"), std::string::npos) << method;
  EXPECT_NE(open_error("type: deconv\noptions: {top_k: 0}\n", resources_for(tiny_cnn())).find("option 'top_k'"), std::string::npos);
  EXPECT_NE(open_error("type: deconv\noptions: {model: net}\n", resources_for(tiny_cnn())).find("no resource named 'net'"),
            std::string::npos);

  testing::TempDir out;
  auto stage = open_stage("id: dc\ntype: deconv\n", resources_for(tiny_cnn()), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item no_selection(0, "a", "a.npy");
  testing::set_activations(no_selection, testing::forward_pass(*tiny_cnn(), input()));
  EXPECT_FALSE(stage->process(no_selection).is_ok());
  ASSERT_TRUE(no_selection.failed());
  EXPECT_EQ(no_selection.error()->stage, "dc");
  EXPECT_NE(no_selection.error()->message.find("slot 'selection' is empty"), std::string::npos) << no_selection.error()->message;

  Selection pool;
  pool.layers = {layer_selection("4", 1, {0})};
  Item at_pool = selected_item(pool);
  EXPECT_FALSE(stage->process(at_pool).is_ok());
  ASSERT_TRUE(at_pool.failed());
  EXPECT_NE(at_pool.error()->message.find("layer '4' is a MaxPool2d; deconvolution starts at a Conv2d or Linear layer"),
            std::string::npos)
      << at_pool.error()->message;

  const int64_t channels = tiny_cnn()->layer(tiny_cnn()->find("0")).weight.size(0);
  Selection outside;
  outside.layers = {layer_selection("0", channels, {channels})};
  Item beyond = selected_item(outside);
  EXPECT_FALSE(stage->process(beyond).is_ok());
  ASSERT_TRUE(beyond.failed());
  EXPECT_NE(beyond.error()->message.find("neuron " + std::to_string(channels) + " is outside layer '0' (" + std::to_string(channels) +
                                         " neurons)"),
            std::string::npos)
      << beyond.error()->message;
  EXPECT_TRUE(beyond.outputs().empty());
}

}  // namespace
}  // namespace lrpflow
