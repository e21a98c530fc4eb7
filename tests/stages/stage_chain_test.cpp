// Whole pipelines on the Zennit fixture models: the loader, forward and lrp stages reproduce the
// reference relevance, and selection, critical paths, fidelity, heatmaps and deconvolution run on
// a sequential and a residual model and write what they promise.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "fixture_support.h"
#include "lrpflow/files.h"
#include "lrpflow/npy.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/registry.h"
#include "lrpflow/report.h"
#include "lrpflow/runtime.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;
using lrp::testing::fixture_dir;
using lrp::testing::load_case;
using lrp::testing::relative_deviation;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("lrpflow_stage_chain_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "inputs");
  return dir;
}

// One .npy per sample of the fixture's input batch: items sample0 .. sampleN-1.
void write_inputs(const std::string& case_name, const fs::path& dir) {
  const at::Tensor input = load_case(case_name).at("input");
  for (int64_t b = 0; b < input.size(0); ++b)
    ASSERT_TRUE(write_npy(dir / "inputs" / ("sample" + std::to_string(b) + ".npy"), input[b]).is_ok());
}

std::string chain_pipeline(const std::string& case_name, const std::string& layers, const fs::path& out) {
  return R"(version: 1
resources:
  model: {type: model, options: {path: )" + fixture_dir() + "/" + case_name + R"(/model_scripted.pt, input_shape: [3, 32, 32]}}
  rules: {type: ruleset, options: {model: model, name: epsilon_plus_flat}}
stages:
  - {id: load, type: npy_loader, options: {path: inputs}}
  - {id: forward, type: forward}
  - {id: lrp, type: lrp}
  - {id: select, type: getoptimizer, options: {layers: )" + layers + R"(, k: 3}}
  - {id: paths, type: critical_paths, options: {paths: 4}}
  - {id: fidelity, type: fidelity, options: {sweep: true}}
  - {id: heatmap, type: heatmap, options: {activations: true, neurons: true, max_neurons: 2}}
  - {id: deconv, type: deconv, options: {top_k: 2}}
  - {id: save, type: npy_writer, options: {slot: relevance, suffix: .relevance.npy, kind: relevance}}
runtime: {threads: 2, max_in_flight: 3}
output: {dir: )" + out.string() + R"(, report: false}
)";
}

const PluginRegistry& test_registry() {
  static PluginRegistry registry;
  static bool loaded = false;
  if (!loaded) {
    registry.load_directories({LRPFLOW_TEST_PLUGIN_DIR});
    loaded = true;
  }
  return registry;
}

Result<RunReport> try_run_text(const std::string& text, const fs::path& dir, const RunOptions& options = {}) {
  PipelineLoad load = parse_pipeline(text, dir / "pipeline.yaml", {}, test_registry());
  std::string problems;
  for (const auto& d : load.diagnostics) problems += d.to_string() + "\n";
  if (!load.ok()) return Status::error("the pipeline does not load: " + problems);
  return run_pipeline(*load.pipeline, test_registry(), options);
}

RunReport run_text(const std::string& text, const fs::path& dir, const RunOptions& options = {}) {
  auto report = try_run_text(text, dir, options);
  EXPECT_TRUE(report) << report.status().message();
  return report.value();
}

// The message of a run that must fail before any item runs (a pipeline that loads).
std::string run_error(const std::string& text, const fs::path& dir) {
  auto report = try_run_text(text, dir);
  EXPECT_FALSE(report);
  const std::string message = report ? "" : report.status().message();
  EXPECT_EQ(message.find("does not load"), std::string::npos) << message;
  return message;
}

