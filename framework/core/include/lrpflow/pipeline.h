// Pipeline: a YAML pipeline file, parsed and checked against the loaded plugins.
//
// The format is documented in docs/pipeline-format.md. Loading runs in three parts, each adding to
// one list of diagnostics: parsing the document into declarations (pipeline.cpp), building the
// stage graph, and checking the slots along it (pipeline_graph.cpp). It never stops at the first problem:
// every error found (YAML syntax, unknown keys, stage types and options with did-you-mean hints,
// missing required options, bad or duplicate ids, unknown inputs, cycles, slots read but never
// written, more or fewer than one source stage, unknown resource types) comes back as a Diagnostic
// with file, line and column, so that one `lrpflow validate` shows them all.
//
// `--set key=value` overrides are applied to the YAML tree before it is checked: keys are dotted
// paths (`runtime.threads`, `output.dir`, `stages.<id>.options.<name>`, where stages are
// addressed by id) and values are parsed as YAML (`4`, `zplus`, `[a, b]`).
//
// A Pipeline is plain data: building it runs no plugin code except the stage types' `slots`
// functions. Thread safety: none needed, it is built once and then read.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "lrpflow/options.h"
#include "lrpflow/resource.h"
#include "lrpflow/stage.h"
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

inline constexpr int kPipelineFormatVersion = 1;

// One problem in a pipeline, pointing at the place it is written. `line` and `column` start at 1;
// 0 means "no position" (a problem in a --set override, or with the file as a whole).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  // "file:line:column: error: message" (without the position when there is none).
  std::string to_string() const;
};

// One `--set key=value`.
struct Override {
  std::string key;              // dotted path, e.g. "stages.lrp.options.rules"
  std::string value;            // YAML text, or a plain string when literal_string is set
  std::string origin;           // how the user wrote it, for messages: "--set runtime.threads=4"
  bool literal_string = false;  // take `value` as a string as is (paths from --out)
};
// Parses "key=value" (as written after --set); the error says what is wrong with it.
Result<Override> parse_override(const std::string& assignment);
// parse_override() for each `--set` of a command line; the first bad one is the error.
Result<std::vector<Override>> parse_overrides(const std::vector<std::string>& assignments);

enum class OnError { Skip, Fail };

struct RuntimeConfig {
  int threads = 1;           // worker threads of the run (default: the number of cores)
  int max_in_flight = 2;     // items between the source and the end of the graph (default: 2 x threads)
  OnError on_error = OnError::Skip;
  int intra_op_threads = 1;  // LibTorch intra-op threads per worker
};

struct StageConfig {
  std::string id;
  std::string type;
  std::vector<std::string> inputs;  // ids of the stages it runs after
  Options options;                  // validated, defaults filled in
  const StageTypeInfo* info = nullptr;
  SlotDeclaration slots;            // what info->slots(options) declared
  int line = 0;                     // where the stage is written
  int column = 0;
};

struct ResourceConfig {
  std::string name;
  std::string type;
  Options options;
  const ResourceTypeInfo* info = nullptr;
  int line = 0;
  int column = 0;
};

struct Pipeline {
  std::filesystem::path file;              // as given on the command line
  std::filesystem::path base_dir;          // directory of the file: stages resolve relative inputs here
  std::string text;                        // the file's text, as read
  std::vector<std::string> overrides;      // the overrides applied, as the user wrote them
  std::vector<ResourceConfig> resources;   // in creation (declaration) order
  std::vector<StageConfig> stages;         // in execution order: the source first, then a
                                           // topological order of `inputs` (ties: file order)
  RuntimeConfig runtime;
  std::filesystem::path output_dir;        // `output.dir`; relative paths are relative to the
                                           // current directory (default: out/<file stem>)
  bool write_report = true;                // `output.report`: build DIR/report/ (HTML) after the run
  OutputLayout output_layout = OutputLayout::PerItem;  // `output.layout`: per_item or flat
  const StageConfig& source() const { return stages.front(); }
};

struct PipelineLoad {
  std::optional<Pipeline> pipeline;      // set only when there are no diagnostics
  // When there are diagnostics but the file parsed: the resources and stages that are declared
  // well enough to open (known type, valid options), in file order, with no graph. `lrpflow
  // validate` opens them so that one pass reports every problem, a model file or layer name too.
  std::optional<Pipeline> partial;
  std::set<std::string> unopenable_resources;  // declared in `partial`'s file, but not well enough to open
  std::vector<Diagnostic> diagnostics;   // in the order found (roughly file order)
  bool ok() const { return pipeline.has_value() && diagnostics.empty(); }
};

// The --set overrides that reach into `prefix` ("stages.lrp."), as " (options given by ...)", or
// "": an open() failure names them, since a value they set is the likely cause.
std::string overrides_under(const Pipeline& pipeline, const std::string& prefix);

// The options of one stage or resource type from a YAML map (or null: none given), checked
// exactly as a pipeline checks them: unknown names with hints, types, choices, ranges, required
// options, defaults. Problems are positioned in `file` and name `owner`. StageRunner uses it.
struct CheckedOptions {
  Options options;
  std::vector<Diagnostic> diagnostics;
};
CheckedOptions check_options_yaml(const YAML::Node& options, const std::vector<OptionSpec>& schema,
                                  const std::string& owner, const std::filesystem::path& file,
                                  const PluginRegistry& registry);

// Reads, parses and checks a pipeline file.
PipelineLoad load_pipeline(const std::filesystem::path& file, const std::vector<Override>& overrides,
                           const PluginRegistry& registry);
// The same for text already in memory; `file` names it in diagnostics and gives base_dir.
PipelineLoad parse_pipeline(std::string_view text, const std::filesystem::path& file,
                            const std::vector<Override>& overrides, const PluginRegistry& registry);

}  // namespace lrpflow
