#include "lrpflow/selection/neurons.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace lrpflow::selection {

std::vector<std::string> default_selection_layers(const lrp::Model& model) {
  std::vector<std::string> names;
  for (int i = 0; i < model.size(); ++i)
    if (lrp::is_parametric(model.layer(i).kind) && i != model.output_layer()) names.push_back(model.layer(i).name);
  return names;
}

Status check_selection_layers(const lrp::Model& model, const std::vector<std::string>& layers) {
  for (const std::string& name : layers) {
    const int index = model.find(name);
    if (index < 0 || !lrp::is_parametric(model.layer(index).kind)) {
      std::string valid;
      for (const auto& n : model.parametric_layer_names()) valid += (valid.empty() ? "" : ", ") + n;
      return Status::error("layer '" + name + "' is not a Conv2d or Linear layer of the model (valid: " + valid + ")");
    }
  }
  return Status::ok();
}

std::int64_t neuron_count(const lrp::Model& model, const std::string& layer) {
  const int index = model.find(layer);
  if (index < 0 || !model.layer(index).weight.defined()) return 0;
  return model.layer(index).weight.size(0);
}

int feature_map_layer(const lrp::Model& model, int layer) {
  const auto& consumers = model.consumers()[static_cast<size_t>(layer)];
  if (consumers.size() == 1 && model.layer(consumers[0]).kind == lrp::LayerKind::ReLU) return consumers[0];
  return layer;
}

