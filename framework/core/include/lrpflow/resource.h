// Resources: heavy read-only objects (models, rule sets) loaded once per run and shared by stages.
//
// Lifecycle: the host creates every resource declared in the pipeline's `resources:` section, in
// declaration order, before any stage opens; a resource may refer to an earlier one by name (a rule
// set is validated against its model). After creation a resource is immutable: stages on any number
// of threads may use it at once without locking. Resources live until the run ends.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lrpflow/options.h"
#include "lrpflow/status.h"

namespace lrpflow {

class PluginRegistry;

class Resource {
 public:
  virtual ~Resource() = default;
};

class ResourceSet {
 public:
  void add(const std::string& name, std::shared_ptr<const Resource> resource) { resources_[name] = std::move(resource); }
  bool has(const std::string& name) const { return resources_.count(name) != 0; }
  // The resource `name` as a T: an error naming the resource when it is missing or of another kind.
  template <typename T>
  Result<std::shared_ptr<const T>> get(const std::string& name) const {
    auto it = resources_.find(name);
    if (it == resources_.end()) return Status::error("no resource named '" + name + "'");
    auto typed = std::dynamic_pointer_cast<const T>(it->second);
    if (!typed) return Status::error("resource '" + name + "' is not of the kind this stage needs");
    return typed;
  }

 private:
  std::map<std::string, std::shared_ptr<const Resource>> resources_;
};

struct ResourceContext {
  std::string name;                     // the resource's name in the pipeline
  Options options;                      // validated against the type's schema
  std::filesystem::path base_dir;       // relative paths in options resolve against this
  const ResourceSet* resources = nullptr;     // resources created before this one
  const PluginRegistry* registry = nullptr;   // e.g. to look up rule types
  // Append what a user must know about results made with this resource (a model whose weights
  // are random); the run logs it, records it in the manifest and the report shows it. May be null.
  std::vector<std::string>* warnings = nullptr;
};

struct ResourceTypeInfo {
  std::string type;          // the `type:` value in YAML, e.g. "model"
  std::string description;   // one line
  std::vector<OptionSpec> options;
  std::function<Result<std::shared_ptr<const Resource>>(const ResourceContext&)> create;
};

}  // namespace lrpflow
