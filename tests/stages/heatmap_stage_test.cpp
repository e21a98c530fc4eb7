// The heatmap stage alone (StageRunner): the raw map it writes is the channel reduction computed
// here with ATen (sum, or the signed value of largest magnitude), the PNG is that map at the
// model's resolution (a gray map brightest at its maximum, darkest at its minimum), activation
// heatmaps per selected neuron, and its errors.
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "lrpflow/image/image.h"
#include "lrpflow/npy.h"
#include "stage_test_support.h"

namespace lrpflow {
namespace {
using lrp::testing::load_case;
using lrp::testing::load_fixture_model;
using testing::layer_selection;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;

at::Tensor relevance(uint64_t seed) { return at::randn({1, 3, 6, 8}, at::detail::createCPUGenerator(seed), at::kFloat); }

std::map<std::string, std::vector<std::string>> outputs_by_kind(const Item& item) {
  std::map<std::string, std::vector<std::string>> files;
  for (const OutputFile& f : item.outputs()) files[f.kind].push_back(f.path);
  return files;
}

// Position (row, column) of the largest entry of a 2-D tensor.
std::pair<int64_t, int64_t> argmax_2d(const at::Tensor& map) {
  const int64_t flat = map.reshape({-1}).argmax().item<int64_t>();
  return {flat / map.size(1), flat % map.size(1)};
}

TEST(HeatmapStage, WritesTheChannelSumAsNpyAndAsAGrayPng) {
  const at::Tensor r = relevance(31);
  testing::TempDir out;
  auto stage = open_stage("type: heatmap\noptions: {cmap: gray, symmetric: false}\n", nullptr, out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item(0, "a", "a.npy");
  item.set("relevance", r);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto files = outputs_by_kind(item);
  ASSERT_EQ(files["heatmap"].size(), 1u);
  ASSERT_EQ(files["heatmap_npy"].size(), 1u);
  EXPECT_EQ(files.count("heatmap_overlay"), 0u);  // no image slot
  EXPECT_EQ(files.count("model_input"), 0u);      // no model view slot

  const at::Tensor expected = r[0].sum(0);
  auto map = read_npy(out.path() / files["heatmap_npy"][0]);
  ASSERT_TRUE(map) << map.status().message();
  ASSERT_EQ(map.value().sizes(), expected.sizes());
  EXPECT_TRUE(at::allclose(map.value(), expected, 1e-5, 1e-6));

  auto png = decode_image_file(out.path() / files["heatmap"][0]);
  ASSERT_TRUE(png) << png.status().message();
  ASSERT_EQ(png.value().rows, 6);
  ASSERT_EQ(png.value().cols, 8);
  cv::Mat gray;
  cv::extractChannel(png.value(), gray, 0);
  const at::Tensor pixels = at::from_blob(gray.data, {6, 8}, at::kByte).to(at::kFloat);
  EXPECT_EQ(argmax_2d(pixels), argmax_2d(expected));
  EXPECT_EQ(argmax_2d(-pixels), argmax_2d(-expected));
  EXPECT_EQ(pixels.max().item<float>(), 255.0f);
  EXPECT_EQ(pixels.min().item<float>(), 0.0f);
}

TEST(HeatmapStage, MaxAbsReductionKeepsTheSignedValueOfLargestMagnitude) {
  const at::Tensor r = relevance(32);
  testing::TempDir out;
  auto stage = open_stage("type: heatmap\noptions: {slot: r, reduction: maxabs, write_model_input: false}\n", nullptr, out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  EXPECT_EQ(stage->slots().reads.at(0).name, "r");
  Item item(0, "a", "a.npy");
  item.set("r", r);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto map = read_npy(out.path() / outputs_by_kind(item)["heatmap_npy"].at(0));
  ASSERT_TRUE(map) << map.status().message();
  const at::Tensor expected = r[0].gather(0, r[0].abs().argmax(0, /*keepdim=*/true))[0];
  EXPECT_TRUE(map.value().equal(expected));
}

TEST(HeatmapStage, ActivationHeatmapsForTheFirstSelectedNeurons) {
  auto model = load_fixture_model("tiny_cnn", "scripted");
  ASSERT_TRUE(model) << model.status().message();
  const at::Tensor input = load_case("tiny_cnn").at("input").slice(0, 0, 1);
  testing::TempDir out;
  auto stage = open_stage("type: heatmap\noptions: {activations: true, max_neurons: 2, write_npy: false}\n",
                          resources_for(model.value()), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item(0, "a", "a.npy");
  item.set("relevance", at::randn({1, 3, 32, 32}, at::detail::createCPUGenerator(33), at::kFloat));
  testing::set_activations(item, testing::forward_pass(*model.value(), input));
  Selection selection;
  selection.layers = {layer_selection("2", 3, {2, 1, 0}), layer_selection("5", 3, {1})};
  item.set("selection", selection);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto files = outputs_by_kind(item);
  EXPECT_EQ(files.count("heatmap_npy"), 0u);
  ASSERT_EQ(files["activation_heatmap"].size(), 3u);  // two of layer 2, one of layer 5
  std::vector<std::string> names;
  for (const std::string& file : files["activation_heatmap"]) {
    names.push_back(std::filesystem::path(file).filename().string());
    auto png = decode_image_file(out.path() / file);
    ASSERT_TRUE(png) << png.status().message();
    EXPECT_EQ(png.value().rows, 32);  // upsampled to the input
    EXPECT_EQ(png.value().cols, 32);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a.act.2.2.png", "a.act.2.1.png", "a.act.5.1.png"}));

  Item no_selection(1, "b", "b.npy");
  no_selection.set("relevance", at::randn({1, 3, 32, 32}));
  testing::set_activations(no_selection, testing::forward_pass(*model.value(), input));
  EXPECT_FALSE(stage->process(no_selection).is_ok());
  ASSERT_TRUE(no_selection.failed());
  EXPECT_NE(no_selection.error()->message.find("slot 'selection' is empty"), std::string::npos) << no_selection.error()->message;
}

TEST(HeatmapStage, ErrorsNameTheSlotAndTheOption) {
  EXPECT_NE(open_error("type: heatmap\noptions: {clip_percentile: 0.0}\n", nullptr).find("option clip_percentile: must be in (0, 100]"),
            std::string::npos);
  EXPECT_NE(open_error("type: heatmap\noptions: {overlay_alpha: 1.5}\n", nullptr).find("option overlay_alpha: must be in [0, 1]"),
            std::string::npos);
  const std::string cmap = open_error("type: heatmap\noptions: {cmap: rainbow}\n", nullptr);
  EXPECT_NE(cmap.find("'cmap'"), std::string::npos) << cmap;
  EXPECT_NE(cmap.find("rainbow"), std::string::npos) << cmap;
  const std::string size = open_error("type: heatmap\noptions: {max_neurons: 0}\n", nullptr);
  EXPECT_NE(size.find("option 'max_neurons'"), std::string::npos) << size;
  EXPECT_NE(open_error("type: heatmap\noptions: {activations: true}\n", nullptr).find("no resource named 'model'"), std::string::npos);

  testing::TempDir out;
  auto stage = open_stage("id: heat\ntype: heatmap\n", nullptr, out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item empty(0, "a", "a.npy");
  EXPECT_FALSE(stage->process(empty).is_ok());
  ASSERT_TRUE(empty.failed());
  EXPECT_EQ(empty.error()->stage, "heat");
  EXPECT_NE(empty.error()->message.find("slot 'relevance' is empty"), std::string::npos) << empty.error()->message;

  Item flat(1, "b", "b.npy");
  flat.set("relevance", at::ones({4}));
  EXPECT_FALSE(stage->process(flat).is_ok());
  ASSERT_TRUE(flat.failed());
  EXPECT_NE(flat.error()->message.find("slot 'relevance'"), std::string::npos) << flat.error()->message;

  Item nan(2, "c", "c.npy");
  at::Tensor r = relevance(34);
  r[0][1][2][3] = std::numeric_limits<float>::quiet_NaN();
  nan.set("relevance", r);
  EXPECT_FALSE(stage->process(nan).is_ok());
  ASSERT_TRUE(nan.failed());
  EXPECT_TRUE(nan.outputs().empty());
}

}  // namespace
}  // namespace lrpflow
