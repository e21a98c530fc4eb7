#include "lrpflow/pipeline.h"

#include "lrpflow/option_yaml.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "lrpflow/files.h"
#include "lrpflow/registry.h"
#include "lrpflow/yaml_load.h"
#include "pipeline_checker.h"

namespace lrpflow {
namespace fs = std::filesystem;

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out + ": error: " + message;
}

Result<Override> parse_override(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos) {
    return Status::error("--set '" + abbreviate_for_message(assignment) + "': expected key=value, e.g. runtime.threads=4");
  }
  Override o;
  o.key = assignment.substr(0, eq);
  o.value = assignment.substr(eq + 1);
  o.origin = "--set " + assignment;
  if (o.key.empty() || o.key.front() == '.' || o.key.back() == '.' || o.key.find("..") != std::string::npos) {
    return Status::error("--set '" + abbreviate_for_message(assignment) +
                         "': the key must be a dotted path like stages.lrp.options.rules");
  }
  return o;
}

Result<std::vector<Override>> parse_overrides(const std::vector<std::string>& assignments) {
  std::vector<Override> overrides;
  for (const std::string& assignment : assignments) {
    auto parsed = parse_override(assignment);
    if (!parsed) return parsed.status();
    overrides.push_back(parsed.value());
  }
  return overrides;
}

namespace {

using pipeline_detail::describe_node;

// A flow collection or quoted scalar left open. yaml-cpp reports where it noticed the problem
// (often the start of the next line); the user needs the bracket or quote that began it.
struct OpenConstruct {
  char opener = 0;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  char wrong_closer = 0;  // set when closed by the wrong bracket, at closer_line:closer_column
  int closer_line = 0;
  int closer_column = 0;
};

// Scans YAML text for the innermost '[', '{', '"' or '\'' that is never closed (or closed by the
// wrong bracket). Knows enough YAML to skip comments, block scalars (| and >) and apostrophes
// inside plain words; nullopt when everything it saw is balanced.
std::optional<OpenConstruct> find_unclosed_construct(std::string_view text) {
  std::vector<OpenConstruct> flows;  // open flow collections, innermost last
  std::optional<OpenConstruct> quote;
  int block_parent_indent = -1;  // in a block scalar: lines indented more than this are its text
  int line_number = 0;
  std::size_t line_start = 0;
  while (line_start <= text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    const std::string_view line = text.substr(line_start, line_end - line_start);
    ++line_number;
    line_start = line_end + 1;
    const std::size_t first = line.find_first_not_of(" \t\r");
    const int indent = first == std::string_view::npos ? -1 : static_cast<int>(first);
    if (block_parent_indent >= 0 && !quote) {
      if (indent < 0 || indent > block_parent_indent) continue;
      block_parent_indent = -1;
    }
    bool token_start = true;  // the next character may begin a collection or a quoted scalar
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      const int column = static_cast<int>(i) + 1;
      if (quote) {
        if (quote->opener == '"' && c == '\\') {
          ++i;
        } else if (c == quote->opener) {
          if (c == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
            ++i;  // '' is an escaped quote
          } else {
            quote.reset();
            token_start = false;
          }
        }
        continue;
      }
      if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) break;  // a comment
      if ((c == '"' || c == '\'') && token_start) {
        quote = OpenConstruct{c, line_number, column};
        continue;
      }
      if ((c == '[' || c == '{') && (token_start || !flows.empty())) {
        flows.push_back({c, line_number, column});
        token_start = true;
        continue;
      }
      if ((c == ']' || c == '}') && !flows.empty()) {
        if ((c == ']') != (flows.back().opener == '[')) {
          OpenConstruct wrong = flows.back();
          wrong.wrong_closer = c;
          wrong.closer_line = line_number;
          wrong.closer_column = column;
          return wrong;
        }
        flows.pop_back();
        token_start = false;
        continue;
      }
      if ((c == '|' || c == '>') && token_start && flows.empty()) {
        const std::size_t rest = line.find_first_not_of("0123456789+- \t\r", i + 1);
        if (rest == std::string_view::npos || line[rest] == '#') {
          block_parent_indent = indent;
          break;
        }
      }
      token_start = c == ' ' || c == '\t' || (c == ',' && !flows.empty());
    }
    if (line_end == text.size()) break;
  }
  if (quote) return quote;
  if (!flows.empty()) return flows.back();
  return std::nullopt;
}

