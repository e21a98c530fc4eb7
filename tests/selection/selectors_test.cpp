// Selectors on small vectors whose answers are worked out by hand in the comments.
#include <gtest/gtest.h>

#include "lrpflow/selection/selectors.h"

namespace lrpflow::selection {
namespace {

using Index = std::vector<std::int64_t>;

// a = [4, 0, 2, 2], r = [1, 3, -1, 1] throughout.
const std::vector<double> kActivation{4, 0, 2, 2};
const std::vector<double> kRelevance{1, 3, -1, 1};

TEST(GetOptimizer, RelevanceContributionThresholdThenTopK) {
  // c = r; mean 1, population std sqrt(2): threshold 1 - 1.414 = -0.414 drops neuron 2 (c = -1).
  // Kept by c: 1 (3), 0 (1), 3 (1; tie with 0, lower index first).
  auto all = get_optimizer(kActivation, kRelevance, {Contribution::Relevance, 1.0, 0});
  ASSERT_TRUE(all) << all.status().message();
  EXPECT_EQ(all.value().neurons, (Index{1, 0, 3}));
  EXPECT_EQ(all.value().scores, (std::vector<double>{3, 1, 1}));
  auto top2 = get_optimizer(kActivation, kRelevance, {Contribution::Relevance, 1.0, 2});
  ASSERT_TRUE(top2);
  EXPECT_EQ(top2.value().neurons, (Index{1, 0}));
}

TEST(GetOptimizer, DifferenceContribution) {
  // a^ = [1/2, 0, 1/4, 1/4], r^ = [1/6, 1/2, -1/6, 1/6]; c = [-1/3, 1/2, -5/12, -1/12].
  // mean -1/12, std sqrt(74)/24 = 0.3584: n = 1 keeps all (threshold -0.4418 < -5/12).
  auto all = get_optimizer(kActivation, kRelevance, {Contribution::Difference, 1.0, 0});
  ASSERT_TRUE(all);
  EXPECT_EQ(all.value().neurons, (Index{1, 3, 0, 2}));
  EXPECT_NEAR(all.value().scores[0], 0.5, 1e-12);
  EXPECT_NEAR(all.value().scores[3], -5.0 / 12.0, 1e-12);
  // n = 0.5: threshold -1/12 - 0.1792 = -0.2626 keeps only 1 and 3.
  auto half = get_optimizer(kActivation, kRelevance, {Contribution::Difference, 0.5, 0});
  ASSERT_TRUE(half);
  EXPECT_EQ(half.value().neurons, (Index{1, 3}));
}

TEST(GetOptimizer, ProductContribution) {
  // c = a^ r^ = [1/12, 0, -1/24, 1/24]; mean 1/48, std sqrt(20)/96 = 0.0466: threshold -0.0258 drops 2.
  auto all = get_optimizer(kActivation, kRelevance, {Contribution::Product, 1.0, 0});
  ASSERT_TRUE(all);
  EXPECT_EQ(all.value().neurons, (Index{0, 3, 1}));
  EXPECT_NEAR(all.value().scores[0], 1.0 / 12.0, 1e-12);
}

TEST(GetOptimizer, RejectsBadInput) {
  EXPECT_FALSE(get_optimizer({1, 2}, {1, 2, 3}, {}));
  EXPECT_FALSE(get_optimizer({}, {}, {}));
  GetOptimizerParams negative_k;
  negative_k.k = -1;
  EXPECT_FALSE(get_optimizer({1}, {1}, negative_k));
}

TEST(GetOptimizer, ThresholdThatKeepsNothingGivesEmptySelection) {
  // All equal: std 0, threshold = mean, and nothing is strictly above it.
  auto none = get_optimizer({1, 1, 1}, {2, 2, 2}, {Contribution::Relevance, 1.0, 0});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none.value().neurons.empty());
}

TEST(TopK, LargestRelevanceFirst) {
  auto top = top_k(kRelevance, 2);
  ASSERT_TRUE(top);
  EXPECT_EQ(top.value().neurons, (Index{1, 0}));
  EXPECT_FALSE(top_k(kRelevance, 0));
  EXPECT_FALSE(top_k(kRelevance, 5));
}

TEST(RelevanceMass, SmallestSetHoldingTheShare) {
  // Positive relevance 5 + 3 + 2 = 10. 80%: 5 + 3 = 8 is enough; 81% needs the 2 as well.
  const std::vector<double> r{5, -2, 3, 2};
  auto eighty = relevance_mass(r, 0.8);
  ASSERT_TRUE(eighty);
  EXPECT_EQ(eighty.value().neurons, (Index{0, 2}));
  auto more = relevance_mass(r, 0.81);
  ASSERT_TRUE(more);
  EXPECT_EQ(more.value().neurons, (Index{0, 2, 3}));
  auto no_positive = relevance_mass({-1, -2}, 0.5);
  ASSERT_TRUE(no_positive);
  EXPECT_TRUE(no_positive.value().neurons.empty());
  EXPECT_FALSE(relevance_mass(r, 0.0));
  EXPECT_FALSE(relevance_mass(r, 1.5));
}

TEST(Contributions, L1NormalisationKeepsZeros) {
  EXPECT_EQ(l1_normalised({0, 0}), (std::vector<double>{0, 0}));
  EXPECT_EQ(l1_normalised({-1, 3}), (std::vector<double>{-0.25, 0.75}));
}

}  // namespace
}  // namespace lrpflow::selection
