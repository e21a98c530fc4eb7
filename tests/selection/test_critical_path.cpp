#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lrpflow/selection/critical_path.h"

namespace lrpflow::selection {
namespace {

// Two layers of two selected neurons under one target. Shares: layer0 -> layer1 and layer1 -> target.
CriticalPathGraph small_graph() {
  CriticalPathGraph g;
  g.target = 3;
  g.target_label = "Dress";
  g.target_relevance = 2.0;
  g.layers = {{"features.0", {5, 7}, {1.2, 0.6}}, {"classifier.0", {1, 4}, {1.5, 0.5}}};
  g.edges = {
      {0, 0, 0, 0.9, 0.6},  {0, 1, 0, 0.3, 0.2},   // into classifier.0/1 (R = 1.5)
      {0, 0, 1, 0.3, 0.6},  {0, 1, 1, 0.2, 0.4},   // into classifier.0/4 (R = 0.5)
      {1, 0, 0, 1.5, 0.75}, {1, 1, 0, 0.5, 0.25},  // into the target (R = 2)
  };
  g.input_relevance = {1.1, 0.5};
  return g;
}

TEST(CriticalPath, StrongestPathsByProductOfShares) {
  CriticalPathGraph g = small_graph();
  ASSERT_TRUE(find_critical_paths(g, 2, PathCombine::Product).is_ok());
  ASSERT_EQ(g.paths.size(), 2u);
  // 5 -> 1 -> target: 0.6 * 0.75 = 0.45; next 7 -> 1 -> target: 0.2 * 0.75 = 0.15 (5 -> 4: 0.6 * 0.25 = 0.15 ties; lower nodes first).
  EXPECT_EQ(g.paths[0].nodes, (std::vector<int>{0, 0, 0}));
  EXPECT_DOUBLE_EQ(g.paths[0].strength, 0.45);
  EXPECT_DOUBLE_EQ(g.paths[1].strength, 0.15);
}

TEST(CriticalPath, JsonNamesLayersNeuronsAndPaths) {
  CriticalPathGraph g = small_graph();
  ASSERT_TRUE(find_critical_paths(g, 1, PathCombine::Product).is_ok());
  const auto j = nlohmann::json::parse(to_json(g));
  EXPECT_EQ(j["target"]["index"], 3);
  EXPECT_EQ(j["layers"][1]["name"], "classifier.0");
  EXPECT_EQ(j["edges"].size(), 6u);
  EXPECT_EQ(j["edges"][4]["to"]["layer"], "target");
  EXPECT_EQ(j["paths"]["items"][0]["neurons"][0]["neuron"], 5);
  EXPECT_EQ(j["paths"]["items"][0]["neurons"][1]["neuron"], 1);
  EXPECT_EQ(j["input"][1]["relevance"], 0.5);
}

TEST(CriticalPath, DotRendersToSvg) {
  CriticalPathGraph g = small_graph();
  ASSERT_TRUE(find_critical_paths(g, 1, PathCombine::Product).is_ok());
  const std::string dot = to_dot(g);
  EXPECT_NE(dot.find("#d62728"), std::string::npos);  // the highlighted path
  auto svg = render_svg(dot);
  ASSERT_TRUE(svg) << svg.status().message();
  EXPECT_NE(svg.value().find("<svg"), std::string::npos);
  EXPECT_NE(svg.value().find("classifier.0"), std::string::npos);
  EXPECT_FALSE(render_svg("digraph { this is not dot"));
}

TEST(CriticalPath, RejectsEdgesToMissingNeurons) {
  CriticalPathGraph g = small_graph();
  g.edges.push_back({0, 0, 9, 1.0, 1.0});
  EXPECT_FALSE(find_critical_paths(g, 1, PathCombine::Product).is_ok());
}

}  // namespace
}  // namespace lrpflow::selection