// The diagnostic of a yaml-cpp syntax error: at the construct left open when there is one.
Diagnostic syntax_error(std::string_view text, const std::string& file, const YAML::ParserException& e) {
  const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
  const int column = e.mark.is_null() ? 0 : e.mark.column + 1;
  const std::optional<OpenConstruct> open = find_unclosed_construct(text);
  const bool before_error = open && (line == 0 || open->line < line || (open->line == line && open->column <= column));
  if (!before_error) return {file, line, column, "YAML syntax error: " + e.msg};
  const std::string what = open->opener == '"' || open->opener == '\'' ? std::string("the quote ") + open->opener
                                                                       : std::string("the '") + open->opener + "'";
  std::string message = "YAML syntax error: " + what + " here is ";
  if (open->wrong_closer) {
    message += std::string("closed by '") + open->wrong_closer + "' at line " + std::to_string(open->closer_line) +
               ", column " + std::to_string(open->closer_column);
  } else {
    message += "never closed";
  }
  if (line > 0) {
    message += " (the parser stopped at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " +
               e.msg + ")";
  } else {
    message += " (" + e.msg + ")";
  }
  return {file, open->line, open->column, message};
}

Result<std::int64_t> parse_int(const YAML::Node& node) {
  if (!node.IsScalar()) return Status::error("expected an int, got " + describe_node(node));
  const std::string& text = node.Scalar();
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 0);
  if (text.empty() || *end != '\0') return Status::error("expected an int, got " + describe_node(node));
  if (errno == ERANGE) return Status::error(describe_node(node) + " is out of range (more than 64 bits)");
  return static_cast<std::int64_t>(value);
}

Result<double> parse_float(const YAML::Node& node) {
  if (!node.IsScalar()) return Status::error("expected a float, got " + describe_node(node));
  double value = 0;
  // yaml-cpp knows .inf/.nan; strtod checks that the whole text is a number.
  if (YAML::convert<double>::decode(node, value)) return value;
  const std::string& text = node.Scalar();
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') return Status::error("expected a float, got " + describe_node(node));
  return value;
}

Status check_choice(const std::string& value, const OptionSpec& spec) {
  if (spec.choices.empty() || std::find(spec.choices.begin(), spec.choices.end(), value) != spec.choices.end()) {
    return Status::ok();
  }
  std::string message = "'" + abbreviate_for_message(value) + "' is not one of: ";
  for (std::size_t i = 0; i < spec.choices.size(); ++i) message += (i ? ", " : "") + spec.choices[i];
  const std::string hint = did_you_mean(value, spec.choices);
  if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
  return Status::error(message);
}

// A list option's elements: a sequence, or one scalar taken as a one-element list.
Result<std::vector<YAML::Node>> list_elements(const YAML::Node& node, const char* what) {
  std::vector<YAML::Node> out;
  if (node.IsScalar()) {
    out.push_back(node);
    return out;
  }
  if (!node.IsSequence()) return Status::error(std::string("expected ") + what + ", got " + describe_node(node));
  for (const YAML::Node& element : node) out.push_back(element);
  return out;
}

}  // namespace

