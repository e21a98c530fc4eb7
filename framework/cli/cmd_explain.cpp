// `lrpflow explain MODEL INPUT... --rules NAME|FILE [--param RULE.KEY=VALUE]... [--target T] --out DIR`
//
// The one-command path for scripts: it writes a small pipeline (loader -> forward -> lrp ->
// relevance .npy + heatmap PNG) and runs it like `lrpflow run`, so every guarantee of a pipeline
// run holds (atomic outputs, manifest, per-item errors, Ctrl-C). For each input file it writes
// DIR/<stem>.relevance.npy (the input tensor's shape) and DIR/<stem>.heatmap.png, and for images
// DIR/<stem>.model_input.png (what the model saw after resizing and cropping). Images and .npy
// tensors may be mixed; each input is its own item. Settings the command line leaves open come
// from the model's sidecar (preprocessing, class names, ZBox bounds); where each came from is
// printed before the run.
#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "commands.h"
#include "lrpflow/files.h"
#include "lrpflow/log.h"
#include "lrpflow/lrp/ruleset.h"
#include "lrpflow/model_sidecar.h"
#include "lrpflow/pipeline.h"
#include "lrpflow/yaml_load.h"

namespace lrpflow::cli {
namespace fs = std::filesystem;

namespace {

// The stage type that plays `role` in explain's pipeline (StageTypeInfo::explain_roles): the
// first in type order when several plugins offer one, or an error naming the role.
Result<std::string> stage_type_for_role(const PluginRegistry& registry, const std::string& role) {
  std::vector<std::string> offered;
  for (const StageTypeInfo* stage : registry.stages())
    if (std::find(stage->explain_roles.begin(), stage->explain_roles.end(), role) != stage->explain_roles.end())
      offered.push_back(stage->type);
  if (offered.empty())
    return Status::error("explain: no loaded stage type plays the role '" + role +
                         "' (the shipped plugins provide it; check --plugin-path and `lrpflow plugins`)");
  if (offered.size() > 1)
    log_info("explain: role '" + role + "' is offered by " + fmt::format("{}", fmt::join(offered, ", ")) + "; using " +
             offered.front());
  return offered.front();
}

struct ExplainArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string rules;
  std::vector<std::string> params;
  std::string target = "argmax";
  std::string out;
  std::vector<int64_t> input_shape;
  int size = -1;
  int crop = -1;
  std::vector<double> mean;
  std::vector<double> std;
  std::string color;
  std::string cmap = "bwr";
  int threads = 0;
  bool resume = false;
  ScaleFlags scale;
};

bool has_extension(const std::string& path, std::initializer_list<const char*> extensions) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* e : extensions)
    if (ext == e) return true;
  return false;
}

// Where each setting of the generated pipeline came from, printed before the run so that a
// surprising result can be traced to a flag, the sidecar or a default.
struct Provenance {
  std::vector<std::string> lines;
  void note(const std::string& what, const std::string& origin) { lines.push_back(what + ": " + origin); }
};

