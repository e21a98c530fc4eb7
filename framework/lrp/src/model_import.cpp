// TorchScript import: frozen, inlined TorchScript graph -> lrp::Model.
#include "lrpflow/lrp/model_import.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/script.h>

#include "archive_check.h"
#include "lrpflow/files.h"
#include "lrpflow/lrp/model_yaml.h"

namespace lrpflow::lrp {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// Raised while walking the graph; turned into a Status naming the file at the top.
struct ImportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const std::vector<std::string> kSupportedOps = {
    "aten::conv2d",        "aten::_convolution",      "aten::linear",      "aten::addmm",
    "aten::matmul",        "aten::relu",              "aten::relu_",       "aten::max_pool2d",
    "aten::avg_pool2d",    "aten::adaptive_avg_pool2d", "aten::flatten",   "aten::view",
    "aten::reshape",       "aten::dropout",           "aten::dropout_",    "aten::feature_dropout",
    "aten::feature_dropout_", "aten::batch_norm",     "aten::add",         "aten::add_",
    "aten::cat",           "aten::contiguous",        "aten::size",        "aten::dim",
};

std::string join_supported() {
  std::string out;
  for (const auto& op : kSupportedOps) out += (out.empty() ? "" : ", ") + op;
  return out;
}

// Module path of a node from its inlined call stack ("layer1.0.conv1"); empty for top-level code.
std::string module_path(const Node* node) {
  std::string path;
  if (!node->callstack()) return path;
  for (const auto& entry : (*node->callstack())->vec()) {
    const auto& info = std::get<2>(entry);
    if (!info) continue;
    const std::string name = info->instance_name();
    if (name == "SELF" || name.empty()) continue;
    path += (path.empty() ? "" : ".") + name;
  }
  return path;
}

class GraphImporter {
 public:
  GraphImporter(const torch::jit::Module& original, std::string source)
      : original_(original), source_(std::move(source)) {}

  std::vector<Layer> run(const std::shared_ptr<torch::jit::Graph>& graph) {
    if (graph->inputs().size() != 2)
      throw ImportError("forward() must take exactly one tensor argument, it takes " +
                        std::to_string(graph->inputs().size() - 1));
    producer_[graph->inputs()[1]] = kModelInput;
    for (Node* node : graph->nodes()) visit(node);
    if (graph->outputs().size() != 1) throw ImportError("forward() must return one tensor");
    Value* out = graph->outputs()[0];
    auto it = producer_.find(out);
    if (it == producer_.end() || it->second == kModelInput)
      throw ImportError("forward() must return a tensor computed from its input (got " + out->type()->str() + ")");
    // The output layer must be the last one: drop layers computed after it that feed nothing.
    if (it->second != static_cast<int>(layers_.size()) - 1)
      throw ImportError("the returned tensor is not the last computed layer; side outputs are not supported");
    return std::move(layers_);
  }

 private:
  bool on_path(const Value* v) const { return producer_.count(v) != 0 || path_lists_.count(v) != 0; }

  bool uses_path(const Node* node) const {
    for (const Value* in : node->inputs())
      if (on_path(in)) return true;
    for (const auto* block : node->blocks())
      for (const Node* inner : block->nodes())
        if (uses_path(inner)) return true;
    return false;
  }

  [[noreturn]] void fail(const Node* node, const std::string& message) const {
    std::string path = module_path(node);
    throw ImportError(std::string(node->kind().toQualString()) + " in module '" + (path.empty() ? "<top>" : path) +
                      "': " + message);
  }

  c10::IValue constant(const Node* node, const Value* v, const char* what) const {
    if (auto iv = torch::jit::toIValue(v)) return *iv;
    const Node* def = v->node();
    if (def->kind() == c10::prim::ListConstruct) {
      std::vector<int64_t> ints;
      for (const Value* in : def->inputs()) {
        auto iv = torch::jit::toIValue(in);
        if (!iv || !iv->isInt()) fail(node, std::string("argument '") + what + "' is not a constant");
        ints.push_back(iv->toInt());
      }
      return c10::IValue(ints);
    }
    fail(node, std::string("argument '") + what + "' is not a constant (computed by " +
                   def->kind().toQualString() + ")");
  }

