// The writer stages of the lrpflow_writers plugin, exercised through the plugin library.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>

#include "lrpflow/npy.h"
#include "plugin_test_support.h"

namespace lrpflow {
namespace {

using testing::open_stage;
using testing::TempDir;

TEST(NpyWriter, WritesTheSlotUnderTheItemIdAndRegistersTheOutput) {
  TempDir dir;
  const auto out = dir / "out";
  auto stage = open_stage("npy_writer", {{"slot", std::string("relevance")}}, dir.path(), out);
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  Item item(0, "shirt/07", "x.png");  // a '/' in the id must not create a folder
  const at::Tensor relevance = at::randn({1, 3, 5, 5});
  item.set("relevance", relevance);
  ASSERT_TRUE(stage->process(item));
  const auto written = out / (safe_name_component("shirt/07") + ".relevance.npy");  // shirt_07-<hash>
  ASSERT_TRUE(std::filesystem::is_regular_file(written));
  auto back = read_npy(written);
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_TRUE(at::equal(back.value(), relevance));
  ASSERT_EQ(item.outputs().size(), 1u);
  EXPECT_EQ(item.outputs()[0].kind, "relevance");
  EXPECT_EQ(item.outputs()[0].path, written.filename().string());
  EXPECT_TRUE(testing::temporaries_in(dir.path()).empty());
}

TEST(NpyWriter, KindSuffixAndDirOptions) {
  TempDir dir;
  auto stage = open_stage("npy_writer", {{"slot", std::string("input")}, {"kind", std::string("tensor")},
                                         {"suffix", std::string("_in.npy")}, {"dir", std::string("tensors/x")}},
                          dir.path(), dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  Item item(3, "a", "a.png");
  item.set("input", at::ones({2, 2}, at::kInt));
  ASSERT_TRUE(stage->process(item));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "tensors/x/a_in.npy"));
  ASSERT_EQ(item.outputs().size(), 1u);
  EXPECT_EQ(item.outputs()[0].kind, "tensor");
  EXPECT_EQ(item.outputs()[0].path, "tensors/x/a_in.npy");

  auto escaping = open_stage("npy_writer", {{"slot", std::string("input")}, {"dir", std::string("../elsewhere")}},
                             dir.path(), dir.path());
  ASSERT_FALSE(escaping.open_status);
  EXPECT_NE(escaping.open_status.message().find("../elsewhere"), std::string::npos);
}

TEST(NpyWriter, PerItemLayoutPutsEachItemsFilesInItsOwnFolder) {
  TempDir dir;
  const auto out = dir / "out";
  auto stage = open_stage("npy_writer", {{"slot", std::string("relevance")}}, dir.path(), out, OutputLayout::PerItem);
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  Item item(0, "shirt/07", "x.png");  // the folder takes the safe name too: one level, not shirt/07/
  item.set("relevance", at::ones({2, 2}));
  ASSERT_TRUE(stage->process(item));
  ASSERT_EQ(item.outputs().size(), 1u);
  const std::string stem = safe_name_component("shirt/07");  // shirt_07-<hash>
  EXPECT_EQ(stem.rfind("shirt_07-", 0), 0u) << stem;
  EXPECT_EQ(item.outputs()[0].path, "items/" + stem + "/" + stem + ".relevance.npy");
  EXPECT_TRUE(std::filesystem::is_regular_file(out / item.outputs()[0].path));

  // `dir:` is a subfolder of the item's folder.
  auto in_dir = open_stage("npy_writer", {{"slot", std::string("relevance")}, {"dir", std::string("tensors")}},
                           dir.path(), out, OutputLayout::PerItem);
  ASSERT_TRUE(in_dir.open_status) << in_dir.open_status.message();
  Item second(1, "b", "b.png");
  second.set("relevance", at::ones({2, 2}));
  ASSERT_TRUE(in_dir->process(second));
  ASSERT_EQ(second.outputs().size(), 1u);
  EXPECT_EQ(second.outputs()[0].path, "items/b/tensors/b.relevance.npy");
  EXPECT_TRUE(std::filesystem::is_regular_file(out / second.outputs()[0].path));
}

TEST(NpyWriter, MissingOrWrongSlotIsAnItemErrorNamingTheSlot) {
  TempDir dir;
  auto stage = open_stage("npy_writer", {{"slot", std::string("relevance")}}, dir.path(), dir.path());
  Item empty(0, "a", "a.png");
  auto status = stage->process(empty);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("'relevance'"), std::string::npos) << status.message();
  Item text(1, "b", "b.png");
  text.set("relevance", std::string("not a tensor"));
  status = stage->process(text);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("'relevance'"), std::string::npos) << status.message();
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(NpyWriter, OutputPathThatIsADirectoryOrOutputDirThatIsAFileIsAnItemError) {
  TempDir dir;
  std::filesystem::create_directories(dir / "out/a.input.npy");
  auto stage = open_stage("npy_writer", {{"slot", std::string("input")}}, dir.path(), dir / "out");
  Item item(0, "a", "a.png");
  item.set("input", at::ones({2}));
  auto status = stage->process(item);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find((dir / "out/a.input.npy").string()), std::string::npos) << status.message();
  EXPECT_TRUE(item.outputs().empty());

  testing::write_bytes(dir / "file_not_dir", "x");
  auto onto_file = open_stage("npy_writer", {{"slot", std::string("input")}}, dir.path(), dir / "file_not_dir");
  status = onto_file->process(item);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find((dir / "file_not_dir").string()), std::string::npos) << status.message();
  EXPECT_TRUE(testing::temporaries_in(dir.path()).empty());
}

