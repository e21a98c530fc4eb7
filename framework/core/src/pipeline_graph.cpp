// The stage graph of a pipeline (default inputs, the source, cycles, execution order) and the
// checks of the slots that flow along it. Part of parse_pipeline (pipeline.cpp).
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "lrpflow/registry.h"
#include "pipeline_checker.h"

namespace lrpflow::pipeline_detail {

std::vector<std::size_t> build_stage_graph(Checker& checker, std::vector<DeclaredStage>& declared,
                                           std::vector<std::vector<std::size_t>>& upstream) {
  const std::size_t n = declared.size();
  upstream.assign(n, {});
  if (n == 0) return {};
  std::map<std::string, std::size_t> index_of_id;
  for (std::size_t k = 0; k < n; ++k) {
    if (!declared[k].config.id.empty()) index_of_id.emplace(declared[k].config.id, k);
  }
  std::vector<std::string> ids;
  for (const auto& [id, index] : index_of_id) ids.push_back(id);

  bool graph_ok = true;
  std::size_t sources = 0;
  for (std::size_t k = 0; k < n; ++k) {
    StageConfig& config = declared[k].config;
    const std::string label = stage_label(config.id, config.type);
    const bool is_source = config.info && config.info->role == StageRole::Source;
    const bool inputs_explicit = static_cast<bool>(declared[k].inputs_node);
    const YAML::Node where = inputs_explicit ? declared[k].inputs_node : declared[k].node;
    if (is_source) {
      ++sources;
      if (k != 0) {
        checker.error_at(declared[k].node, label + " is a source stage (" + config.type + ") and must be the first stage");
      }
      if (sources > 1) checker.error_at(declared[k].node, label + " is a second source stage; a pipeline has exactly one");
      if (!config.inputs.empty()) checker.error_at(where, label + " is a source stage and takes no inputs");
      config.inputs.clear();
      continue;
    }
    if (!inputs_explicit && k > 0 && !declared[k - 1].config.id.empty()) {
      config.inputs.push_back(declared[k - 1].config.id);  // default: the previous stage
    }
    if (config.inputs.empty() && k > 0 && inputs_explicit) {
      checker.error_at(where, label + " has no inputs; every stage after the source runs after another stage");
      graph_ok = false;
    }
    for (const std::string& input : config.inputs) {
      auto it = index_of_id.find(input);
      if (it == index_of_id.end()) {
        std::string message = label + ": input '" + input + "' is not a stage id";
        const std::string hint = did_you_mean(input, ids);
        if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
        checker.error_at(where, message);
        graph_ok = false;
      } else if (it->second == k) {
        checker.error_at(where, label + " lists itself in 'inputs'");
        graph_ok = false;
      } else {
        upstream[k].push_back(it->second);
      }
    }
  }
  if (sources == 0) {
    std::vector<std::string> source_types;
    for (const StageTypeInfo* info : checker.registry().stages()) {
      if (info->role == StageRole::Source) source_types.push_back(info->type);
    }
    std::string message = "no source stage: the first stage must read the inputs";
    if (!source_types.empty()) {
      message += " (source types:";
      for (std::size_t i = 0; i < source_types.size(); ++i) message += (i ? ", " : " ") + source_types[i];
      message += ")";
    }
    checker.error_at(declared.front().node, message);
  }
  if (!graph_ok) return {};

  // Depth-first from each stage in file order (so ties keep file order); a back edge is a cycle.
  std::vector<std::size_t> order;
  std::vector<int> state(n, 0);  // 0 new, 1 on the DFS stack, 2 done
  std::vector<std::size_t> stack;
  bool cycle_found = false;
  std::function<void(std::size_t)> visit = [&](std::size_t k) {
    if (cycle_found || state[k] == 2) return;
    state[k] = 1;
    stack.push_back(k);
    for (std::size_t up : upstream[k]) {
      if (state[up] == 1) {
        std::string path;
        auto from = std::find(stack.begin(), stack.end(), up);
        for (auto it = from; it != stack.end(); ++it) path += declared[*it].config.id + " -> ";
        path += declared[up].config.id;
        checker.error_at(declared[k].inputs_node ? declared[k].inputs_node : declared[k].node,
                         "cycle in 'inputs': " + path + " (each stage runs after its inputs)");
        cycle_found = true;
        return;
      }
      visit(up);
      if (cycle_found) return;
    }
    stack.pop_back();
    state[k] = 2;
    order.push_back(k);
  };
  for (std::size_t k = 0; k < n && !cycle_found; ++k) visit(k);
  if (cycle_found) order.clear();
  return order;
}

namespace {

// The stages each stage runs after, directly or not.
std::vector<std::set<std::size_t>> ancestors_of(const std::vector<std::vector<std::size_t>>& upstream,
                                                const std::vector<std::size_t>& order) {
  std::vector<std::set<std::size_t>> ancestors(upstream.size());
  for (std::size_t k : order) {
    for (std::size_t up : upstream[k]) {
      ancestors[k].insert(up);
      ancestors[k].insert(ancestors[up].begin(), ancestors[up].end());
    }
  }
  return ancestors;
}

// Every non-optional read is written by a stage that runs before, with the same type.
void check_reads(Checker& checker, const std::vector<DeclaredStage>& declared,
                 const std::vector<std::set<std::size_t>>& ancestors, const std::vector<std::size_t>& order) {
  const std::size_t n = declared.size();
  std::vector<std::size_t> position_in_order(n);
  for (std::size_t i = 0; i < order.size(); ++i) position_in_order[order[i]] = i;
  for (std::size_t k : order) {
    const StageConfig& config = declared[k].config;
    const std::string label = stage_label(config.id, config.type);
    for (const SlotSpec& read : config.slots.reads) {
      // The writer that runs last before this stage decides what the slot holds.
      const SlotSpec* writer = nullptr;
      std::size_t writer_index = 0;
      for (std::size_t up : ancestors[k]) {
        for (const SlotSpec& write : declared[up].config.slots.writes) {
          if (write.name != read.name) continue;
          if (!writer || position_in_order[up] > position_in_order[writer_index]) {
            writer = &write;
            writer_index = up;
          }
        }
      }
      if (!writer) {
        if (read.optional) continue;
        std::string message = label + " reads slot '" + read.name + "' (" + slot_type_name(read.type) +
                              ") but no stage before it writes it";
        for (std::size_t other = 0; other < n; ++other) {
          if (other == k) continue;
          const auto& writes = declared[other].config.slots.writes;
          if (std::any_of(writes.begin(), writes.end(), [&](const SlotSpec& w) { return w.name == read.name; })) {
            message += " (stage '" + declared[other].config.id + "' writes it but does not run before '" + config.id +
                       "': add it to 'inputs')";
            break;
          }
        }
        checker.error_at(declared[k].node, message);
      } else if (read.type != writer->type && read.type != SlotType::Any && writer->type != SlotType::Any) {
        checker.error_at(declared[k].node, label + " reads slot '" + read.name + "' as " + slot_type_name(read.type) +
                                               " but stage '" + declared[writer_index].config.id + "' writes it as " +
                                               slot_type_name(writer->type));
      }
    }
  }
}

// Stages neither of which runs after the other run concurrently on the same item (each on its own
// overlay of it): they must not write the same slot, and neither may write a slot the other reads,
// or what a slot holds would depend on timing.
void check_concurrent_writes(Checker& checker, const std::vector<DeclaredStage>& declared,
                             const std::vector<std::set<std::size_t>>& ancestors) {
  const std::size_t n = declared.size();
  auto conflict = [&](std::size_t writer, std::size_t other, bool other_writes) {
    const StageConfig& w = declared[writer].config;
    const StageConfig& o = declared[other].config;
    for (const SlotSpec& write : w.slots.writes) {
      const auto& others = other_writes ? o.slots.writes : o.slots.reads;
      for (const SlotSpec& spec : others) {
        if (spec.name != write.name) continue;
        checker.error_at(declared[std::max(writer, other)].node,
                         "stages '" + w.id + "' and '" + o.id + "' run concurrently (neither is among the other's " +
                             "inputs), and '" + w.id + "' writes slot '" + write.name + "', which '" + o.id +
                             (other_writes ? "' writes too" : "' reads") + ": add one to the other's 'inputs'");
        return true;
      }
    }
    return false;
  };
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = a + 1; b < n; ++b) {
      if (ancestors[a].count(b) || ancestors[b].count(a)) continue;
      if (!conflict(a, b, true) && !conflict(a, b, false)) conflict(b, a, false);
    }
  }
}

}  // namespace

void check_slot_flow(Checker& checker, std::vector<DeclaredStage>& declared,
                     const std::vector<std::vector<std::size_t>>& upstream, const std::vector<std::size_t>& order) {
  if (order.empty()) return;
  // A stage of unknown type or with wrong options has unknown slots: checking the others against
  // them would only add noise.
  if (!std::all_of(declared.begin(), declared.end(), [](const DeclaredStage& s) { return s.slots_known; })) return;
  for (std::size_t k : order) {
    StageConfig& config = declared[k].config;
    if (!config.info->slots) continue;
    try {
      config.slots = config.info->slots(config.options);
    } catch (const std::exception& e) {
      checker.error_at(declared[k].node,
                       stage_label(config.id, config.type) + ": cannot declare its slots: " + exception_message(e));
    }
  }
  const auto ancestors = ancestors_of(upstream, order);
  check_reads(checker, declared, ancestors, order);
  check_concurrent_writes(checker, declared, ancestors);
}

}  // namespace lrpflow::pipeline_detail
