// The critical_paths stage alone (StageRunner) on a hand-built MLP and a hand-made explanation:
// the graph's node relevance, its edges (the conditional relevance one upper neuron hands a lower
// one through LRP-epsilon, computed here from the weights: a_i w_ji / z_j R_j), its input edges and
// its paths; and its errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "lrpflow/files.h"
#include "stage_test_support.h"

namespace lrpflow {
namespace {
using testing::layer_selection;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;

constexpr int64_t kTarget = 2;

struct MlpCase {
  testing::Mlp mlp = testing::make_mlp({4, 6, 5, 3}, 21);
  at::Tensor x = at::randn({1, 4}, at::detail::createCPUGenerator(22), at::kFloat);
  lrp::SharedActivations acts = testing::forward_pass(*mlp.model, x);
  std::shared_ptr<lrp::Explanation> explanation = [&] {
    auto e = std::make_shared<lrp::Explanation>();
    at::Generator generator = at::detail::createCPUGenerator(23);
    e->logits = acts->logits;
    e->start_relevance = at::zeros_like(acts->logits);
    e->start_relevance[0][kTarget] = acts->logits[0][kTarget];
    e->layer_output_relevance["fc1"] = at::randn({1, 6}, generator, at::kFloat);
    e->layer_output_relevance["fc2"] = at::randn({1, 5}, generator, at::kFloat);
    return e;
  }();
  std::shared_ptr<ResourceSet> resources() const { return resources_for(mlp.model, testing::epsilon_rules(mlp.model, "1e-9")); }
  Item item(const Selection& selection, bool with_target = true) const {
    Item item(0, "a", "a.npy");
    testing::set_activations(item, acts);
    testing::set_explanation(item, explanation);
    item.set("selection", selection);
    if (with_target) item.set("target", at::tensor({kTarget}, at::kLong));
    return item;
  }
};

const std::vector<int64_t> kLower = {0, 2, 5};  // fc1
const std::vector<int64_t> kUpper = {4, 1};     // fc2

Selection two_layers() {
  Selection selection;
  selection.method = "hand";
  // Upper layer first: the stage orders the layers itself.
  selection.layers = {layer_selection("fc2", 5, kUpper), layer_selection("fc1", 6, kLower)};
  return selection;
}

double relative_error(double actual, double expected) { return std::abs(actual - expected) / std::max(1e-6, std::abs(expected)); }

TEST(CriticalPathsStage, GraphEdgesAreTheConditionalRelevanceThroughTheWeights) {
  const MlpCase s;
  testing::TempDir out;
  auto stage = open_stage("id: paths\ntype: critical_paths\noptions: {paths: 4, svg: false}\n", s.resources(), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = s.item(two_layers());
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  std::map<std::string, std::string> files;
  for (const OutputFile& f : item.outputs()) files[f.kind] = f.path;
  ASSERT_EQ(files.count("graph_json"), 1u);
  ASSERT_EQ(files.count("graph_dot"), 1u);
  EXPECT_EQ(files.count("graph_svg"), 0u);  // svg: false
  EXPECT_TRUE(std::filesystem::exists(out.path() / files["graph_dot"]));
  auto text = read_file(out.path() / files["graph_json"]);
  ASSERT_TRUE(text) << text.status().message();
  const auto graph = nlohmann::json::parse(text.value());

  const at::Tensor x = s.x[0].to(at::kDouble);
  const at::Tensor w1 = s.mlp.weight[0].to(at::kDouble), w2 = s.mlp.weight[1].to(at::kDouble);
  const at::Tensor z1 = at::matmul(w1, x) + s.mlp.bias[0].to(at::kDouble);
  const at::Tensor a1 = z1.relu();
  const at::Tensor z2 = at::matmul(w2, a1) + s.mlp.bias[1].to(at::kDouble);
  const at::Tensor r1 = s.explanation->layer_output_relevance.at("fc1")[0].to(at::kDouble);
  const at::Tensor r2 = s.explanation->layer_output_relevance.at("fc2")[0].to(at::kDouble);
  const double target_relevance = s.acts->logits[0][kTarget].item<double>();

  EXPECT_EQ(graph.at("target").at("index").get<int64_t>(), kTarget);
  EXPECT_NEAR(graph.at("target").at("relevance").get<double>(), target_relevance, 1e-6);
  // Nodes: lowest layer first, each selected neuron with its relevance.
  ASSERT_EQ(graph.at("layers").size(), 2u);
  EXPECT_EQ(graph.at("layers")[0].at("name"), "fc1");
  EXPECT_EQ(graph.at("layers")[1].at("name"), "fc2");
  for (size_t i = 0; i < kLower.size(); ++i) {
    EXPECT_EQ(graph.at("layers")[0].at("neurons")[i].at("index").get<int64_t>(), kLower[i]);
    EXPECT_NEAR(graph.at("layers")[0].at("neurons")[i].at("relevance").get<double>(), r1[kLower[i]].item<double>(), 1e-6);
  }

  // Edges: fc1 i -> fc2 j carries a1_i w2_ji / z2_j * R2_j; fc2 j -> target carries R2_j.
  std::map<std::pair<int64_t, int64_t>, std::pair<double, double>> between;  // (i, j) -> relevance, share
  std::map<int64_t, double> to_target_share;
  for (const auto& edge : graph.at("edges")) {
    const int64_t from = edge.at("from").at("neuron").get<int64_t>();
    const int64_t to = edge.at("to").at("neuron").get<int64_t>();
    const double relevance = edge.at("relevance").get<double>(), share = edge.at("share").get<double>();
    if (edge.at("to").at("layer") == "target") {
      EXPECT_EQ(edge.at("from").at("layer"), "fc2");
      EXPECT_EQ(to, kTarget);
      EXPECT_NEAR(relevance, r2[from].item<double>(), 1e-6);
      EXPECT_LE(relative_error(share, r2[from].item<double>() / target_relevance), 1e-5);
      to_target_share[from] = share;
      continue;
    }
    EXPECT_EQ(edge.at("from").at("layer"), "fc1");
    EXPECT_EQ(edge.at("to").at("layer"), "fc2");
    const double expected = (a1[from] * w2[to][from] / z2[to] * r2[to]).item<double>();
    EXPECT_LE(relative_error(relevance, expected), 1e-4) << from << " -> " << to << ": " << relevance << " vs " << expected;
    EXPECT_LE(relative_error(share, expected / r2[to].item<double>()), 1e-4) << from << " -> " << to;
    between[{from, to}] = {relevance, share};
  }
  EXPECT_EQ(between.size(), kLower.size() * kUpper.size());
  EXPECT_EQ(to_target_share.size(), kUpper.size());

  // Input edges: what fc1 neuron i hands the input, sum_k x_k w1_ik / z1_i * R1_i.
  ASSERT_EQ(graph.at("input").size(), kLower.size());
  for (size_t i = 0; i < kLower.size(); ++i) {
    const int64_t n = kLower[i];
    EXPECT_EQ(graph.at("input")[i].at("neuron").get<int64_t>(), n);
    const double expected = ((z1[n] - s.mlp.bias[0][n].to(at::kDouble)) / z1[n] * r1[n]).item<double>();
    EXPECT_LE(relative_error(graph.at("input")[i].at("relevance").get<double>(), expected), 1e-4) << n;
  }

  // Paths: strength is the product of the shares along the path, strongest first.
  const auto& paths = graph.at("paths").at("items");
  EXPECT_EQ(graph.at("paths").at("strength"), "product");
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(item.metrics().at("graph/paths"), 4.0);
  EXPECT_DOUBLE_EQ(item.metrics().at("graph/strongest_path"), paths[0].at("strength").get<double>());
  for (size_t p = 0; p < paths.size(); ++p) {
    const auto& nodes = paths[p].at("neurons");
    ASSERT_EQ(nodes.size(), 2u);
    const int64_t i = nodes[0].at("neuron").get<int64_t>(), j = nodes[1].at("neuron").get<int64_t>();
    const double product = between.at({i, j}).second * to_target_share.at(j);
    EXPECT_LE(relative_error(paths[p].at("strength").get<double>(), product), 1e-9) << p;
    if (p > 0) EXPECT_GE(paths[p - 1].at("strength").get<double>(), paths[p].at("strength").get<double>());
  }
}

TEST(CriticalPathsStage, WithoutInputEdgesTheGraphHasNoInput) {
  const MlpCase s;
  testing::TempDir out;
  auto stage = open_stage("type: critical_paths\noptions: {svg: false, input_edges: false, paths: 1}\n", s.resources(), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = s.item(two_layers());
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  auto text = read_file(out.path() / item.outputs().at(0).path);
  ASSERT_TRUE(text) << text.status().message();
  const auto graph = nlohmann::json::parse(text.value());
  EXPECT_FALSE(graph.contains("input"));
  EXPECT_EQ(graph.at("paths").at("items").size(), 1u);
  EXPECT_EQ(item.metrics().at("graph/paths"), 1.0);
}

TEST(CriticalPathsStage, ErrorsNameTheSlotTheLayerAndTheOption) {
  const MlpCase s;
  const std::string strength = open_error("type: critical_paths\noptions: {strength: max}\n", s.resources());
  EXPECT_NE(strength.find("'strength'"), std::string::npos) << strength;
  EXPECT_NE(strength.find("max"), std::string::npos) << strength;
  const std::string paths = open_error("type: critical_paths\noptions: {paths: 0}\n", s.resources());
  EXPECT_NE(paths.find("option 'paths'"), std::string::npos) << paths;
  EXPECT_NE(open_error("type: critical_paths\n", resources_for(s.mlp.model)).find("no resource named 'rules'"), std::string::npos);

  testing::TempDir out;
  auto stage = open_stage("id: cp\ntype: critical_paths\noptions: {svg: false}\n", s.resources(), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item no_target = s.item(two_layers(), false);
  EXPECT_FALSE(stage->process(no_target).is_ok());
  ASSERT_TRUE(no_target.failed());
  EXPECT_EQ(no_target.error()->stage, "cp");
  EXPECT_NE(no_target.error()->message.find("slot 'target' is empty"), std::string::npos) << no_target.error()->message;

  Selection empty_layer = two_layers();
  empty_layer.layers[0].neurons.clear();
  Item empty = s.item(empty_layer);
  EXPECT_FALSE(stage->process(empty).is_ok());
  ASSERT_TRUE(empty.failed());
  EXPECT_NE(empty.error()->message.find("layer 'fc2' has an empty selection: no path can pass it"), std::string::npos)
      << empty.error()->message;

  Selection none;
  Item nothing = s.item(none);
  EXPECT_FALSE(stage->process(nothing).is_ok());
  ASSERT_TRUE(nothing.failed());
  EXPECT_NE(nothing.error()->message.find("the selection names no layer"), std::string::npos) << nothing.error()->message;

  Selection not_kept;
  not_kept.layers = {layer_selection("fc3", 3, {0})};
  Item unkept = s.item(not_kept);
  EXPECT_FALSE(stage->process(unkept).is_ok());
  ASSERT_TRUE(unkept.failed());
  EXPECT_NE(unkept.error()->message.find("no relevance kept at layer 'fc3'"), std::string::npos) << unkept.error()->message;
  EXPECT_TRUE(unkept.outputs().empty());
}

}  // namespace
}  // namespace lrpflow
