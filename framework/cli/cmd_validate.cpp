// `lrpflow validate FILE [--set key=value]...`: checks a pipeline without running it: the file, the
// stages and their options, the graph, and then the resources, opened as `run` opens them (models
// imported, rule sets bound), each problem printed with its position.
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/open_resources.h"
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
    const PipelineLoad load = load_pipeline(args->file, overrides, globals.registry());
    for (const Diagnostic& d : load.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    if (!load.ok()) {
      globals.exit_code = 1;
      return;
    }
    const OpenedResources opened = open_resources(*load.pipeline, globals.registry());
    for (const Diagnostic& d : opened.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    for (const std::string& warning : opened.warnings) log_warn(warning);
    if (!opened.ok()) {
      globals.exit_code = 1;
      return;
    }
    std::printf("%s: ok\n", args->file.c_str());
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
