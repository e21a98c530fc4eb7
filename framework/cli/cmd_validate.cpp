// `lrpflow validate FILE [--set key=value]...`: checks a pipeline without running it: the file, the
// stages and their options, the graph, the resources and the stages, opened as `run` opens them
// (models imported, rule sets bound, layer names checked) and closed without writing anything.
// Every problem is printed in one pass, in file order, with its position.
#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/open_resources.h"
#include "lrpflow/open_stages.h"
#include "lrpflow/pipeline.h"

namespace lrpflow::cli {

void add_validate_command(CLI::App& app, CliGlobals& globals) {
  CLI::App* cmd = app.add_subcommand("validate", "Check a pipeline file and print every problem found");
  struct Args {
    std::string file;
    std::vector<std::string> sets;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("FILE", args->file, "Pipeline YAML file")->required();
  cmd->add_option("--set", args->sets, "Override a value: key.path=value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->callback([&globals, args] {
    auto parsed = parse_overrides(args->sets);
    if (!parsed) {
      log_error(parsed.status().message());
      globals.exit_code = kExitInvalid;
      return;
    }
    std::vector<Override> overrides = parsed.value();
    PipelineLoad load = load_pipeline(args->file, overrides, globals.registry());
    std::vector<Diagnostic> problems = std::move(load.diagnostics);
    // What parsed is opened even when something else is wrong, so that one pass finds everything:
    // resources (models imported, rule sets bound), then stages (layer names, option combinations).
    const Pipeline* pipeline = load.pipeline ? &*load.pipeline : load.partial ? &*load.partial : nullptr;
    if (pipeline) {
      OpenedResources opened = open_resources(*pipeline, globals.registry(), load.unopenable_resources);
      for (const std::string& warning : opened.warnings) log_warn(warning);
      StageOpenOptions stage_options;
      stage_options.stop_at_first_failure = false;
      stage_options.failed_resources = load.unopenable_resources;
      for (const ResourceConfig& config : pipeline->resources)
        if (!opened.resources.has(config.name)) stage_options.failed_resources.insert(config.name);
      problems.insert(problems.end(), opened.diagnostics.begin(), opened.diagnostics.end());
      // Closed again (with nothing_ran) when `stages` goes: validate writes nothing.
      OpenedStages stages = open_stages(*pipeline, globals.registry(), opened.resources, stage_options);
      problems.insert(problems.end(), stages.diagnostics.begin(), stages.diagnostics.end());
    }
    // In file order; problems without a position (an override, the file as a whole) first.
    std::stable_sort(problems.begin(), problems.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    for (const Diagnostic& d : problems) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    if (!problems.empty()) {
      globals.exit_code = 1;
      return;
    }
    std::printf("%s: ok\n", args->file.c_str());
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
