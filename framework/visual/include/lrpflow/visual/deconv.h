// Deconvolutional reconstruction (Zeiler and Fergus, "Visualizing and Understanding Convolutional
// Networks") of one neuron's feature map in image space, and guided backpropagation.
//
// From the forward pass (which recorded the max-pool switches), keep only the chosen neuron at the
// chosen layer (its whole channel, or only its strongest position) and walk down to the input:
// unpool with the switches, rectify, and apply each convolution's transposed filters (no bias).
// Guided backpropagation differs only at ReLUs: it also zeroes positions where the forward input
// of the ReLU was not positive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "lrpflow/lrp/graph.h"
#include "lrpflow/status.h"

namespace lrpflow::visual {

struct DeconvOptions {
  bool guided = false;                  // guided backpropagation instead of the deconvnet
  bool strongest_position_only = false; // keep only the neuron's maximum activation, not its whole map
};

// The reconstruction of neuron `neuron` of layer `layer` for sample `sample` of the batch, shaped
// like one input sample (C x H x W). The layer must be a Conv2d or Linear layer of the model. Its
// feature map is the output of the ReLU right after it when there is one (what the network passes
// on), else the layer's own output.
Result<at::Tensor> deconvolve(const lrp::Model& model, const lrp::Activations& activations, int64_t sample,
                              const std::string& layer, int64_t neuron, const DeconvOptions& options);

// One neuron to reconstruct: neuron `neuron` of layer `layer`.
struct DeconvTarget {
  std::string layer;
  int64_t neuron = 0;
};
// The reconstructions of several neurons (of any chosen layers) of sample `sample` in one batched
// walk down, K x C x H x W with row k for targets[k]; each row equals deconvolve() of that target.
Result<at::Tensor> deconvolve_each(const lrp::Model& model, const lrp::Activations& activations, int64_t sample,
                                   const std::vector<DeconvTarget>& targets, const DeconvOptions& options);

// C x H x W reconstruction -> 8-bit image, zero at mid-grey and the largest magnitude at 0 or 255.
// Three channels are read as RGB and returned in OpenCV's BGR order. NaN/Inf: error.
Result<cv::Mat> reconstruction_to_image(const at::Tensor& reconstruction);

// Tiles equally sized images into a grid with `columns` columns (0: square-ish) and a gap of `gap` pixels.
Result<cv::Mat> make_grid(const std::vector<cv::Mat>& images, int columns, int gap);

}  // namespace lrpflow::visual
