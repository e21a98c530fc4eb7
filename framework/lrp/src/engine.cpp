// LRP engine: reverse-order relevance propagation over the layer graph; plain gradients by autograd.
#include "lrpflow/lrp/engine.h"

#include "lrpflow/lrp/kernels.h"
#include "lrpflow/shape.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

namespace lrpflow::lrp {
namespace {

bool wanted(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end() ||
         std::find(names.begin(), names.end(), "*") != names.end();
}

std::vector<double> per_sample_sums(const at::Tensor& t) {
  at::Tensor sums = t.reshape({t.size(0), -1}).sum(1, /*keepdim=*/false, at::kDouble).contiguous();
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
}

bool all_finite(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
}


Status check_names(const Model& model, const std::vector<std::string>& names, const char* what) {
  for (const auto& name : names)
    if (name != "*" && model.find(name) < 0) {
      std::string known;
      for (const auto& l : model.layers()) known += (known.empty() ? "" : ", ") + l.name;
      return Status::error(std::string(what) + ": no layer named '" + name + "' (layers: " + known + ")");
    }
  return Status::ok();
}

}  // namespace

Engine::Engine(std::shared_ptr<const RuleSet> rules) : rules_(std::move(rules)) {}

Result<at::Tensor> one_hot_targets(const at::Tensor& logits, const std::vector<std::int64_t>& targets) {
  if (logits.dim() != 2) return Status::error("targets need 2-D logits [N, classes], got " + shape_string(logits.sizes()));
  if (static_cast<std::int64_t>(targets.size()) != logits.size(0))
    return Status::error("got " + std::to_string(targets.size()) + " targets for a batch of " + std::to_string(logits.size(0)));
  const std::int64_t classes = logits.size(1);
  for (size_t i = 0; i < targets.size(); ++i)
    if (targets[i] < 0 || targets[i] >= classes)
      return Status::error("target " + std::to_string(targets[i]) + " of sample " + std::to_string(i) +
                           " is out of range (the model has " + std::to_string(classes) + " outputs)");
  at::Tensor index = at::tensor(targets, at::kLong).unsqueeze(1);
  return at::zeros_like(logits).scatter_(1, index, 1.0);
}

Result<at::Tensor> Engine::start_relevance(const at::Tensor& logits, const std::vector<std::int64_t>& targets) {
  auto one_hot = one_hot_targets(logits, targets);
  if (!one_hot) return one_hot.status();
  return one_hot.value() * logits;
}

Result<Explanation> Engine::explain(const at::Tensor& input, const std::vector<std::int64_t>& targets,
                                    const ExplainOptions& options) const {
  c10::InferenceMode inference;
  auto acts = model().forward(input);
  if (!acts) return acts.status();
  auto start = start_relevance(acts.value().logits, targets);
  if (!start) return start.status();
  return propagate(acts.value(), start.value(), options);
}

Result<Explanation> Engine::propagate(const Activations& acts, const at::Tensor& start,
                                      const ExplainOptions& options) const {
  c10::InferenceMode inference;
  const Model& m = model();
  LRPFLOW_RETURN_IF_ERROR(check_names(m, options.keep_input_relevance, "keep_input_relevance"));
  LRPFLOW_RETURN_IF_ERROR(check_names(m, options.keep_output_relevance, "keep_output_relevance"));
  std::map<int, const RelevanceMask*> masks;
  for (const auto& mask : options.masks) {
    const int index = m.find(mask.layer);
    if (index < 0) return check_names(m, {mask.layer}, "relevance mask");
    masks[index] = &mask;
  }
  if (!start.defined() || start.sizes() != acts.logits.sizes())
    return Status::error("start relevance of shape " + (start.defined() ? shape_string(start.sizes()) : std::string("<none>")) +
                         " does not match the logits " + shape_string(acts.logits.sizes()));
  if (!at::isfinite(start).all().item<bool>()) return Status::error("the start relevance holds NaN or Inf values");

  Explanation result;
  result.logits = acts.logits;
  result.start_relevance = start;
  const int n = m.size();
  std::vector<at::Tensor> relevance(n);
  int first = n - 1;
  std::vector<ExplainOptions::ResumePoint> resumes = options.resume_points;
  if (!options.resume_at.empty()) resumes.insert(resumes.begin(), {options.resume_at, options.resume_relevance});
  if (!resumes.empty()) {
    first = -1;
    for (const auto& resume : resumes) {
      const int at_layer = m.find(resume.layer);
      if (at_layer < 0) return check_names(m, {resume.layer}, "resume_at");
      // The layer's output shape, or its first rows only (conditions that start lower join later).
      const at::Tensor& out = acts.outputs[at_layer];
      const at::Tensor& given = resume.relevance;
      if (!given.defined() || given.dim() != out.dim() || given.dim() == 0 || given.size(0) > out.size(0) ||
          given.sizes().slice(1) != out.sizes().slice(1))
        return Status::error("resume_at '" + resume.layer + "': the relevance must have the layer's output shape " +
                             shape_string(out.sizes()));
      at::Tensor& slot = relevance[at_layer];
      slot = add_leading_rows(slot, given);
      first = std::max(first, at_layer);
    }
  } else {
    relevance[n - 1] = start;
  }
  int last = 0;
  if (!options.stop_at.empty()) {
    last = m.find(options.stop_at);
    if (last < 0) return check_names(m, {options.stop_at}, "stop_at");
    if (last > first) return Status::error("stop_at '" + options.stop_at + "' lies above resume_at '" + m.layer(first).name + "'");
  }
  at::Tensor input_relevance;

  for (int i = first; i >= last; --i) {
    const Layer& layer = m.layer(i);
    const BoundLayerRule& bound = rules_->for_layer(i);
    // Resuming below the top, a layer no relevance reaches hands nothing down: skip it.
    if (!relevance[i].defined() && first != n - 1) continue;
    at::Tensor r = relevance[i].defined() ? relevance[i] : at::zeros_like(acts.outputs[i]);
    relevance[i] = at::Tensor();  // release as we go
    auto mask_it = masks.find(i);
    if (mask_it != masks.end()) {
      const auto& neurons = mask_it->second->neurons;
      if (r.dim() < 2) return Status::error("relevance mask on layer '" + layer.name + "': output has no neuron dimension");
      for (auto k : neurons)
        if (k < 0 || k >= r.size(1))
          return Status::error("relevance mask on layer '" + layer.name + "': neuron " + std::to_string(k) +
                               " is out of range (the layer has " + std::to_string(r.size(1)) + ")");
      at::Tensor keep = at::zeros({r.size(1)}, r.options());
      if (!neurons.empty()) keep.index_fill_(0, at::tensor(neurons, at::kLong), 1.0);
      std::vector<int64_t> view(r.dim(), 1);
      view[1] = r.size(1);
      r = r * keep.view(view);
    }
    if (wanted(options.keep_output_relevance, layer.name)) result.layer_output_relevance[layer.name] = r;
    if (!options.stop_at.empty() && i == last) break;

    // Conditional passes may carry fewer rows than the forward pass (kernels.h: leading_rows).
    const std::int64_t rows = r.dim() > 0 ? r.size(0) : 1;
    std::vector<at::Tensor> inputs = acts.inputs_of(m, i);
    for (at::Tensor& input : inputs) input = leading_rows(input, rows);
    const at::Tensor output = leading_rows(acts.outputs[i], rows);
    const at::Tensor indices = layer.kind == LayerKind::MaxPool2d ? leading_rows(acts.pool_indices[i], rows) : at::Tensor();
    RuleContext ctx{layer, inputs, output, r, layer.kind == LayerKind::MaxPool2d ? &indices : nullptr};
    RuleDiagnostics diag;
    const std::string where = "layer '" + layer.name + "' (" + layer_kind_name(layer.kind) + ", rule " + bound.rule + ")";
    auto applied = bound.prepared->apply(ctx, diag);
    if (!applied) return Status::error(where + ": " + applied.status().message());
    const auto& handed = applied.value();
    if (handed.size() != inputs.size())
      return Status::error(where + ": the rule returned " + std::to_string(handed.size()) + " tensors for " +
                           std::to_string(inputs.size()) + " inputs");
    for (size_t k = 0; k < handed.size(); ++k) {
      if (!handed[k].defined() || handed[k].sizes() != inputs[k].sizes())
        return Status::error(where + ": the rule returned relevance of shape " +
                             (handed[k].defined() ? shape_string(handed[k].sizes()) : std::string("<none>")) +
                             " for an input of shape " + shape_string(inputs[k].sizes()));
    }
    // NaN/Inf guard. With diagnostics the per-sample sums (computed anyway) carry any NaN/Inf
    // (finite relevance large enough to overflow a double sum is not a concern in practice), which
    // saves two passes over every tensor; without, check the tensors.
    if (options.diagnostics) {
      LayerDiagnostics d;
      d.layer = layer.name;
      d.rule = bound.rule;
      d.relevance_out = per_sample_sums(r);
      d.relevance_in.assign(static_cast<size_t>(r.size(0)), 0.0);
      for (const auto& h : handed) {
        // Pass-through rules hand down (a view of) the same tensor: reuse its sums.
        const bool same = h.data_ptr() == r.data_ptr() && h.numel() == r.numel() && h.is_contiguous() && r.is_contiguous();
        auto sums = same ? d.relevance_out : per_sample_sums(h);
        if (!all_finite(sums)) return Status::error(where + ": relevance became NaN or Inf");
        for (size_t s = 0; s < sums.size(); ++s) d.relevance_in[s] += sums[s];
      }
      d.near_zero_denominators = diag.near_zero_denominators;
      result.diagnostics.push_back(std::move(d));
    } else {
      for (const auto& h : handed)
        if (!at::isfinite(h).all().item<bool>()) return Status::error(where + ": relevance became NaN or Inf");
    }
    if (wanted(options.keep_input_relevance, layer.name)) {
      if (handed.size() == 1) {
        result.layer_input_relevance[layer.name] = handed[0];
      } else {
        for (size_t k = 0; k < handed.size(); ++k)
          result.layer_input_relevance[layer.name + ":" + std::to_string(k)] = handed[k];
      }
    }
    for (size_t k = 0; k < handed.size(); ++k) {
      const int src = layer.inputs[k];
      at::Tensor& slot = src == kModelInput ? input_relevance : relevance[src];
      slot = add_leading_rows(slot, handed[k]);
    }
  }
  const std::int64_t batch = acts.input.size(0);
  if (options.stop_at.empty())
    result.input_relevance = input_relevance.defined() ? pad_rows(input_relevance, batch) : at::zeros_like(acts.input);
  for (auto* kept : {&result.layer_input_relevance, &result.layer_output_relevance})
    for (auto& entry : *kept) entry.second = pad_rows(entry.second, batch);
  return result;
}

Result<at::Tensor> single_neuron_relevance(const Explanation& explanation, const std::string& layer, std::int64_t neuron) {
  auto kept = explanation.layer_output_relevance.find(layer);
  if (kept == explanation.layer_output_relevance.end())
    return Status::error("no relevance kept at layer '" + layer + "' (add it to the lrp stage's keep_layers)");
  if (kept->second.dim() < 2 || neuron < 0 || neuron >= kept->second.size(1))
    return Status::error("neuron " + std::to_string(neuron) + " is not in layer '" + layer + "'");
  at::Tensor only = at::zeros_like(kept->second);
  only.select(1, neuron).copy_(kept->second.select(1, neuron));
  return only;
}

Result<Explanation> propagate_conditions(const Engine& engine, const Activations& activations, const Explanation& full,
                                         std::int64_t sample, const std::vector<NeuronCondition>& conditions,
                                         ExplainOptions options) {
  c10::InferenceMode inference;
  const Model& m = engine.model();
  if (!activations.input.defined() || sample < 0 || sample >= activations.input.size(0))
    return Status::error("sample " + std::to_string(sample) + " is outside the batch");
  if (conditions.empty()) return Status::error("no neuron to propagate the relevance of");
  const int stop = options.stop_at.empty() ? -1 : m.find(options.stop_at);
  for (const auto& condition : conditions) {
    const int at_layer = m.find(condition.layer);
    if (at_layer < 0) return check_names(m, {condition.layer}, "conditional relevance");
    if (at_layer <= stop)
      return Status::error("stop_at '" + options.stop_at + "' does not lie below layer '" + condition.layer + "'");
  }
  options.masks.clear();
  options.resume_at.clear();
  options.resume_relevance = at::Tensor();
  options.diagnostics = false;

  const std::int64_t per_pass = activations.rows_per_batch();
  // Rows in order of their layer, highest first: the conditions under way at any layer are then a
  // prefix of the batch, and a row joins the pass at its own layer (kernels.h: leading_rows).
  std::vector<size_t> order(conditions.size());
  for (size_t c = 0; c < order.size(); ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return m.find(conditions[a].layer) > m.find(conditions[b].layer); });

