// Opening a pipeline's resources: models imported, rule sets bound, everything a resource type's
// create() checks. `run` does it before the first item and `validate` does it too, so that a
// missing model file, an unknown rule set or a rule set that does not fit the model is found
// without data.
//
// Every resource is created in declaration order and sees those before it. A failure does not stop
// the others: each one is a Diagnostic at the resource's line and column, and a resource that needs
// a failed one says that it is missing. Single-threaded; call it from the host's thread.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "lrpflow/pipeline.h"
#include "lrpflow/resource.h"

namespace lrpflow {

class PluginRegistry;

struct OpenedResources {
  ResourceSet resources;                  // the ones created
  std::vector<Diagnostic> diagnostics;    // one per resource that could not be created
  std::vector<std::string> warnings;      // what the resources asked the run to record
  bool ok() const { return diagnostics.empty(); }
};

// `failed_before`: resources declared in the file but not in `pipeline` because they could not even
// be parsed (PipelineLoad::unopenable_resources); one that needs them says so.
OpenedResources open_resources(const Pipeline& pipeline, const PluginRegistry& registry,
                               const std::set<std::string>& failed_before = {});

// The name among `failed` that one of the options naming a resource (OptionSpec::resource_type)
// gives, if any: what a resource or stage that cannot work without it depends on.
const std::string* failed_resource_named(const std::vector<OptionSpec>& schema, const Options& options,
                                         const std::set<std::string>& failed);

}  // namespace lrpflow