Result<OptionValue> option_value_from_yaml(const YAML::Node& node, const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::Bool: {
      bool value = false;
      if (node.IsScalar() && YAML::convert<bool>::decode(node, value)) return OptionValue(value);
      return Status::error("expected true or false, got " + describe_node(node));
    }
    case OptionType::Int: {
      auto value = parse_int(node);
      if (!value) return value.status();
      LRPFLOW_RETURN_IF_ERROR(check_int_range(value.value(), spec));
      return OptionValue(value.value());
    }
    case OptionType::Float: {
      auto value = parse_float(node);
      if (!value) return value.status();
      return OptionValue(value.value());
    }
    case OptionType::String: {
      if (!node.IsScalar()) return Status::error("expected a string, got " + describe_node(node));
      LRPFLOW_RETURN_IF_ERROR(check_choice(node.Scalar(), spec));
      return OptionValue(node.Scalar());
    }
    case OptionType::StringList: {
      auto elements = list_elements(node, "a list of strings");
      if (!elements) return elements.status();
      std::vector<std::string> values;
      for (const YAML::Node& element : elements.value()) {
        if (!element.IsScalar()) return Status::error("expected a list of strings, got an element " + describe_node(element));
        LRPFLOW_RETURN_IF_ERROR(check_choice(element.Scalar(), spec));
        values.push_back(element.Scalar());
      }
      return OptionValue(std::move(values));
    }
    case OptionType::IntList: {
      auto elements = list_elements(node, "a list of ints");
      if (!elements) return elements.status();
      std::vector<std::int64_t> values;
      for (const YAML::Node& element : elements.value()) {
        auto value = parse_int(element);
        if (!value) return Status::error("in the list: " + value.status().message());
        const Status in_range = check_int_range(value.value(), spec);
        if (!in_range) return Status::error("in the list: " + in_range.message());
        values.push_back(value.value());
      }
      return OptionValue(std::move(values));
    }
    case OptionType::FloatList: {
      auto elements = list_elements(node, "a list of floats");
      if (!elements) return elements.status();
      std::vector<double> values;
      for (const YAML::Node& element : elements.value()) {
        auto value = parse_float(element);
        if (!value) return Status::error("in the list: " + value.status().message());
        values.push_back(value.value());
      }
      return OptionValue(std::move(values));
    }
    case OptionType::Yaml: {
      YAML::Emitter out;
      out << node;
      return OptionValue(YamlText{out.c_str()});
    }
  }
  return Status::error("unknown option type");
}

namespace pipeline_detail {

std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return "'" + abbreviate_for_message(node.Scalar()) + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Null: return "nothing";
    default: return "an undefined value";
  }
}

void Checker::apply_overrides(YAML::Node& root, const std::vector<Override>& overrides) {
  for (const Override& o : overrides) {
    YAML::Node value;
    if (o.literal_string) {
      value = YAML::Node(o.value);
    } else {
      // A command-line value is a scalar or a plain flow collection: an alias there could only be
      // a mistake or an attack (`&a [*a]` is a cycle, nested aliases a memory bomb).
      YamlLoadLimits no_aliases;
      no_aliases.allow_aliases = false;
      try {
        value = load_yaml(o.value, no_aliases);
      } catch (const YamlContentError& e) {
        error_in_override(o, "the value is refused: " + e.msg +
                                 " (values given with --set are scalars or plain lists and maps)");
        continue;
      } catch (const YAML::Exception& e) {
        error_in_override(o, "the value is not valid YAML: " + e.msg);
        continue;
      }
    }
    std::vector<std::string> path;
    std::size_t start = 0;
    while (true) {
      const auto dot = o.key.find('.', start);
      path.push_back(o.key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    // Walk with reset(): assigning one YAML::Node to another would overwrite the tree.
    YAML::Node current;
    current.reset(root);
    std::string walked;
    bool failed = false;
    for (std::size_t i = 0; i < path.size() && !failed; ++i) {
      const std::string& segment = path[i];
      const bool last = i + 1 == path.size();
      if (current.IsSequence()) {
        // Stages are addressed by id (or by position as a fallback).
        YAML::Node found;
        bool is_found = false;
        for (std::size_t k = 0; k < current.size() && !is_found; ++k) {
          const YAML::Node element = current[k];
          if (element.IsMap() && element["id"] && element["id"].IsScalar() && element["id"].Scalar() == segment) {
            found.reset(current[k]);
            is_found = true;
          }
        }
        if (!is_found && !segment.empty() && segment.size() < 9 &&
            segment.find_first_not_of("0123456789") == std::string::npos && std::stoul(segment) < current.size()) {
          found.reset(current[std::stoul(segment)]);
          is_found = true;
        }
        if (!is_found) {
          error_in_override(o, "'" + walked + "' has no element with id '" + segment + "'");
          failed = true;
          break;
        }
        if (last) {
          error_in_override(o, "cannot replace a whole list element; set one of its keys instead");
          failed = true;
          break;
        }
        current.reset(found);
      } else if (current.IsMap() || current.IsNull()) {
        const bool existed = current.IsMap() && static_cast<const YAML::Node&>(current)[segment].IsDefined();
        YAML::Node parent;
        parent.reset(current);
        if (last) {
          current[segment] = value;
          remember_override_nodes(value, o.origin);
        } else {
          YAML::Node child = current[segment];
          if (!child || child.IsNull()) {
            current[segment] = YAML::Node(YAML::NodeType::Map);
            child.reset(current[segment]);
            override_nodes_.emplace_back(child, o.origin);
          }
          current.reset(child);
        }
        // A key the override added exists only on the command line: errors about it (an unknown
        // option, a misspelt section) name the --set, not a line of the file.
        if (!existed) remember_override_key(parent, segment, o.origin);
      } else {
        error_in_override(o, "'" + walked + "' is " + describe_node(current) + ", not a map");
        failed = true;
      }
      walked += (walked.empty() ? "" : ".") + segment;
    }
  }
}

void Checker::check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& where) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string message = "unknown key '" + abbreviate_for_message(key) + "' in " + where;
    const std::string hint = did_you_mean(key, allowed);
    if (!hint.empty()) {
      message += " (did you mean '" + hint + "'?)";
    } else {
      message += "; expected one of:";
      for (std::size_t i = 0; i < allowed.size(); ++i) message += (i ? ", " : " ") + allowed[i];
    }
    error_at(it->first, message);
  }
}