TEST(NpyWriter, ShapeLikeWritesInTheShapeTheLoaderRecorded) {
  TempDir dir;
  // npy_loader adds a batch dimension to a CxHxW file and records the file's shape in input_shape.
  ASSERT_TRUE(write_npy(dir / "in/x.npy", at::arange(12, at::kFloat).reshape({3, 2, 2})));
  auto loader = open_stage("npy_loader", {{"path", std::string("in")}}, dir.path());
  ASSERT_TRUE(loader.open_status) << loader.open_status.message();
  auto refs = loader->enumerate();
  ASSERT_TRUE(refs);
  Item item(0, refs.value()[0].id, refs.value()[0].source);
  ASSERT_TRUE(loader->process(item));
  ASSERT_EQ(item.tensor("input").value().sizes(), (std::vector<std::int64_t>{1, 3, 2, 2}));

  auto writer = open_stage("npy_writer", {{"slot", std::string("input")}, {"shape_like", std::string("input_shape")}},
                           dir.path(), dir / "out");
  ASSERT_TRUE(writer.open_status) << writer.open_status.message();
  ASSERT_TRUE(writer->process(item));
  auto back = read_npy(dir / "out/x.input.npy");
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back.value().sizes(), (std::vector<std::int64_t>{3, 2, 2}));
  EXPECT_FLOAT_EQ(back.value()[2][1][0].item<float>(), 10.0f);

  // A shape that does not fit the slot's values is an item error naming both slots.
  item.set("input_shape", at::tensor({std::int64_t{5}}, at::kLong));
  const Status mismatch = writer->process(item);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.message().find("'input_shape'"), std::string::npos) << mismatch.message();
}