// Preprocessing, class names and ZBox bounds from the model's sidecar (<model>.yaml next to a .pt
// file, model_sidecar.h), so that `explain` on a shipped model needs no flags. Flags given on the
// command line win.
void apply_sidecar(const fs::path& model, ExplainArgs& args, std::string& labels_file, Provenance& provenance) {
  const std::string given = "given on the command line";
  const bool had_zbox = std::any_of(args.params.begin(), args.params.end(),
                                    [](const std::string& p) { return p.rfind("zbox.", 0) == 0; });
  const ModelSidecar sidecar = read_model_sidecar(model);
  for (const std::string& problem : sidecar.problems) log_warn(problem);
  const std::string from = sidecar.file.empty() ? "not set (no sidecar)"
                           : sidecar.readable   ? "sidecar " + sidecar.file.string()
                                                : "not set (sidecar unreadable)";
  auto unreadable = [&](const char* key) {
    const std::string prefix = sidecar.file.string() + ": `" + key + "` ignored";
    return std::any_of(sidecar.problems.begin(), sidecar.problems.end(),
                       [&](const std::string& p) { return p.rfind(prefix, 0) == 0; });
  };
  auto take_list = [&](const char* key, auto& target, const auto& found) {
    if (!target.empty()) {
      provenance.note(key, given + " " + fmt::format("[{}]", fmt::join(target, ", ")));
    } else if (found) {
      target = *found;
      provenance.note(key, from + (target.empty() ? "" : " " + fmt::format("[{}]", fmt::join(target, ", "))));
    } else {
      provenance.note(key, unreadable(key) ? "not set (sidecar value unreadable)" : "not set");
    }
  };
  auto take_int = [&](const char* key, const char* what, int& target, const std::optional<int>& found) {
    if (target >= 0) {
      provenance.note(what, given + " " + std::to_string(target));
    } else if (found) {
      target = *found;
      provenance.note(what, from + (target >= 0 ? " " + std::to_string(target) : ""));
    } else {
      provenance.note(what, unreadable(key) ? "not set (sidecar value unreadable)" : "not set");
    }
  };
  take_list("input_shape", args.input_shape, sidecar.input_shape);
  take_int("resize", "size (resize)", args.size, sidecar.resize);
  take_int("center_crop", "crop", args.crop, sidecar.center_crop);
  take_list("mean", args.mean, sidecar.mean);
  take_list("std", args.std, sidecar.std);
  if (sidecar.class_count > 0) {
    labels_file = fs::absolute(sidecar.file).string();
    provenance.note("class names", from + " (" + std::to_string(sidecar.class_count) + " classes)");
  } else {
    provenance.note("class names", "none (class indices only)");
  }

  // ZBox bounds: only when the rule set uses zbox. A rule set that cannot be found is reported
  // by the run itself, with the valid names.
  auto spec = lrp::find_ruleset(args.rules);
  if (!spec) return;
  const bool uses_zbox = std::any_of(spec.value().rules.begin(), spec.value().rules.end(),
                                     [](const lrp::RuleAssignment& a) { return a.rule == "zbox"; });
  if (!uses_zbox) return;
  if (had_zbox) {
    provenance.note("zbox bounds", "--param");
    return;
  }
  if (sidecar.zbox_low && sidecar.zbox_high) {
    const std::string low = *sidecar.zbox_low, high = *sidecar.zbox_high;
    args.params.push_back("zbox.low=" + low);
    args.params.push_back("zbox.high=" + high);
    provenance.note("zbox bounds", from + " (low " + low + ", high " + high + ")");
    return;
  }
  std::string defaults;
  for (const lrp::RuleAssignment& a : spec.value().rules)
    if (a.rule == "zbox" && a.params.count("low") && a.params.count("high"))
      defaults = " (low " + a.params.at("low") + ", high " + a.params.at("high") + ")";
  provenance.note("zbox bounds", "rule set " + spec.value().source + defaults +
                                     "; the model has no sidecar with `zbox:` bounds, pass --param zbox.low=... zbox.high=...");
}
}  // namespace

