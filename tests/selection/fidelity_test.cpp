#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "lrpflow/selection/fidelity.h"
#include "lrpflow/selection/output_comparison.h"

namespace lrpflow::selection {
namespace {

TEST(Fidelity, MeanSquaredError) {
  // ((1-0)^2 + (2-4)^2) / 2 = 2.5
  EXPECT_DOUBLE_EQ(mean_squared_error({1, 2}, {0, 4}), 2.5);
  EXPECT_DOUBLE_EQ(mean_squared_error({1, 2}, {1, 2}), 0.0);
}

TEST(Fidelity, SmapeCountsZeroOverZeroAsZero) {
  // Terms: |2-1| / 1.5 = 2/3, 0/0 -> 0, |0-4| / 2 = 2; mean * 100 = 100 * (8/3) / 3.
  EXPECT_NEAR(smape({1, 0, 4}, {2, 0, 0}), 100.0 * (2.0 / 3.0 + 2.0) / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(smape({0, 0}, {0, 0}), 0.0);
  EXPECT_THROW(smape({1}, {1, 2}), std::invalid_argument);
}

TEST(Fidelity, EqualOutputsGiveZero) {
  const std::vector<double> output{0.0, 1e-300, 1e-12, 0.25, -3.5, 0.75};
  EXPECT_EQ(mean_squared_error(output, output), 0.0);
  EXPECT_EQ(smape(output, output), 0.0);
  EXPECT_EQ(smape(output, output, {0, 2, 4}), 0.0);
}

TEST(Fidelity, SmapeOverListedClasses) {
  // Classes 0 and 2 of the first example: (2/3 + 2) / 2 * 100; no class: 0.
  EXPECT_NEAR(smape({1, 0, 4}, {2, 0, 0}, {0, 2}), 100.0 * (2.0 / 3.0 + 2.0) / 2.0, 1e-12);
  EXPECT_EQ(smape({1, 0, 4}, {2, 0, 0}, {}), 0.0);
  EXPECT_THROW(smape({1, 0}, {2, 0}, {2}), std::invalid_argument);
}

TEST(Fidelity, ClassesCarryingMass) {
  const std::vector<double> p{0.05, 0.9, 0.04, 0.01};
  EXPECT_EQ(classes_carrying(p, 0.5), (std::vector<std::size_t>{1}));
  EXPECT_EQ(classes_carrying(p, 0.9), (std::vector<std::size_t>{1}));       // 0.9 >= 0.9
  EXPECT_EQ(classes_carrying(p, 0.92), (std::vector<std::size_t>{0, 1}));   // 0.95
  EXPECT_EQ(classes_carrying(p, 0.97), (std::vector<std::size_t>{0, 1, 2}));  // 0.99
  EXPECT_EQ(classes_carrying(p, 1.0).size(), 4u);  // whether or not the sum rounds to 1
  EXPECT_EQ(classes_carrying({0.5, 0.5}, 0.5), (std::vector<std::size_t>{0}));  // ties: lower index
}

Options comparison_options(const std::string& on, const std::string& classes, double mass) {
  return Options({{"on", on}, {"smape_classes", classes}, {"smape_mass", mass}});
}

OutputFidelity compare(const Options& options, const at::Tensor& full, const at::Tensor& restricted) {
  auto comparison = OutputComparison::from_options(options, 0);
  EXPECT_TRUE(comparison) << comparison.status().message();
  auto reference = comparison.value().reference(full.reshape({1, -1}));
  EXPECT_TRUE(reference) << reference.status().message();
  auto fidelity = comparison.value().compare(reference.value(), restricted.reshape({1, -1}));
  EXPECT_TRUE(fidelity) << fidelity.status().message();
  return fidelity.value();
}

// The defect of SMAPE over every softmax probability: one confident class, nine classes at ~e^-30.
// Raising the nine logits by 2 leaves the prediction as it was (p0 changes by ~1e-12) but
// multiplies each tiny probability by e^2: each of their terms is |e^2 x - x| / ((e^2 x + x) / 2) =
// 2 tanh(1), so SMAPE over all ten classes is 100 * 9/10 * 2 tanh(1) = 137%. Over the classes
// that carry 99% of the probability (class 0 alone) it is ~0.
TEST(OutputComparison, TinyProbabilitiesDoNotDominateTheDefault) {
  const at::Tensor full = at::cat({at::full({1}, 30.f), at::zeros({9})});
  const at::Tensor restricted = at::cat({at::full({1}, 30.f), at::full({9}, 2.f)});
  const OutputFidelity all = compare(comparison_options("probabilities", "all", 0.99), full, restricted);
  EXPECT_NEAR(all.smape, 180.0 * std::tanh(1.0), 1e-3);
  EXPECT_TRUE(all.kept_class);
  const OutputFidelity mass = compare(comparison_options("probabilities", "mass", 0.99), full, restricted);
  EXPECT_LT(mass.smape, 1e-6);
  EXPECT_EQ(mass.mse, all.mse);  // MSE always runs over every class
  EXPECT_LT(mass.mse, 1e-20);
  // On logits: class 0's logit is unchanged; each other term is |2 - 0| / 1 = 2, i.e. 200%.
  EXPECT_NEAR(compare(comparison_options("logits", "all", 0.99), full, restricted).smape, 180.0, 1e-9);
  EXPECT_EQ(compare(comparison_options("logits", "mass", 0.99), full, restricted).smape, 0.0);
}

// Probability that leaves the classes carrying the mass is counted: p0 falls from 0.99 to
// 1 / (1 + e) and the prediction moves to class 1.
TEST(OutputComparison, MassMovedToAnotherClassCounts) {
  const at::Tensor full = at::tensor({static_cast<float>(std::log(99.0)), 0.f});
  const at::Tensor restricted = at::tensor({0.f, 1.f});
  const OutputFidelity result = compare(comparison_options("probabilities", "mass", 0.9), full, restricted);
  const double p0 = 1.0 / (1.0 + std::exp(1.0));
  EXPECT_NEAR(result.smape, 100.0 * (0.99 - p0) / ((0.99 + p0) / 2.0), 1e-4);
  EXPECT_FALSE(result.kept_class);
  // Squared differences of (0.99, 0.01) and (p0, 1 - p0), averaged over the two classes.
  EXPECT_NEAR(result.mse, (0.99 - p0) * (0.99 - p0), 1e-6);
}

TEST(OutputComparison, BadOptionsAndOutputs) {
  for (double mass : {0.0, -0.5, 1.5}) {
    auto comparison = OutputComparison::from_options(comparison_options("probabilities", "mass", mass), 0);
    ASSERT_FALSE(comparison);
    EXPECT_NE(comparison.status().message().find("smape_mass"), std::string::npos) << comparison.status().message();
  }
  auto comparison = OutputComparison::from_options(comparison_options("probabilities", "mass", 0.99), 1);
  ASSERT_TRUE(comparison);
  auto reference = comparison.value().reference(at::zeros({1, 3}));  // sample 1 of a batch of 1
  ASSERT_FALSE(reference);
  EXPECT_NE(reference.status().message().find("sample 1"), std::string::npos) << reference.status().message();
}

}  // namespace
}  // namespace lrpflow::selection
