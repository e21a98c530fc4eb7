// The source stages of the lrpflow_loaders plugin, exercised through the plugin library.
#include <gtest/gtest.h>
#include <zlib.h>

#include <any>
#include <cmath>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>

#include "lrpflow/image/image.h"
#include "lrpflow/npy.h"
#include "plugin_test_support.h"

namespace lrpflow {
namespace {

using testing::open_stage;
using testing::TempDir;
using testing::write_bytes;

// Enumerates a source stage and loads every item; returns the items (failed ones included).
std::vector<Item> load_all(testing::OpenedStage& stage) {
  std::vector<Item> items;
  auto refs = stage->enumerate();
  EXPECT_TRUE(refs) << refs.status().message();
  if (!refs) return items;
  for (const ItemRef& ref : refs.value()) {
    Item item(static_cast<std::int64_t>(items.size()), ref.id, ref.source);
    const Status status = stage->process(item);
    if (!status) item.fail("load", status.message());
    items.push_back(std::move(item));
  }
  return items;
}

// A 3-channel BGR test image whose every pixel is distinct: B = 10x+y, G = 100+y, R = 200-x.
cv::Mat pattern_image(int height, int width) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) image.at<cv::Vec3b>(y, x) = cv::Vec3b(10 * x + y, 100 + y, 200 - x);
  return image;
}

TEST(ImageLoader, LoadsPngAndBmpExactlyAndJpegApproximatelyInRgbOrder) {
  TempDir dir;
  const cv::Mat image = pattern_image(4, 6);
  std::filesystem::create_directories(dir / "imgs");
  ASSERT_TRUE(cv::imwrite((dir / "imgs/b_lossless.png").string(), image));
  ASSERT_TRUE(cv::imwrite((dir / "imgs/c_bitmap.bmp").string(), image));
  const cv::Mat flat(4, 6, CV_8UC3, cv::Scalar(40, 120, 220));  // JPEG keeps a flat colour almost exactly
  ASSERT_TRUE(cv::imwrite((dir / "imgs/a_photo.jpg").string(), flat));
  write_bytes(dir / "imgs/notes.txt", "not an image, ignored in folder mode");

  auto stage = open_stage("image_loader", {{"path", std::string("imgs")}}, dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id(), "a_photo");
  EXPECT_EQ(items[1].id(), "b_lossless");
  EXPECT_EQ(items[2].id(), "c_bitmap");
  for (const Item& item : items) ASSERT_FALSE(item.failed()) << item.error()->message;

  for (int i : {1, 2}) {
    SCOPED_TRACE(items[i].id());
    const at::Tensor input = items[i].tensor("input").value();
    ASSERT_EQ(input.sizes(), (std::vector<std::int64_t>{1, 3, 4, 6}));
    ASSERT_EQ(input.scalar_type(), at::kFloat);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 6; ++x) {
        EXPECT_FLOAT_EQ(input[0][0][y][x].item<float>(), (200 - x) / 255.0f);  // R first
        EXPECT_FLOAT_EQ(input[0][1][y][x].item<float>(), (100 + y) / 255.0f);
        EXPECT_FLOAT_EQ(input[0][2][y][x].item<float>(), (10 * x + y) / 255.0f);
      }
    // The `image` slot is the decoded file, BGR, untouched.
    auto decoded = items[i].get<cv::Mat>("image");
    ASSERT_TRUE(decoded);
    EXPECT_EQ(cv::norm(*decoded.value(), image, cv::NORM_INF), 0.0);
  }
  const at::Tensor jpeg = items[0].tensor("input").value();
  ASSERT_EQ(jpeg.sizes(), (std::vector<std::int64_t>{1, 3, 4, 6}));
  EXPECT_NEAR(jpeg[0][0].mean().item<float>(), 220 / 255.0f, 3 / 255.0f);
  EXPECT_NEAR(jpeg[0][1].mean().item<float>(), 120 / 255.0f, 3 / 255.0f);
  EXPECT_NEAR(jpeg[0][2].mean().item<float>(), 40 / 255.0f, 3 / 255.0f);
}

