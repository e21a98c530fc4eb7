// The `faithfulness` plugin: the pixel_flipping (region perturbation, AOPC) stage.
#include "lrpflow/plugin_api.h"
#include "pixel_flipping.h"

namespace lrpflow::eval {
namespace {

StageTypeInfo pixel_flipping_type() {
  auto info = make_stage_type<PixelFlippingStage>(
      "pixel_flipping", "region perturbation: model score as the most/least relevant regions are removed; AOPC",
      {
          OptionSpec{"model", OptionType::String, std::string("model"), "name of the model resource"}.names_resource("model"),
          {"input", OptionType::String, std::string("input"), "slot holding the input tensor [N, C, H, W]"},
          {"relevance", OptionType::String, std::string("relevance"), "slot holding the attribution (shape of the input)"},
          {"target", OptionType::String, std::string("argmax"), "class whose score is tracked: argmax | INDEX | slot:NAME"},
          {"patch", OptionType::Int, std::int64_t{2}, "region side in pixels (1: single pixels)"},
          OptionSpec{"patches_per_step", OptionType::Int, std::int64_t{1}, "regions perturbed per step"}.int_range(1, kMaxCount),
          OptionSpec{"steps", OptionType::Int, std::int64_t{16}, "perturbation steps K"}.int_range(1, kMaxCount),
          {"fill", OptionType::String, std::string("zero"), "zero | mean (per-channel image mean) | blur (Gaussian-blurred input)",
           false, {"zero", "mean", "blur"}},
          {"sigma", OptionType::Float, 2.0, "Gaussian std in pixels for fill: blur"},
          {"score", OptionType::String, std::string("probability"), "probability (softmax) | logit", false,
           {"probability", "logit"}},
          {"orderings", OptionType::StringList, std::vector<std::string>{"morf", "lerf", "random"},
           "rankings to measure: morf, lerf, random"},
          OptionSpec{"seed", OptionType::Int, std::int64_t{0}, "seed of the random ranking (combined with the item index)"}
              .int_range(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()),
          {"plot", OptionType::Bool, true, "write the per-item and mean curve PNGs"},
      },
      [](const Options& o) {
        return SlotDeclaration{{{o.get_string("input"), SlotType::Tensor, "the model input"},
                                {o.get_string("relevance"), SlotType::Tensor, "the attribution to evaluate"}},
                               {}};
      });
  info.reentrant = true;
  info.report_metrics = {{"aopc/morf", "AOPC, most relevant first"},
                         {"aopc/lerf", "AOPC, least relevant first"},
                         {"aopc/random", "AOPC, random order"}};
  return info;
}

const PluginDescriptor& describe() {
  static const PluginDescriptor descriptor{"faithfulness", "0.1.0", {pixel_flipping_type()}, {}, {}};
  return descriptor;
}

}  // namespace
}  // namespace lrpflow::eval

LRPFLOW_PLUGIN("faithfulness", "0.1.0", lrpflow::eval::describe)