  std::vector<Explanation> parts;
  for (size_t begin = 0; begin < conditions.size(); begin += static_cast<size_t>(per_pass)) {
    const size_t end = std::min(conditions.size(), begin + static_cast<size_t>(per_pass));
    const auto rows = static_cast<std::int64_t>(end - begin);
    // Every row sees the same forward pass: sample `sample`'s, as views (stride 0 along the batch),
    // so that the rules' forward parts run once for all rows (kernels.h, affine_forward).
    const Activations batch = activations.repeat_sample(sample, rows, /*copy=*/false);
    // One start per layer, covering the rows up to its last condition (the rows before it started
    // higher up and are zero there).
    std::map<std::string, std::int64_t> last_row;
    for (size_t c = begin; c < end; ++c) last_row[conditions[order[c]].layer] = static_cast<std::int64_t>(c - begin);
    std::map<std::string, at::Tensor> starts;
    for (size_t c = begin; c < end; ++c) {
      const NeuronCondition& condition = conditions[order[c]];
      auto only = single_neuron_relevance(full, condition.layer, condition.neuron);
      if (!only) return only.status();
      at::Tensor& start = starts[condition.layer];
      if (!start.defined())
        start = at::zeros_like(leading_rows(batch.outputs[static_cast<size_t>(m.find(condition.layer))],
                                            last_row[condition.layer] + 1));
      start[static_cast<std::int64_t>(c - begin)].copy_(only.value()[sample]);
    }
    ExplainOptions pass = options;
    for (auto& [layer, start] : starts) pass.resume_points.push_back({layer, start});
    auto part = engine.propagate(batch, full.start_relevance.narrow(0, sample, 1).expand({rows, -1}).contiguous(), pass);
    if (!part) return part.status();
    parts.push_back(std::move(part.value()));
  }
  // Back to the order of `conditions`.
  std::vector<std::int64_t> position(conditions.size());
  for (size_t c = 0; c < order.size(); ++c) position[order[c]] = static_cast<std::int64_t>(c);
  const at::Tensor unsort = at::tensor(position, at::TensorOptions().dtype(at::kLong));
  auto in_condition_order = [&](Explanation e) {
    for (at::Tensor* t : {&e.logits, &e.start_relevance, &e.input_relevance})
      if (t->defined()) *t = t->index_select(0, unsort);
    for (auto* kept : {&e.layer_input_relevance, &e.layer_output_relevance})
      for (auto& entry : *kept) entry.second = entry.second.index_select(0, unsort);
    return e;
  };
  if (parts.size() == 1) return in_condition_order(std::move(parts[0]));
  auto cat = [](std::vector<at::Tensor> pieces) { return pieces[0].defined() ? at::cat(pieces, 0) : at::Tensor(); };
  Explanation joined;
  std::vector<at::Tensor> logits, starts, inputs;
  for (const auto& part : parts) {
    logits.push_back(part.logits);
    starts.push_back(part.start_relevance);
    inputs.push_back(part.input_relevance);
  }
  joined.logits = cat(logits);
  joined.start_relevance = cat(starts);
  joined.input_relevance = cat(inputs);
  for (auto kept : {&Explanation::layer_input_relevance, &Explanation::layer_output_relevance})
    for (const auto& entry : parts[0].*kept) {
      std::vector<at::Tensor> pieces;
      for (const auto& part : parts) pieces.push_back((part.*kept).at(entry.first));
      (joined.*kept)[entry.first] = cat(pieces);
    }
  return in_condition_order(std::move(joined));
}