TEST(ImageLoader, ResizeCropAndNormaliseMatchAHandComputation) {
  TempDir dir;
  // 4x8 gray image of 2x2 blocks (bx, by); inside a block the four pixels are v, v+2, v+4, v+6 with
  // v = 10 + 20 bx + 80 by, so the block mean is v + 3 (no single pixel has that value).
  cv::Mat gray(4, 8, CV_8UC1);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x)
      gray.at<unsigned char>(y, x) = static_cast<unsigned char>(10 + 20 * (x / 2) + 80 * (y / 2) + 2 * (2 * (y % 2) + (x % 2)));
  ASSERT_TRUE(cv::imwrite((dir / "g.png").string(), gray));

  // size 2: 4x8 -> 2x4, each pixel the mean of its 2x2 block: 13 + 20 * bx + 80 * by.
  // crop 2: columns round((4 - 2) / 2) = 1 and 2, rows 0 and 1.
  // normalise: (v / 255 - 0.5) / 0.25.
  auto stage = open_stage("image_loader",
                          {{"path", std::string("g.png")}, {"size", std::int64_t{2}}, {"crop", std::int64_t{2}},
                           {"color", std::string("gray")}, {"mean", std::vector<double>{0.5}},
                           {"std", std::vector<double>{0.25}}},
                          dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_FALSE(items[0].failed()) << items[0].error()->message;
  const at::Tensor input = items[0].tensor("input").value();
  ASSERT_EQ(input.sizes(), (std::vector<std::int64_t>{1, 1, 2, 2}));
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) {
      const double block = 13 + 20 * (x + 1) + 80 * y;
      EXPECT_NEAR(input[0][0][y][x].item<float>(), (block / 255.0 - 0.5) / 0.25, 1e-5) << y << "," << x;
    }
}

TEST(ImageLoader, PerChannelNormalisationAndUpscaling) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "flat.png").string(), cv::Mat(2, 3, CV_8UC3, cv::Scalar(51, 102, 204))));
  auto stage = open_stage("image_loader",
                          {{"path", std::string("flat.png")}, {"size", std::int64_t{4}},
                           {"mean", std::vector<double>{0.8, 0.4, 0.2}}, {"std", std::vector<double>{0.5, 0.25, 2.0}}},
                          dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  const at::Tensor input = items[0].tensor("input").value();
  // Shorter side 2 -> 4, longer side 3 * 4 / 2 = 6.
  ASSERT_EQ(input.sizes(), (std::vector<std::int64_t>{1, 3, 4, 6}));
  // R = 204/255 = 0.8, G = 0.4, B = 0.2: a flat image stays flat when enlarged.
  EXPECT_NEAR(input[0][0].max().item<float>(), (0.8 - 0.8) / 0.5, 1e-5);
  EXPECT_NEAR(input[0][1].min().item<float>(), (0.4 - 0.4) / 0.25, 1e-5);
  EXPECT_NEAR(input[0][2].mean().item<float>(), (0.2 - 0.2) / 2.0, 1e-5);
  stage = open_stage("image_loader", {{"path", std::string("flat.png")}, {"mean", std::vector<double>{0.5}},
                                      {"std", std::vector<double>{0.5, 0.25, 2.0}}}, dir.path());
  items = load_all(stage);
  const at::Tensor shifted = items[0].tensor("input").value();
  EXPECT_NEAR(shifted[0][0][0][0].item<float>(), (0.8 - 0.5) / 0.5, 1e-5);
  EXPECT_NEAR(shifted[0][1][1][2].item<float>(), (0.4 - 0.5) / 0.25, 1e-5);
  EXPECT_NEAR(shifted[0][2][1][1].item<float>(), (0.2 - 0.5) / 2.0, 1e-5);
}