// The forward stage's prediction file says what docs/report.md says, and the report shows it: the
// true class from the IDX labels (t10k-00001 is a pullover, t10k-00002 a trouser: the names of
// samples/fashion-mnist/*.png), its class name from the model's sidecar, and correct/misclassified.
TEST(StageChain, ForwardRecordsTheTrueClassAndTheReportShowsIt) {
  const fs::path dir = fresh_dir("forward_truth");
  const std::string models = fixture_dir() + "/../../../models";
  const fs::path out = dir / "out";
  const RunReport report = run_text(R"(version: 1
resources:
  model: {type: model, options: {path: )" + models + R"(/fashion_mnist_vgg.pt, input_shape: [1, 28, 28]}}
stages:
  - {id: load, type: idx_loader, options: {count: 3, mean: [0.2860406], std: [0.35302425]}}
  - {id: forward, type: forward, options: {labels_file: )" + models + R"(/fashion_mnist_vgg.yaml}}
output: {dir: )" + out.string() + R"(, report: false}
)",
                                    dir);
  ASSERT_EQ(report.items_ok, 3);
  auto manifest = read_manifest(report.manifest_path);
  ASSERT_TRUE(manifest) << manifest.status().message();
  const std::map<std::string, std::pair<int, std::string>> truth = {{"t10k-00001", {2, "Pullover"}},
                                                                    {"t10k-00002", {1, "Trouser"}}};
  ASSERT_TRUE(write_report(out, manifest.value()).is_ok());
  for (const ManifestItem& item : manifest.value().items) {
    auto expected = truth.find(item.id);
    if (expected == truth.end()) continue;
    const auto [target, name] = expected->second;
    auto text = read_file(out / item_output_path(OutputLayout::PerItem, item.id, ".prediction.json"));
    ASSERT_TRUE(text) << text.status().message();
    const auto doc = nlohmann::json::parse(text.value());
    EXPECT_EQ(doc.at("target").get<int>(), target) << item.id;
    EXPECT_EQ(doc.at("target_label").get<std::string>(), name) << item.id;
    EXPECT_FALSE(doc.contains("true_class")) << item.id;
    EXPECT_EQ(item.metrics.at("target_class"), target) << item.id;
    const int predicted = doc.at("predicted").get<int>();
    EXPECT_EQ(item.metrics.at("predicted_class"), predicted) << item.id;
    auto page = read_file(out / "report/items" / (item.id + ".html"));
    ASSERT_TRUE(page) << page.status().message();
    const std::string verdict = predicted == target ? "<span class=\"badge ok\">correct</span>"
                                                    : "<span class=\"badge failed\">misclassified</span>";
    EXPECT_NE(page.value().find("True class: class " + std::to_string(target) + " <b>" + name + "</b> " + verdict),
              std::string::npos)
        << item.id;
  }
  fs::remove_all(dir);
}

// A TorchScript model whose sidecar says its weights are random (as tools/export_torchvision.py
// writes it without --weights): the run records a warning naming the model, and the report's run
// page shows it. Without that sidecar line there is no warning.
TEST(StageChain, ModelWithRandomWeightsIsAWarningOnTheRunPage) {
  const fs::path dir = fresh_dir("random_weights");
  write_inputs("tiny_cnn", dir);
  fs::copy_file(fixture_dir() + "/tiny_cnn/model_scripted.pt", dir / "net.pt");
  const std::string pipeline = R"(version: 1
resources:
  model: {type: model, options: {path: net.pt, input_shape: [3, 32, 32]}}
stages:
  - {id: load, type: npy_loader, options: {path: inputs}}
  - {id: forward, type: forward}
output: {dir: )" + (dir / "out").string() + R"(, report: false}
)";
  const RunReport trained = run_text(pipeline, dir);
  auto plain = read_manifest(trained.manifest_path);
  ASSERT_TRUE(plain) << plain.status().message();
  EXPECT_TRUE(plain.value().run.warnings.empty());

  ASSERT_TRUE(write_file_atomic(dir / "net.yaml", "arch: tiny\nweights: \"random (seed 0) — explanations of an untrained "
                                                   "network are not meaningful\"\n")
                  .is_ok());
  const RunReport random = run_text(pipeline, dir);
  auto manifest = read_manifest(random.manifest_path);
  ASSERT_TRUE(manifest) << manifest.status().message();
  ASSERT_EQ(manifest.value().run.warnings.size(), 1u);
  const std::string& warning = manifest.value().run.warnings[0];
  EXPECT_NE(warning.find("model 'model' (" + (dir / "net.pt").string() + ") has random weights"), std::string::npos) << warning;
  EXPECT_NE(warning.find((dir / "net.yaml").string() + " says 'weights: random (seed 0)"), std::string::npos) << warning;
  ASSERT_TRUE(write_report(dir / "out", manifest.value()).is_ok());
  auto index = read_file(dir / "out/report/index.html");
  ASSERT_TRUE(index);
  EXPECT_NE(index.value().find("<b>Warning:</b> " + html_escape(warning)), std::string::npos);
  fs::remove_all(dir);
}

