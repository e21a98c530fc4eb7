// YAML architecture descriptions -> lrp::Model with seeded random or stored weights.
#include "lrpflow/lrp/model_yaml.h"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/serialize.h>
#include <yaml-cpp/yaml.h>

#include "lrpflow/yaml_load.h"

namespace lrpflow::lrp {
namespace {

struct YamlModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string at_line(const YAML::Node& node) { return ":" + std::to_string(node.Mark().line + 1); }

class LayerReader {
 public:
  LayerReader(const YAML::Node& node, std::string where) : node_(node), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& message) const { throw YamlModelError(where_ + ": " + message); }

  bool has(const char* key) const { return static_cast<bool>(node_[key]); }

  int64_t integer(const char* key, std::optional<int64_t> fallback = std::nullopt) const {
    if (!node_[key]) {
      if (fallback) return *fallback;
      fail(std::string("missing '") + key + "'");
    }
    try {
      return node_[key].as<int64_t>();
    } catch (const YAML::Exception&) {
      fail(std::string("'") + key + "' must be an integer");
    }
  }
  double number(const char* key, double fallback) const {
    if (!node_[key]) return fallback;
    try {
      return node_[key].as<double>();
    } catch (const YAML::Exception&) {
      fail(std::string("'") + key + "' must be a number");
    }
  }
  bool flag(const char* key, bool fallback) const {
    if (!node_[key]) return fallback;
    try {
      return node_[key].as<bool>();
    } catch (const YAML::Exception&) {
      fail(std::string("'") + key + "' must be true or false");
    }
  }
  // An int or a list of ints, expanded to `n` values.
  std::vector<int64_t> pair(const char* key, std::optional<int64_t> fallback, size_t n = 2) const {
    if (!node_[key]) {
      if (fallback) return std::vector<int64_t>(n, *fallback);
      fail(std::string("missing '") + key + "'");
    }
    try {
      if (node_[key].IsScalar()) return std::vector<int64_t>(n, node_[key].as<int64_t>());
      auto values = node_[key].as<std::vector<int64_t>>();
      if (values.size() != n) fail(std::string("'") + key + "' needs " + std::to_string(n) + " values");
      return values;
    } catch (const YAML::Exception&) {
      fail(std::string("'") + key + "' must be an integer or a list of integers");
    }
  }
  std::vector<int64_t> list(const char* key) const {
    if (!node_[key]) fail(std::string("missing '") + key + "'");
    try {
      return node_[key].as<std::vector<int64_t>>();
    } catch (const YAML::Exception&) {
      fail(std::string("'") + key + "' must be a list of integers");
    }
  }

 private:
  const YAML::Node& node_;
  std::string where_;
};

const std::map<LayerKind, std::vector<std::string>> kAllowedKeys = {
    {LayerKind::Conv2d, {"in", "out", "kernel", "stride", "padding", "dilation", "groups", "bias"}},
    {LayerKind::Linear, {"in", "out", "bias"}},
    {LayerKind::ReLU, {}},
    {LayerKind::MaxPool2d, {"kernel", "stride", "padding", "dilation", "ceil_mode"}},
    {LayerKind::AvgPool2d, {"kernel", "stride", "padding", "ceil_mode", "count_include_pad"}},
    {LayerKind::AdaptiveAvgPool2d, {"output_size"}},
    {LayerKind::Flatten, {"start_dim", "end_dim"}},
    {LayerKind::Reshape, {"shape"}},
    {LayerKind::Dropout, {"p"}},
    {LayerKind::BatchNorm, {"features", "eps"}},
    {LayerKind::Add, {}},
    {LayerKind::Cat, {"dim"}},
};

}  // namespace