Options Checker::check_options(const YAML::Node& options_node, const YAML::Node& owner_node,
                               const std::vector<OptionSpec>& schema, const std::string& owner) {
  std::map<std::string, OptionValue> values;
  std::vector<std::string> names;
  for (const OptionSpec& spec : schema) names.push_back(spec.name);
  std::set<std::string> given;
  if (options_node && !options_node.IsNull()) {
    if (!options_node.IsMap()) {
      error_at(options_node, owner + ": 'options' must be a map, got " + describe_node(options_node));
    } else {
      for (auto it = options_node.begin(); it != options_node.end(); ++it) {
        const std::string name = it->first.IsScalar() ? it->first.Scalar() : "?";
        auto spec = std::find_if(schema.begin(), schema.end(), [&](const OptionSpec& s) { return s.name == name; });
        if (spec == schema.end()) {
          std::string message = owner + ": unknown option '" + abbreviate_for_message(name) + "'";
          const std::string hint = did_you_mean(name, names);
          if (!hint.empty()) {
            message += " (did you mean '" + hint + "'?)";
          } else if (names.empty()) {
            message += " (it takes no options)";
          } else {
            message += "; its options are:";
            for (std::size_t i = 0; i < names.size(); ++i) message += (i ? ", " : " ") + names[i];
          }
          error_at(it->first, message);
          continue;
        }
        given.insert(name);
        auto value = option_value_from_yaml(it->second, *spec);
        if (!value) {
          error_at(it->second, owner + ": option '" + name + "' (" + option_type_name(spec->type) +
                                   "): " + value.status().message());
          continue;
        }
        values[name] = value.value();
      }
    }
  }
  for (const OptionSpec& spec : schema) {
    if (given.count(spec.name)) continue;
    if (spec.required) {
      error_at(owner_node, owner + ": missing required option '" + spec.name + "' (" +
                               option_type_name(spec.type) + (spec.help.empty() ? "" : ": " + spec.help) + ")");
      continue;
    }
    values[spec.name] = spec.default_value;
  }
  return Options(std::move(values));
}

std::string stage_label(const std::string& id, const std::string& type) {
  if (id.empty()) return "stage of type '" + type + "'";
  return "stage '" + id + "'";
}

}  // namespace pipeline_detail

