#include <gtest/gtest.h>

#include "lrpflow/selection/fidelity.h"

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

}  // namespace
}  // namespace lrpflow::selection
