// Neurons of a layer as the selection stages see them: the channels of a Conv2d output or the
// units of a Linear output, each reduced to one number per sample by summing over space.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lrpflow/lrp/engine.h"
#include "lrpflow/lrp/graph.h"
#include "lrpflow/status.h"

namespace lrpflow::selection {

// The layers selection works on by default: every Conv2d and Linear layer except the output layer
// (whose "neurons" are the classes).
std::vector<std::string> default_selection_layers(const lrp::Model& model);

// Checks that every name is a Conv2d/Linear layer of the model; the error lists the valid names.
Status check_selection_layers(const lrp::Model& model, const std::vector<std::string>& layers);

// Number of neurons (output channels or units) of a Conv2d/Linear layer.
std::int64_t neuron_count(const lrp::Model& model, const std::string& layer);

// The index of the layer whose output is the layer's feature map: the ReLU right after it if it is
// the only consumer, else the layer itself.
int feature_map_layer(const lrp::Model& model, int layer);

// a_j: the feature map of neuron j summed over space, for one sample.
Result<std::vector<double>> neuron_activations(const lrp::Model& model, const lrp::Activations& activations,
                                               const std::string& layer, std::int64_t sample);
// r_j: the relevance at the layer's output summed over space, for one sample (needs the LRP stage
// to have kept the layer's output relevance).
Result<std::vector<double>> neuron_relevances(const lrp::Explanation& explanation, const std::string& layer,
                                              std::int64_t sample);
// Per-neuron sums of a [N, C, ...] tensor for one sample.
std::vector<double> sum_per_neuron(const at::Tensor& tensor, std::int64_t sample);

// Logits of the model when, in each listed layer, every neuron not in its list is set to zero
// (at the layer's output, so a following ReLU passes zero on). Layers below the lowest listed one
// are not run again: their outputs come from `activations`.
Result<at::Tensor> forward_keeping(const lrp::Model& model, const lrp::Activations& activations,
                                   const std::map<std::string, std::vector<std::int64_t>>& kept_neurons);
// forward_keeping of sample `sample` for many restrictions as one batched forward: row v of the
// [variants, classes] result is row `sample` of forward_keeping(variants[v]), within float rounding
// (the layers above run on a batch), and exactly the full logits for a variant that keeps every
// neuron of its layers.
Result<at::Tensor> forward_keeping_each(const lrp::Model& model, const lrp::Activations& activations, std::int64_t sample,
                                        const std::vector<std::map<std::string, std::vector<std::int64_t>>>& variants);

}  // namespace lrpflow::selection
