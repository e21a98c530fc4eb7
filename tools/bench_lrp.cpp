// LRP speed relative to the forward pass: VGG16 (configs/models/vgg16.yaml, random Kaiming
// weights), one 3x224x224 image, at 1 and 2 intra-op threads.
//
//   build/bin/lrpflow_bench_lrp --benchmark_min_time=2
//
// BM_Forward times model.forward(); BM_Lrp/<ruleset> times Engine::explain() (forward + relevance,
// with diagnostics, as the pipeline runs it) and reports ratio_vs_forward = explain time / forward
// time, both measured in the same iterations (targets in docs/performance.md).
#include <benchmark/benchmark.h>

#include <chrono>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include "builtin_rules.h"
#include "lrpflow/lrp/engine.h"
#include "lrpflow/lrp/model_import.h"

namespace {

using namespace lrpflow::lrp;

std::shared_ptr<const Model> vgg16() {
  static std::shared_ptr<const Model> model = [] {
    auto m = load_model(std::string(LRPFLOW_CONFIG_DIR) + "/models/vgg16.yaml");
    if (!m) throw std::runtime_error(m.status().message());
    return std::shared_ptr<const Model>(m.value());
  }();
  return model;
}

at::Tensor image() {
  static at::Tensor x = at::randn({1, 3, 224, 224}, at::detail::createCPUGenerator(3));
  return x;
}

double mean_forward_seconds(const Model& model, const at::Tensor& x, int repeats) {
  c10::InferenceMode guard;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) benchmark::DoNotOptimize(model.forward(x).value().logits);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
}

void BM_Forward(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  auto model = vgg16();
  const at::Tensor x = image();
  c10::InferenceMode guard;
  mean_forward_seconds(*model, x, 1);  // warm-up
  for (auto _ : state) {
    auto acts = model->forward(x);
    benchmark::DoNotOptimize(acts.value().logits);
  }
}

void BM_Lrp(benchmark::State& state, const std::string& ruleset_name) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  auto model = vgg16();
  const at::Tensor x = image();
  auto spec = find_ruleset(std::string(LRPFLOW_CONFIG_DIR) + "/rulesets/" + ruleset_name + ".yaml");
  if (!spec) {
    state.SkipWithError(spec.status().message().c_str());
    return;
  }
  auto rules = RuleSet::bind(spec.value(), model, builtin_rule_catalog());
  if (!rules) {
    state.SkipWithError(rules.status().message().c_str());
    return;
  }
  Engine engine(rules.value());
  const std::int64_t target = model->forward(x).value().logits.argmax(1).item<std::int64_t>();
  benchmark::DoNotOptimize(engine.explain(x, {target}));  // warm-up
  // Each iteration times one forward and one explain back to back, so that the ratio stays fair
  // when the machine's load drifts; the benchmark's own time is the explain time (manual time).
  double forward_total = 0, explain_total = 0;
  for (auto _ : state) {
    forward_total += mean_forward_seconds(*model, x, 1);
    auto start = std::chrono::steady_clock::now();
    auto result = engine.explain(x, {target});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    explain_total += seconds;
    state.SetIterationTime(seconds);
    if (!result) {
      state.SkipWithError(result.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(result.value().input_relevance);
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["forward_ms"] = iterations > 0 ? forward_total / iterations * 1e3 : 0.0;
  state.counters["ratio_vs_forward"] = forward_total > 0 ? explain_total / forward_total : 0.0;
}

BENCHMARK(BM_Forward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Lrp, epsilon_plus_flat, std::string("epsilon_plus_flat"))
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK_CAPTURE(BM_Lrp, epsilon_gamma_box, std::string("epsilon_gamma_box"))
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
