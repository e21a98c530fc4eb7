// The pipeline checker shared by the parts of pipeline loading (internal to the core library):
// pipeline.cpp parses the document into declarations, pipeline_graph.cpp builds the stage graph
// and checks the slots flowing along it. Every problem becomes a Diagnostic at its YAML node.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "lrpflow/options.h"
#include "lrpflow/pipeline.h"

namespace lrpflow {

class PluginRegistry;

namespace pipeline_detail {

// "'value'", "a list", "a map", ...: how a message names what the user wrote.
std::string describe_node(const YAML::Node& node);
// "stage 'id'", or "stage of type 'T'" when it has no id.
std::string stage_label(const std::string& id, const std::string& type);

class Checker {
 public:
  Checker(std::string file, const PluginRegistry& registry) : file_(std::move(file)), registry_(registry) {}

  std::vector<Diagnostic> diagnostics;

  void error_at(const YAML::Node& node, const std::string& message) {
    for (const auto& [override_node, origin] : override_nodes_) {
      if (node.is(override_node)) {
        diagnostics.push_back({abbreviate_for_message(origin), 0, 0, message});
        return;
      }
    }
    const YAML::Mark mark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
    if (mark.is_null()) {
      diagnostics.push_back({file_, 0, 0, message});
    } else {
      diagnostics.push_back({file_, mark.line + 1, mark.column + 1, message});
    }
  }
  void error_in_file(const std::string& message) { diagnostics.push_back({file_, 0, 0, message}); }
  void error_in_override(const Override& o, const std::string& message) {
    diagnostics.push_back({abbreviate_for_message(o.origin), 0, 0, message});
  }
  std::pair<int, int> position(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) return {0, 0};
    return {mark.line + 1, mark.column + 1};
  }

  void apply_overrides(YAML::Node& root, const std::vector<Override>& overrides);
  Options check_options(const YAML::Node& options_node, const YAML::Node& owner_node,
                        const std::vector<OptionSpec>& schema, const std::string& owner);
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& where);

  const PluginRegistry& registry() const { return registry_; }

 private:
  void remember_override_nodes(const YAML::Node& node, const std::string& origin) {
    override_nodes_.emplace_back(node, origin);
    if (node.IsSequence() || node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (node.IsMap()) {
          remember_override_nodes(it->second, origin);
        } else {
          remember_override_nodes(*it, origin);
        }
      }
    }
  }

  void remember_override_key(const YAML::Node& map, const std::string& key, const std::string& origin) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) override_nodes_.emplace_back(it->first, origin);
    }
  }

  std::string file_;
  const PluginRegistry& registry_;
  std::vector<std::pair<YAML::Node, std::string>> override_nodes_;
};

// A stage as the file declares it, before the graph is built. The nodes give positions.
struct DeclaredStage {
  StageConfig config;
  YAML::Node node;
  YAML::Node inputs_node;      // undefined when the stage has no `inputs:`
  bool slots_known = false;     // known type and valid options: its slots can be declared
  bool openable = false;        // that, and the resources its options name are right: validate may open it
  // Copying is fine; assigning a YAML::Node assigns the contents of the node it refers to.
  DeclaredStage& operator=(const DeclaredStage&) = delete;
};

// Graph building: default inputs (the previous stage), unknown inputs, the one source first, cycles.
// Returns the execution order (topological, ties in file order), or nothing when the graph is wrong.
std::vector<std::size_t> build_stage_graph(Checker& checker, std::vector<DeclaredStage>& declared,
                                           std::vector<std::vector<std::size_t>>& upstream);

// Validation along the graph: every read slot is written upstream with the same type, and stages
// that run concurrently never write a slot the other writes or reads. Declares each stage's slots.
void check_slot_flow(Checker& checker, std::vector<DeclaredStage>& declared,
                     const std::vector<std::vector<std::size_t>>& upstream, const std::vector<std::size_t>& order);

}  // namespace pipeline_detail
}  // namespace lrpflow