Result<GradientResult> gradient(const Model& model, const at::Tensor& input, const at::Tensor& start,
                                const std::vector<std::string>& keep) {
  LRPFLOW_RETURN_IF_ERROR(check_names(model, keep, "gradient"));
  if (!input.defined()) return Status::error("gradient: the input tensor is undefined");
  if (!at::isfinite(input).all().item<bool>()) return Status::error("gradient: the input holds NaN or Inf values");
  c10::InferenceMode no_inference(false);  // a caller inside InferenceMode would block autograd
  at::AutoGradMode grad_mode(true);
  at::Tensor x = input.detach().to(at::kFloat).clone().requires_grad_(true);
  const int n = model.size();
  std::vector<at::Tensor> outputs(n);
  // Each kept layer reads its inputs through a private view, so that the gradient at that view is
  // the layer's own share (the fixture's forward pre-hook does the same).
  std::vector<at::Tensor> differentiate{x};
  std::vector<std::string> names{""};
  try {
    for (int i = 0; i < n; ++i) {
      const Layer& layer = model.layer(i);
      std::vector<at::Tensor> ins;
      for (size_t k = 0; k < layer.inputs.size(); ++k) {
        const int src = layer.inputs[k];
        at::Tensor t = src == kModelInput ? x : outputs[src];
        if (wanted(keep, layer.name)) {
          t = t.view_as(t);
          differentiate.push_back(t);
          names.push_back(layer.inputs.size() == 1 ? layer.name : layer.name + ":" + std::to_string(k));
        }
        ins.push_back(t);
      }
      at::Tensor ignored;
      outputs[i] = model.run_layer(i, ins, &ignored);
    }
  } catch (const std::exception& e) {
    return Status::error(std::string("gradient: forward failed: ") + exception_message(e));
  }
  const at::Tensor& logits = outputs.back();
  if (start.sizes() != logits.sizes())
    return Status::error("gradient: start of shape " + shape_string(start.sizes()) + " does not match the logits " +
                         shape_string(logits.sizes()));
  auto grads = torch::autograd::grad({logits}, differentiate, {start.to(logits.dtype())}, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  GradientResult result;
  result.logits = logits.detach();
  result.input_gradient = grads[0].defined() ? grads[0] : at::zeros_like(input);
  for (size_t k = 1; k < grads.size(); ++k)
    result.layer_input_gradient[names[k]] = grads[k].defined() ? grads[k] : at::zeros_like(differentiate[k]).detach();
  return result;
}

}  // namespace lrpflow::lrp
