// The selector stages alone (StageRunner): topk, mass and getoptimizer on a hand-made explanation
// (seeded random relevance at two conv layers of the tiny CNN); each selection is compared with
// the same rule computed here with ATen on the per-neuron sums; metrics and errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stage_test_support.h"

namespace lrpflow {
namespace {
using lrp::testing::load_case;
using lrp::testing::load_fixture_model;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;
using testing::tiny_cnn;
using testing::to_doubles;
using testing::to_longs;

const std::vector<std::string> kLayers = {"2", "5"};

// Two samples: their forward pass, and random relevance at the output of layers 2 and 5.
struct HandMade {
  lrp::SharedActivations acts;
  std::shared_ptr<lrp::Explanation> explanation = std::make_shared<lrp::Explanation>();
  Item item(bool with_explanation = true) const {
    Item item(0, "a", "a.npy");
    testing::set_activations(item, acts);
    if (with_explanation) testing::set_explanation(item, explanation);
    return item;
  }
  // r_j of `layer` for `sample`: the relevance summed over space, in double.
  at::Tensor neuron_relevance(const std::string& layer, int64_t sample) const {
    return explanation->layer_output_relevance.at(layer)[sample].to(at::kDouble).sum({1, 2});
  }
};

HandMade hand_made() {
  HandMade h;
  h.acts = testing::forward_pass(*tiny_cnn(), load_case("tiny_cnn").at("input").slice(0, 0, 2));
  at::Generator generator = at::detail::createCPUGenerator(11);
  for (const std::string& layer : kLayers) {
    const at::Tensor& output = h.acts->outputs[static_cast<size_t>(tiny_cnn()->find(layer))];
    h.explanation->layer_output_relevance[layer] = at::randn(output.sizes(), generator, at::kFloat);
  }
  return h;
}

int64_t neurons_of(const std::string& layer) { return tiny_cnn()->layer(tiny_cnn()->find(layer)).weight.size(0); }

// The k largest entries of `scores`, largest first (indices and values).
std::pair<std::vector<int64_t>, std::vector<double>> largest(const at::Tensor& scores, int64_t k) {
  const auto [values, indices] = scores.topk(k);
  return {to_longs(indices), to_doubles(values)};
}

void expect_scores_near(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-4 * std::max(1.0, std::abs(expected[i]))) << i;
}

TEST(TopKStage, SelectsTheKLargestNeuronRelevancesPerLayer) {
  const HandMade h = hand_made();
  auto stage = open_stage("type: topk\noptions: {layers: [\"2\", \"5\"], k: 4}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = h.item();
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto selection = item.get<Selection>("selection");
  ASSERT_TRUE(selection) << selection.status().message();
  EXPECT_EQ(selection.value()->method, "topk");
  ASSERT_EQ(selection.value()->layers.size(), 2u);
  for (size_t l = 0; l < kLayers.size(); ++l) {
    const LayerSelection& chosen = selection.value()->layers[l];
    EXPECT_EQ(chosen.layer, kLayers[l]);
    EXPECT_EQ(chosen.layer_size, neurons_of(kLayers[l]));
    const auto [neurons, scores] = largest(h.neuron_relevance(kLayers[l], 0), 4);
    EXPECT_EQ(chosen.neurons, neurons) << kLayers[l];
    expect_scores_near(chosen.scores, scores);
    EXPECT_EQ(item.metrics().at("selection/" + kLayers[l] + "/count"), 4.0);
  }
}

TEST(TopKStage, SampleChoosesTheRowOfTheBatchAndDefaultLayersSkipTheOutput) {
  const HandMade h = hand_made();
  auto stage = open_stage("type: topk\noptions: {layers: [\"5\"], k: 2, sample: 1}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = h.item();
  Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  EXPECT_EQ(item.get<Selection>("selection").value()->layers.at(0).neurons, largest(h.neuron_relevance("5", 1), 2).first);

  // Without `layers`: every Conv2d and Linear layer but the output layer, and here the relevance of
  // layers 0 and 9 was not kept.
  auto all = open_stage("type: topk\noptions: {k: 1}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(all.status.is_ok()) << all.status.message();
  Item partial = h.item();
  EXPECT_FALSE(all->process(partial).is_ok());
  ASSERT_TRUE(partial.failed());
  EXPECT_NE(partial.error()->message.find("no relevance kept at layer '0' (add it to the lrp stage's keep_layers)"),
            std::string::npos)
      << partial.error()->message;
}

TEST(TopKStage, OptimizeSmapeWithAHugeBoundKeepsTheStrongestNeuronOnly) {
  const HandMade h = hand_made();
  auto stage = open_stage("type: topk\noptions: {layers: [\"2\"], k: 6, optimize_smape: 1.0e9}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = h.item();
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  EXPECT_EQ(item.get<Selection>("selection").value()->layers.at(0).neurons, largest(h.neuron_relevance("2", 0), 1).first);
  EXPECT_EQ(item.metrics().at("selection/2/optimal_k"), 1.0);
  EXPECT_EQ(item.metrics().at("selection/2/count"), 1.0);
}

TEST(TopKStage, ErrorsNameTheOptionTheLayerAndTheSlot) {
  const std::string too_many = open_error("type: topk\noptions: {layers: [\"2\"], k: 100000}\n", resources_for(tiny_cnn()));
  EXPECT_NE(too_many.find("option k: 100000 is larger than layer '2' (" + std::to_string(neurons_of("2")) + " neurons)"),
            std::string::npos)
      << too_many;
  const std::string zero = open_error("type: topk\noptions: {k: 0}\n", resources_for(tiny_cnn()));
  EXPECT_NE(zero.find("option 'k'"), std::string::npos) << zero;
  const std::string pool = open_error("type: topk\noptions: {layers: [\"4\"]}\n", resources_for(tiny_cnn()));
  EXPECT_NE(pool.find("option layers"), std::string::npos) << pool;
  EXPECT_NE(pool.find("'4'"), std::string::npos) << pool;
  const std::string unknown = open_error("type: topk\noptions: {layers: [conv9]}\n", resources_for(tiny_cnn()));
  EXPECT_NE(unknown.find("'conv9'"), std::string::npos) << unknown;
  EXPECT_NE(open_error("type: topk\noptions: {model: net}\n", resources_for(tiny_cnn())).find("no resource named 'net'"),
            std::string::npos);

  auto stage = open_stage("id: pick\ntype: topk\noptions: {layers: [\"2\"], k: 1}\n", resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item no_explanation = hand_made().item(false);
  EXPECT_FALSE(stage->process(no_explanation).is_ok());
  ASSERT_TRUE(no_explanation.failed());
  EXPECT_EQ(no_explanation.error()->stage, "pick");
  EXPECT_NE(no_explanation.error()->message.find("slot 'explanation' is empty"), std::string::npos)
      << no_explanation.error()->message;
  EXPECT_FALSE(no_explanation.has("selection"));
}

// The fewest neurons, largest relevance first, whose relevance reaches `share` of the positive total.
std::vector<int64_t> mass_selection(const at::Tensor& r, double share) {
  const auto [sorted, order] = r.sort(0, true);
  const double positive = r.clamp_min(0).sum().item<double>();
  const std::vector<double> values = to_doubles(sorted);
  double sum = 0;
  std::vector<int64_t> chosen;
  const std::vector<int64_t> indices = to_longs(order);
  for (size_t i = 0; i < values.size() && values[i] > 0; ++i) {
    chosen.push_back(indices[i]);
    sum += values[i];
    if (sum >= share * positive) break;
  }
  return chosen;
}

TEST(MassStage, SelectsTheFewestNeuronsHoldingTheShareOfPositiveRelevance) {
  const HandMade h = hand_made();
  for (const double share : {0.3, 0.8}) {
    auto stage = open_stage("type: mass\noptions: {layers: [\"2\", \"5\"], share: " + std::to_string(share) + "}\n",
                            resources_for(tiny_cnn()));
    ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
    Item item = h.item();
    const Status status = stage->process(item);
    ASSERT_TRUE(status.is_ok()) << status.message();
    auto selection = item.get<Selection>("selection");
    ASSERT_TRUE(selection);
    EXPECT_EQ(selection.value()->method, "mass");
    for (size_t l = 0; l < kLayers.size(); ++l) {
      const std::vector<int64_t> expected = mass_selection(h.neuron_relevance(kLayers[l], 0), share);
      ASSERT_FALSE(expected.empty());
      EXPECT_EQ(selection.value()->layers.at(l).neurons, expected) << kLayers[l] << " share " << share;
      EXPECT_EQ(item.metrics().at("selection/" + kLayers[l] + "/count"), static_cast<double>(expected.size()));
    }
  }
  for (const char* share : {"0", "1.5", "-0.2"}) {
    const std::string message = open_error(std::string("type: mass\noptions: {share: ") + share + "}\n", resources_for(tiny_cnn()));
    EXPECT_NE(message.find("option share: must be in (0, 1]"), std::string::npos) << message;
  }
}

TEST(GetOptimizerStage, KeepsNeuronsAboveMeanMinusNStdThenTheTopK) {
  const HandMade h = hand_made();
  for (const auto& [n, k] : std::vector<std::pair<double, int64_t>>{{0.5, 0}, {-0.25, 0}, {1.0, 3}}) {
    auto stage = open_stage("type: getoptimizer\noptions: {layers: [\"2\", \"5\"], n: " + std::to_string(n) +
                                ", k: " + std::to_string(k) + "}\n",
                            resources_for(tiny_cnn()));
    ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
    Item item = h.item();
    const Status status = stage->process(item);
    ASSERT_TRUE(status.is_ok()) << status.message();
    auto selection = item.get<Selection>("selection");
    ASSERT_TRUE(selection);
    EXPECT_EQ(selection.value()->method, "getoptimizer");
    for (size_t l = 0; l < kLayers.size(); ++l) {
      const at::Tensor c = h.neuron_relevance(kLayers[l], 0);
      const double threshold = c.mean().item<double>() - n * c.std(/*unbiased=*/false).item<double>();
      const int64_t passing = (c > threshold).sum().item<int64_t>();
      ASSERT_GT(passing, 0);
      const auto [neurons, scores] = largest(c, k > 0 ? std::min(k, passing) : passing);
      EXPECT_EQ(selection.value()->layers.at(l).neurons, neurons) << kLayers[l] << " n " << n << " k " << k;
      expect_scores_near(selection.value()->layers.at(l).scores, scores);
    }
  }
}

TEST(GetOptimizerStage, ProductContributionIsNormalisedActivationTimesNormalisedRelevance) {
  const HandMade h = hand_made();
  auto stage = open_stage("type: getoptimizer\noptions: {layers: [\"2\"], contribution: product, n: 0.0, k: 3}\n",
                          resources_for(tiny_cnn()));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = h.item();
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  // The feature map of layer 2 is the output of the ReLU after it (layer 3).
  ASSERT_EQ(tiny_cnn()->layer(tiny_cnn()->find("3")).kind, lrp::LayerKind::ReLU);
  const at::Tensor a = h.acts->outputs[static_cast<size_t>(tiny_cnn()->find("3"))][0].to(at::kDouble).sum({1, 2});
  const at::Tensor r = h.neuron_relevance("2", 0);
  const at::Tensor c = (a / a.abs().sum()) * (r / r.abs().sum());
  const auto [neurons, scores] = largest(c.masked_fill(c <= c.mean(), -1e300), 3);
  EXPECT_EQ(item.get<Selection>("selection").value()->layers.at(0).neurons, neurons);
  expect_scores_near(item.get<Selection>("selection").value()->layers.at(0).scores, scores);
}

TEST(GetOptimizerStage, ErrorsNameTheOption) {
  const std::string contribution = open_error("type: getoptimizer\noptions: {contribution: sum}\n", resources_for(tiny_cnn()));
  EXPECT_NE(contribution.find("contribution"), std::string::npos) << contribution;
  EXPECT_NE(contribution.find("relevance"), std::string::npos) << contribution;  // lists the allowed values
  EXPECT_NE(open_error("type: getoptimizer\noptions: {k: -1}\n", resources_for(tiny_cnn())).find("option k: must be >= 0"),
            std::string::npos);
  const std::string too_many = open_error("type: getoptimizer\noptions: {layers: [\"5\"], k: 100000}\n", resources_for(tiny_cnn()));
  EXPECT_NE(too_many.find("larger than layer '5' (" + std::to_string(neurons_of("5")) + " neurons)"), std::string::npos) << too_many;
  EXPECT_NE(open_error("type: getoptimizer\noptions: {optimize_smape: -1.0}\n", resources_for(tiny_cnn()))
                .find("option optimize_smape: must be >= 0"),
            std::string::npos);
}

}  // namespace
}  // namespace lrpflow
