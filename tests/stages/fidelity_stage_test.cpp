// The fidelity stage alone (StageRunner) on a hand-built MLP: the output through the selected
// neurons only, computed here with ATen (masked hidden layers), gives the MSE, SMAPE and kept
// class the stage records; the sweep's rows and run-level mean; and its errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "lrpflow/csv.h"
#include "lrpflow/files.h"
#include "stage_test_support.h"

namespace lrpflow {
namespace {
using testing::layer_selection;
using testing::neuron_mask;
using testing::open_error;
using testing::open_stage;
using testing::resources_for;
using testing::to_doubles;

struct Comparison {
  double mse = 0, smape = 0;
  bool kept_class = false;
};

// On logits, over every class: mean squared error, SMAPE = 100/n sum |F - A| / ((|A| + |F|) / 2).
Comparison compare(const at::Tensor& full, const at::Tensor& restricted) {
  const at::Tensor a = full.reshape({-1}).to(at::kDouble), f = restricted.reshape({-1}).to(at::kDouble);
  Comparison c;
  c.mse = (a - f).pow(2).mean().item<double>();
  c.smape = 100.0 * ((f - a).abs() / ((a.abs() + f.abs()) / 2)).mean().item<double>();
  c.kept_class = a.argmax().item<int64_t>() == f.argmax().item<int64_t>();
  return c;
}

struct MlpCase {
  testing::Mlp mlp = testing::make_mlp({4, 6, 5, 3}, 5);
  at::Tensor x = at::randn({1, 4}, at::detail::createCPUGenerator(6), at::kFloat);
  Item item(const Selection& selection) const {
    Item item(0, "a", "a.npy");
    testing::set_activations(item, testing::forward_pass(*mlp.model, x));
    item.set("selection", selection);
    return item;
  }
};

void expect_metrics(const Item& item, const std::string& name, const Comparison& expected) {
  const auto& m = item.metrics();
  EXPECT_NEAR(m.at("fidelity/" + name + "/mse"), expected.mse, 1e-5 * std::max(1.0, expected.mse)) << name;
  EXPECT_NEAR(m.at("fidelity/" + name + "/smape"), expected.smape, 1e-4 * std::max(1.0, expected.smape)) << name;
  EXPECT_EQ(m.at("fidelity/" + name + "/kept_class"), expected.kept_class ? 1.0 : 0.0) << name;
}

TEST(FidelityStage, MetricsCompareTheRestrictedOutputWithTheFullOne) {
  const MlpCase s;
  Selection selection;
  selection.method = "hand";
  selection.layers = {layer_selection("fc1", 6, {0, 2, 3}), layer_selection("fc2", 5, {4, 1})};
  auto stage = open_stage("type: fidelity\noptions: {on: logits, smape_classes: all}\n", resources_for(s.mlp.model));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = s.item(selection);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();

  const at::Tensor full = s.mlp.logits(s.x);
  const at::Tensor m1 = neuron_mask(6, {0, 2, 3}), m2 = neuron_mask(5, {4, 1});
  const Comparison fc1 = compare(full, s.mlp.logits(s.x, m1)), fc2 = compare(full, s.mlp.logits(s.x, {}, m2)),
                   all = compare(full, s.mlp.logits(s.x, m1, m2));
  ASSERT_GT(fc1.mse + fc2.mse, 0.0);  // the masks change the output
  expect_metrics(item, "fc1", fc1);
  expect_metrics(item, "fc2", fc2);
  expect_metrics(item, "all", all);
  EXPECT_TRUE(item.outputs().empty());  // no sweep: no files
}

TEST(FidelityStage, KeepingEveryNeuronReproducesTheOutput) {
  const MlpCase s;
  Selection selection;
  selection.layers = {layer_selection("fc2", 5, {0, 1, 2, 3, 4})};
  auto stage = open_stage("type: fidelity\n", resources_for(s.mlp.model));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item item = s.item(selection);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  EXPECT_EQ(item.metrics().at("fidelity/fc2/mse"), 0.0);
  EXPECT_EQ(item.metrics().at("fidelity/fc2/smape"), 0.0);
  EXPECT_EQ(item.metrics().at("fidelity/fc2/kept_class"), 1.0);
}

TEST(FidelityStage, SweepRowsAreGetOptimizerSelectionsAndCloseWritesTheirMean) {
  const MlpCase s;
  // Relevance at both hidden layers: the sweep ranks neurons by it.
  auto explanation = std::make_shared<lrp::Explanation>();
  at::Generator generator = at::detail::createCPUGenerator(8);
  explanation->layer_output_relevance["fc1"] = at::randn({1, 6}, generator, at::kFloat);
  explanation->layer_output_relevance["fc2"] = at::randn({1, 5}, generator, at::kFloat);
  Selection selection;
  selection.layers = {layer_selection("fc1", 6, {1}), layer_selection("fc2", 5, {2})};
  testing::TempDir out;
  auto stage = open_stage("type: fidelity\noptions: {on: logits, smape_classes: all, sweep: true, ns: [0.0, 1.0]}\n",
                          resources_for(s.mlp.model), out.path());
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item missing = s.item(selection);
  EXPECT_FALSE(stage->process(missing).is_ok());  // the sweep needs the explanation
  ASSERT_TRUE(missing.failed());
  EXPECT_NE(missing.error()->message.find("slot 'explanation' is empty"), std::string::npos) << missing.error()->message;

  Item item = s.item(selection);
  testing::set_explanation(item, explanation);
  const Status status = stage->process(item);
  ASSERT_TRUE(status.is_ok()) << status.message();
  std::map<std::string, std::string> files;
  for (const OutputFile& f : item.outputs()) files[f.kind] = f.path;
  ASSERT_EQ(files.count("fidelity_csv"), 1u);
  ASSERT_EQ(files.count("fidelity_plot"), 1u);
  EXPECT_TRUE(std::filesystem::exists(out.path() / files["fidelity_plot"]));
  auto text = read_file(out.path() / files["fidelity_csv"]);
  ASSERT_TRUE(text) << text.status().message();
  auto table = parse_csv_table(text.value(), "fidelity.csv");
  ASSERT_TRUE(table) << table.status().message();
  EXPECT_EQ(table.value().header, (CsvRow{"layer", "selector", "k", "n", "mse", "smape", "kept_class"}));

  // Every row: keep the neurons whose relevance is above mean - n * std, the k largest of them.
  const at::Tensor full = s.mlp.logits(s.x);
  std::map<std::string, int> rows_per_layer;
  for (const CsvRow& row : table.value().rows) {
    const std::string& layer = row[0];
    const int64_t k = std::stoll(row[2]);
    const double n = std::stod(row[3]);
    ++rows_per_layer[layer];
    const at::Tensor r = explanation->layer_output_relevance.at(layer)[0].to(at::kDouble);
    const at::Tensor passing = r > (r.mean() - n * r.std(/*unbiased=*/false));
    const at::Tensor ranked = std::get<1>(r.masked_fill(passing.logical_not(), -1e300).sort(0, true));
    const int64_t count = std::min<int64_t>(k, passing.sum().item<int64_t>());
    at::Tensor mask = at::zeros({r.size(0)});
    mask.index_fill_(0, ranked.slice(0, 0, count), 1.0);
    const Comparison expected =
        compare(full, layer == "fc1" ? s.mlp.logits(s.x, mask) : s.mlp.logits(s.x, {}, mask));
    EXPECT_NEAR(std::stod(row[4]), expected.mse, 1e-5 * std::max(1.0, expected.mse)) << layer << " k " << k << " n " << n;
    EXPECT_NEAR(std::stod(row[5]), expected.smape, 1e-4 * std::max(1.0, expected.smape)) << layer << " k " << k << " n " << n;
    EXPECT_EQ(row[6], expected.kept_class ? "1" : "0");
  }
  // k = 1, 2, 4, the layer's size; for both n.
  EXPECT_EQ(rows_per_layer["fc1"], 2 * 4);
  EXPECT_EQ(rows_per_layer["fc2"], 2 * 4);

  // close(): the run's mean over its one ok item is that item's sweep.
  ASSERT_TRUE(stage->close().is_ok());
  std::map<std::string, std::string> run_files;
  for (const OutputFile& f : stage->run_outputs()) run_files[f.kind] = f.path;
  ASSERT_EQ(run_files.count("fidelity_csv"), 1u);
  auto mean_text = read_file(out.path() / run_files["fidelity_csv"]);
  ASSERT_TRUE(mean_text) << mean_text.status().message();
  auto mean = parse_csv_table(mean_text.value(), "fidelity_sweep.csv");
  ASSERT_TRUE(mean) << mean.status().message();
  ASSERT_EQ(mean.value().rows.size(), table.value().rows.size());
  for (const CsvRow& row : mean.value().rows) {
    EXPECT_EQ(row.back(), "1");  // items
    bool found = false;
    for (const CsvRow& own : table.value().rows)
      if (own[0] == row[0] && own[2] == row[2] && std::stod(own[3]) == std::stod(row[3])) {
        found = true;
        EXPECT_NEAR(std::stod(row[4]), std::stod(own[4]), 1e-8 * std::max(1.0, std::stod(own[4])));
      }
    EXPECT_TRUE(found) << row[0] << " k " << row[2];
  }
}

TEST(FidelityStage, ErrorsNameTheSlotTheLayerAndTheOption) {
  const MlpCase s;
  EXPECT_NE(open_error("type: fidelity\noptions: {ns: []}\n", resources_for(s.mlp.model)).find("option ns: give at least one threshold factor"),
            std::string::npos);
  const std::string on = open_error("type: fidelity\noptions: {on: softmax}\n", resources_for(s.mlp.model));
  EXPECT_NE(on.find("'on'"), std::string::npos) << on;
  EXPECT_NE(on.find("softmax"), std::string::npos) << on;
  EXPECT_NE(open_error("type: fidelity\noptions: {smape_mass: 0.0}\n", resources_for(s.mlp.model)).find("option smape_mass"),
            std::string::npos);

  auto stage = open_stage("id: fid\ntype: fidelity\n", resources_for(s.mlp.model));
  ASSERT_TRUE(stage.status.is_ok()) << stage.status.message();
  Item no_selection(0, "a", "a.npy");
  testing::set_activations(no_selection, testing::forward_pass(*s.mlp.model, s.x));
  EXPECT_FALSE(stage->process(no_selection).is_ok());
  ASSERT_TRUE(no_selection.failed());
  EXPECT_EQ(no_selection.error()->stage, "fid");
  EXPECT_NE(no_selection.error()->message.find("slot 'selection' is empty"), std::string::npos) << no_selection.error()->message;

  Selection elsewhere;
  elsewhere.layers = {layer_selection("conv9", 4, {0})};
  Item unknown = s.item(elsewhere);
  EXPECT_FALSE(stage->process(unknown).is_ok());
  ASSERT_TRUE(unknown.failed());
  EXPECT_NE(unknown.error()->message.find("layer 'conv9' is not in the model"), std::string::npos) << unknown.error()->message;

  Selection outside;
  outside.layers = {layer_selection("fc1", 6, {6})};
  Item beyond = s.item(outside);
  EXPECT_FALSE(stage->process(beyond).is_ok());
  ASSERT_TRUE(beyond.failed());
  EXPECT_NE(beyond.error()->message.find("neuron 6 is not in layer 'fc1'"), std::string::npos) << beyond.error()->message;
}

}  // namespace
}  // namespace lrpflow