namespace {

using namespace pipeline_detail;

RuntimeConfig check_runtime(Checker& checker, const YAML::Node& node) {
  RuntimeConfig config;
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const std::vector<OptionSpec> schema = {
      {"threads", OptionType::Int, std::int64_t{cores}, "worker threads", false, {}},
      {"max_in_flight", OptionType::Int, std::monostate{}, "items in the graph at once", false, {}},
      {"on_error", OptionType::String, std::string("skip"), "what a failed item does to the run", false, {"skip", "fail"}},
      {"intra_op_threads", OptionType::Int, std::int64_t{1}, "LibTorch threads per worker", false, {}},
  };
  YAML::Node owner = node;
  const Options options = checker.check_options(node, owner, schema, "runtime");
  auto positive = [&](const char* name, int fallback) {
    if (!options.has(name)) return fallback;
    const std::int64_t value = options.get_int(name);
    if (value < 1 || value > 4096) {
      checker.error_at(node[name], std::string("runtime: '") + name + "' must be between 1 and 4096, got " +
                                       std::to_string(value));
      return fallback;
    }
    return static_cast<int>(value);
  };
  config.threads = positive("threads", cores);
  config.max_in_flight = positive("max_in_flight", 2 * config.threads);
  config.intra_op_threads = positive("intra_op_threads", 1);
  if (options.has("on_error")) config.on_error = options.get_string("on_error") == "fail" ? OnError::Fail : OnError::Skip;
  return config;
}

void check_version(Checker& checker, const YAML::Node& root) {
  const YAML::Node version = root["version"];
  if (!version) {
    checker.error_at(root, "missing 'version' (this lrpflow reads 'version: " + std::to_string(kPipelineFormatVersion) +
                               "')");
    return;
  }
  auto number = parse_int(version);
  if (!number || number.value() != kPipelineFormatVersion) {
    checker.error_at(version, "unsupported version " + describe_node(version) + " (this lrpflow reads 'version: " +
                                  std::to_string(kPipelineFormatVersion) + "')");
  }
}

// `resources:`, in declaration order, with `ok` false for each one whose type, options or the
// resources it names are wrong.
std::vector<std::pair<ResourceConfig, bool>> parse_resources(Checker& checker, const YAML::Node& root) {
  std::vector<std::pair<ResourceConfig, bool>> parsed;
  const YAML::Node resources = root["resources"];
  if (!resources || resources.IsNull()) return parsed;
  if (!resources.IsMap()) {
    checker.error_at(resources, "'resources' must be a map of name: {type, options}, got " + describe_node(resources));
    return parsed;
  }
  const PluginRegistry& registry = checker.registry();
  std::vector<std::string> resource_types;
  for (const ResourceTypeInfo* info : registry.resources()) resource_types.push_back(info->type);
  for (auto it = resources.begin(); it != resources.end(); ++it) {
    ResourceConfig config;
    config.name = it->first.IsScalar() ? it->first.Scalar() : "?";
    std::tie(config.line, config.column) = checker.position(it->first);
    const std::string label = "resource '" + config.name + "'";
    const YAML::Node body = it->second;
    if (!body.IsMap()) {
      checker.error_at(body, label + " must be a map with 'type' and 'options', got " + describe_node(body));
      parsed.emplace_back(std::move(config), false);
      continue;
    }
    const std::size_t errors_before = checker.diagnostics.size();
    checker.check_keys(body, {"type", "options"}, label);
    const YAML::Node type = body["type"];
    if (!type || !type.IsScalar()) {
      checker.error_at(type ? type : it->first, label + " has no 'type'");
      parsed.emplace_back(std::move(config), false);
      continue;
    }
    config.type = type.Scalar();
    config.info = registry.find_resource(config.type);
    if (!config.info) {
      std::string message = label + ": unknown resource type '" + config.type + "'";
      const std::string hint = did_you_mean(config.type, resource_types);
      if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
      else if (resource_types.empty()) message += " (no plugin provides resource types; check --plugin-path)";
      checker.error_at(type, message);
      parsed.emplace_back(std::move(config), false);
      continue;
    }
    config.options = checker.check_options(body["options"], it->first, config.info->options, label);
    // Options that name another resource: declared before this one (creation order), of the type.
    for (const OptionSpec& spec : config.info->options) {
      if (spec.resource_type.empty() || !config.options.has(spec.name)) continue;
      const std::string* named = std::get_if<std::string>(&config.options.values().at(spec.name));
      if (!named || named->empty()) continue;  // "": none (an optional resource)
      auto earlier = std::find_if(parsed.begin(), parsed.end(),
                                  [&](const auto& r) { return r.first.name == *named; });
      const YAML::Node where =
          body["options"] && body["options"].IsMap() && body["options"][spec.name] ? body["options"][spec.name] : it->first;
      if (earlier == parsed.end()) {
        checker.error_at(where, label + ": option '" + spec.name + "' names resource '" + *named +
                                    "', which is not declared before it (declare a " + spec.resource_type +
                                    " resource of that name above this one)");
      } else if (earlier->first.info && earlier->first.type != spec.resource_type) {  // no info: reported already
        checker.error_at(where, label + ": option '" + spec.name + "' names resource '" + *named + "', a " +
                                    earlier->first.type + ", not a " + spec.resource_type);
      }
    }
    const bool ok = checker.diagnostics.size() == errors_before;
    parsed.emplace_back(std::move(config), ok);
  }
  return parsed;
}

// A stage option that names a resource (OptionSpec::resource_type) must name one of that type.
// A name written in the file must be declared; a default that names nothing is left to the stage,
// whose open() says so when it needs the resource (many use theirs only in some modes).
void check_stage_resource_options(Checker& checker, const DeclaredStage& stage, const std::string& label,
                                  const std::vector<std::pair<ResourceConfig, bool>>& resources) {
  const StageConfig& config = stage.config;
  const YAML::Node options = stage.node["options"];
  for (const OptionSpec& spec : config.info->options) {
    if (spec.resource_type.empty() || !config.options.has(spec.name)) continue;
    const std::string* named = std::get_if<std::string>(&config.options.values().at(spec.name));
    if (!named || named->empty()) continue;  // "": none (an optional resource)
    const YAML::Node written = options && options.IsMap() ? options[spec.name] : YAML::Node(YAML::NodeType::Undefined);
    auto declared = std::find_if(resources.begin(), resources.end(), [&](const auto& r) { return r.first.name == *named; });
    if (declared == resources.end()) {
      if (written) {
        checker.error_at(written, label + ": option '" + spec.name + "' names resource '" + *named +
                                      "', which is not declared (declare a " + spec.resource_type +
                                      " resource of that name under 'resources')");
      }
    } else if (declared->first.info && declared->first.type != spec.resource_type) {
      checker.error_at(written ? written : stage.node, label + ": option '" + spec.name + "' names resource '" + *named +
                                                           "', a " + declared->first.type + ", not a " + spec.resource_type);
    }
  }
}

// `stages:`, in file order, with their ids, types, options and inputs as written.
std::vector<DeclaredStage> parse_stages(Checker& checker, const YAML::Node& root,
                                        const std::vector<std::pair<ResourceConfig, bool>>& resources) {
  std::vector<DeclaredStage> declared;
  const YAML::Node stages = root["stages"];
  if (!stages) {
    checker.error_at(root, "missing 'stages' (a list of stages, the source first)");
    return declared;
  }
  if (!stages.IsSequence() || stages.size() == 0) {
    checker.error_at(stages, "'stages' must be a non-empty list, got " + describe_node(stages));
    return declared;
  }
  const PluginRegistry& registry = checker.registry();
  const std::vector<std::string> stage_types = registry.stage_type_names();
  std::map<std::string, int> line_of_id;
  for (std::size_t k = 0; k < stages.size(); ++k) {
    const YAML::Node node = stages[k];
    const YAML::Node inputs = node.IsMap() ? node["inputs"] : YAML::Node();
    // Copy-constructed: assigning a YAML::Node assigns its contents (and throws for a missing one).
    DeclaredStage stage{{}, node, inputs};
    StageConfig& config = stage.config;
    std::tie(config.line, config.column) = checker.position(node);
    if (!node.IsMap()) {
      checker.error_at(node, "stage " + std::to_string(k + 1) + " must be a map with id, type, options, got " +
                                 describe_node(node));
      continue;
    }
    const YAML::Node id = node["id"];
    const YAML::Node type = node["type"];
    if (type && type.IsScalar()) config.type = type.Scalar();
    if (!id) {
      checker.error_at(node, "stage " + std::to_string(k + 1) + (config.type.empty() ? "" : " (" + config.type + ")") +
                                 " has no 'id'");
    } else if (!id.IsScalar() || id.Scalar().empty()) {
      checker.error_at(id, "stage " + std::to_string(k + 1) + ": 'id' must be a non-empty name, got " + describe_node(id));
    } else {
      config.id = id.Scalar();
      if (config.id.find('.') != std::string::npos) {
        checker.error_at(id, "stage id '" + config.id + "' must not contain '.' (ids are used in --set keys)");
      }
      auto [it, inserted] = line_of_id.emplace(config.id, config.line);
      if (!inserted) {
        checker.error_at(id, "duplicate stage id '" + config.id + "' (first used at line " + std::to_string(it->second) + ")");
      }
    }
    const std::string label = stage_label(config.id, config.type);
    checker.check_keys(node, {"id", "type", "inputs", "options"}, label);
    if (!type) {
      checker.error_at(node, label + " has no 'type'");
    } else if (!type.IsScalar()) {
      checker.error_at(type, label + ": 'type' must be a name, got " + describe_node(type));
    } else {
      config.info = registry.find_stage(config.type);
      if (!config.info) {
        std::string message = label + ": unknown stage type '" + config.type + "'";
        const std::string hint = did_you_mean(config.type, stage_types);
        if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
        else if (stage_types.empty()) message += " (no plugins are loaded; check --plugin-path)";
        else message += " (see 'lrpflow plugins')";
        checker.error_at(type, message);
      }
    }
    if (config.info) {
      const std::size_t errors_before_options = checker.diagnostics.size();
      config.options = checker.check_options(node["options"], node, config.info->options, label);
      stage.slots_known = checker.diagnostics.size() == errors_before_options;
      if (stage.slots_known) check_stage_resource_options(checker, stage, label, resources);
      stage.openable = checker.diagnostics.size() == errors_before_options;
    }
    if (inputs) {
      if (inputs.IsScalar()) {
        config.inputs.push_back(inputs.Scalar());
      } else if (inputs.IsSequence()) {
        for (const YAML::Node& input : inputs) {
          if (input.IsScalar()) {
            config.inputs.push_back(input.Scalar());
          } else {
            checker.error_at(input, label + ": 'inputs' lists stage ids, got " + describe_node(input));
          }
        }
      } else if (!inputs.IsNull()) {
        checker.error_at(inputs, label + ": 'inputs' must be a list of stage ids, got " + describe_node(inputs));
      }
    }
    declared.push_back(std::move(stage));
  }
  return declared;
}

// `runtime:` and `output:`.
void parse_runtime_and_output(Checker& checker, const YAML::Node& root, Pipeline& pipeline) {
  const YAML::Node runtime = root["runtime"];
  if (runtime && !runtime.IsNull() && !runtime.IsMap()) {
    checker.error_at(runtime, "'runtime' must be a map, got " + describe_node(runtime));
  } else {
    pipeline.runtime = check_runtime(checker, runtime);
  }
  pipeline.output_dir = fs::path("out") / pipeline.file.stem();
  const YAML::Node output = root["output"];
  if (!output || output.IsNull()) return;
  if (!output.IsMap()) {
    checker.error_at(output, "'output' must be a map like {dir: out/run}, got " + describe_node(output));
    return;
  }
  checker.check_keys(output, {"dir", "report", "layout"}, "output");
  const YAML::Node layout = output["layout"];
  if (layout) {
    auto parsed = parse_output_layout(layout.IsScalar() ? layout.Scalar() : "");
    if (!parsed) {
      checker.error_at(layout, "output: 'layout' must be per_item or flat, got " + describe_node(layout));
    } else {
      pipeline.output_layout = parsed.value();
    }
  }
  const YAML::Node report = output["report"];
  if (report) {
    bool value = false;
    if (!report.IsScalar() || !YAML::convert<bool>::decode(report, value)) {
      checker.error_at(report, "output: 'report' must be true or false, got " + describe_node(report));
    } else {
      pipeline.write_report = value;
    }
  }
  const YAML::Node dir = output["dir"];
  if (dir) {
    if (!dir.IsScalar() || dir.Scalar().empty()) {
      checker.error_at(dir, "output: 'dir' must be a directory path, got " + describe_node(dir));
    } else {
      pipeline.output_dir = dir.Scalar();
    }
  }
}

}  // namespace

