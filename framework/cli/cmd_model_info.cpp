// `lrpflow model-info MODEL [--input-shape C,H,W] [--ruleset NAME [--param RULE.KEY=VALUE]...]`:
// prints the imported layer graph (names = module paths, kinds, inputs, shapes, parameters) and,
// with --ruleset, the rule each layer gets. Exit code 2 when the model cannot be imported.
#include <cstdio>

#include "commands.h"
#include "lrpflow/log.h"
#include "lrpflow/lrp/model_import.h"
#include "lrpflow/lrp/ruleset.h"

namespace lrpflow::cli {

namespace {

struct ModelInfoArgs {
  std::string model;
  std::vector<std::int64_t> input_shape;
  std::int64_t seed = 0;
  std::string ruleset;
  std::vector<std::string> params;
};

}  // namespace

void add_model_info_command(CLI::App& app, CliGlobals& globals) {
  auto args = std::make_shared<ModelInfoArgs>();
  CLI::App* cmd = app.add_subcommand("model-info", "Print a model's layer graph as the LRP engine sees it");
  cmd->add_option("model", args->model, "TorchScript (.pt) or YAML (.yaml) model")->required();
  cmd->add_option("--input-shape", args->input_shape, "Per-sample input shape, e.g. 3,224,224 (enables shapes)")
      ->delimiter(',')
      ->type_name("C,H,W");
  cmd->add_option("--seed", args->seed, "YAML models without weights: seed of the random weights");
  cmd->add_option("--ruleset", args->ruleset, "Also show the rule of every layer (rule set name or file)");
  cmd->add_option("--param", args->params, "Rule parameter override RULE.KEY=VALUE (repeatable)")->type_name("RULE.KEY=VALUE");
  cmd->callback([args, &globals] {
    lrp::ModelLoadOptions options;
    options.input_shape = args->input_shape;
    options.seed = static_cast<std::uint64_t>(args->seed);
    auto model = lrp::load_model(args->model, options);
    if (!model) {
      log_error(model.status().message());
      globals.exit_code = kExitInvalid;
      return;
    }
    std::fputs(model.value()->describe().c_str(), stdout);
    if (!args->ruleset.empty()) {
      auto spec = lrp::find_ruleset(args->ruleset);
      if (!spec) {
        log_error(spec.status().message());
        globals.exit_code = kExitInvalid;
        return;
      }
      for (const auto& p : args->params) {
        Status status = lrp::add_param_override(spec.value(), p);
        if (!status) {
          log_error(status.message());
          globals.exit_code = kExitInvalid;
          return;
        }
      }
      auto bound = lrp::RuleSet::bind(spec.value(), model.value(), lrp::rule_types(globals.registry()));
      if (!bound) {
        log_error(bound.status().message());
        globals.exit_code = kExitInvalid;
        return;
      }
      std::fputs(("\n" + bound.value()->describe()).c_str(), stdout);
    }
    globals.exit_code = kExitOk;
  });
}

}  // namespace lrpflow::cli