  std::vector<int64_t> int_list(const Node* node, const Value* v, const char* what, size_t expand_to = 2) const {
    c10::IValue iv = constant(node, v, what);
    if (iv.isInt()) return std::vector<int64_t>(expand_to, iv.toInt());
    if (iv.isIntList()) {
      auto list = iv.toIntVector();
      if (list.size() == 1 && expand_to > 1) return std::vector<int64_t>(expand_to, list[0]);
      return list;
    }
    fail(node, std::string("argument '") + what + "' is not an int list");
  }
  int64_t int_arg(const Node* node, const Value* v, const char* what) const {
    c10::IValue iv = constant(node, v, what);
    if (!iv.isInt()) fail(node, std::string("argument '") + what + "' is not an int");
    return iv.toInt();
  }
  double number_arg(const Node* node, const Value* v, const char* what) const {
    c10::IValue iv = constant(node, v, what);
    if (iv.isInt()) return static_cast<double>(iv.toInt());
    if (iv.isDouble()) return iv.toDouble();
    fail(node, std::string("argument '") + what + "' is not a number");
  }
  bool bool_arg(const Node* node, const Value* v, const char* what) const {
    c10::IValue iv = constant(node, v, what);
    if (!iv.isBool()) fail(node, std::string("argument '") + what + "' is not a bool");
    return iv.toBool();
  }
  at::Tensor tensor_arg(const Node* node, const Value* v, const char* what, bool optional = false) const {
    c10::IValue iv = constant(node, v, what);
    if (iv.isNone() && optional) return {};
    if (!iv.isTensor()) fail(node, std::string("argument '") + what + "' is not a constant tensor");
    return iv.toTensor().detach().to(at::kFloat).contiguous();
  }
  int input_of(const Node* node, size_t i) const {
    auto it = producer_.find(node->inputs()[i]);
    if (it == producer_.end())
      fail(node, "input " + std::to_string(i) + " is not computed from the model input (constant tensors are not supported here)");
    return it->second;
  }

  int add_layer(const Node* node, Layer layer) {
    layer.name = module_path(node);
    if (layer.name.empty()) {
      // Top-level functional code (torch.flatten in VGG.forward): name it after the op.
      std::string op = node->kind().toUnqualString();
      if (!op.empty() && op.back() == '_') op.pop_back();
      layer.name = op;
    }
    layer.origin = node->kind().toQualString();
    layers_.push_back(std::move(layer));
    const int index = static_cast<int>(layers_.size()) - 1;
    producer_[node->outputs()[0]] = index;
    return index;
  }

  void alias(const Node* node, size_t input) { producer_[node->outputs()[0]] = input_of(node, input); }

  std::vector<int64_t> adaptive_output_size(const Node* node) const {
    if (auto iv = torch::jit::toIValue(node->inputs()[1])) {
      if (iv->isIntList()) return iv->toIntVector();
      if (iv->isInt()) return {iv->toInt(), iv->toInt()};
    }
    // Scripted torchvision code computes output_size through _list_with_default (a prim::If on
    // list lengths); the module's own attribute holds the configured value.
    std::string path = module_path(node);
    try {
      torch::jit::Module module = original_;
      std::stringstream parts(path);
      std::string part;
      while (std::getline(parts, part, '.')) module = module.attr(part).toModule();
      c10::IValue size = module.attr("output_size");
      if (size.isInt()) return {size.toInt(), size.toInt()};
      std::vector<int64_t> result;
      if (size.isTuple()) {
        for (const auto& e : size.toTupleRef().elements()) {
          if (!e.isInt()) fail(node, "output_size with None entries is not supported");
          result.push_back(e.toInt());
        }
      } else if (size.isIntList()) {
        result = size.toIntVector();
      }
      if (result.size() == 2) return result;
    } catch (const ImportError&) {
      throw;
    } catch (const std::exception&) {
    }
    fail(node, "cannot determine output_size (not a constant, and module '" + path + "' has no output_size attribute)");
  }

