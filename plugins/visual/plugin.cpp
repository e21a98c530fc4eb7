// The `visual` plugin: heatmaps and deconvolution images.
#include "visual_stages.h"

#include "lrpflow/image/image.h"
#include "lrpflow/lrp/slots.h"
#include "lrpflow/selection/selection.h"
#include "lrpflow/plugin_api.h"

namespace lrpflow::stages {
namespace {

StageTypeInfo heatmap_type() {
  auto info = make_stage_type<HeatmapStage>(
      "heatmap", "relevance heatmaps (PNG + raw .npy), activation and per-neuron conditional relevance heatmaps",
      {
          {"slot", OptionType::String, std::string("relevance"), "slot holding the relevance (C x H x W or N x C x H x W)"},
          {"cmap", OptionType::String, std::string("bwr"), "colour map", false, {"bwr", "coldnhot", "seismic", "hot", "gray"}},
          {"activation_cmap", OptionType::String, std::string("hot"), "colour map of activation heatmaps", false,
           {"bwr", "coldnhot", "seismic", "hot", "gray"}},
          {"reduction", OptionType::String, std::string("sum"), "how colour channels become one map", false, {"sum", "maxabs"}},
          {"symmetric", OptionType::Bool, true, "normalise to [-m, m] so that zero relevance is the colour map's centre"},
          {"clip_percentile", OptionType::Float, 100.0, "m is this percentile of |relevance| (100: the maximum)"},
          {"overlay_alpha", OptionType::Float, 0.5, "also draw the heatmap over the input image with this alpha (0: no overlay)"},
          {"write_npy", OptionType::Bool, true, "write the raw float map (the model input's resolution) as <id>.heatmap.npy"},
          {"write_model_input", OptionType::Bool, true,
           "write what the model saw (the image after resizing and cropping) as <id>.model_input.png, kind model_input"},
          {"activations", OptionType::Bool, false, "activation heatmaps of the selected neurons (needs a selector before)"},
          {"neurons", OptionType::Bool, false,
           "conditional relevance heatmaps of the selected neurons (needs a selector). COST: one LRP pass from the "
           "neuron's layer down to the input per drawn neuron (max_neurons per selected layer), run as one batch (split "
           "on large models); VGG16: about one whole LRP pass per neuron (docs/selection.md#what-the-per-neuron-options-cost)"},
          OptionSpec{"max_neurons", OptionType::Int, std::int64_t{4}, "per layer, at most this many neurons get heatmaps"}
              .int_range(1, kMaxCount),
          OptionSpec{"min_size", OptionType::Int, std::int64_t{0},
                     "maps not drawn over an image: upscale images whose shorter side is smaller (nearest neighbour) to at least this size; 0 (default): the model's resolution, which the report scales up itself"}.int_range(0, 65536),
          OptionSpec{"model", OptionType::String, std::string("model"), "model resource (activation / neuron heatmaps)"}.names_resource("model"),
          OptionSpec{"rules", OptionType::String, std::string("rules"), "ruleset resource (neuron heatmaps)"}.names_resource("ruleset"),
      },
      [](const Options& o) {
        SlotDeclaration slots{{{o.get_string("slot"), SlotType::Tensor, "relevance"},
                               {"image", image_slot_type(), "the original image, for size and overlay", true},
                               {kImageGeometrySlot, SlotType::Any, "where the model input lies in the image (image_loader)", true},
                               {kModelViewSlot, image_slot_type(), "the model's view of the input (image_loader)", true}},
                              {}};
        if (o.get_bool("activations") || o.get_bool("neurons")) {
          slots.reads.push_back({lrp::kActivationsSlot, lrp::activations_slot_type(), "from the forward stage"});
          slots.reads.push_back({"selection", selection_slot_type(), "from a selector"});
        }
        if (o.get_bool("neurons")) slots.reads.push_back({lrp::kExplanationSlot, lrp::explanation_slot_type(), "from the lrp stage"});
        return slots;
      });
  info.reentrant = true;
  info.report_sections = {{"Input and relevance", {"input_image", "model_input", "heatmap", "heatmap_overlay"}, false, 10},
                          {"Activation heatmaps", {"activation_heatmap"}, false, 20},
                          {"Neuron heatmaps", {"neuron_heatmap"}, false, 30}};
  info.report_thumbnail_kinds = {"heatmap"};
  info.explain_roles = {"heatmap"};
  return info;
}

StageTypeInfo deconv_type() {
  auto info = make_stage_type<DeconvStage>(
      "deconv", "Zeiler-Fergus deconvolution (or guided backprop) images of the top selected neurons, and a grid",
      {
          OptionSpec{"model", OptionType::String, std::string("model"), "name of the model resource"}.names_resource("model"),
          {"method", OptionType::String, std::string("deconvnet"), "deconvnet or guided (guided backpropagation)", false,
           {"deconvnet", "guided"}},
          {"keep", OptionType::String, std::string("channel"), "keep the neuron's whole feature map, or only its strongest position",
           false, {"channel", "strongest"}},
          OptionSpec{"top_k", OptionType::Int, std::int64_t{4}, "images for the first k selected neurons of each layer"}
              .int_range(1, kMaxCount),
          OptionSpec{"min_size", OptionType::Int, std::int64_t{0},
                     "upscale images whose shorter side is smaller (nearest neighbour) to at least this size; 0 (default): the model's resolution, which the report scales up itself"}.int_range(0, 65536),
          {"sample", OptionType::Int, std::int64_t{0}, "which sample of the item's batch"},
      },
      [](const Options&) {
        return SlotDeclaration{{{lrp::kActivationsSlot, lrp::activations_slot_type(), "from the forward stage"},
                                {"selection", selection_slot_type(), "from a selector"}},
                               {}};
      });
  info.reentrant = true;
  info.report_sections = {{"Deconvolution", {"deconv", "deconv_grid"}, false, 40}};
  return info;
}

const PluginDescriptor& describe() {
  static const PluginDescriptor descriptor{"visual", "0.1.0", {heatmap_type(), deconv_type()}, {}, {}};
  return descriptor;
}

}  // namespace
}  // namespace lrpflow::stages

LRPFLOW_PLUGIN("visual", "0.1.0", lrpflow::stages::describe)