// Parsing (the document into declarations), graph building (pipeline_graph.cpp) and validation of
// the slots along the graph, each adding what it finds to one list of diagnostics.
PipelineLoad parse_pipeline(std::string_view text, const fs::path& file, const std::vector<Override>& overrides,
                            const PluginRegistry& registry) {
  PipelineLoad load;
  Checker checker(file.string(), registry);

  YAML::Node loaded;
  try {
    loaded = load_yaml(std::string(text));
  } catch (const YamlContentError& e) {
    load.diagnostics.push_back({file.string(), e.mark.line + 1, e.mark.column + 1, e.msg});
    return load;
  } catch (const YAML::ParserException& e) {
    load.diagnostics.push_back(syntax_error(text, file.string(), e));
    return load;
  } catch (const YAML::Exception& e) {
    load.diagnostics.push_back({file.string(), 0, 0, "cannot parse YAML: " + e.msg});
    return load;
  }
  // Only read through a const node from here on: non-const operator[] can add keys to the tree.
  const YAML::Node root = loaded;
  if (!root || root.IsNull()) {
    checker.error_in_file("the pipeline is empty (expected a map with version, stages, ...)");
    load.diagnostics = std::move(checker.diagnostics);
    return load;
  }
  if (!root.IsMap()) {
    checker.error_at(root, "a pipeline is a YAML map (version, resources, stages, runtime, output), got " +
                               describe_node(root));
    load.diagnostics = std::move(checker.diagnostics);
    return load;
  }
  checker.apply_overrides(loaded, overrides);

  Pipeline pipeline;
  pipeline.file = file;
  pipeline.base_dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  pipeline.text = std::string(text);
  for (const Override& o : overrides) pipeline.overrides.push_back(o.origin);

  checker.check_keys(root, {"version", "resources", "stages", "runtime", "output"}, "the pipeline");
  check_version(checker, root);
  const auto resources = parse_resources(checker, root);
  std::vector<DeclaredStage> declared = parse_stages(checker, root, resources);
  parse_runtime_and_output(checker, root, pipeline);

  std::vector<std::vector<std::size_t>> upstream;
  const std::vector<std::size_t> order = build_stage_graph(checker, declared, upstream);
  check_slot_flow(checker, declared, upstream, order);

  load.diagnostics = std::move(checker.diagnostics);
  if (load.diagnostics.empty()) {
    for (const auto& [config, ok] : resources) pipeline.resources.push_back(config);
    for (std::size_t k : order) pipeline.stages.push_back(declared[k].config);
    load.pipeline = std::move(pipeline);
  } else {
    // What validate can still open: the well-declared resources and stages, in file order.
    for (const auto& [config, ok] : resources) {
      if (ok) pipeline.resources.push_back(config);
      else load.unopenable_resources.insert(config.name);
    }
    for (const DeclaredStage& stage : declared)
      if (stage.openable) pipeline.stages.push_back(stage.config);
    load.partial = std::move(pipeline);
  }
  return load;
}