TEST(ImageLoader, BadOptionsFailAtOpen) {
  TempDir dir;
  auto wrong_mean = open_stage("image_loader", {{"path", std::string(".")}, {"mean", std::vector<double>{1, 2}}}, dir.path());
  ASSERT_FALSE(wrong_mean.open_status);
  EXPECT_NE(wrong_mean.open_status.message().find("mean has 2 values"), std::string::npos);
  auto zero_std = open_stage("image_loader", {{"path", std::string(".")}, {"std", std::vector<double>{0}}}, dir.path());
  EXPECT_FALSE(zero_std.open_status);
  auto negative = open_stage("image_loader", {{"path", std::string(".")}, {"crop", std::int64_t{-1}}}, dir.path());
  EXPECT_FALSE(negative.open_status);
}

TEST(ImageLoader, CropLargerThanTheImageIsAnItemErrorGivingBothSizes) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "small.png").string(), pattern_image(4, 6)));
  auto stage = open_stage("image_loader", {{"path", std::string("small.png")}, {"crop", std::int64_t{5}}}, dir.path());
  ASSERT_TRUE(stage.open_status);
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_TRUE(items[0].failed());
  EXPECT_NE(items[0].error()->message.find("small.png"), std::string::npos);
  EXPECT_NE(items[0].error()->message.find("crop 5 is larger than the image (4x6"), std::string::npos)
      << items[0].error()->message;
}

TEST(ImageLoader, OnlyPngJpegAndBmpReachADecoder) {
  // OpenCV decodes any format it was built with, whatever the file is called: a valid PPM named
  // .png used to load (the image harness reached OpenJPEG the same way). Only the three documented
  // formats are decoded now; the others are item errors naming the file.
  TempDir dir;
  write_bytes(dir / "ppm.png", std::string("P6\n2 1\n255\n") + std::string("\xff\x00\x00\x00\xff\x00", 6));
  ASSERT_TRUE(cv::imwrite((dir / "a.bmp").string(), pattern_image(3, 3)));
  ASSERT_TRUE(cv::imwrite((dir / "b.jpg").string(), pattern_image(3, 3)));
  ASSERT_TRUE(cv::imwrite((dir / "c.png").string(), pattern_image(3, 3)));
  auto stage = open_stage("image_loader", {{"path", dir.path().string()}}, "/nonexistent-base");
  ASSERT_TRUE(stage.open_status);
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(items[i].failed()) << items[i].id();
  EXPECT_EQ(items[3].id(), "ppm");
  ASSERT_TRUE(items[3].failed());
  EXPECT_EQ(items[3].error()->message, (dir / "ppm.png").string() + ": cannot decode image (not a PNG, JPEG or BMP file)");
}

TEST(ImageLoader, CorruptAndEmptyFilesAreItemErrorsNamingTheFile) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "good.png").string(), pattern_image(3, 3)));
  write_bytes(dir / "corrupt.png", "\x89PNG\r\n\x1a\n this is not the rest of a PNG");
  write_bytes(dir / "empty.jpg", "");
  auto stage = open_stage("image_loader", {{"path", dir.path().string()}}, "/nonexistent-base");
  ASSERT_TRUE(stage.open_status);
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id(), "corrupt");
  ASSERT_TRUE(items[0].failed());
  EXPECT_NE(items[0].error()->message.find((dir / "corrupt.png").string()), std::string::npos) << items[0].error()->message;
  EXPECT_NE(items[0].error()->message.find("cannot decode"), std::string::npos);
  ASSERT_TRUE(items[1].failed());
  EXPECT_NE(items[1].error()->message.find((dir / "empty.jpg").string()), std::string::npos);
  EXPECT_NE(items[1].error()->message.find("empty"), std::string::npos);
  EXPECT_FALSE(items[2].failed());
}

