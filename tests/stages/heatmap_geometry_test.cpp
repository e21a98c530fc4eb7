// Heatmaps line up with what the model saw: a non-square photo, resized and centre-cropped by the
// image loader, explained by a model whose relevance provably sits on one bright square, and
// every map (relevance, overlay, activations, per-neuron relevance) drawn back onto the photo
// lights up that square and nothing else.
//
// Why the relevance sits on the square: the model is a 1x1 Conv2d (no bias), ReLU, Flatten and
// Linear (no bias), explained with LRP-epsilon, and the normalised input is 0 everywhere but on
// the square (black pixels, mean 0, std 1). Every rule of the form R_i = x_i * w_ij * R_j / z_j
// gives exactly 0 relevance where x_i = 0, and the conv activations there are ReLU(0) = 0.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "../common/temp_dir.h"
#include "fixture_support.h"
#include "lrpflow/files.h"
#include "lrpflow/image/image.h"
#include "lrpflow/manifest.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"
#include "lrpflow/runtime.h"
#include "lrpflow/visual/colormap.h"
#include "lrpflow/visual/heatmap.h"
#include "lrpflow/image/png.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

// The photo: 300x200, gray (120) where the model does not look, black where it does, and a white
// square at x 80..110, y 40..70. size 100 crop 80: resized to 150x100 (scale 1/2), crop from
// (35, 10), i.e. the model sees photo pixels x 70..230, y 20..180 (image.h), and the square at
// model pixels x 5..20, y 10..25 — left of and above the centre.
constexpr int kWidth = 300, kHeight = 200;
const cv::Rect kSeen(70, 20, 160, 160);
const cv::Rect kSquare(80, 40, 30, 30);

cv::Mat photo() {
  cv::Mat image(kHeight, kWidth, CV_8UC3, cv::Scalar::all(120));
  image(kSeen).setTo(cv::Scalar::all(0));
  image(kSquare).setTo(cv::Scalar::all(255));
  return image;
}

const char* kModel = R"(name: square
input_shape: [3, 80, 80]
seed: 1
layers:
  - {name: conv, type: Conv2d, in: 3, out: 4, kernel: 1, bias: false}
  - {name: relu, type: ReLU}
  - {name: flat, type: Flatten}
  - {name: fc, type: Linear, in: 25600, out: 3, bias: false}
)";

std::string pipeline(const fs::path& out) {
  return R"(version: 1
resources:
  model: {type: model, options: {path: square.yaml}}
  rules: {type: ruleset, options: {model: model, name: epsilon}}
stages:
  - {id: load, type: image_loader, options: {path: inputs, size: 100, crop: 80}}
  - {id: forward, type: forward}
  - {id: lrp, type: lrp}
  - {id: select, type: getoptimizer, options: {layers: [conv], k: 4}}
  - {id: heatmap, type: heatmap, options: {cmap: bwr, activation_cmap: hot, activations: true, neurons: true, max_neurons: 4}}
runtime: {threads: 1}
output: {dir: )" + out.string() + R"(, report: false}
)";
}

cv::Vec3f as_vec(const visual::Rgb& c) { return cv::Vec3f(c.b, c.g, c.r); }

// What `file` would show for a map that is zero everywhere: `empty_inside` where the model
// looked, `empty_outside` elsewhere. Returns, per pixel, the largest channel difference from that.
cv::Mat difference_from_empty(const cv::Mat& file, const cv::Mat& empty_inside, const cv::Mat& empty_outside) {
  cv::Mat diff(file.size(), CV_32F);
  for (int y = 0; y < file.rows; ++y)
    for (int x = 0; x < file.cols; ++x) {
      const cv::Vec3f expected = kSeen.contains({x, y}) ? empty_inside.at<cv::Vec3f>(y, x) : empty_outside.at<cv::Vec3f>(y, x);
      const cv::Vec3b got = file.at<cv::Vec3b>(y, x);
      float d = 0;
      for (int c = 0; c < 3; ++c) d = std::max(d, std::abs(got[c] - expected[c]));
      diff.at<float>(y, x) = d;
    }
  return diff;
}