// A resumed run's run-level files are computed from every ok item of the run, not only from the
// items of the last session: after a resume that redoes half the items, fidelity_sweep.csv,
// perturbation_mean.csv and faithfulness.json equal an uninterrupted run's byte for byte.
TEST(StageChain, RunLevelFilesAfterAResumeEqualAnUninterruptedRun) {
  const fs::path dir = fresh_dir("resume_run_level");
  write_inputs("tiny_cnn", dir);
  auto pipeline = [&](const fs::path& out) {
    return R"(version: 1
resources:
  model: {type: model, options: {path: )" + fixture_dir() + R"(/tiny_cnn/model_scripted.pt, input_shape: [3, 32, 32]}}
  rules: {type: ruleset, options: {model: model, name: epsilon_plus_flat}}
stages:
  - {id: load, type: npy_loader, options: {path: inputs}}
  - {id: forward, type: forward}
  - {id: lrp, type: lrp}
  - {id: select, type: getoptimizer, options: {layers: ["2", "5"], k: 3}}
  - {id: fidelity, type: fidelity, options: {sweep: true, ns: [0, 1]}}
  - {id: flip, type: pixel_flipping, options: {patch: 8, steps: 4, plot: false}}
runtime: {threads: 2, max_in_flight: 3}
output: {dir: )" + out.string() + R"(, report: false}
)";
  };
  const RunReport clean = run_text(pipeline(dir / "clean"), dir);
  ASSERT_GE(clean.items_ok, 4);
  const RunReport first = run_text(pipeline(dir / "resumed"), dir);
  ASSERT_EQ(first.items_ok, clean.items_ok);
  // Lose every other item's files, as if the first session had been killed before them.
  auto manifest = read_manifest(first.manifest_path);
  ASSERT_TRUE(manifest) << manifest.status().message();
  std::int64_t lost = 0;
  for (const ManifestItem& item : manifest.value().items) {
    if (item.index % 2 == 0) continue;
    for (const OutputFile& f : item.outputs) fs::remove(dir / "resumed" / f.path);
    ++lost;
  }
  ASSERT_GT(lost, 0);
  RunOptions options;
  options.resume = true;
  const RunReport resumed = run_text(pipeline(dir / "resumed"), dir, options);
  EXPECT_EQ(resumed.items_ok, lost);
  EXPECT_EQ(resumed.items_skipped, clean.items_ok - lost);
  for (const char* name : {"fidelity_sweep.csv", "perturbation_mean.csv", "faithfulness.json"}) {
    auto expected = read_file(dir / "clean" / name);
    auto actual = read_file(dir / "resumed" / name);
    ASSERT_TRUE(expected) << expected.status().message();
    ASSERT_TRUE(actual) << actual.status().message();
    EXPECT_EQ(actual.value(), expected.value()) << name;
  }
  fs::remove_all(dir);
}