TEST(ImageLoader, FolderWithoutImagesIsAnEnumerateErrorNamingTheFolder) {
  TempDir dir;
  std::filesystem::create_directories(dir / "nothing");
  write_bytes(dir / "nothing/readme.md", "no images here");
  auto stage = open_stage("image_loader", {{"path", std::string("nothing")}}, dir.path());
  ASSERT_TRUE(stage.open_status);
  auto refs = stage->enumerate();
  ASSERT_FALSE(refs);
  EXPECT_NE(refs.status().message().find((dir / "nothing").string()), std::string::npos) << refs.status().message();
  EXPECT_NE(refs.status().message().find("no image files"), std::string::npos);

  std::filesystem::create_directories(dir / "empty");
  auto empty = open_stage("image_loader", {{"path", std::string("empty")}}, dir.path());
  auto empty_refs = empty->enumerate();
  ASSERT_FALSE(empty_refs);
  EXPECT_NE(empty_refs.status().message().find((dir / "empty").string()), std::string::npos)
      << empty_refs.status().message();

  auto missing = open_stage("image_loader", {{"path", std::string("absent")}}, dir.path());
  auto missing_refs = missing->enumerate();
  ASSERT_FALSE(missing_refs);
  EXPECT_NE(missing_refs.status().message().find("absent"), std::string::npos);
}

TEST(ImageLoader, GlobAndListFileForms) {
  TempDir dir;
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  for (const char* name : {"a/one.png", "a/two.png", "a/three.bmp", "b/four.png"})
    ASSERT_TRUE(cv::imwrite((dir / name).string(), pattern_image(2, 2)));

  auto globbed = open_stage("image_loader", {{"path", std::string("*/*.png")}}, dir.path());
  auto refs = globbed->enumerate();
  ASSERT_TRUE(refs) << refs.status().message();
  std::vector<std::string> ids;
  for (const auto& r : refs.value()) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a/one", "a/two", "b/four"}));

  write_bytes(dir / "list.txt", "# inputs\nb/four.png\n\n  a/three.bmp  \n");
  auto listed = open_stage("image_loader", {{"path", std::string("list.txt")}}, dir.path());
  refs = listed->enumerate();
  ASSERT_TRUE(refs) << refs.status().message();
  ASSERT_EQ(refs.value().size(), 2u);
  EXPECT_EQ(refs.value()[0].id, "a/three");  // sorted by path, not list order
  EXPECT_EQ(refs.value()[1].id, "b/four");

  write_bytes(dir / "broken.txt", "a/one.png\na/missing.png\n");
  auto broken = open_stage("image_loader", {{"path", std::string("broken.txt")}}, dir.path());
  refs = broken->enumerate();
  ASSERT_FALSE(refs);
  EXPECT_NE(refs.status().message().find("broken.txt:2"), std::string::npos) << refs.status().message();
  EXPECT_NE(refs.status().message().find("missing.png"), std::string::npos);

  auto no_match = open_stage("image_loader", {{"path", std::string("a/*.jpeg")}}, dir.path());
  refs = no_match->enumerate();
  ASSERT_FALSE(refs);
  EXPECT_NE(refs.status().message().find("a/*.jpeg"), std::string::npos) << refs.status().message();
}

TEST(ImageLoader, SameStemWithTwoExtensionsKeepsIdsUnique) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "x.png").string(), pattern_image(2, 2)));
  ASSERT_TRUE(cv::imwrite((dir / "x.bmp").string(), pattern_image(2, 2)));
  auto stage = open_stage("image_loader", {{"path", dir.path().string()}}, {});
  auto refs = stage->enumerate();
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs.value().size(), 2u);
  EXPECT_EQ(refs.value()[0].id, "x.bmp");
  EXPECT_EQ(refs.value()[1].id, "x.png");
}

TEST(ImageLoader, RecordsTheModelsViewAndTheGeometry) {
  // 6 wide, 4 high, size 2 crop 2: resized to 3x2 (INTER_AREA halves it), crop from x = round(0.5) = 1
  // (half away from zero: std::lround), i.e. photo x 2..6, y 0..4.
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "p.png").string(), pattern_image(4, 6)));
  auto stage = open_stage("image_loader", {{"path", std::string("p.png")}, {"size", std::int64_t{2}}, {"crop", std::int64_t{2}}},
                          dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_FALSE(items[0].failed()) << items[0].error()->message;
  auto slot = items[0].get<std::any>(kImageGeometrySlot);
  ASSERT_TRUE(slot);
  const auto* geometry = std::any_cast<ImageGeometry>(slot.value());
  ASSERT_NE(geometry, nullptr);
  EXPECT_EQ(geometry->seen_region(), cv::Rect2d(2, 0, 4, 4));
  auto view = items[0].get<cv::Mat>(kModelViewSlot);
  ASSERT_TRUE(view);
  ASSERT_EQ(view.value()->size(), cv::Size(2, 2));
  // The view is the tensor, as 8-bit BGR.
  const at::Tensor input = items[0].tensor("input").value();
  EXPECT_FLOAT_EQ(input[0][0][1][0].item<float>(), view.value()->at<cv::Vec3b>(1, 0)[2] / 255.0f);
}

