// The `baselines` plugin: gradient, gradient_x_input, integrated_gradients, smoothgrad, gradcam.
#include "attribution_stages.h"
#include "lrpflow/plugin_api.h"

namespace lrpflow::eval {
namespace {

std::vector<OptionSpec> common_options() {
  return {
      OptionSpec{"model", OptionType::String, std::string("model"), "name of the model resource"}.names_resource("model"),
      {"input", OptionType::String, std::string("input"), "slot holding the input tensor [N, C, H, W]"},
      {"output", OptionType::String, std::string("relevance"), "slot for the attribution (shape of the input)"},
      {"target", OptionType::String, std::string("argmax"), "argmax | a class index | slot:NAME"},
  };
}

template <typename T>
StageTypeInfo attribution_type(const std::string& type, const std::string& description,
                               std::vector<OptionSpec> extra = {}) {
  std::vector<OptionSpec> options = common_options();
  options.insert(options.end(), extra.begin(), extra.end());
  auto info = make_stage_type<T>(type, description, std::move(options), [](const Options& o) {
    return SlotDeclaration{{{o.get_string("input"), SlotType::Tensor, "the model input"}},
                           {{o.get_string("output"), SlotType::Tensor, "attribution, shape of the input"},
                            {"target", SlotType::Tensor, "the explained class per sample (int64)"}}};
  });
  info.reentrant = true;
  return info;
}

const PluginDescriptor& describe() {
  static const PluginDescriptor descriptor{
      "baselines",
      "0.1.0",
      {
          attribution_type<GradientStage>("gradient", "plain gradient of the target logit w.r.t. the input"),
          attribution_type<GradientTimesInputStage>("gradient_x_input", "input times the gradient of the target logit"),
          attribution_type<IntegratedGradientsStage>(
              "integrated_gradients", "integrated gradients from the all-zero baseline (trapezoid rule)",
              {{"steps", OptionType::Int, std::int64_t{32}, "intervals of the trapezoid rule (steps + 1 gradients)"},
               {"batch", OptionType::Int, std::int64_t{32}, "path points per backward pass"}}),
          attribution_type<SmoothGradStage>(
              "smoothgrad", "mean gradient over noisy copies of the input",
              {{"samples", OptionType::Int, std::int64_t{32}, "noisy copies per input"},
               {"noise", OptionType::Float, 0.1, "noise std as a fraction of the input's range (max - min)"},
               OptionSpec{"seed", OptionType::Int, std::int64_t{0}, "random seed (the item index is added)"}.int_range(
                   std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()),
               {"batch", OptionType::Int, std::int64_t{32}, "noisy copies per backward pass"}}),
          attribution_type<GradCamStage>(
              "gradcam", "Grad-CAM at one conv layer, upsampled to the input size",
              {{"layer", OptionType::String, std::string(""),
                "layer whose output are the feature maps (default: the last Conv2d, or its ReLU if that is its only reader)"}}),
      },
      {},
      {}};
  return descriptor;
}

}  // namespace
}  // namespace lrpflow::eval

LRPFLOW_PLUGIN("baselines", "0.1.0", lrpflow::eval::describe)
