#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <limits>

#include "lrpflow/visual/heatmap.h"

namespace lrpflow::visual {
namespace {

TEST(Heatmap, ChannelReductions) {
  // Pixel 0: channels (1, -3) -> sum -2, max-abs -3. Pixel 1: (2, 2) -> sum 4, max-abs 2.
  const at::Tensor r = at::tensor({1.f, 2.f, -3.f, 2.f}).reshape({2, 1, 2});
  auto sum = reduce_channels(r, ChannelReduction::Sum);
  ASSERT_TRUE(sum);
  EXPECT_TRUE(at::equal(sum.value(), at::tensor({-2.f, 4.f}).reshape({1, 2})));
  auto maxabs = reduce_channels(r, ChannelReduction::MaxAbs);
  ASSERT_TRUE(maxabs);
  EXPECT_TRUE(at::equal(maxabs.value(), at::tensor({-3.f, 2.f}).reshape({1, 2})));
  EXPECT_FALSE(reduce_channels(at::zeros({2, 2, 2, 2, 2}), ChannelReduction::Sum));
}

TEST(Heatmap, SymmetricNormalisationPutsZeroInTheMiddle) {
  // max |m| = 2: -2 -> 0, 1 -> 0.75, 0 -> 0.5, 2 -> 1.
  const at::Tensor m = at::tensor({-2.f, 1.f, 0.f, 2.f}).reshape({2, 2});
  auto unit = normalise_map(m, {});
  ASSERT_TRUE(unit);
  EXPECT_TRUE(at::allclose(unit.value(), at::tensor({0.f, 0.75f, 0.5f, 1.f}).reshape({2, 2})));
}

TEST(Heatmap, PercentileClippingSaturates) {
  // |m| = 0..100: the 50th percentile is 50, so 100 saturates to 1 and 25 maps to 0.75.
  const at::Tensor m = at::arange(0, 101, at::kFloat).reshape({1, 101});
  NormaliseOptions options;
  options.clip_percentile = 50;
  auto unit = normalise_map(m, options);
  ASSERT_TRUE(unit);
  EXPECT_FLOAT_EQ(unit.value()[0][100].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(unit.value()[0][25].item<float>(), 0.75f);
}

TEST(Heatmap, ZeroMapIsNeutralAndNanIsAnError) {
  auto zero = normalise_map(at::zeros({3, 3}), {});
  ASSERT_TRUE(zero);
  EXPECT_TRUE(at::equal(zero.value(), at::full({3, 3}, 0.5f)));
  at::Tensor bad = at::zeros({2, 2});
  bad[0][0] = std::numeric_limits<float>::quiet_NaN();
  auto nan = normalise_map(bad, {});
  ASSERT_FALSE(nan);
  EXPECT_NE(nan.status().message().find("NaN"), std::string::npos);
}

TEST(Heatmap, ColourAndOverlay) {
  auto lut = colormap("bwr");
  ASSERT_TRUE(lut);
  const cv::Mat heat = apply_colormap(at::tensor({0.f, 1.f}).reshape({1, 2}), lut.value());
  EXPECT_EQ(heat.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 0));  // blue, in BGR order
  EXPECT_EQ(heat.at<cv::Vec3b>(0, 1), cv::Vec3b(0, 0, 255));  // red
  const cv::Mat background(4, 4, CV_8UC1, cv::Scalar(100));
  auto blended = overlay(heat, background, 0.5);
  ASSERT_TRUE(blended);
  EXPECT_EQ(blended.value().size(), background.size());
  EXPECT_EQ(blended.value().channels(), 3);
  // Left column: half blue (255) half gray (100) in the blue channel.
  EXPECT_NEAR(blended.value().at<cv::Vec3b>(0, 0)[0], 178, 1);
  EXPECT_FALSE(overlay(heat, background, 1.5));
}

TEST(Heatmap, BilinearUpsamplingKeepsConstantMaps) {
  const at::Tensor up = upsample_bilinear(at::full({2, 2}, 3.f), 8, 8);
  EXPECT_EQ(up.sizes(), (at::IntArrayRef{8, 8}));
  EXPECT_TRUE(at::allclose(up, at::full({8, 8}, 3.f)));
}

}  // namespace
}  // namespace lrpflow::visual