TEST(ImageLoader, WithNpyTrueTensorsAmongImagesAreReadAsTheyAre) {
  TempDir dir;
  std::filesystem::create_directories(dir / "in");
  ASSERT_TRUE(cv::imwrite((dir / "in/a.png").string(), pattern_image(4, 6)));
  ASSERT_TRUE(write_npy(dir / "in/b.npy", at::full({3, 5, 5}, 2.5f)).is_ok());
  write_bytes(dir / "in/c.npy", "not an npy file");
  auto plain = open_stage("image_loader", {{"path", std::string("in")}}, dir.path());
  ASSERT_TRUE(plain.open_status);
  EXPECT_EQ(load_all(plain).size(), 1u);  // without npy: true, only the image

  auto stage = open_stage("image_loader", {{"path", std::string("in")}, {"npy", true}}, dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 3u);
  ASSERT_FALSE(items[0].failed());
  EXPECT_TRUE(items[0].has("image"));
  ASSERT_FALSE(items[1].failed()) << items[1].error()->message;
  EXPECT_EQ(items[1].tensor("input").value().sizes(), (std::vector<std::int64_t>{1, 3, 5, 5}));
  EXPECT_TRUE(at::equal(items[1].tensor("input_shape").value(), at::tensor({3, 5, 5}, at::kLong)));
  EXPECT_FALSE(items[1].has("image"));
  ASSERT_TRUE(items[2].failed());
  EXPECT_NE(items[2].error()->message.find("c.npy"), std::string::npos) << items[2].error()->message;
}

TEST(NpyLoader, AddsABatchDimensionToChwAndKeepsNchw) {
  TempDir dir;
  ASSERT_TRUE(write_npy(dir / "in/chw.npy", at::arange(24, at::kFloat).reshape({2, 3, 4})));
  ASSERT_TRUE(write_npy(dir / "in/nchw.npy", at::ones({2, 1, 2, 2})));
  auto stage = open_stage("npy_loader", {{"path", std::string("in")}, {"slot", std::string("x")}}, dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].id(), "chw");
  const at::Tensor chw = items[0].tensor("x").value();
  EXPECT_EQ(chw.sizes(), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_FLOAT_EQ(chw[0][1][2][3].item<float>(), 23.0f);
  EXPECT_EQ(items[1].tensor("x").value().sizes(), (std::vector<std::int64_t>{2, 1, 2, 2}));
}

TEST(ImageLoader, ImageSizesComeFromTheHeaderOfEachFormat) {
  // Encoded by OpenCV, so the headers are real ones; a JPEG also carries JFIF segments before its frame.
  for (const char* ext : {".png", ".jpg", ".bmp"}) {
    std::vector<unsigned char> encoded;
    ASSERT_TRUE(cv::imencode(ext, pattern_image(7, 13), encoded));
    auto size = encoded_image_size(std::string_view(reinterpret_cast<const char*>(encoded.data()), encoded.size()));
    ASSERT_TRUE(size) << ext << ": " << size.status().message();
    EXPECT_EQ(size.value(), cv::Size(13, 7)) << ext;
  }
  EXPECT_FALSE(encoded_image_size("GIF89a and so on"));
}

