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

// Layer and class names come from untrusted models and sidecars: whatever they hold, the DOT text
// keeps them inside their quotes, Graphviz lays it out, and the SVG has no link.
TEST(CriticalPath, HostileNamesStayLabels) {
  CriticalPathGraph g = small_graph();
  g.target_label = "c3\", URL=\"javascript:alert(3)\"";
  g.layers[0].name = "a\\\"]; evil [URL=\"javascript:alert(1)\"]; x [label=\"";
  g.layers[1].name = std::string("bad\xff\xfe utf8 \n newline \\N");
  ASSERT_TRUE(find_critical_paths(g, 1, PathCombine::Product).is_ok());
  auto svg = render_svg(to_dot(g));
  ASSERT_TRUE(svg) << svg.status().message();
  const std::string& text = svg.value();
  // Edge tooltips make <a xlink:title> groups; a URL attribute would add an xlink:href.
  EXPECT_EQ(text.find("href"), std::string::npos) << text;
  EXPECT_EQ(text.find("<title>evil</title>"), std::string::npos) << "a name added a node";
  EXPECT_NE(text.find("c3&quot;, URL=&quot;javascript:alert(3)&quot;</text>"), std::string::npos)
      << "the class name is shown as text";
  EXPECT_NE(text.find("newline \\N</text>"), std::string::npos) << "a backslash is no Graphviz escape";
  EXPECT_NE(text.find("utf8"), std::string::npos);
  // Every name is still valid JSON (bytes that are not UTF-8 become U+FFFD).
  const auto j = nlohmann::json::parse(to_json(g));
  EXPECT_EQ(j["layers"][1]["name"].get<std::string>().rfind("bad\xEF\xBF\xBD", 0), 0u);
}

// Items render in whatever order the threads take them: an SVG must not depend on what was
// rendered before it in the process.
TEST(CriticalPath, SvgIsTheSameWhateverWasRenderedBefore) {
  CriticalPathGraph g = small_graph();
  ASSERT_TRUE(find_critical_paths(g, 2, PathCombine::Product).is_ok());
  const std::string dot = to_dot(g);
  auto first = render_svg(dot);
  CriticalPathGraph other = small_graph();
  other.layers[0].name = "another.layer";
  ASSERT_TRUE(render_svg(to_dot(other)));
  auto again = render_svg(dot);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first.value(), again.value());
}

TEST(CriticalPath, RejectsEdgesToMissingNeurons) {
  CriticalPathGraph g = small_graph();
  g.edges.push_back({0, 0, 9, 1.0, 1.0});
  EXPECT_FALSE(find_critical_paths(g, 1, PathCombine::Product).is_ok());
}

}  // namespace
}  // namespace lrpflow::selection
