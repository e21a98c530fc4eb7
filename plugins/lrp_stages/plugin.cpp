// The `lrp_stages` plugin: forward and lrp stage types.
#include "lrp_stages.h"

#include "lrpflow/lrp/slots.h"
#include "lrpflow/plugin_api.h"

namespace lrpflow::stages {
namespace {

StageTypeInfo forward_type() {
  auto info = make_stage_type<ForwardStage>(
      "forward", "runs the model; keeps every layer's activations, logits, probabilities and the top 5",
      {
          OptionSpec{"model", OptionType::String, std::string("model"), "name of the model resource"}.names_resource("model"),
          {"input", OptionType::String, std::string("input"), "slot holding the input tensor [N, C, H, W]"},
          {"labels", OptionType::StringList, std::vector<std::string>{}, "class names, in class order"},
          {"labels_file", OptionType::String, std::string(""),
           "class names from a file: one per line, or a YAML file with a `classes:` list (relative to the pipeline)"},
          {"write_prediction", OptionType::Bool, true, "write <id>.prediction.json (predicted class and top 5)"},
      },
      [](const Options& o) {
        return SlotDeclaration{{{o.get_string("input"), SlotType::Tensor, "the model input"}},
                               {{"logits", SlotType::Tensor, "[N, classes]"},
                                {"probabilities", SlotType::Tensor, "softmax of the logits"},
                                {lrp::kActivationsSlot, lrp::activations_slot_type(), "every layer's output and the max-pool switches"}}};
      });
  info.reentrant = true;
  info.report_metrics = {{"predicted_class", "Predicted class", ReportMetric::Format::Integer},
                         {"confidence", "Confidence", ReportMetric::Format::Percent}};
  info.explain_roles = {"forward"};
  return info;
}

StageTypeInfo lrp_type() {
  auto info = make_stage_type<LrpStage>(
      "lrp", "layer-wise relevance propagation with a rule set, from the target logit to the input",
      {
          OptionSpec{"rules", OptionType::String, std::string("rules"), "name of the ruleset resource"}.names_resource("ruleset"),
          {"target", OptionType::String, std::string("argmax"), "argmax | a class index | topN | slot:NAME"},
          {"output", OptionType::String, std::string("relevance"), "slot for the input relevance"},
          {"keep_layers", OptionType::StringList, std::vector<std::string>{"*"},
           "layers whose relevance to keep for later stages (\"*\": all)"},
          {"diagnostics", OptionType::Bool, true, "per-layer conservation and near-zero denominators as metrics"},
      },
      [](const Options& o) {
        return SlotDeclaration{{{lrp::kActivationsSlot, lrp::activations_slot_type(), "from the forward stage"}},
                               {{o.get_string("output"), SlotType::Tensor, "relevance at the input, shape of the input"},
                                {"target", SlotType::Tensor, "the explained class per sample (int64)"},
                                {lrp::kExplanationSlot, lrp::explanation_slot_type(), "relevance at every kept layer"}}};
      });
  info.reentrant = true;
  info.report_metrics = {{"lrp/conservation", "LRP conservation (input relevance / output score)"}};
  info.explain_roles = {"relevance"};
  return info;
}

const PluginDescriptor& describe() {
  static const PluginDescriptor descriptor{"lrp_stages", "0.1.0", {forward_type(), lrp_type()}, {}, {}};
  return descriptor;
}

}  // namespace
}  // namespace lrpflow::stages

LRPFLOW_PLUGIN("lrp_stages", "0.1.0", lrpflow::stages::describe)