void check_chain(const std::string& case_name, const std::string& layers_yaml, const std::vector<std::string>& layers) {
  const fs::path dir = fresh_dir(case_name);
  write_inputs(case_name, dir);
  const fs::path out = dir / "out";
  const RunReport report = run_text(chain_pipeline(case_name, layers_yaml, out), dir);
  const auto& ref = load_case(case_name);
  const int64_t batch = ref.at("input").size(0);
  ASSERT_EQ(report.items_ok, batch);
  for (const auto& e : report.errors) ADD_FAILURE() << e.item_id << ": " << e.stage << ": " << e.message;

  auto manifest = read_manifest(report.manifest_path);
  ASSERT_TRUE(manifest) << manifest.status().message();
  for (const ManifestItem& item : manifest.value().items) {
    const int64_t b = std::stoll(item.id.substr(6));  // "sampleN"
    // The relevance written by the chain is Zennit's EpsilonPlusFlat for the argmax target.
    // Pipelines default to one folder per item: items/<id>/<id>.<kind>...
    auto relevance = read_npy(out / item_output_path(OutputLayout::PerItem, item.id, ".relevance.npy"));
    ASSERT_TRUE(relevance) << relevance.status().message();
    const at::Tensor reference = ref.at("epsilon_plus_flat/input")[b];
    EXPECT_LE(relative_deviation(relevance.value(), reference), 1e-4) << item.id;
    EXPECT_EQ(item.metrics.at("predicted_class"), ref.at("target")[b].item<double>());
    for (const std::string& layer : layers) {
      EXPECT_EQ(item.metrics.at("selection/" + layer + "/count"), 3.0) << item.id << " " << layer;
      const double smape = item.metrics.at("fidelity/" + layer + "/smape");
      EXPECT_GE(smape, 0.0);
      EXPECT_LE(smape, 200.0);
      EXPECT_TRUE(item.metrics.count("fidelity/" + layer + "/kept_class"));
    }
    EXPECT_TRUE(item.metrics.count("fidelity/all/mse"));
    // The graph: the chosen layers lowest first, 3 neurons each, and the 4 strongest paths in order.
    auto graph_text = read_file(out / ("items/" + item.id + "/" + item.id + ".graph.json"));
    ASSERT_TRUE(graph_text);
    const auto graph = nlohmann::json::parse(graph_text.value());
    ASSERT_EQ(graph["layers"].size(), layers.size());
    for (size_t l = 0; l < layers.size(); ++l) EXPECT_EQ(graph["layers"][l]["name"], layers[l]);
    EXPECT_EQ(graph["target"]["index"].get<int64_t>(), ref.at("target")[b].item<int64_t>());
    const auto& paths = graph["paths"]["items"];
    ASSERT_EQ(paths.size(), 4u);
    for (size_t p = 1; p < paths.size(); ++p)
      EXPECT_GE(paths[p - 1]["strength"].get<double>(), paths[p]["strength"].get<double>());
    // Edges into the target carry each top neuron's relevance; their shares add up to that
    // selection's share of the target relevance.
    double into_target = 0;
    for (const auto& e : graph["edges"])
      if (e["to"]["layer"] == "target") into_target += e["relevance"].get<double>();
    double top_relevance = 0;
    for (const auto& n : graph["layers"].back()["neurons"]) top_relevance += n["relevance"].get<double>();
    EXPECT_NEAR(into_target, top_relevance, 1e-9 * std::max(1.0, std::abs(top_relevance)));
    // Every stage follows the layout: no file of the item outside its folder.
    for (const OutputFile& f : item.outputs) EXPECT_EQ(f.path.rfind("items/" + item.id + "/", 0), 0u) << f.path;
    for (const char* kind : {"heatmap", "activation_heatmap", "neuron_heatmap", "deconv", "deconv_grid", "graph_svg",
                             "fidelity_csv", "fidelity_plot", "prediction"}) {
      ASSERT_TRUE(item.outputs.size() > 0);
      bool found = false;
      for (const OutputFile& f : item.outputs) {
        if (f.kind != kind) continue;
        found = true;
        EXPECT_TRUE(fs::exists(out / f.path)) << f.path;
      }
      EXPECT_TRUE(found) << item.id << " has no " << kind;
    }
  }
  EXPECT_TRUE(fs::exists(out / "fidelity_sweep.csv"));
  EXPECT_TRUE(fs::exists(out / "fidelity_sweep.svg"));
  for (const auto& entry : fs::recursive_directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  fs::remove_all(dir);
}

TEST(StageChain, SequentialModel) {
  check_chain("tiny_cnn", "[\"0\", \"2\", \"5\", \"9\"]", {"0", "2", "5", "9"});
}

TEST(StageChain, ResidualModel) {
  check_chain("resnet_tiny", "[layer1.0.conv1, layer1.0.conv2, layer2.0.conv2]",
              {"layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv2"});
}

// Every neuron of each chosen layer kept (topk with k = the layers' size, 8 channels each): the
// restricted output is the full one, so the fidelity stage reports MSE 0 and SMAPE 0 under the
// default SMAPE and the paper's all-class one, per layer and for all layers at once.
TEST(StageChain, KeepingEveryNeuronGivesZeroFidelityError) {
  const fs::path dir = fresh_dir("keep_all");
  write_inputs("resnet_tiny", dir);
  for (const std::string classes : {"mass", "all"}) {
    const fs::path out = dir / ("out_" + classes);
    const std::string text = R"(version: 1
resources:
  model: {type: model, options: {path: )" + fixture_dir() + R"(/resnet_tiny/model_scripted.pt, input_shape: [3, 32, 32]}}
  rules: {type: ruleset, options: {model: model, name: epsilon_plus_flat}}
stages:
  - {id: load, type: npy_loader, options: {path: inputs}}
  - {id: forward, type: forward}
  - {id: lrp, type: lrp}
  - {id: select, type: topk, options: {layers: [conv1, layer1.0.conv1, layer1.0.conv2], k: 8}}
  - {id: fidelity, type: fidelity, options: {smape_classes: )" + classes + R"(}}
output: {dir: )" + out.string() + R"(, report: false}
)";
    const RunReport report = run_text(text, dir);
    ASSERT_EQ(report.items_ok, load_case("resnet_tiny").at("input").size(0)) << classes;
    auto manifest = read_manifest(report.manifest_path);
    ASSERT_TRUE(manifest) << manifest.status().message();
    for (const ManifestItem& item : manifest.value().items) {
      for (const char* layer : {"conv1", "layer1.0.conv1", "layer1.0.conv2", "all"}) {
        const std::string prefix = std::string("fidelity/") + layer;
        EXPECT_EQ(item.metrics.at(prefix + "/mse"), 0.0) << item.id << " " << layer << " " << classes;
        EXPECT_EQ(item.metrics.at(prefix + "/smape"), 0.0) << item.id << " " << layer << " " << classes;
        EXPECT_EQ(item.metrics.at(prefix + "/kept_class"), 1.0) << item.id << " " << layer << " " << classes;
      }
    }
  }
  fs::remove_all(dir);
}