// The map's peak, and every pixel that shows anything, lie on the square (grown by the one pixel
// of bilinear blur at its edge). Returns the peak's difference.
float expect_on_the_square(const fs::path& file, const cv::Mat& empty_inside, const cv::Mat& empty_outside) {
  auto image = decode_image_file(file);
  EXPECT_TRUE(image) << image.status().message();
  if (!image) return 0;
  EXPECT_EQ(image.value().size(), cv::Size(kWidth, kHeight)) << file;
  if (image.value().size() != cv::Size(kWidth, kHeight)) return 0;
  const cv::Mat diff = difference_from_empty(image.value(), empty_inside, empty_outside);
  const cv::Rect near_square(kSquare.x - 1, kSquare.y - 1, kSquare.width + 2, kSquare.height + 2);
  double peak = 0;
  cv::Point where;
  cv::minMaxLoc(diff, nullptr, &peak, nullptr, &where);
  if (peak > 2) {
    EXPECT_TRUE(near_square.contains(where)) << file.filename() << ": peak at " << where;
  }
  int stray = 0;
  for (int y = 0; y < diff.rows; ++y)
    for (int x = 0; x < diff.cols; ++x)
      if (diff.at<float>(y, x) > 2 && !near_square.contains({x, y})) ++stray;
  EXPECT_EQ(stray, 0) << file.filename() << ": pixels away from the square show relevance";
  return static_cast<float>(peak);
}

TEST(HeatmapGeometry, EveryMapLandsOnTheSquareOfTheOriginalPhoto) {
  testing::TempDir dir;
  fs::create_directories(dir / "inputs");
  ASSERT_TRUE(write_png_atomic(dir / "inputs" / "square.png", photo()).is_ok());
  ASSERT_TRUE(write_file_atomic(dir / "square.yaml", kModel).is_ok());
  const fs::path out = dir / "out";

  PluginRegistry registry;
  registry.load_directories({LRPFLOW_TEST_PLUGIN_DIR});
  PipelineLoad load = parse_pipeline(pipeline(out), dir / "pipeline.yaml", {}, registry);
  std::string problems;
  for (const auto& d : load.diagnostics) problems += d.to_string() + "\n";
  ASSERT_TRUE(load.ok()) << problems;
  auto report = run_pipeline(*load.pipeline, registry);
  ASSERT_TRUE(report) << report.status().message();
  for (const auto& e : report.value().errors) ADD_FAILURE() << e.item_id << ": " << e.stage << ": " << e.message;
  ASSERT_EQ(report.value().items_ok, 1);
  auto manifest = read_manifest(report.value().manifest_path);
  ASSERT_TRUE(manifest) << manifest.status().message();
  // Files by kind, wherever the output layout puts them.
  std::map<std::string, fs::path> file_of;
  for (const OutputFile& f : manifest.value().items.at(0).outputs) file_of.emplace(f.kind, out / f.path);
  ASSERT_EQ(file_of.count("model_input"), 1u);

  // The model's view: 80x80, black with the white square at x 5..20, y 10..25.
  auto view = decode_image_file(file_of["model_input"]);
  ASSERT_TRUE(view) << view.status().message();
  ASSERT_EQ(view.value().size(), cv::Size(80, 80));
  EXPECT_EQ(view.value().at<cv::Vec3b>(17, 12), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(view.value().at<cv::Vec3b>(17, 30), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(cv::countNonZero(view.value().reshape(1)), 15 * 15 * 3);

  cv::Mat photo_f;
  photo().convertTo(photo_f, CV_32FC3);
  const auto bwr = visual::colormap("bwr").value();
  const auto hot = visual::colormap("hot").value();
  auto solid = [](const cv::Vec3f& c) { return cv::Mat(kHeight, kWidth, CV_32FC3, cv::Scalar(c[0], c[1], c[2])); };
  const cv::Mat zero_relevance = solid(as_vec(bwr[128]));
  const cv::Mat dimmed = photo_f * visual::kOutsideBrightness;

  EXPECT_GT(expect_on_the_square(file_of["heatmap"], zero_relevance, zero_relevance), 30.f);
  EXPECT_GT(expect_on_the_square(file_of["heatmap_overlay"], (zero_relevance + photo_f) * 0.5, dimmed), 30.f);
  float strongest_activation = 0, strongest_neuron = 0;
  int activation_maps = 0, neuron_maps = 0;
  for (const OutputFile& f : manifest.value().items.at(0).outputs) {
    if (f.kind == "activation_heatmap") {
      ++activation_maps;
      strongest_activation = std::max(
          strongest_activation, expect_on_the_square(out / f.path, (solid(as_vec(hot[0])) + photo_f) * 0.5, dimmed));
    } else if (f.kind == "neuron_heatmap") {
      ++neuron_maps;
      strongest_neuron = std::max(strongest_neuron, expect_on_the_square(out / f.path, zero_relevance, zero_relevance));
    }
  }
  EXPECT_GT(activation_maps, 0);
  EXPECT_GT(neuron_maps, 0);
  EXPECT_GT(strongest_activation, 30.f);
  EXPECT_GT(strongest_neuron, 30.f);
}

}  // namespace
}  // namespace lrpflow
