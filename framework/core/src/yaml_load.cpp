#include "lrpflow/yaml_load.h"

#include <map>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>

#include "lrpflow/files.h"

namespace lrpflow {
namespace {

std::string position(const YAML::Mark& mark) {
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

// Walks the parser's events (no tree is built) and throws YamlContentError at the first problem.
class CheckingHandler final : public YAML::EventHandler {
 public:
  explicit CheckingHandler(const YamlLoadLimits& limits) : limits_(limits) {}

  // Each document numbers its anchors afresh.
  void OnDocumentStart(const YAML::Mark&) override { anchors_.clear(); }
  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    if (!limits_.allow_aliases) {
      throw YamlContentError(mark, "anchors and aliases (&" + name + ", *" + name + ") are not allowed here");
    }
    // The parser numbers anchors 1, 2, ... in the order it meets them, one OnAnchor each.
    anchors_.push_back({name, 0, true});
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, nullptr); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(mark, anchor, &value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Anchor& target = anchor_of(anchor);
    if (!limits_.allow_aliases) {
      throw YamlContentError(mark, "anchors and aliases (*" + target.name + ") are not allowed here");
    }
    if (target.open) {
      throw YamlContentError(mark, "the alias *" + target.name + " is inside the collection &" + target.name +
                                       " it names (a collection cannot contain itself)");
    }
    aliased_nodes_ += target.nodes;
    if (aliased_nodes_ > limits_.max_aliased_nodes) {
      throw YamlContentError(mark, "aliases expand the document by more than " +
                                       std::to_string(limits_.max_aliased_nodes) + " nodes (at the alias *" +
                                       target.name + "); write the values out instead of nesting aliases");
    }
    begin_node(mark, nullptr);
    nodes_ += target.nodes;
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_collection(mark, anchor, false);
  }
  void OnSequenceEnd() override { close_collection(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open_collection(mark, anchor, true);
  }
  void OnMapEnd() override { close_collection(); }

 private:
  struct Anchor {
    std::string name;
    std::size_t nodes;  // the nodes under it, aliases expanded (set when it is complete)
    bool open;          // a collection whose end has not been seen
  };
  struct Collection {
    bool is_map;
    bool next_is_key;
    YAML::anchor_t anchor;
    std::size_t nodes_before;
    std::map<std::string, YAML::Mark> keys;  // scalar keys of a map, where each was first given
  };

  Anchor& anchor_of(YAML::anchor_t anchor) {
    if (anchor >= 1 && anchor <= anchors_.size()) return anchors_[anchor - 1];
    unknown_ = {"?", 1, false};  // not expected: the parser reports every anchor it registers
    return unknown_;
  }

  // Every node (scalar, alias or collection) starts here: in a map, every other one is a key.
  void begin_node(const YAML::Mark& mark, const std::string* scalar) {
    if (stack_.empty() || !stack_.back().is_map) return;
    Collection& map = stack_.back();
    const bool is_key = map.next_is_key;
    map.next_is_key = !map.next_is_key;
    if (!is_key || !scalar) return;
    auto [it, inserted] = map.keys.emplace(*scalar, mark);
    if (!inserted) {
      throw YamlContentError(mark, "duplicate key '" + *scalar + "' (first given at " + position(it->second) + ")");
    }
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string* value) {
    begin_node(mark, value);
    ++nodes_;
    if (anchor != YAML::NullAnchor) {
      Anchor& a = anchor_of(anchor);
      a.nodes = 1;
      a.open = false;
    }
  }

  void open_collection(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    begin_node(mark, nullptr);
    ++nodes_;
    stack_.push_back({is_map, true, anchor, nodes_ - 1, {}});
  }

  void close_collection() {
    const Collection done = std::move(stack_.back());
    stack_.pop_back();
    if (done.anchor != YAML::NullAnchor) {
      Anchor& a = anchor_of(done.anchor);
      a.nodes = nodes_ - done.nodes_before;
      a.open = false;
    }
  }

  const YamlLoadLimits& limits_;
  std::vector<Anchor> anchors_;
  Anchor unknown_{"?", 1, false};
  std::vector<Collection> stack_;
  std::size_t nodes_ = 0;          // nodes so far, aliases expanded
  std::size_t aliased_nodes_ = 0;  // of which aliases added
};

}  // namespace

std::string yaml_position(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null()) return source;
  return source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

YAML::Node load_yaml(const std::string& text, const YamlLoadLimits& limits) {
  {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    CheckingHandler handler(limits);
    // The first document only: it is the one YAML::Load returns, and on some malformed text (a
    // stray ',' at the top level) yaml-cpp 0.7 reports a new empty document forever without
    // moving on, which a loop over all documents would follow until killed (found by fuzzing).
    parser.HandleNextDocument(handler);
  }
  return YAML::Load(text);
}

YAML::Node load_yaml_file(const std::filesystem::path& path, const YamlLoadLimits& limits) {
  auto text = read_file(path);
  if (!text) throw YAML::BadFile(path.string());
  return load_yaml(text.value(), limits);
}

}  // namespace lrpflow
