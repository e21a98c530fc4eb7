#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <limits>
#include <vector>

#include "lrpflow/image/image.h"

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

// A landscape photo of 300x200 pixels, resized to 150x100 (shorter side 100) and centre-cropped to
// 80x80: the crop starts at x = round((150 - 80) / 2) = 35, y = round((100 - 80) / 2) = 10 in the
// resized image, i.e. at (70, 20) in the photo, and covers 160x160 photo pixels.
ImagePreprocess resize_100_crop_80() {
  ImagePreprocess p;
  p.resize_shorter = 100;
  p.center_crop = 80;
  return p;
}

TEST(ImageGeometry, ResizeThenCropIsRecordedForBothOrientations) {
  cv::Mat landscape(200, 300, CV_8UC3, cv::Scalar(0, 0, 0));
  landscape(cv::Rect(80, 40, 30, 30)).setTo(cv::Scalar(10, 20, 30));  // BGR
  auto out = preprocess_image(landscape, resize_100_crop_80());
  ASSERT_TRUE(out) << out.status().message();
  const ImageGeometry& g = out.value().geometry;
  EXPECT_EQ(std::vector<int>({g.original_height, g.original_width, g.resized_height, g.resized_width, g.crop_top,
                              g.crop_left, g.crop_height, g.crop_width}),
            std::vector<int>({200, 300, 100, 150, 10, 35, 80, 80}));
  EXPECT_EQ(g.seen_region(), cv::Rect2d(70, 20, 160, 160));
  // The model's view is the tensor as an 8-bit BGR image: the patch (80..110, 40..70) of the photo
  // is at (80/2 - 35, 40/2 - 10) = (5, 10) in it, 15 pixels wide.
  const cv::Mat& view = out.value().model_view;
  ASSERT_EQ(view.size(), cv::Size(80, 80));
  EXPECT_EQ(view.at<cv::Vec3b>(12, 7), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(view.at<cv::Vec3b>(12, 3), cv::Vec3b(0, 0, 0));
  EXPECT_FLOAT_EQ(out.value().tensor[0][0][12][7].item<float>(), 30.f / 255.f);  // R, in RGB order
  EXPECT_TRUE(at::equal(out.value().tensor, image_to_tensor(landscape, resize_100_crop_80()).value()));

  auto portrait = preprocess_image(cv::Mat(300, 200, CV_8UC3, cv::Scalar(0)), resize_100_crop_80());
  ASSERT_TRUE(portrait);
  const ImageGeometry& p = portrait.value().geometry;
  EXPECT_EQ(std::vector<int>({p.resized_height, p.resized_width, p.crop_top, p.crop_left}),
            std::vector<int>({150, 100, 35, 10}));
  EXPECT_EQ(p.seen_region(), cv::Rect2d(20, 70, 160, 160));
}

TEST(ImageGeometry, MapsAreDrawnWhereTheModelLooked) {
  const ImageGeometry g = preprocess_image(cv::Mat(200, 300, CV_8UC3, cv::Scalar(0)), resize_100_crop_80()).value().geometry;
  // A map with one marked block at model pixels x 10..20, y 30..40: in the photo that is
  // x (10 + 35) * 2 = 90 .. 110, y (30 + 10) * 2 = 80 .. 100.
  cv::Mat heat(80, 80, CV_8UC3, cv::Scalar(255, 255, 255));
  heat(cv::Rect(10, 30, 10, 10)).setTo(cv::Scalar(0, 0, 255));
  const cv::Scalar outside(7, 7, 7);
  auto framed = to_original_frame(heat, g, outside);
  ASSERT_TRUE(framed) << framed.status().message();
  ASSERT_EQ(framed.value().size(), cv::Size(300, 200));
  EXPECT_EQ(framed.value().at<cv::Vec3b>(90, 100), cv::Vec3b(0, 0, 255));     // centre of the block
  EXPECT_EQ(framed.value().at<cv::Vec3b>(90, 120), cv::Vec3b(255, 255, 255)); // inside the region, off the block
  EXPECT_EQ(framed.value().at<cv::Vec3b>(100, 30), cv::Vec3b(7, 7, 7));       // left of x = 70: not seen
  EXPECT_EQ(framed.value().at<cv::Vec3b>(190, 150), cv::Vec3b(7, 7, 7));      // below y = 180: not seen
  // Red pixels only where the block is (one pixel of bilinear blur at its edge).
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 300; ++x)
      if (framed.value().at<cv::Vec3b>(y, x)[2] == 255 && framed.value().at<cv::Vec3b>(y, x)[0] < 128)
        ASSERT_TRUE(x >= 89 && x <= 110 && y >= 79 && y <= 100) << x << "," << y;

  const cv::Mat photo(200, 300, CV_8UC3, cv::Scalar(100, 100, 100));
  auto blended = overlay_seen_region(heat, photo, g, 0.5);
  ASSERT_TRUE(blended) << blended.status().message();
  EXPECT_EQ(blended.value().at<cv::Vec3b>(90, 100), cv::Vec3b(50, 50, 178));  // 0.5 * (0, 0, 255) + 0.5 * 100
  EXPECT_EQ(blended.value().at<cv::Vec3b>(100, 30), cv::Vec3b(40, 40, 40));   // dimmed: 0.4 * 100
  EXPECT_FALSE(overlay_seen_region(heat, cv::Mat(100, 100, CV_8UC3), g, 0.5));  // another image's size
}

}  // namespace
}  // namespace lrpflow::visual