  void visit(Node* node) {
    const auto kind = node->kind();
    if (kind == c10::prim::Constant) return;
    if (!uses_path(node)) return;  // scalar/list plumbing that does not touch the tensor path
    const std::string op = kind.toQualString();
    if (!node->blocks().empty()) fail(node, "control flow that depends on the input tensor is not supported");

    if (op == "aten::size" || op == "aten::dim" || op == "aten::len") return;  // shape queries
    if (op == "prim::ListConstruct") {
      // Only aten::cat may consume a list of path tensors; it looks through the list itself.
      for (const Node* user : users(node->outputs()[0]))
        if (std::string(user->kind().toQualString()) != "aten::cat")
          fail(user, "a list of tensors is only supported as the input of aten::cat");
      path_lists_.insert(node->outputs()[0]);
      return;
    }
    if (op == "aten::conv2d" || op == "aten::_convolution") {
      Layer l;
      l.kind = LayerKind::Conv2d;
      l.inputs = {input_of(node, 0)};
      l.weight = tensor_arg(node, node->inputs()[1], "weight");
      if (l.weight.dim() != 4) fail(node, "only 2-D convolutions are supported (weight has " + std::to_string(l.weight.dim()) + " dims)");
      l.bias = tensor_arg(node, node->inputs()[2], "bias", true);
      if (!l.bias.defined()) l.bias = at::zeros({l.weight.size(0)});
      l.stride = int_list(node, node->inputs()[3], "stride");
      c10::IValue padding = constant(node, node->inputs()[4], "padding");
      if (padding.isString()) fail(node, "string padding ('" + padding.toStringRef() + "') is not supported");
      l.padding = int_list(node, node->inputs()[4], "padding");
      l.dilation = int_list(node, node->inputs()[5], "dilation");
      if (op == "aten::_convolution") {
        if (bool_arg(node, node->inputs()[6], "transposed")) fail(node, "transposed convolutions are not supported");
        l.groups = int_arg(node, node->inputs()[8], "groups");
      } else {
        l.groups = int_arg(node, node->inputs()[6], "groups");
      }
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::linear") {
      Layer l;
      l.kind = LayerKind::Linear;
      l.inputs = {input_of(node, 0)};
      l.weight = tensor_arg(node, node->inputs()[1], "weight");
      l.bias = tensor_arg(node, node->inputs()[2], "bias", true);
      if (!l.bias.defined()) l.bias = at::zeros({l.weight.size(0)});
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::addmm") {
      // addmm(bias, x, W^T, beta, alpha): the old nn.Linear lowering.
      if (number_arg(node, node->inputs()[3], "beta") != 1.0 || number_arg(node, node->inputs()[4], "alpha") != 1.0)
        fail(node, "only beta = alpha = 1 is supported");
      Layer l;
      l.kind = LayerKind::Linear;
      l.inputs = {input_of(node, 1)};
      l.weight = weight_from_transposed(node, node->inputs()[2]);
      l.bias = tensor_arg(node, node->inputs()[0], "bias").reshape({-1});
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::matmul" || op == "aten::mm") {
      Layer l;
      l.kind = LayerKind::Linear;
      l.inputs = {input_of(node, 0)};
      l.weight = weight_from_transposed(node, node->inputs()[1]);
      l.bias = at::zeros({l.weight.size(0)});
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::relu" || op == "aten::relu_") {
      Layer l;
      l.kind = LayerKind::ReLU;
      l.inputs = {input_of(node, 0)};
      const int index = add_layer(node, std::move(l));
      // In-place (if mutation removal left it): later reads of the operand see the result.
      if (op == "aten::relu_") producer_[node->inputs()[0]] = index;
      return;
    }
    if (op == "aten::max_pool2d") {
      Layer l;
      l.kind = LayerKind::MaxPool2d;
      l.inputs = {input_of(node, 0)};
      l.kernel_size = int_list(node, node->inputs()[1], "kernel_size");
      l.stride = int_list(node, node->inputs()[2], "stride");
      if (l.stride.empty()) l.stride = l.kernel_size;
      l.padding = int_list(node, node->inputs()[3], "padding");
      l.dilation = int_list(node, node->inputs()[4], "dilation");
      l.ceil_mode = bool_arg(node, node->inputs()[5], "ceil_mode");
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::avg_pool2d") {
      Layer l;
      l.kind = LayerKind::AvgPool2d;
      l.inputs = {input_of(node, 0)};
      l.kernel_size = int_list(node, node->inputs()[1], "kernel_size");
      l.stride = int_list(node, node->inputs()[2], "stride");
      if (l.stride.empty()) l.stride = l.kernel_size;
      l.padding = int_list(node, node->inputs()[3], "padding");
      l.ceil_mode = bool_arg(node, node->inputs()[4], "ceil_mode");
      l.count_include_pad = bool_arg(node, node->inputs()[5], "count_include_pad");
      c10::IValue divisor = constant(node, node->inputs()[6], "divisor_override");
      if (divisor.isInt()) l.divisor_override = divisor.toInt();
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::adaptive_avg_pool2d") {
      Layer l;
      l.kind = LayerKind::AdaptiveAvgPool2d;
      l.inputs = {input_of(node, 0)};
      l.output_size = adaptive_output_size(node);
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::flatten") {
      Layer l;
      l.kind = LayerKind::Flatten;
      l.inputs = {input_of(node, 0)};
      l.start_dim = int_arg(node, node->inputs()[1], "start_dim");
      l.end_dim = int_arg(node, node->inputs()[2], "end_dim");
      if (l.start_dim == 0) fail(node, "flattening the batch dimension is not supported");
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::view" || op == "aten::reshape") {
      Layer l;
      l.kind = LayerKind::Reshape;
      l.inputs = {input_of(node, 0)};
      l.shape = per_sample_shape(node, node->inputs()[1]);
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::dropout" || op == "aten::dropout_" || op == "aten::feature_dropout" ||
        op == "aten::feature_dropout_" || op == "aten::alpha_dropout") {
      if (bool_arg(node, node->inputs()[2], "train")) fail(node, "dropout in training mode (call model.eval() before saving)");
      Layer l;
      l.kind = LayerKind::Dropout;
      l.inputs = {input_of(node, 0)};
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::batch_norm") {
      if (bool_arg(node, node->inputs()[5], "training")) fail(node, "batch norm in training mode (call model.eval() before saving)");
      Layer l;
      l.kind = LayerKind::BatchNorm;
      l.inputs = {input_of(node, 0)};
      l.running_mean = tensor_arg(node, node->inputs()[3], "running_mean");
      l.running_var = tensor_arg(node, node->inputs()[4], "running_var");
      l.weight = tensor_arg(node, node->inputs()[1], "weight", true);
      l.bias = tensor_arg(node, node->inputs()[2], "bias", true);
      if (!l.weight.defined()) l.weight = at::ones_like(l.running_mean);
      if (!l.bias.defined()) l.bias = at::zeros_like(l.running_mean);
      l.eps = number_arg(node, node->inputs()[7], "eps");
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::add" || op == "aten::add_" || op == "aten::sub") {
      visit_add(node, op);
      return;
    }
    if (op == "aten::cat") {
      const Node* list = node->inputs()[0]->node();
      if (list->kind() != c10::prim::ListConstruct) fail(node, "the tensor list must be built in the graph");
      Layer l;
      l.kind = LayerKind::Cat;
      for (const Value* v : list->inputs()) {
        auto it = producer_.find(v);
        if (it == producer_.end()) fail(node, "concatenating a constant tensor is not supported");
        l.inputs.push_back(it->second);
      }
      l.dim = int_arg(node, node->inputs()[1], "dim");
      if (l.dim < 0) fail(node, "use a non-negative cat dimension");
      if (l.dim == 0) fail(node, "concatenating along the batch dimension is not supported");
      add_layer(node, std::move(l));
      return;
    }
    if (op == "aten::contiguous" || op == "aten::clone" || op == "aten::detach") {
      alias(node, 0);
      return;
    }
    fail(node, "unsupported op on the tensor path; supported ops: " + join_supported());
  }