TEST(PngWriter, WritesImagesAndTensorsAsPng) {
  TempDir dir;
  auto stage = open_stage("png_writer", {{"slot", std::string("heatmap")}, {"kind", std::string("overlay")}},
                          dir.path(), dir.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();

  cv::Mat bgr(3, 4, CV_8UC3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(20 * x, 50 * y, 7);
  Item mat_item(0, "mat", "m.png");
  mat_item.set("heatmap", bgr);
  ASSERT_TRUE(stage->process(mat_item));
  cv::Mat read = cv::imread((dir / "mat.heatmap.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(read.empty());
  EXPECT_EQ(cv::norm(read, bgr, cv::NORM_INF), 0.0);
  ASSERT_EQ(mat_item.outputs().size(), 1u);
  EXPECT_EQ(mat_item.outputs()[0].kind, "overlay");
  EXPECT_EQ(mat_item.outputs()[0].path, "mat.heatmap.png");

  // A float 1x3xHxW tensor in [0,1], RGB: pixel (y, x) = (x/4, y/2, 1) -> BGR 8-bit (255, round(127.5 y), round(63.75 x)).
  at::Tensor rgb = at::empty({1, 3, 3, 5});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) {
      rgb[0][0][y][x] = x / 4.0;
      rgb[0][1][y][x] = y / 2.0;
      rgb[0][2][y][x] = 1.0;
    }
  Item tensor_item(1, "tensor", "t.png");
  tensor_item.set("heatmap", rgb);
  ASSERT_TRUE(stage->process(tensor_item));
  read = cv::imread((dir / "tensor.heatmap.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(read.type(), CV_8UC3);
  ASSERT_EQ(read.rows, 3);
  ASSERT_EQ(read.cols, 5);
  EXPECT_EQ(read.at<cv::Vec3b>(2, 4), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(read.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 128, 64));  // 127.5 -> 128, 63.75 -> 64
  EXPECT_EQ(read.at<cv::Vec3b>(0, 2), cv::Vec3b(255, 0, 128));   // 127.5 -> 128

  // uint8 HxW is written as is; values outside [0,1] in float tensors are clamped.
  Item gray_item(2, "gray", "g.png");
  gray_item.set("heatmap", at::arange(6, at::kByte).reshape({2, 3}).mul(40));
  ASSERT_TRUE(stage->process(gray_item));
  read = cv::imread((dir / "gray.heatmap.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(read.type(), CV_8UC1);
  EXPECT_EQ(read.at<unsigned char>(1, 2), 200);
  Item clamped(3, "clamped", "c.png");
  clamped.set("heatmap", at::tensor({-1.0f, 0.5f, 2.0f}).reshape({1, 3}));
  ASSERT_TRUE(stage->process(clamped));
  read = cv::imread((dir / "clamped.heatmap.png").string(), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(read.at<unsigned char>(0, 0), 0);
  EXPECT_EQ(read.at<unsigned char>(0, 2), 255);
  EXPECT_TRUE(testing::temporaries_in(dir.path()).empty());
}

TEST(PngWriter, UnimageableTensorAndDirectoryPathAreItemErrors) {
  TempDir dir;
  auto stage = open_stage("png_writer", {{"slot", std::string("x")}}, dir.path(), dir.path());
  Item vector_item(0, "v", "v.png");
  vector_item.set("x", at::ones({2, 5, 5, 5}));
  auto status = stage->process(vector_item);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("2x5x5x5"), std::string::npos) << status.message();

  std::filesystem::create_directories(dir / "d.x.png");
  Item blocked(1, "d", "d.png");
  blocked.set("x", at::zeros({4, 4}));
  status = stage->process(blocked);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find((dir / "d.x.png").string()), std::string::npos) << status.message();
  EXPECT_TRUE(testing::temporaries_in(dir.path()).empty());
}

TEST(Writers, AreDeclaredReentrantAndDeclareTheSlotTheyRead) {
  for (const char* type : {"npy_writer", "png_writer"}) {
    auto runner = StageRunner::create(testing::io_plugins(), std::string("type: ") + type + "\noptions: {slot: relevance}\n");
    ASSERT_TRUE(runner) << runner.status().message();
    EXPECT_TRUE(runner.value()->type().reentrant);
    const SlotDeclaration& slots = runner.value()->slots();
    ASSERT_EQ(slots.reads.size(), 1u);
    EXPECT_EQ(slots.reads[0].name, "relevance");
  }
}

}  // namespace
}  // namespace lrpflow