std::vector<double> sum_per_neuron(const at::Tensor& tensor, std::int64_t sample) {
  at::Tensor t = tensor[sample];
  if (t.dim() > 1) t = t.reshape({t.size(0), -1}).sum(1);
  t = t.to(at::kDouble).contiguous();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

Result<std::vector<double>> neuron_activations(const lrp::Model& model, const lrp::Activations& activations,
                                               const std::string& layer, std::int64_t sample) {
  const int index = model.find(layer);
  if (index < 0) return Status::error("layer '" + layer + "' is not in the model");
  const at::Tensor& map = activations.outputs[static_cast<size_t>(feature_map_layer(model, index))];
  if (sample < 0 || sample >= map.size(0)) return Status::error("sample " + std::to_string(sample) + " is not in the batch");
  return sum_per_neuron(map, sample);
}

Result<std::vector<double>> neuron_relevances(const lrp::Explanation& explanation, const std::string& layer,
                                              std::int64_t sample) {
  auto it = explanation.layer_output_relevance.find(layer);
  if (it == explanation.layer_output_relevance.end())
    return Status::error("no relevance kept at layer '" + layer + "' (add it to the lrp stage's keep_layers)");
  if (sample < 0 || sample >= it->second.size(0)) return Status::error("sample " + std::to_string(sample) + " is not in the batch");
  return sum_per_neuron(it->second, sample);
}

Result<at::Tensor> forward_keeping(const lrp::Model& model, const lrp::Activations& activations,
                                   const std::map<std::string, std::vector<std::int64_t>>& kept_neurons) {
  std::map<int, at::Tensor> masks;  // layer index -> 0/1 mask along dimension 1
  int lowest = model.size();
  for (const auto& [name, neurons] : kept_neurons) {
    const int index = model.find(name);
    if (index < 0) return Status::error("layer '" + name + "' is not in the model");
    const at::Tensor& out = activations.outputs[static_cast<size_t>(index)];
    at::Tensor mask = at::zeros({out.size(1)}, out.options());
    for (std::int64_t n : neurons) {
      if (n < 0 || n >= out.size(1)) return Status::error("neuron " + std::to_string(n) + " is not in layer '" + name + "'");
      mask[n] = 1;
    }
    std::vector<int64_t> shape(static_cast<size_t>(out.dim()), 1);
    shape[1] = out.size(1);
    masks[index] = mask.reshape(shape);
    lowest = std::min(lowest, index);
  }
  if (masks.empty()) return activations.logits;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> outputs(activations.outputs.begin(), activations.outputs.end());
  for (int i = lowest; i < model.size(); ++i) {
    if (i > lowest || masks.count(i) == 0) {
      std::vector<at::Tensor> inputs;
      for (int in : model.layer(i).inputs) inputs.push_back(in == lrp::kModelInput ? activations.input : outputs[in]);
      at::Tensor indices;
      outputs[i] = model.run_layer(i, inputs, model.layer(i).kind == lrp::LayerKind::MaxPool2d ? &indices : nullptr);
    }
    auto mask = masks.find(i);
    if (mask != masks.end()) outputs[i] = outputs[i] * mask->second;
  }
  return outputs.back();
}

Result<at::Tensor> forward_keeping_each(const lrp::Model& model, const lrp::Activations& activations, std::int64_t sample,
                                        const std::vector<std::map<std::string, std::vector<std::int64_t>>>& variants) {
  if (sample < 0 || sample >= activations.input.size(0)) return Status::error("sample " + std::to_string(sample) + " is not in the batch");
  at::NoGradGuard no_grad;
  const at::Tensor full = activations.logits.narrow(0, sample, 1);
  // Per variant and layer a 0/1 mask along dimension 1; a variant keeping everything is the full output.
  std::vector<std::map<int, at::Tensor>> masks(variants.size());
  // Variants that drop a neuron, by their lowest restricted layer: each group runs from there up only.
  std::map<int, std::vector<size_t>> by_lowest;
  // A variant keeping the same neurons as an earlier one (a sweep's large k past the threshold's
  // count) is that one's row, not computed twice.
  using Kept = std::vector<std::pair<int, std::vector<std::int64_t>>>;
  std::map<Kept, size_t> first_with;
  std::vector<std::pair<size_t, size_t>> copies;  // (variant, the earlier variant it equals)
  for (size_t v = 0; v < variants.size(); ++v) {
    bool drops = false;
    Kept kept;
    for (const auto& [name, neurons] : variants[v]) {
      const int index = model.find(name);
      if (index < 0) return Status::error("layer '" + name + "' is not in the model");
      const std::int64_t size = activations.outputs[static_cast<size_t>(index)].size(1);
      std::vector<std::int64_t> distinct(neurons);
      for (std::int64_t n : distinct)
        if (n < 0 || n >= size) return Status::error("neuron " + std::to_string(n) + " is not in layer '" + name + "'");
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      at::Tensor mask = at::zeros({size}, activations.outputs[static_cast<size_t>(index)].options());
      if (!distinct.empty()) mask.index_fill_(0, at::tensor(distinct, at::kLong), 1.0);
      drops = drops || static_cast<std::int64_t>(distinct.size()) < size;
      masks[v][index] = mask;
      kept.emplace_back(index, std::move(distinct));
    }
    std::sort(kept.begin(), kept.end());
    if (!drops) continue;
    auto [earlier, fresh] = first_with.emplace(std::move(kept), v);
    if (fresh) {
      by_lowest[masks[v].begin()->first].push_back(v);
    } else {
      copies.emplace_back(v, earlier->second);
    }
  }
  at::Tensor result = full.expand({static_cast<std::int64_t>(variants.size()), -1}).contiguous();
  const auto per_batch = static_cast<size_t>(activations.rows_per_batch());
  for (const auto& [lowest, restricted] : by_lowest) {
    for (size_t begin = 0; begin < restricted.size(); begin += per_batch) {
      const size_t end = std::min(restricted.size(), begin + per_batch);
      const auto rows = static_cast<std::int64_t>(end - begin);
      // Views: the layers below `lowest` are read, never written, and the masks make new tensors.
      const lrp::Activations batch = activations.repeat_sample(sample, rows, /*copy=*/false);
      // Row r's mask at each layer any variant of this batch restricts (ones where r keeps that layer whole).
      std::map<int, at::Tensor> layer_masks;
      for (size_t r = begin; r < end; ++r)
        for (const auto& [index, mask] : masks[restricted[r]]) {
          at::Tensor& m = layer_masks[index];
          if (!m.defined()) m = at::ones({rows, mask.size(0)}, mask.options());
          m[static_cast<std::int64_t>(r - begin)].copy_(mask);
        }
      std::vector<at::Tensor> outputs(batch.outputs.begin(), batch.outputs.end());
      for (int i = lowest; i < model.size(); ++i) {
        if (i > lowest) {
          std::vector<at::Tensor> inputs;
          for (int in : model.layer(i).inputs) inputs.push_back(in == lrp::kModelInput ? batch.input : outputs[in]);
          at::Tensor indices;
          outputs[i] = model.run_layer(i, inputs, model.layer(i).kind == lrp::LayerKind::MaxPool2d ? &indices : nullptr);
        }
        auto mask = layer_masks.find(i);
        if (mask != layer_masks.end()) {
          std::vector<int64_t> shape(static_cast<size_t>(outputs[i].dim()), 1);
          shape[0] = rows;
          shape[1] = mask->second.size(1);
          outputs[i] = outputs[i] * mask->second.reshape(shape);
        }
      }
      for (size_t r = begin; r < end; ++r) result[static_cast<std::int64_t>(restricted[r])].copy_(outputs.back()[static_cast<std::int64_t>(r - begin)]);
    }
  }
  for (const auto& [v, earlier] : copies) result[static_cast<std::int64_t>(v)].copy_(result[static_cast<std::int64_t>(earlier)]);
  return result;
}

}  // namespace lrpflow::selection