TEST(ImageLoader, AnImageLargerThanMaxPixelsIsAnItemErrorNamingTheLimitAndTheFile) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "big.png").string(), pattern_image(40, 50)));
  ASSERT_TRUE(cv::imwrite((dir / "small.png").string(), pattern_image(10, 10)));
  auto stage = open_stage("image_loader", {{"path", std::string("*.png")}, {"max_pixels", std::int64_t{1000}}}, dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 2u);
  ASSERT_TRUE(items[0].failed());
  const std::string& message = items[0].error()->message;
  EXPECT_NE(message.find((dir / "big.png").string()), std::string::npos) << message;
  EXPECT_NE(message.find("50x40 (2000 pixels), more than max_pixels = 1000"), std::string::npos) << message;
  EXPECT_FALSE(items[1].failed());

  // A PNG header may claim any size: 20000x20000 is refused from the header alone, by the default.
  std::vector<unsigned char> encoded;
  ASSERT_TRUE(cv::imencode(".png", pattern_image(2, 2), encoded));
  std::string claims_huge(encoded.begin(), encoded.end());
  for (int at : {16, 20}) claims_huge.replace(at, 4, std::string("\x00\x00\x4e\x20", 4));  // 20000
  write_bytes(dir / "huge" / "claims.png", claims_huge);
  auto defaults = open_stage("image_loader", {{"path", std::string("huge")}}, dir.path());
  auto huge = load_all(defaults);
  ASSERT_EQ(huge.size(), 1u);
  ASSERT_TRUE(huge[0].failed());
  EXPECT_NE(huge[0].error()->message.find("20000x20000 (400000000 pixels), more than max_pixels = " +
                                          std::to_string(kDefaultMaxImagePixels)),
            std::string::npos)
      << huge[0].error()->message;
}

TEST(ImageLoader, ResizingBeyondMaxPixelsIsAnItemError) {
  TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "wide.png").string(), pattern_image(10, 20)));
  auto stage = open_stage("image_loader", {{"path", std::string("wide.png")}, {"size", std::int64_t{40000}}}, dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_TRUE(items[0].failed());
  EXPECT_NE(items[0].error()->message.find("wide.png"), std::string::npos);
  EXPECT_NE(items[0].error()->message.find("resizing the 10x20 image to a shorter side of 40000 gives 3200000000 pixels, "
                                           "more than max_pixels"),
            std::string::npos)
      << items[0].error()->message;
}

TEST(NpyLoader, AnEmptyBatchIsAnItemErrorNamingTheFile) {
  TempDir dir;
  ASSERT_TRUE(write_npy(dir / "none.npy", at::zeros({0, 3, 4, 4})));
  auto stage = open_stage("npy_loader", {{"path", std::string("none.npy")}}, dir.path());
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_TRUE(items[0].failed());
  EXPECT_EQ(items[0].error()->message, (dir / "none.npy").string() + ": the array is empty (shape 0x3x4x4)");
}

TEST(NpyLoader, OtherRanksAndBadFilesAreItemErrorsNamingTheFile) {
  TempDir dir;
  ASSERT_TRUE(write_npy(dir / "five.npy", at::zeros({1, 1, 1, 2, 2})));
  ASSERT_TRUE(write_npy(dir / "flat.npy", at::zeros({7})));
  write_bytes(dir / "junk.npy", "junk");
  auto stage = open_stage("npy_loader", {{"path", std::string("*.npy")}}, dir.path());
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 3u);
  for (const Item& item : items) ASSERT_TRUE(item.failed()) << item.id();
  EXPECT_NE(items[0].error()->message.find((dir / "five.npy").string()), std::string::npos);
  EXPECT_NE(items[0].error()->message.find("shape 1x1x1x2x2"), std::string::npos) << items[0].error()->message;
  EXPECT_NE(items[1].error()->message.find("shape 7"), std::string::npos) << items[1].error()->message;
  EXPECT_NE(items[2].error()->message.find((dir / "junk.npy").string()), std::string::npos);
}

// --- IDX -------------------------------------------------------------------------------------

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// Three 2x3 images whose pixel p of image n is 40n + 10p; labels 7, 0, 3.
std::string idx_images() {
  std::string bytes = be32(0x803) + be32(3) + be32(2) + be32(3);
  for (int n = 0; n < 3; ++n)
    for (int p = 0; p < 6; ++p) bytes += static_cast<char>(40 * n + 10 * p);
  return bytes;
}
std::string idx_labels() { return be32(0x801) + be32(3) + std::string{7, 0, 3}; }