TEST(StageChain, BadSmapeMassNamesTheStageBeforeAnyItemRuns) {
  const fs::path dir = fresh_dir("bad_mass");
  write_inputs("tiny_cnn", dir);
  std::string text = chain_pipeline("tiny_cnn", "[\"0\"]", dir / "out");
  text.replace(text.find("{sweep: true}"), 13, "{smape_mass: 1.5}");
  const std::string message = run_error(text, dir);
  EXPECT_NE(message.find("fidelity"), std::string::npos) << message;
  EXPECT_NE(message.find("smape_mass"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "out" / "sample0.fidelity.csv"));
  fs::remove_all(dir);
}

TEST(StageChain, BadSelectionOptionsNameTheStageBeforeAnyItemRuns) {
  const fs::path dir = fresh_dir("bad");
  write_inputs("tiny_cnn", dir);
  std::string text = chain_pipeline("tiny_cnn", "[\"0\", \"nope\"]", dir / "out");
  std::string message = run_error(text, dir);
  EXPECT_NE(message.find("select"), std::string::npos) << message;
  EXPECT_NE(message.find("nope"), std::string::npos) << message;
  // k larger than a layer (layer "0" has 8 channels).
  text = chain_pipeline("tiny_cnn", "[\"0\"]", dir / "out");
  text.replace(text.find("k: 3"), 4, "k: 9");
  message = run_error(text, dir);
  EXPECT_NE(message.find("option k"), std::string::npos) << message;
  fs::remove_all(dir);
}

// The declared graph runs as a graph: with heatmaps and deconvolution as two branches after
// fidelity (both read the selection, neither writes a slot), every file is byte-for-byte what
// the chain writes, and the manifest records the same outputs and metrics.
TEST(StageChain, HeatmapAndDeconvAsConcurrentBranchesWriteWhatTheChainWrites) {
  const fs::path dir = fresh_dir("branches");
  write_inputs("tiny_cnn", dir);
  const std::string layers = "[\"0\", \"2\", \"5\", \"9\"]";
  const std::string chain = chain_pipeline("tiny_cnn", layers, dir / "chain");
  std::string branches = chain_pipeline("tiny_cnn", layers, dir / "branches");
  for (const char* stage : {"heatmap", "deconv"}) {
    const std::string key = std::string("{id: ") + stage + ", type: " + stage + ", ";
    ASSERT_NE(branches.find(key), std::string::npos);
    branches.replace(branches.find(key), key.size(), key + "inputs: [fidelity], ");
  }
  const std::string save = "{id: save, type: npy_writer, ";
  branches.replace(branches.find(save), save.size(), save + "inputs: [heatmap, deconv], ");
  const RunReport a = run_text(chain, dir), b = run_text(branches, dir);
  EXPECT_EQ(a.items_ok, b.items_ok);
  EXPECT_GT(b.items_ok, 0);
  EXPECT_EQ(b.items_failed, 0);
  auto ma = read_manifest(a.manifest_path), mb = read_manifest(b.manifest_path);
  ASSERT_TRUE(ma && mb);
  ASSERT_EQ(ma.value().items.size(), mb.value().items.size());
  std::size_t files = 0;
  for (std::size_t i = 0; i < ma.value().items.size(); ++i) {
    const ManifestItem &x = ma.value().items[i], &y = mb.value().items[i];
    EXPECT_EQ(x.metrics, y.metrics) << x.id;
    ASSERT_EQ(x.outputs.size(), y.outputs.size()) << x.id;
    for (std::size_t o = 0; o < x.outputs.size(); ++o) {
      EXPECT_EQ(x.outputs[o].kind, y.outputs[o].kind) << x.id;
      EXPECT_EQ(x.outputs[o].path, y.outputs[o].path) << x.id;
      auto fa = read_file(dir / "chain" / x.outputs[o].path), fb = read_file(dir / "branches" / y.outputs[o].path);
      ASSERT_TRUE(fa && fb) << x.outputs[o].path;
      EXPECT_TRUE(fa.value() == fb.value()) << x.outputs[o].path << " differs";
      ++files;
    }
  }
  EXPECT_GT(files, 20u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lrpflow