  static std::vector<const Node*> users(const Value* v) {
    std::vector<const Node*> out;
    for (const auto& use : v->uses()) out.push_back(use.user);
    return out;
  }

  at::Tensor weight_from_transposed(const Node* node, const Value* v) const {
    if (on_path(v)) fail(node, "multiplying two input-dependent tensors is not supported");
    at::Tensor wt = tensor_arg(node, v, "weight");
    if (wt.dim() != 2) fail(node, "the weight must be a 2-D constant");
    return wt.t().contiguous();
  }

  // view/reshape shape: the first entry is the batch (x.size(0), -1 or the traced batch size), the
  // rest must be constants.
  std::vector<int64_t> per_sample_shape(const Node* node, const Value* v) const {
    const Node* def = v->node();
    std::vector<int64_t> shape;
    if (auto iv = torch::jit::toIValue(v)) {
      if (!iv->isIntList()) fail(node, "shape is not an int list");
      auto full = iv->toIntVector();
      if (full.empty()) fail(node, "empty shape");
      return std::vector<int64_t>(full.begin() + 1, full.end());
    }
    if (def->kind() != c10::prim::ListConstruct) fail(node, "shape is not a constant list");
    for (size_t i = 1; i < def->inputs().size(); ++i) {
      auto iv = torch::jit::toIValue(def->inputs()[i]);
      if (!iv || !iv->isInt()) fail(node, "shape entry " + std::to_string(i) + " is not a constant");
      shape.push_back(iv->toInt());
    }
    return shape;
  }