void write_gzip(const std::filesystem::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

class IdxLoaderTest : public ::testing::TestWithParam<bool> {};

TEST_P(IdxLoaderTest, LoadsRecordsLabelsAndImagesFromRawOrGzippedFiles) {
  TempDir dir;
  const bool gzipped = GetParam();
  const std::string ext = gzipped ? ".gz" : "";
  if (gzipped) {
    write_gzip(dir / ("mini-images-idx3-ubyte" + ext), idx_images());
    write_gzip(dir / ("mini-labels-idx1-ubyte" + ext), idx_labels());
  } else {
    write_bytes(dir / "mini-images-idx3-ubyte", idx_images());
    write_bytes(dir / "mini-labels-idx1-ubyte", idx_labels());
  }
  auto stage = open_stage("idx_loader",
                          {{"images", "mini-images-idx3-ubyte" + ext}, {"first", std::int64_t{1}},
                           {"mean", std::vector<double>{0.5}}, {"std", std::vector<double>{0.5}}},
                          dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 2u);  // records 1 and 2
  EXPECT_EQ(items[0].id(), "mini-00001");
  EXPECT_EQ(items[1].id(), "mini-00002");
  for (std::size_t i = 0; i < items.size(); ++i) {
    ASSERT_FALSE(items[i].failed()) << items[i].error()->message;
    const int n = static_cast<int>(i) + 1;
    const at::Tensor input = items[i].tensor("input").value();
    ASSERT_EQ(input.sizes(), (std::vector<std::int64_t>{1, 1, 2, 3}));
    for (int p = 0; p < 6; ++p)
      EXPECT_NEAR(input[0][0][p / 3][p % 3].item<float>(), ((40 * n + 10 * p) / 255.0 - 0.5) / 0.5, 1e-6);
    const at::Tensor label = items[i].tensor("label").value();
    EXPECT_EQ(label.scalar_type(), at::kLong);
    ASSERT_EQ(label.numel(), 1);
    EXPECT_EQ(label.item<std::int64_t>(), n == 1 ? 0 : 3);
    auto image = items[i].get<cv::Mat>("image");
    ASSERT_TRUE(image);
    EXPECT_EQ(image.value()->type(), CV_8UC1);
    EXPECT_EQ(image.value()->at<unsigned char>(1, 2), 40 * n + 50);
  }
}

INSTANTIATE_TEST_SUITE_P(RawAndGzip, IdxLoaderTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "gzip" : "raw"; });

TEST(IdxLoader, CountLimitsRecordsAndNoneSkipsLabels) {
  TempDir dir;
  write_bytes(dir / "mini-images-idx3-ubyte", idx_images());
  write_bytes(dir / "mini-labels-idx1-ubyte", idx_labels());
  auto stage = open_stage("idx_loader", {{"images", (dir / "mini-images-idx3-ubyte").string()}, {"count", std::int64_t{1}},
                                         {"labels", std::string("none")}}, {});
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto items = load_all(stage);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].id(), "mini-00000");
  EXPECT_FALSE(items[0].has("label"));
  auto past_end = open_stage("idx_loader", {{"images", (dir / "mini-images-idx3-ubyte").string()}, {"first", std::int64_t{3}}}, {});
  ASSERT_FALSE(past_end.open_status);
  EXPECT_NE(past_end.open_status.message().find("only 3 images"), std::string::npos) << past_end.open_status.message();
}

