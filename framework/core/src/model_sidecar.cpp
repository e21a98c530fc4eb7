#include "lrpflow/model_sidecar.h"

#include <yaml-cpp/yaml.h>

#include "lrpflow/files.h"
#include "lrpflow/yaml_load.h"

namespace lrpflow {
namespace fs = std::filesystem;

namespace {

// A scalar or a list of scalars as the text of a --param value: "-0.81" or "[-2.1, -2.0]".
std::optional<std::string> param_value_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  if (!node.IsSequence()) return std::nullopt;
  std::string text = "[";
  for (std::size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar()) return std::nullopt;
    text += (i ? ", " : "") + node[i].Scalar();
  }
  return text + "]";
}

}  // namespace

fs::path sidecar_path(const fs::path& model) {
  if (model.extension() != ".pt") return {};
  fs::path sidecar = model;
  return sidecar.replace_extension(".yaml");
}

ModelSidecar read_model_sidecar(const fs::path& model) {
  const fs::path file = sidecar_path(model);
  std::error_code ec;
  if (file.empty() || !fs::is_regular_file(file, ec)) return {};
  auto text = read_file(file);
  if (!text) {
    ModelSidecar sidecar;
    sidecar.file = file;
    sidecar.problems.push_back(text.status().message());
    return sidecar;
  }
  return parse_model_sidecar(text.value(), file);
}

ModelSidecar parse_model_sidecar(const std::string& text, const fs::path& file) {
  ModelSidecar sidecar;
  sidecar.file = file;
  const std::string name = file.string();
  YAML::Node root;
  try {
    root = load_yaml(text);  // duplicate keys, alias cycles and bombs refused (yaml_load.h)
  } catch (const YamlContentError& e) {
    sidecar.problems.push_back(yaml_position(name, e.mark) + ": sidecar ignored (" + e.msg + ")");
    return sidecar;
  } catch (const YAML::Exception& e) {
    sidecar.problems.push_back(name + ": sidecar ignored (" + e.what() + ")");
    return sidecar;
  }
  sidecar.readable = true;
  if (root.IsNull()) return sidecar;
  if (!root.IsMap()) {
    // Subscripting a scalar throws: only a map is looked into.
    sidecar.problems.push_back(name + ": sidecar ignored (not a map of settings)");
    return sidecar;
  }
  const YAML::Node& settings = root;  // const: looking up a key must not add it
  auto unreadable = [&](const char* key, const std::string& why) {
    sidecar.problems.push_back(name + ": `" + std::string(key) + "` ignored (" + why + ")");
  };
  auto take_list = [&](const char* key, auto& target) {
    using List = typename std::decay_t<decltype(target)>::value_type;
    const YAML::Node node = settings[key];
    if (!node || !node.IsSequence()) return;
    try {
      target = node.template as<List>();
    } catch (const YAML::Exception& e) {
      unreadable(key, e.what());
    }
  };
  auto take_int = [&](const char* key, std::optional<int>& target) {
    const YAML::Node node = settings[key];
    if (!node || !node.IsScalar()) return;
    try {
      target = node.as<int>();
    } catch (const YAML::Exception& e) {
      unreadable(key, e.what());
    }
  };
  take_list("input_shape", sidecar.input_shape);
  take_int("resize", sidecar.resize);
  take_int("center_crop", sidecar.center_crop);
  take_list("mean", sidecar.mean);
  take_list("std", sidecar.std);
  if (const YAML::Node classes = settings["classes"]; classes && classes.IsSequence()) sidecar.class_count = classes.size();
  if (const YAML::Node zbox = settings["zbox"]; zbox && zbox.IsMap() && zbox["low"] && zbox["high"]) {
    sidecar.zbox_low = param_value_text(zbox["low"]);
    sidecar.zbox_high = param_value_text(zbox["high"]);
    if (!sidecar.zbox_low || !sidecar.zbox_high) {
      sidecar.zbox_low.reset(), sidecar.zbox_high.reset();
      unreadable("zbox", "low and high must each be a number or a list of numbers");
    }
  }
  if (const YAML::Node weights = settings["weights"]; weights && weights.IsScalar()) sidecar.weights = weights.Scalar();
  return sidecar;
}

}  // namespace lrpflow
