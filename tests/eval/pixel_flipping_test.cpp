// pixel_flipping: rankings, AOPC against hand computations on linear models whose weights sit on
// known pixels, the fills, per-item and run-level outputs, and bad options.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval_test_support.h"

namespace lrpflow::eval {
namespace {

using testing::linear_model;
using testing::open_stage;
using testing::TempDir;

// Class 0 reads pixel (0,0) with weight 3, (1,1) with 2, (2,2) with 1 of a 1x4x4 image; class 1 nothing.
std::shared_ptr<const lrp::Model> diagonal_model() {
  at::Tensor weight = at::zeros({2, 16});
  weight[0][0] = 3.0;
  weight[0][5] = 2.0;
  weight[0][10] = 1.0;
  return linear_model(weight, at::zeros({2}), {1, 4, 4});
}

Item item_with(const at::Tensor& input, const at::Tensor& relevance, std::int64_t index = 0) {
  Item item(index, "img" + std::to_string(index), "test");
  item.set("input", input);
  item.set("relevance", relevance);
  return item;
}

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// s_0..s_K per ordering, read back from <id>.perturbation.csv (columns after the first four).
std::map<std::string, std::vector<double>> read_curves(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  std::stringstream header(line);
  for (std::string cell; std::getline(header, cell, ',');) names.push_back(cell);
  std::map<std::string, std::vector<double>> curves;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    for (size_t column = 0; std::getline(row, cell, ','); ++column)
      if (column >= 4) curves[names[column]].push_back(std::stod(cell));
  }
  return curves;
}

TEST(PixelFlipping, MorfDropsFasterThanLerfOnKnownPixels) {
  TempDir out;
  auto model = diagonal_model();
  const at::Tensor x = at::ones({1, 1, 4, 4});
  // Relevance = gradient x input of class 0: the weights themselves.
  const at::Tensor relevance = model->layer(1).weight[0].view({1, 1, 4, 4});
  auto stage = open_stage("pixel_flipping", model,
                          {{"patch", std::int64_t{1}}, {"steps", std::int64_t{3}}, {"score", std::string("logit")},
                           {"orderings", std::vector<std::string>{"morf", "lerf"}}},
                          out.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  Item item = item_with(x, relevance);
  ASSERT_TRUE(stage->process(item));
  // MoRF removes (0,0), (1,1), (2,2): logits 6 -> 3 -> 1 -> 0. AOPC = ((6-3) + (6-1) + (6-0)) / 3.
  EXPECT_NEAR(item.metrics().at("aopc/morf"), 14.0 / 3.0, 1e-5);
  // LeRF removes zero-weight pixels first (ties in pixel order: 1, 2, 3): the logit stays 6.
  EXPECT_NEAR(item.metrics().at("aopc/lerf"), 0.0, 1e-6);
  const auto curves = read_curves(out.path() / "img0.perturbation.csv");
  ASSERT_EQ(curves.at("morf").size(), 4u);
  EXPECT_NEAR(curves.at("morf")[1], 3.0, 1e-5);
  EXPECT_NEAR(curves.at("morf")[2], 1.0, 1e-5);
  EXPECT_NEAR(curves.at("morf")[3], 0.0, 1e-5);
  EXPECT_TRUE(std::filesystem::exists(out.path() / "img0.perturbation.png"));
  ASSERT_EQ(item.outputs().size(), 2u);
  EXPECT_EQ(item.outputs()[0].path, "img0.perturbation.csv");
}

TEST(PixelFlipping, ProbabilityScoreAndRegions) {
  TempDir out;
  auto model = diagonal_model();
  const at::Tensor x = at::ones({1, 1, 4, 4});
  const at::Tensor relevance = model->layer(1).weight[0].view({1, 1, 4, 4});
  // 2x2 regions: the top-left one holds weights 3 + 2, the bottom-right one 1, the others nothing.
  auto stage = open_stage("pixel_flipping", model,
                          {{"patch", std::int64_t{2}}, {"steps", std::int64_t{2}}, {"orderings", std::vector<std::string>{"morf", "lerf"}}},
                          out.path());
  ASSERT_TRUE(stage.open_status) << stage.open_status.message();
  Item item = item_with(x, relevance);
  ASSERT_TRUE(stage->process(item));
  // Two classes with logits (l, 0): p_0 = sigmoid(l). MoRF logits 6 -> 1 -> 0; LeRF 6 -> 6 -> 6.
  const double s0 = sigmoid(6.0);
  EXPECT_NEAR(item.metrics().at("aopc/morf"), ((s0 - sigmoid(1.0)) + (s0 - sigmoid(0.0))) / 2.0, 1e-6);
  EXPECT_NEAR(item.metrics().at("aopc/lerf"), 0.0, 1e-7);
}

TEST(PixelFlipping, MeanFillUsesThePerChannelImageMean) {
  TempDir out;
  at::Tensor weight = at::zeros({2, 16});
  weight[0][0] = 1.0;
  auto model = linear_model(weight, at::zeros({2}), {1, 4, 4});
  const at::Tensor x = at::arange(16, at::kFloat).view({1, 1, 4, 4}) + 1.0;  // pixel (0,0) = 1, mean 8.5
  at::Tensor relevance = at::zeros({1, 1, 4, 4});
  relevance[0][0][0][0] = 1.0;
  auto stage = open_stage("pixel_flipping", model,
                          {{"patch", std::int64_t{1}}, {"steps", std::int64_t{1}}, {"fill", std::string("mean")},
                           {"score", std::string("logit")}, {"orderings", std::vector<std::string>{"morf"}}},
                          out.path());
  ASSERT_TRUE(stage.open_status);
  Item item = item_with(x, relevance);
  ASSERT_TRUE(stage->process(item));
  EXPECT_NEAR(item.metrics().at("aopc/morf"), 1.0 - 8.5, 1e-5);  // the logit rises from 1 to 8.5

  // Two channels: each is filled with its own mean (2.5 and 25), not the image's (13.75).
  at::Tensor two_weight = at::zeros({2, 8});
  two_weight[0][0] = 1.0;  // channel 0, pixel (0,0)
  two_weight[0][4] = 2.0;  // channel 1, pixel (0,0)
  auto two_channels = linear_model(two_weight, at::zeros({2}), {2, 2, 2});
  const at::Tensor image = at::stack({at::tensor({1.0f, 2.0f, 3.0f, 4.0f}), at::tensor({10.0f, 20.0f, 30.0f, 40.0f})}).view({1, 2, 2, 2});
  at::Tensor corner = at::zeros({1, 2, 2, 2});
  corner[0][0][0][0] = corner[0][1][0][0] = 1.0;
  auto per_channel = open_stage("pixel_flipping", two_channels,
                                {{"patch", std::int64_t{1}}, {"steps", std::int64_t{1}}, {"fill", std::string("mean")},
                                 {"score", std::string("logit")}, {"orderings", std::vector<std::string>{"morf"}}},
                                out.path());
  ASSERT_TRUE(per_channel.open_status);
  Item both = item_with(image, corner, 1);
  ASSERT_TRUE(per_channel->process(both));
  // The logit goes from 1 + 2 * 10 = 21 to 2.5 + 2 * 25 = 52.5.
  EXPECT_NEAR(both.metrics().at("aopc/morf"), 21.0 - 52.5, 1e-4);
}

TEST(PixelFlipping, BlurFillIsAGaussianOfTheInput) {
  TempDir out;
  // 9x9 image, a single bright pixel in the middle that the model reads.
  at::Tensor weight = at::zeros({2, 81});
  weight[0][40] = 1.0;
  auto model = linear_model(weight, at::zeros({2}), {1, 9, 9});
  at::Tensor x = at::zeros({1, 1, 9, 9});
  x[0][0][4][4] = 1.0;
  auto stage = open_stage("pixel_flipping", model,
                          {{"patch", std::int64_t{1}}, {"steps", std::int64_t{1}}, {"fill", std::string("blur")},
                           {"sigma", 1.0}, {"score", std::string("logit")}, {"orderings", std::vector<std::string>{"morf"}}},
                          out.path());
  ASSERT_TRUE(stage.open_status);
  Item item = item_with(x, x.clone());
  ASSERT_TRUE(stage->process(item));
  // Blurred centre = g(0)^2 with the 1-D kernel g(i) = exp(-i^2 / 2) / sum_{|j|<=3} exp(-j^2 / 2).
  double norm = 0;
  for (int j = -3; j <= 3; ++j) norm += std::exp(-j * j / 2.0);
  const double centre = 1.0 / (norm * norm);
  EXPECT_NEAR(item.metrics().at("aopc/morf"), 1.0 - centre, 1e-5);

  // A constant image blurs to itself (edges replicated): nothing changes.
  Item flat = item_with(at::full({1, 1, 9, 9}, 2.0), x.clone(), 1);
  ASSERT_TRUE(stage->process(flat));
  EXPECT_NEAR(flat.metrics().at("aopc/morf"), 0.0, 1e-5);
}

TEST(PixelFlipping, RandomOrderingIsSeededAndRunMeansAreWrittenAtClose) {
  TempDir out;
  auto model = diagonal_model();
  const at::Tensor relevance = model->layer(1).weight[0].view({1, 1, 4, 4});
  const std::map<std::string, OptionValue> options{{"patch", std::int64_t{1}}, {"steps", std::int64_t{4}},
                                                   {"patches_per_step", std::int64_t{2}}, {"seed", std::int64_t{7}},
                                                   {"score", std::string("logit")}};
  auto first = open_stage("pixel_flipping", model, options, out.path());
  auto second = open_stage("pixel_flipping", model, options, out.path() / "again");
  ASSERT_TRUE(first.open_status) << first.open_status.message();
  std::filesystem::create_directories(out.path() / "again");
  Item a = item_with(at::ones({1, 1, 4, 4}), relevance, 0);
  Item b = item_with(at::ones({1, 1, 4, 4}), relevance, 0);
  Item c = item_with(at::full({1, 1, 4, 4}, 2.0), relevance, 1);
  ASSERT_TRUE(first->process(a));
  ASSERT_TRUE(second->process(b));
  ASSERT_TRUE(first->process(c));
  EXPECT_EQ(a.metrics().at("aopc/random"), b.metrics().at("aopc/random"));
  // The random ranking cannot beat the true one on this model.
  EXPECT_GE(a.metrics().at("aopc/morf"), a.metrics().at("aopc/random"));
  EXPECT_LE(a.metrics().at("aopc/lerf"), a.metrics().at("aopc/random"));

  ASSERT_TRUE(first->close());  // the runner hands close() the items it processed: a and c
  const std::vector<OutputFile>& run_outputs = first->run_outputs();
  std::ifstream in(out.path() / "faithfulness.json");
  const nlohmann::json summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["samples"], 2);
  for (const std::string name : {"morf", "lerf", "random"})
    EXPECT_NEAR(summary["aopc"][name].get<double>(),
                (a.metrics().at("aopc/" + name) + c.metrics().at("aopc/" + name)) / 2.0, 1e-9)
        << name;
  EXPECT_TRUE(std::filesystem::exists(out.path() / "perturbation_mean.csv"));
  EXPECT_TRUE(std::filesystem::exists(out.path() / "perturbation_mean.png"));
  EXPECT_EQ(run_outputs.size(), 3u);
}

TEST(PixelFlipping, BadOptionsAreNamed) {
  auto model = diagonal_model();
  const std::vector<std::pair<std::map<std::string, OptionValue>, std::string>> cases = {
      {{{"patch", std::int64_t{0}}}, "option patch"},
      {{{"steps", std::int64_t{0}}}, "option 'steps' (int): 0 is out of range"},
      {{{"patches_per_step", std::int64_t{-1}}}, "option 'patches_per_step' (int): -1 is out of range"},
      {{{"orderings", std::vector<std::string>{"morf", "best"}}}, "'best' is not morf, lerf or random"},
      {{{"orderings", std::vector<std::string>{"morf", "morf"}}}, "listed twice"},
      {{{"orderings", std::vector<std::string>{}}}, "at least one"},
      {{{"fill", std::string("blur")}, {"sigma", 0.0}}, "option sigma"},
      {{{"fill", std::string("noise")}}, "option 'fill' (string): 'noise' is not one of"},
      {{{"target", std::string("top3")}}, "'top3'"},
  };
  for (const auto& [options, message] : cases) {
    auto stage = open_stage("pixel_flipping", model, options);
    ASSERT_FALSE(stage.open_status) << message;
    EXPECT_NE(stage.open_status.message().find(message), std::string::npos) << stage.open_status.message();
  }
}

TEST(PixelFlipping, BadItemsAreNamed) {
  TempDir out;
  auto model = diagonal_model();
  auto stage = open_stage("pixel_flipping", model, {{"patch", std::int64_t{2}}, {"steps", std::int64_t{5}}}, out.path());
  ASSERT_TRUE(stage.open_status);
  Item too_many = item_with(at::ones({1, 1, 4, 4}), at::ones({1, 1, 4, 4}));
  Status status = stage->process(too_many);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("only 4 regions"), std::string::npos) << status.message();
  Item mismatch = item_with(at::ones({1, 1, 4, 4}), at::ones({1, 2, 4, 4}));
  status = stage->process(mismatch);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("not the input's shape"), std::string::npos) << status.message();
  Item missing(0, "m", "test");
  missing.set("input", at::ones({1, 1, 4, 4}));
  status = stage->process(missing);
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("relevance"), std::string::npos) << status.message();
  EXPECT_FALSE(std::filesystem::exists(out.path() / "img0.perturbation.csv"));
}

}  // namespace
}  // namespace lrpflow::eval