Result<std::shared_ptr<Model>> parse_yaml_model(const std::string& text, const std::string& source,
                                                const std::filesystem::path& base_dir,
                                                const ModelLoadOptions& options) {
  std::vector<Layer> layers;
  std::vector<int64_t> input_shape = options.input_shape;
  try {
    YAML::Node root = load_yaml(text);
    if (!root.IsMap()) return Status::error(source + ": a model description must be a YAML map");
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (key != "name" && key != "input_shape" && key != "layers" && key != "weights" && key != "seed" &&
          key != "description")
        return Status::error(source + at_line(entry.first) + ": unknown key '" + key +
                             "' (expected name, description, input_shape, seed, weights, layers)");
    }
    if (input_shape.empty() && root["input_shape"]) input_shape = root["input_shape"].as<std::vector<int64_t>>();
    std::uint64_t seed = options.seed;
    if (seed == 0 && root["seed"]) seed = root["seed"].as<std::uint64_t>();
    const YAML::Node list = root["layers"];
    if (!list || !list.IsSequence() || list.size() == 0)
      return Status::error(source + ": 'layers' must be a non-empty list");

    std::map<std::string, at::Tensor> stored;
    bool have_weights = false;
    if (root["weights"]) {
      std::filesystem::path weights = root["weights"].as<std::string>();
      if (weights.is_relative()) weights = base_dir / weights;
      std::ifstream in(weights, std::ios::binary);
      if (!in) return Status::error(source + at_line(root["weights"]) + ": cannot read weights file " + weights.string());
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      c10::IValue value = torch::pickle_load(bytes);
      if (!value.isGenericDict()) return Status::error(weights.string() + ": expected a dict of tensors");
      for (const auto& entry : value.toGenericDict())
        if (entry.key().isString() && entry.value().isTensor()) stored[entry.key().toStringRef()] = entry.value().toTensor();
      have_weights = true;
    }
    at::Generator generator = at::detail::createCPUGenerator(seed);

    std::map<std::string, int> index_of;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node node = list[i];
      const std::string where = source + at_line(node);
      if (!node.IsMap()) return Status::error(where + ": each layer must be a map");
      if (!node["type"]) return Status::error(where + ": layer without 'type'");
      const std::string type = node["type"].as<std::string>();
      auto kind = layer_kind_from_name(type);
      if (!kind) {
        std::string names;
        for (const auto& n : layer_kind_names()) names += (names.empty() ? "" : ", ") + n;
        return Status::error(where + ": unknown layer type '" + type + "' (known: " + names + ")");
      }
      Layer l;
      l.kind = *kind;
      l.name = node["name"] ? node["name"].as<std::string>() : std::to_string(i);
      l.origin = where;
      const auto& allowed = kAllowedKeys.at(l.kind);
      for (const auto& entry : node) {
        const std::string key = entry.first.as<std::string>();
        if (key == "name" || key == "type" || key == "inputs") continue;
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
          std::string valid = "name, type, inputs";
          for (const auto& a : allowed) valid += ", " + a;
          return Status::error(where + ": unknown key '" + key + "' for " + type + " (valid: " + valid + ")");
        }
      }
      if (index_of.count(l.name)) return Status::error(where + ": duplicate layer name '" + l.name + "'");
      if (node["inputs"]) {
        for (const auto& in : node["inputs"].as<std::vector<std::string>>()) {
          if (in == "input") {
            l.inputs.push_back(kModelInput);
          } else if (index_of.count(in)) {
            l.inputs.push_back(index_of[in]);
          } else {
            return Status::error(where + ": input '" + in + "' is not an earlier layer (nor 'input')");
          }
        }
      } else {
        l.inputs = {i == 0 ? kModelInput : static_cast<int>(i) - 1};
      }
      LayerReader r(node, where);
      switch (l.kind) {
        case LayerKind::Conv2d: {
          const int64_t in = r.integer("in"), out = r.integer("out");
          l.groups = r.integer("groups", 1);
          if (in <= 0 || out <= 0 || l.groups <= 0 || in % l.groups || out % l.groups)
            r.fail("in/out must be positive multiples of groups");
          auto k = r.pair("kernel", std::nullopt);
          l.stride = r.pair("stride", 1);
          l.padding = r.pair("padding", 0);
          l.dilation = r.pair("dilation", 1);
          const int64_t fan_in = in / l.groups * k[0] * k[1];
          l.weight = at::normal(0.0, std::sqrt(2.0 / static_cast<double>(fan_in)), {out, in / l.groups, k[0], k[1]}, generator);
          l.bias = at::zeros({out});
          break;
        }
        case LayerKind::Linear: {
          const int64_t in = r.integer("in"), out = r.integer("out");
          if (in <= 0 || out <= 0) r.fail("in and out must be positive");
          l.weight = at::normal(0.0, std::sqrt(2.0 / static_cast<double>(in)), {out, in}, generator);
          l.bias = at::zeros({out});
          break;
        }
        case LayerKind::MaxPool2d:
        case LayerKind::AvgPool2d:
          l.kernel_size = r.pair("kernel", std::nullopt);
          l.stride = r.has("stride") ? r.pair("stride", std::nullopt) : l.kernel_size;
          l.padding = r.pair("padding", 0);
          if (l.kind == LayerKind::MaxPool2d) l.dilation = r.pair("dilation", 1);
          l.ceil_mode = r.flag("ceil_mode", false);
          l.count_include_pad = r.flag("count_include_pad", true);
          break;
        case LayerKind::AdaptiveAvgPool2d:
          l.output_size = r.pair("output_size", std::nullopt);
          break;
        case LayerKind::Flatten:
          l.start_dim = r.integer("start_dim", 1);
          l.end_dim = r.integer("end_dim", -1);
          break;
        case LayerKind::Reshape:
          l.shape = r.list("shape");
          break;
        case LayerKind::BatchNorm: {
          const int64_t n = r.integer("features");
          l.weight = at::ones({n});
          l.bias = at::zeros({n});
          l.running_mean = at::zeros({n});
          l.running_var = at::ones({n});
          l.eps = r.number("eps", 1e-5);
          break;
        }
        case LayerKind::Cat:
          l.dim = r.integer("dim", 1);
          break;
        default:
          break;
      }
      if (have_weights && (is_parametric(l.kind) || l.kind == LayerKind::BatchNorm)) {
        auto fetch = [&](const std::string& key, at::Tensor& slot, bool required) {
          const std::string full = l.name + "." + key;
          if (!stored.count(full)) {
            if (required) r.fail("the weights file has no '" + full + "'");
            return;
          }
          at::Tensor t = stored.at(full).to(at::kFloat).contiguous();
          if (slot.defined() && t.sizes() != slot.sizes()) r.fail("'" + full + "' in the weights file has the wrong shape");
          slot = t;
        };
        fetch("weight", l.weight, true);
        fetch("bias", l.bias, false);
        if (l.kind == LayerKind::BatchNorm) {
          fetch("running_mean", l.running_mean, true);
          fetch("running_var", l.running_var, true);
        }
      }
      index_of[l.name] = static_cast<int>(i);
      layers.push_back(std::move(l));
    }
  } catch (const YamlModelError& e) {
    return Status::error(exception_message(e));
  } catch (const YamlContentError& e) {
    return Status::error(yaml_position(source, e.mark) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return Status::error(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return Status::error(source + ": " + exception_message(e));
  }
  return Model::create(std::move(layers), std::move(input_shape), source);
}

Result<std::shared_ptr<Model>> load_yaml_model(const std::filesystem::path& path, const ModelLoadOptions& options) {
  std::ifstream in(path);
  if (!in) return Status::error(path.string() + ": cannot read model description");
  std::stringstream text;
  text << in.rdbuf();
  return parse_yaml_model(text.str(), path.string(), path.parent_path(), options);
}

}  // namespace lrpflow::lrp