void add_explain_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("explain", "Explain inputs with one command: relevance .npy and heatmap PNG per input");
  auto args = std::make_shared<ExplainArgs>();
  cmd->add_option("MODEL", args->model, "TorchScript .pt or YAML model")->required();
  cmd->add_option("INPUT", args->inputs, "Image files (PNG, JPEG, BMP) or .npy tensors (already preprocessed)")->required();
  cmd->add_option("--rules", args->rules, "Rule set name (`lrpflow rulesets` lists them) or file")->required();
  cmd->add_option("--param", args->params, "Rule parameter RULE.KEY=VALUE, e.g. epsilon.epsilon=0.25 (repeatable)");
  cmd->add_option("--target", args->target, "argmax, a class index, topN, or slot:NAME")->capture_default_str();
  cmd->add_option("--out", args->out, "Output directory")->required()->check(kNotEmpty);
  cmd->add_option("--input-shape", args->input_shape, "Per-sample input shape C,H,W")->delimiter(',');
  cmd->add_option("--size", args->size, "Images: resize the shorter side to N pixels");
  cmd->add_option("--crop", args->crop, "Images: centre crop N x N");
  cmd->add_option("--mean", args->mean, "Images: per-channel mean after scaling to [0,1]")->delimiter(',');
  cmd->add_option("--std", args->std, "Images: per-channel std")->delimiter(',');
  cmd->add_option("--color", args->color, "Images: rgb or gray (default: from the input shape's channels)");
  cmd->add_option("--cmap", args->cmap, "Heatmap colour map")->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads");
  cmd->add_flag("--resume", args->resume, "Skip inputs already explained in DIR");
  add_scale_options(*cmd, args->scale);
  cmd->callback([&globals, args] {
    std::string labels_file;
    Provenance provenance;
    apply_sidecar(args->model, *args, labels_file, provenance);
    if (!args->color.empty()) provenance.note("color", "given on the command line " + args->color);
    else if (!args->input_shape.empty())
      provenance.note("color", std::string("from input_shape's channels: ") + (args->input_shape[0] == 1 ? "gray" : "rgb"));
    else provenance.note("color", "not set (rgb)");
    for (const std::string& line : provenance.lines) log_info("explain: " + line);
    // Routed by type: .npy files are tensors as they are, everything else an image to preprocess;
    // each input is its own item, so a broken one fails alone.
    const bool all_npy = std::all_of(args->inputs.begin(), args->inputs.end(), [](const std::string& p) { return has_extension(p, {".npy"}); });
    const bool any_npy = std::any_of(args->inputs.begin(), args->inputs.end(), [](const std::string& p) { return has_extension(p, {".npy"}); });
    const fs::path out = args->out;
    std::error_code ec;
    if (fs::exists(out, ec) && !fs::is_directory(out, ec)) {
      log_error("explain: --out " + out.string() + " is a file, not a directory");
      globals.exit_code = kExitInvalid;
      return;
    }
    // The inputs as a list file (absolute paths), kept in DIR as the record of what was explained.
    std::string list;
    for (const std::string& input : args->inputs) list += fs::absolute(input).string() + "\n";
    const fs::path list_file = fs::absolute(out / "explain-inputs.txt");
    if (Status s = write_file_atomic(list_file, list); !s) {
      log_error("explain: " + s.message());
      globals.exit_code = kExitInvalid;
      return;
    }

    // The stages by role, not by name: any plugin's stage type that declares the role can serve.
    PluginRegistry& registry = globals.registry();
    std::map<std::string, std::string> stage_type;
    for (const char* role : {all_npy ? "load_npy" : "load_images", "forward", "relevance", "write_tensor", "heatmap"}) {
      auto type = stage_type_for_role(registry, role);
      if (!type) {
        log_error(type.status().message());
        globals.exit_code = kExitInvalid;
        return;
      }
      stage_type[role] = type.value();
    }

    YAML::Emitter y;
    y << YAML::BeginMap << YAML::Key << "version" << YAML::Value << 1;
    y << YAML::Key << "resources" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "model" << YAML::Value << YAML::BeginMap << YAML::Key << "type" << YAML::Value << "model";
    y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "path" << YAML::Value
      << fs::absolute(args->model).string();
    if (!args->input_shape.empty()) y << YAML::Key << "input_shape" << YAML::Value << YAML::Flow << args->input_shape;
    y << YAML::EndMap << YAML::EndMap;
    const bool rules_is_file = args->rules.find('/') != std::string::npos || has_extension(args->rules, {".yaml", ".yml"});
    y << YAML::Key << "rules" << YAML::Value << YAML::BeginMap << YAML::Key << "type" << YAML::Value << "ruleset";
    y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "model" << YAML::Value << "model";
    y << YAML::Key << (rules_is_file ? "file" : "name") << YAML::Value
      << (rules_is_file ? fs::absolute(args->rules).string() : args->rules);
    if (!args->params.empty()) y << YAML::Key << "params" << YAML::Value << YAML::Flow << args->params;
    y << YAML::EndMap << YAML::EndMap << YAML::EndMap;

    y << YAML::Key << "stages" << YAML::Value << YAML::BeginSeq;
    y << YAML::BeginMap << YAML::Key << "id" << YAML::Value << "load" << YAML::Key << "type" << YAML::Value
      << stage_type[all_npy ? "load_npy" : "load_images"];
    y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "path" << YAML::Value << list_file.string();
    if (!all_npy) {
      if (any_npy) y << YAML::Key << "npy" << YAML::Value << true;
      if (args->size > 0) y << YAML::Key << "size" << YAML::Value << args->size;
      if (args->crop > 0) y << YAML::Key << "crop" << YAML::Value << args->crop;
      if (!args->mean.empty()) y << YAML::Key << "mean" << YAML::Value << YAML::Flow << format_yaml_floats(args->mean);
      if (!args->std.empty()) y << YAML::Key << "std" << YAML::Value << YAML::Flow << format_yaml_floats(args->std);
      std::string color = args->color;
      if (color.empty() && !args->input_shape.empty()) color = args->input_shape[0] == 1 ? "gray" : "rgb";
      if (!color.empty()) y << YAML::Key << "color" << YAML::Value << color;
    }
    y << YAML::EndMap << YAML::EndMap;
    y << YAML::BeginMap << YAML::Key << "id" << YAML::Value << "forward" << YAML::Key << "type" << YAML::Value << stage_type["forward"];
    if (!labels_file.empty())
      y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "labels_file" << YAML::Value << labels_file
        << YAML::EndMap;
    y << YAML::EndMap;
    y << YAML::BeginMap << YAML::Key << "id" << YAML::Value << "lrp" << YAML::Key << "type" << YAML::Value << stage_type["relevance"];
    y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "target" << YAML::Value << args->target
      << YAML::Key << "keep_layers" << YAML::Value << YAML::Flow << std::vector<std::string>{} << YAML::EndMap << YAML::EndMap;
    y << YAML::BeginMap << YAML::Key << "id" << YAML::Value << "relevance" << YAML::Key << "type" << YAML::Value << stage_type["write_tensor"];
    y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "slot" << YAML::Value << "relevance"
      << YAML::Key << "suffix" << YAML::Value << ".relevance.npy" << YAML::Key << "kind" << YAML::Value << "relevance"
      << YAML::Key << "shape_like" << YAML::Value << "input_shape" << YAML::EndMap << YAML::EndMap;
    y << YAML::BeginMap << YAML::Key << "id" << YAML::Value << "heatmap" << YAML::Key << "type" << YAML::Value << stage_type["heatmap"];
    y << YAML::Key << "options" << YAML::Value << YAML::BeginMap << YAML::Key << "cmap" << YAML::Value << args->cmap
      << YAML::Key << "overlay_alpha" << YAML::Value << 0.0 << YAML::Key << "write_npy" << YAML::Value << false
      << YAML::EndMap << YAML::EndMap;
    y << YAML::EndSeq;
    y << YAML::Key << "runtime" << YAML::Value << YAML::BeginMap;
    if (args->threads > 0) y << YAML::Key << "threads" << YAML::Value << args->threads;
    y << YAML::EndMap;
    y << YAML::Key << "output" << YAML::Value << YAML::BeginMap << YAML::Key << "dir" << YAML::Value
      << fs::absolute(out).string() << YAML::Key << "report" << YAML::Value << false
      // DIR/<stem>.relevance.npy beside DIR/<stem>.heatmap.png, as documented for scripts.
      << YAML::Key << "layout" << YAML::Value << "flat" << YAML::EndMap;
    y << YAML::EndMap;

    const fs::path pipeline_file = fs::absolute(out / "explain-pipeline.yaml");
    if (Status s = write_file_atomic(pipeline_file, std::string(y.c_str()) + "\n"); !s) {
      log_error("explain: " + s.message());
      globals.exit_code = kExitInvalid;
      return;
    }
    const PipelineLoad load = load_pipeline(pipeline_file, {}, registry);
    globals.exit_code = run_loaded_pipeline(load, registry, args->resume, args->scale);
  });
}

}  // namespace lrpflow::cli
