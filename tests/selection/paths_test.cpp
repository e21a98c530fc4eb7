// k-best paths against brute force on small random layered graphs.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "lrpflow/selection/paths.h"

namespace lrpflow::selection {
namespace {

std::vector<double> brute_force_strengths(const std::vector<int>& sizes, const std::vector<LayeredEdge>& edges,
                                          PathCombine combine) {
  std::vector<double> strengths;
  std::function<void(int, int, double)> walk = [&](int layer, int node, double strength) {
    if (layer + 1 == static_cast<int>(sizes.size())) {
      strengths.push_back(strength);
      return;
    }
    for (const auto& e : edges) {
      if (e.from_layer != layer || e.from_node != node) continue;
      double next = combine == PathCombine::Product ? strength * e.weight
                    : combine == PathCombine::Sum   ? strength + e.weight
                                                    : std::min(strength, e.weight);
      walk(layer + 1, e.to_node, next);
    }
  };
  const double start = combine == PathCombine::Product ? 1.0
                       : combine == PathCombine::Sum   ? 0.0
                                                       : std::numeric_limits<double>::infinity();
  for (int n = 0; n < sizes[0]; ++n) walk(0, n, start);
  std::sort(strengths.rbegin(), strengths.rend());
  return strengths;
}

TEST(KBestPaths, MatchesBruteForceOnRandomGraphs) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int layers = 2 + static_cast<int>(rng() % 4);
    std::vector<int> sizes;
    for (int l = 0; l < layers; ++l) sizes.push_back(1 + static_cast<int>(rng() % 4));
    std::vector<LayeredEdge> edges;
    std::uniform_real_distribution<double> weight(-1.0, 1.0);
    std::bernoulli_distribution present(0.7);
    for (int l = 0; l + 1 < layers; ++l)
      for (int a = 0; a < sizes[l]; ++a)
        for (int b = 0; b < sizes[l + 1]; ++b)
          if (present(rng)) edges.push_back({l, a, b, weight(rng)});
    for (PathCombine combine : {PathCombine::Product, PathCombine::Sum, PathCombine::Min}) {
      const int k = 1 + static_cast<int>(rng() % 5);
      auto found = k_best_paths(sizes, edges, k, combine);
      ASSERT_TRUE(found) << found.status().message();
      std::vector<double> expected = brute_force_strengths(sizes, edges, combine);
      if (expected.size() > static_cast<size_t>(k)) expected.resize(k);
      ASSERT_EQ(found.value().size(), expected.size()) << "trial " << trial;
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_DOUBLE_EQ(found.value()[i].strength, expected[i]) << "trial " << trial << " rank " << i;
        EXPECT_EQ(found.value()[i].nodes.size(), sizes.size());
      }
    }
  }
}

TEST(KBestPaths, PathNodesFollowExistingEdges) {
  const std::vector<int> sizes{2, 2, 1};
  const std::vector<LayeredEdge> edges{{0, 0, 0, 0.5}, {0, 1, 1, 0.9}, {1, 0, 0, 1.0}, {1, 1, 0, 0.1}};
  auto found = k_best_paths(sizes, edges, 2, PathCombine::Product);
  ASSERT_TRUE(found);
  ASSERT_EQ(found.value().size(), 2u);
  EXPECT_EQ(found.value()[0].nodes, (std::vector<int>{0, 0, 0}));  // 0.5 * 1.0
  EXPECT_DOUBLE_EQ(found.value()[0].strength, 0.5);
  EXPECT_EQ(found.value()[1].nodes, (std::vector<int>{1, 1, 0}));  // 0.9 * 0.1
}

TEST(KBestPaths, RejectsBadEdgesAndK) {
  EXPECT_FALSE(k_best_paths({2, 2}, {{0, 0, 5, 1.0}}, 1, PathCombine::Sum));
  EXPECT_FALSE(k_best_paths({2, 2}, {{1, 0, 0, 1.0}}, 1, PathCombine::Sum));
  EXPECT_FALSE(k_best_paths({2, 2}, {}, 0, PathCombine::Sum));
  EXPECT_FALSE(parse_path_combine("mean"));
}

}  // namespace
}  // namespace lrpflow::selection