  void visit_add(const Node* node, const std::string& op) {
    const bool a_path = on_path(node->inputs()[0]);
    const bool b_path = on_path(node->inputs()[1]);
    if (node->inputs().size() > 2 && number_arg(node, node->inputs()[2], "alpha") != 1.0)
      fail(node, "only alpha = 1 is supported");
    if (a_path && b_path) {
      if (op == "aten::sub") fail(node, "subtracting two input-dependent tensors is not supported");
      Layer l;
      l.kind = LayerKind::Add;
      l.inputs = {input_of(node, 0), input_of(node, 1)};
      int index = add_layer(node, std::move(l));
      // In-place add (if mutation removal left it): later reads of the first operand see the sum.
      if (op == "aten::add_") producer_[node->inputs()[0]] = index;
      return;
    }
    // x + constant bias after matmul/linear/conv: fold into the producing layer's bias.
    const int src = input_of(node, a_path ? 0 : 1);
    at::Tensor c = tensor_arg(node, node->inputs()[a_path ? 1 : 0], "other");
    if (src == kModelInput || !is_parametric(layers_[src].kind))
      fail(node, "adding a constant is only supported right after a Conv2d/Linear (as its bias)");
    Layer& target = layers_[src];
    const int64_t outputs = target.weight.size(0);
    if (c.numel() != outputs && c.numel() != 1) fail(node, "the added constant does not match the layer's outputs");
    at::Tensor flat = c.numel() == 1 ? at::full({outputs}, c.item<double>()) : c.reshape({outputs});
    target.bias = op == "aten::sub" ? target.bias - flat : target.bias + flat;
    producer_[node->outputs()[0]] = src;
  }

  const torch::jit::Module& original_;
  std::string source_;
  std::unordered_map<const Value*, int> producer_;
  std::unordered_set<const Value*> path_lists_;  // lists of path tensors (inputs of aten::cat)
  std::vector<Layer> layers_;
};

// LibTorch's archive reader over bytes already in memory.
class BytesReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesReader(std::string bytes) : bytes_(std::move(bytes)) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what) const override {
    (void)what;
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  std::string bytes_;
};

}  // namespace

const std::vector<std::string>& supported_torchscript_ops() { return kSupportedOps; }

Result<std::shared_ptr<Model>> load_torchscript_model(const std::filesystem::path& path,
                                                      const ModelLoadOptions& options) {
  const std::string source = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::error(source + ": no such model file");
  auto bytes = read_file(path);
  if (!bytes) return bytes.status();
  LRPFLOW_RETURN_IF_ERROR(verify_zip_archive(bytes.value(), source));
  std::vector<Layer> layers;
  try {
    // Loaded from the bytes that were checked, so the file cannot change in between.
    torch::jit::Module module = torch::jit::load(std::make_shared<BytesReader>(std::move(bytes).value()));
    module.eval();
    torch::jit::Module frozen = torch::jit::freeze_module(module);
    auto graph = frozen.get_method("forward").graph();
    torch::jit::Inline(*graph);
    torch::jit::ConstantPropagation(graph);
    torch::jit::RemoveTensorMutation(graph);
    torch::jit::EliminateDeadCode(graph);
    GraphImporter importer(module, source);
    layers = importer.run(graph);
  } catch (const ImportError& e) {
    return Status::error(source + ": " + exception_message(e));
  } catch (const c10::Error& e) {
    return Status::error(source + ": cannot load TorchScript module: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::error(source + ": cannot load TorchScript module: " + exception_message(e));
  }
  return Model::create(std::move(layers), options.input_shape, source);
}

Result<std::shared_ptr<Model>> load_model(const std::filesystem::path& path, const ModelLoadOptions& options) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".yaml" || ext == ".yml") return load_yaml_model(path, options);
  if (ext == ".pt" || ext == ".pth" || ext == ".ts" || ext == ".torchscript") return load_torchscript_model(path, options);
  return Status::error(path.string() + ": unknown model format '" + ext +
                       "' (expected a TorchScript .pt file or a .yaml architecture description)");
}

}  // namespace lrpflow::lrp
