// The LRP engine: forward pass, then relevance propagation from the logits to the input.
//
//   Engine engine(ruleset);                       // a RuleSet bound to its model (ruleset.h)
//   auto expl = engine.explain(batch, targets);   // forward + backward LRP
//   expl.value().input_relevance                  // [N, C, H, W]
//
// Start relevance: one_hot(target) * logits (a conservative method hands the target logit down).
// Layers are visited in reverse forward order; relevance reaching a tensor from several consumers
// (a residual block's input) is summed before that tensor's producer is visited. For every layer
// the engine can keep the relevance its rule hands to its input ("<layer>", the meaning of the
// zennit fixture keys: that module's share, before merging), and the relevance at its output.
//
// Conditional relevance: a RelevanceMask keeps only some neurons (channels of a Conv2d output,
// units of a Linear output; dimension 1) of the relevance at a layer's output before that layer's
// rule runs, e.g. to explain a selected concept.
//
// Thread safety: an Engine is immutable; explain() may be called from several threads at once
// (each call owns its tensors). Intra-op parallelism is ATen's (at::set_num_threads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/lrp/ruleset.h"
#include "lrpflow/status.h"

namespace lrpflow::lrp {

struct RelevanceMask {
  std::string layer;                  // layer name (module path)
  std::vector<std::int64_t> neurons;  // kept indices along dimension 1 of the layer's output
};

struct ExplainOptions {
  // Layers whose input relevance (what their rule hands down) to keep; "*" keeps every layer.
  std::vector<std::string> keep_input_relevance;
  // Layers whose output relevance (after merging all consumers, after masking) to keep; "*": all.
  std::vector<std::string> keep_output_relevance;
  std::vector<RelevanceMask> masks;
  // Conditional relevance without redoing the layers above: start at `resume_at`'s output with
  // `resume_relevance` (its shape) as the only relevance in the graph. Relevance that bypasses that
  // layer (a residual shortcut around it) is then zero, as "the relevance coming from these neurons
  // alone" requires.
  std::string resume_at;
  at::Tensor resume_relevance;
  // More starts like resume_at, each added to its layer's output relevance before that layer is
  // visited (same batch as the activations). With one start per batch row and the other rows zero
  // there, a batch of conditional passes from different layers runs as one (propagate_conditions).
  struct ResumePoint {
    std::string layer;
    at::Tensor relevance;
  };
  std::vector<ResumePoint> resume_points;
  // Stop once this layer's output relevance is known: neither its rule nor any layer below runs,
  // and input_relevance stays undefined. For reading one layer's conditional relevance cheaply.
  std::string stop_at;
  // Per-layer sums and near-zero counts (costs one reduction per layer).
  bool diagnostics = true;
};

struct LayerDiagnostics {
  std::string layer;
  std::string rule;
  std::vector<double> relevance_out;  // per sample: sum of the relevance at the layer's output
  std::vector<double> relevance_in;   // per sample: sum of what the rule handed to all inputs
  std::int64_t near_zero_denominators = 0;
};

struct Explanation {
  at::Tensor logits;            // [N, classes]
  at::Tensor start_relevance;   // [N, classes]
  at::Tensor input_relevance;   // shape of the input
  // Layer name -> relevance at the layer's input. Multi-input layers (Add, Cat) store one entry per
  // input as "<layer>:<k>".
  std::map<std::string, at::Tensor> layer_input_relevance;
  std::map<std::string, at::Tensor> layer_output_relevance;
  std::vector<LayerDiagnostics> diagnostics;  // backward order
};

// The relevance kept at `layer`'s output with every neuron but `neuron` set to zero: the start of a
// conditional pass (ExplainOptions::resume_at). An error when the layer's relevance was not kept.
Result<at::Tensor> single_neuron_relevance(const Explanation& explanation, const std::string& layer, std::int64_t neuron);

class Engine;

// One neuron of one layer whose relevance alone is propagated down (a condition).
struct NeuronCondition {
  std::string layer;
  std::int64_t neuron = 0;
};

// Conditional relevance of many neurons of sample `sample` in batched passes: row c of the result's
// input_relevance and kept layer relevances is what `propagate` resuming at conditions[c].layer with
// single_neuron_relevance(full, layer, neuron) computes for that sample. `options` may ask to keep
// layers and to stop early (stop_at below every condition's layer); its masks, resume fields and
// diagnostics are ignored. The batch is split so that one pass holds at most ~256 MB of activations.
Result<Explanation> propagate_conditions(const Engine& engine, const Activations& activations, const Explanation& full,
                                         std::int64_t sample, const std::vector<NeuronCondition>& conditions,
                                         ExplainOptions options = {});

class Engine {
 public:
  explicit Engine(std::shared_ptr<const RuleSet> rules);

  const Model& model() const { return rules_->model(); }
  const RuleSet& rules() const { return *rules_; }

  // one_hot(targets) * logits. Errors: target count != batch size, target out of range.
  static Result<at::Tensor> start_relevance(const at::Tensor& logits, const std::vector<std::int64_t>& targets);

  // Forward + LRP for one target per sample.
  Result<Explanation> explain(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                              const ExplainOptions& options = {}) const;
  // LRP from a given start relevance (shape of the logits) on a finished forward pass.
  Result<Explanation> propagate(const Activations& activations, const at::Tensor& start_relevance,
                                const ExplainOptions& options = {}) const;

 private:
  std::shared_ptr<const RuleSet> rules_;
};

// Plain gradient of sum(start * logits) with respect to the input (autograd through the imported
// graph): `gradient` with start = one_hot(target); also per layer the gradient at the layer's input
// (that layer's share only, like the fixture keys), for the layers named in `keep` ("*": all).
struct GradientResult {
  at::Tensor logits;
  at::Tensor input_gradient;
  std::map<std::string, at::Tensor> layer_input_gradient;
};
Result<GradientResult> gradient(const Model& model, const at::Tensor& input, const at::Tensor& start,
                                const std::vector<std::string>& keep = {});
// one_hot(targets) with the logits' shape.
Result<at::Tensor> one_hot_targets(const at::Tensor& logits, const std::vector<std::int64_t>& targets);

}  // namespace lrpflow::lrp