PipelineLoad load_pipeline(const fs::path& file, const std::vector<Override>& overrides,
                           const PluginRegistry& registry) {
  auto text = read_file(file);
  if (!text) {
    PipelineLoad load;
    // read_file's message starts with the path, which the diagnostic shows already.
    std::string message = text.status().message();
    const std::string prefix = file.string() + ": ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    load.diagnostics.push_back({file.string(), 0, 0, "cannot read the pipeline: " + message});
    return load;
  }
  return parse_pipeline(text.value(), file, overrides, registry);
}

std::string overrides_under(const Pipeline& pipeline, const std::string& prefix) {
  std::string given;
  for (const std::string& origin : pipeline.overrides) {
    if (origin.rfind("--set " + prefix, 0) == 0) given += (given.empty() ? "" : ", ") + origin;
  }
  return given.empty() ? "" : " (options given by " + given + ")";
}

CheckedOptions check_options_yaml(const YAML::Node& options, const std::vector<OptionSpec>& schema,
                                  const std::string& owner, const fs::path& file, const PluginRegistry& registry) {
  Checker checker(file.string(), registry);
  CheckedOptions checked;
  checked.options = checker.check_options(options, options, schema, owner);
  checked.diagnostics = std::move(checker.diagnostics);
  return checked;
}

}  // namespace lrpflow
