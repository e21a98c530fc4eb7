#include "lrpflow/open_resources.h"

#include <exception>
#include <set>
#include <variant>

#include "lrpflow/status.h"

namespace lrpflow {

const std::string* failed_resource_named(const std::vector<OptionSpec>& schema, const Options& options,
                                         const std::set<std::string>& failed) {
  if (failed.empty()) return nullptr;
  for (const OptionSpec& spec : schema) {
    if (spec.resource_type.empty() || !options.has(spec.name)) continue;
    const std::string* named = std::get_if<std::string>(&options.values().at(spec.name));
    if (named && failed.count(*named)) return named;
  }
  return nullptr;
}

OpenedResources open_resources(const Pipeline& pipeline, const PluginRegistry& registry,
                               const std::set<std::string>& failed_before) {
  OpenedResources opened;
  std::set<std::string> failed = failed_before;
  for (const ResourceConfig& config : pipeline.resources) {
    const std::string where = "resource '" + config.name + "' (" + config.type + "): ";
    if (const std::string* dependency =
            config.info ? failed_resource_named(config.info->options, config.options, failed) : nullptr) {
      opened.diagnostics.push_back({pipeline.file.string(), config.line, config.column,
                                    where + "needs resource '" + *dependency + "', which could not be opened"});
      failed.insert(config.name);
      continue;
    }
    ResourceContext ctx{config.name, config.options, pipeline.base_dir, &opened.resources, &registry, &opened.warnings};
    Result<std::shared_ptr<const Resource>> created = Status::error("resource type has no factory");
    try {
      if (config.info && config.info->create) created = config.info->create(ctx);
    } catch (const std::exception& e) {
      created = Status::error(exception_message(e));
    }
    if (!created) {
      // Factories often name the resource themselves; say it once.
      std::string message = created.status().message();
      const std::string own = "resource '" + config.name + "': ";
      if (message.rfind(own, 0) == 0) message.erase(0, own.size());
      opened.diagnostics.push_back({pipeline.file.string(), config.line, config.column,
                                    where + message + overrides_under(pipeline, "resources." + config.name + ".")});
      failed.insert(config.name);
      continue;
    }
    opened.resources.add(config.name, created.value());
  }
  return opened;
}

}  // namespace lrpflow