TEST(IdxLoader, TruncatedBadMagicAndMismatchedFilesAreClearErrors) {
  TempDir dir;
  const std::string images = idx_images();
  write_bytes(dir / "cut-images-idx3-ubyte", images.substr(0, images.size() - 4));
  write_gzip(dir / "cutgz-images-idx3-ubyte.gz", images.substr(0, images.size() - 4));
  write_bytes(dir / "magic-images-idx3-ubyte", be32(0x801) + images.substr(4));
  write_bytes(dir / "ok-images-idx3-ubyte", images);
  write_bytes(dir / "ok-labels-idx1-ubyte", be32(0x801) + be32(5) + std::string(5, '\1'));
  write_bytes(dir / "brokengz-images-idx3-ubyte.gz", std::string("\x1f\x8b\x08\x00", 4) + "not deflate data at all");

  struct Case {
    std::string file, words;
  };
  for (const Case& c : {Case{"cut-images-idx3-ubyte", "truncated"}, Case{"cutgz-images-idx3-ubyte.gz", "truncated"},
                        Case{"magic-images-idx3-ubyte", "bad magic number 0x00000801"},
                        Case{"ok-images-idx3-ubyte", "has 5 labels but the image file has 3"},
                        Case{"brokengz-images-idx3-ubyte.gz", "corrupt gzip data"}, Case{"absent-images-idx3-ubyte", "no such file"}}) {
    SCOPED_TRACE(c.file);
    auto stage = open_stage("idx_loader", {{"images", c.file}}, dir.path());
    ASSERT_FALSE(stage.open_status);
    const std::string message = stage.open_status.message();
    EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;
    EXPECT_NE(message.find(c.words), std::string::npos) << message;
  }
}

// A header may claim far more records than a run loads: only first + count records are inflated,
// and what would be held is checked against max_bytes before anything is read.
TEST(IdxLoader, ReadsOnlyTheRecordsItNeedsWithinTheByteLimit) {
  TempDir dir;
  // The header claims 2,000,000 images of 28x28 (1.57 GB); the file holds five.
  std::string header = be32(0x803) + be32(2000000) + be32(28) + be32(28);
  write_gzip(dir / "bomb-images-idx3-ubyte.gz", header + std::string(5 * 28 * 28, '\x7f'));
  const std::string file = (dir / "bomb-images-idx3-ubyte.gz").string();
  auto five = open_stage("idx_loader", {{"images", file}, {"count", std::int64_t{5}}, {"labels", std::string("none")}}, {});
  ASSERT_TRUE(five.open_status) << five.open_status.message();
  EXPECT_EQ(load_all(five).size(), 5u);

  auto all = open_stage("idx_loader", {{"images", file}, {"labels", std::string("none")}}, {});
  ASSERT_FALSE(all.open_status);
  EXPECT_NE(all.open_status.message().find(file + ": the 2000000 records to load need 1568000000 bytes, over the limit "
                                                  "max_bytes = 1073741824"),
            std::string::npos)
      << all.open_status.message();

  auto small_limit = open_stage("idx_loader", {{"images", file}, {"count", std::int64_t{2}}, {"max_bytes", std::int64_t{1000}},
                                               {"labels", std::string("none")}}, {});
  ASSERT_FALSE(small_limit.open_status);
  EXPECT_NE(small_limit.open_status.message().find("need 1568 bytes, over the limit max_bytes = 1000"), std::string::npos)
      << small_limit.open_status.message();

  auto six = open_stage("idx_loader", {{"images", file}, {"count", std::int64_t{6}}, {"labels", std::string("none")}}, {});
  ASSERT_FALSE(six.open_status);
  EXPECT_NE(six.open_status.message().find("truncated IDX file"), std::string::npos) << six.open_status.message();
}

TEST(IdxLoader, DefaultsReadTheInstalledFashionMnistTestSet) {
  const std::filesystem::path images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(images)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto stage = open_stage("idx_loader", {}, {});
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  auto refs = stage->enumerate();
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs.value().size(), 10000u);  // the Fashion-MNIST test set
  EXPECT_EQ(refs.value()[42].id, "t10k-00042");
  Item first(0, refs.value()[0].id, refs.value()[0].source);
  ASSERT_TRUE(stage->process(first));
  EXPECT_EQ(first.tensor("input").value().sizes(), (std::vector<std::int64_t>{1, 1, 28, 28}));
  EXPECT_EQ(first.tensor("label").value().item<std::int64_t>(), 9);  // the first test image is an ankle boot
}

}  // namespace
}  // namespace lrpflow
